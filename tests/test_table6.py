"""Table 6: its expansion into runs, the MC evaluation of a finished run, and its report
(errors, both evaluations, the paper-only baselines)."""
import os

import pytest

from augdrop_caffe import _core, mc_dropout
from augdrop_caffe.experiments import mc_eval, tables
from augdrop_caffe.experiments.report import report
from augdrop_caffe.experiments.store import ResultStore
from augdrop_caffe.experiments.tables import Run, expand

from test_experiments import _record
from test_mc_dropout import NET


def test_table6_expands_into_two_runs_per_net_and_seed():
    cells = tables.table_cells("table6")
    assert [(c.row, c.column, c.setup, c.dropout) for c in cells] == [
        ("ALL-Conv", "standard", "allconv-cifar10", "standard:net"),
        ("ALL-Conv", "augmented", "allconv-cifar10", "augmented:net/0.0002"),
        ("NiN", "standard", "nin-cifar10", "standard:net"),
        ("NiN", "augmented", "nin-cifar10", "augmented:net/0.0002")]
    # the paper's errors (%) as accuracies: MC dropout on the standard cell, augmented's own
    assert [round(1 - c.paper, 4) for c in cells] == [0.1060, 0.1004, 0.1104, 0.1028]
    runs = expand("table6", seeds=4, quick=True)
    assert len(runs) == 16 and len({r.key for r in runs}) == 16
    assert runs[0].key == "allconv-cifar10_standard-net_seed1_quick"
    assert runs[1].key == "allconv-cifar10_augmented-net-0.0002_seed1_quick"
    for run in runs:
        assert run.setup in tables.MC_EVALUATED
        assert os.path.isfile(os.path.join(_prototxt_dir(), tables.SOLVERS[run.setup]))


def _prototxt_dir():
    from augdrop_caffe.experiments.training import prototxt_dir
    return prototxt_dir()


def test_mc_test_of_a_finished_run(tmp_path, monkeypatch):
    """The sweep's MC step: the run's net and final weights, T passes (quick: 5), the run's
    seed and test_iter, in a child process; the figures are mc_dropout.evaluate's."""
    (tmp_path / "mc.prototxt").write_text(NET)
    (tmp_path / "tiny_solver.prototxt").write_text('net: "mc.prototxt"\ntest_iter: 2\n')
    monkeypatch.setattr(mc_eval, "SOLVERS", {"tiny": "tiny_solver.prototxt"})
    output = tmp_path / "run"
    output.mkdir()
    _core.set_random_seed(3)
    net = mc_dropout.build_net(str(tmp_path / "mc.prototxt"), stochastic=False)
    net.save(str(output / "tiny_iter_2.caffemodel"))
    net.save(str(output / "tiny_iter_10.caffemodel"))
    assert mc_eval.final_weights(str(output)).endswith("tiny_iter_10.caffemodel")
    run = Run("tiny", "standard:net", 4, quick=True)
    got = mc_eval.mc_test(run, str(output), {"settings": {"test_iter": 2}}, str(tmp_path))
    assert got["status"] == "ok", got
    assert got["samples"] == tables.MC_SAMPLES_QUICK and got["iterations"] == 2
    assert got["seed"] == 4
    want = mc_dropout.evaluate(str(tmp_path / "mc.prototxt"),
                               str(output / "tiny_iter_10.caffemodel"), 5, 2, seed=4)
    for key in ("accuracy", "error", "pass_error_mean", "deterministic_accuracy"):
        assert got[key] == pytest.approx(want[key])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert mc_eval.mc_test(run, str(empty), {}, str(tmp_path))["status"] == "failed"


def _table6_record(run, accuracy, mc_error):
    rec = _record(run, accuracy, 100.0)
    rec["mc_test"] = {"status": "ok", "samples": 5, "error": mc_error, "accuracy": 1 - mc_error,
                      "error_se": 0.001, "wall_time_s": 12.0}
    return rec


def test_report_table6(tmp_path):
    store = ResultStore(str(tmp_path / "store"))
    figures = {("allconv-cifar10", "standard:net"): [(0.88, 0.11), (0.90, 0.095)],
               ("allconv-cifar10", "augmented:net/0.0002"): [(0.89, 0.10), (0.91, 0.09)],
               ("nin-cifar10", "standard:net"): [(0.87, 0.12)]}
    for (setup, dropout), per_seed in figures.items():
        for seed, (acc, mc) in enumerate(per_seed, 1):
            run = Run(setup, dropout, seed, quick=True)
            store.put(run.key, _table6_record(run, acc, mc))
    md, _ = report("table6", store.folder, str(tmp_path / "out"), quick=True)
    with open(md) as f:
        text = f.read()
    assert "QUICK SMOKE RUNS" in text
    rows = {}
    for line in text.splitlines():  # the first table's rows
        if line.startswith("| "):
            rows.setdefault(line.split(" | ")[0], line)
    allconv = rows["| ALL-Conv"].split(" | ")
    # paper MC, ours MC (standard dropout), ours standard eval, distillation, E-L, paper aug, ...
    assert allconv[1] == "10.60"
    assert allconv[2].startswith("10.25 ± 1.06 (2) [T = 5, MC s.e. 0.10]")
    assert allconv[3] == "11.00 ± 1.41 (2)"
    assert allconv[4] == "10.80 (paper's figure; not trained here)"
    assert allconv[5] == "10.86 (paper's figure; not trained here)"
    assert allconv[6] == "10.04"
    assert allconv[7] == "10.00 ± 1.41 (2)"
    nin = rows["| NiN"].split(" | ")
    assert nin[5] == "—" and nin[7] == "— (0)"
    assert "| ALL-Conv | -0.56 | -0.25 ± " in text  # augmented - MC: paper and ours
    assert "| ALL-Conv | — | -1.00 ± 1.41 |" in text  # augmented - standard, standard eval
    assert "| NiN | — | — |" in text

