"""The paper-table experiments (augdrop_caffe.experiments, `augdrop-caffe replicate|report`):
the tables' expansion into runs, the results store, resuming a killed sweep, failed runs,
and the Markdown/PNG report.

The sweeps here train LeNet on the package's MNIST sample (--sample-fallback, an empty data
root: offline) for 10 or 20 iterations with OMP_NUM_THREADS=1: about 1 s per run."""
import json
import math
import os
import re
import signal
import gc
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from augdrop_caffe import cli
from augdrop_caffe.experiments import report as report_mod
from augdrop_caffe.experiments import sweep, tables
from augdrop_caffe.experiments.store import ResultStore
from augdrop_caffe.experiments.tables import Cell, Run, expand

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- tables.expand ---------------------------------------------------------------------------

@pytest.mark.parametrize("table, per_seed", [("table1", 19), ("table3", 10), ("table4", 12),
                                             ("table4-cifar10", 6), ("table4-svhn", 6)])
def test_expand_counts_and_seeds(table, per_seed):
    assert len(tables.table_cells(table)) == per_seed
    one = expand(table, seeds=1)
    assert len(one) == per_seed
    assert {r.seed for r in one} == {1}
    four = expand(table, seeds=4)
    assert len(four) == 4 * per_seed
    assert sorted({r.seed for r in four}) == [1, 2, 3, 4]
    keys = [r.key for r in four]
    assert len(set(keys)) == len(keys)
    for seed in range(1, 5):  # every seed gets every cell
        assert {(r.setup, r.dropout) for r in four if r.seed == seed} == \
            {(c.setup, c.dropout) for c in tables.table_cells(table)}
    for key in keys:  # keys are file names
        assert "/" not in key and ":" not in key and " " not in key


def test_table1_cells():
    cells = tables.table_cells("table1")
    assert cells[0] == Cell("plain", "-", "quick-cifar10", "none", 0.7579)
    assert {c.setup for c in cells} == {"quick-cifar10"}
    for variant in ("standard", "forward", "backward"):
        specs = [c.dropout for c in cells if c.row == variant]
        assert specs == [f"{variant}:{r:g}" for r in tables.RATIOS_T1]


def test_table3_and_table4_specs():
    t3 = {c.dropout for c in tables.table_cells("table3")}
    assert t3 == ({f"standard:{r:g}" for r in tables.RATIOS_T3}
                  | {f"augmented:{r:g}/0.0001" for r in tables.RATIOS_T3})
    t4 = tables.table_cells("table4")
    assert {c.setup for c in t4} == {"quick-svhn", "quick-cifar10"}
    assert {c.dropout for c in t4 if c.column == "augmented"} == \
        {f"augmented:{r:g}/0.0002" for r in tables.RATIOS_T4}
    for setup in {c.setup for c in t4}:
        assert setup in tables.SOLVERS


def test_shared_cells_have_one_key():
    t1 = {r.key: r for r in expand("table1", seeds=2)}
    t4 = {r.key: r for r in expand("table4-cifar10", seeds=2)}
    shared = set(t1) & set(t4)
    # standard 0.1, 0.2, 0.3 on ConvNet-Quick / CIFAR-10 are in both tables
    assert shared == {Run("quick-cifar10", f"standard:{p}", s).key
                      for p in ("0.1", "0.2", "0.3") for s in (1, 2)}
    assert t4[Run("quick-cifar10", "standard:0.1", 1).key] == t1[Run("quick-cifar10", "standard:0.1", 1).key]
    # table4 (both parts) holds table4-cifar10 and table4-svhn, nothing else
    both = {r.key for r in expand("table4", seeds=2)}
    assert both == set(t4) | {r.key for r in expand("table4-svhn", seeds=2)}


def test_expand_dedups_a_cell_repeated_within_a_table(monkeypatch):
    dup = [Cell("a", "x", "lenet-mnist", "standard:0.1", 0.9),
           Cell("b", "y", "lenet-mnist", "standard:0.1", 0.9),
           Cell("c", "z", "lenet-mnist", "standard:0.2", 0.9)]
    monkeypatch.setitem(tables.TABLES, "dup", ("dup", lambda: dup))
    runs = expand("dup", seeds=3)
    assert len(runs) == 6
    assert len({r.key for r in runs}) == 6


def test_keys_distinguish_quick_and_iterations():
    base = Run("lenet-mnist", "augmented:0.1/0.0001", 2)
    assert base.key == "lenet-mnist_augmented-0.1-0.0001_seed2"
    quick = Run("lenet-mnist", "augmented:0.1/0.0001", 2, quick=True)
    it = Run("lenet-mnist", "augmented:0.1/0.0001", 2, iterations=20)
    both = Run("lenet-mnist", "augmented:0.1/0.0001", 2, quick=True, iterations=20)
    assert quick.key == base.key + "_quick"
    assert it.key == base.key + "_it20"
    assert both.key == base.key + "_quick_it20"
    assert len({base.key, quick.key, it.key, both.key,
                Run("lenet-mnist", "augmented:0.1/0.0001", 2, iterations=10).key}) == 5
    # standard:0.1 and augmented:0.1/0.0001 and another seed all differ
    assert Run("lenet-mnist", "standard:0.1", 2).key != base.key
    assert Run("lenet-mnist", "augmented:0.1/0.0001", 3).key != base.key
    runs = expand("table3", seeds=1, quick=True, iterations=20)
    assert all(r.quick and r.iterations == 20 and r.key.endswith("_quick_it20") for r in runs)
    assert not {r.key for r in runs} & {r.key for r in expand("table3", seeds=1)}
    assert not {r.key for r in runs} & {r.key for r in expand("table3", seeds=1, quick=True)}


def test_unknown_table():
    with pytest.raises(KeyError) as info:
        expand("table6")
    msg = str(info.value)
    assert "unknown table 'table6'" in msg
    for name in ("table1", "table2", "table3", "table4", "table4-cifar10", "table4-svhn", "table5"):
        assert name in msg


def test_resnet_tables_expand():
    runs = expand("table2", seeds=1)
    assert len(runs) == 19 and {r.setup for r in runs} == {"resnet20-cifar10"}
    runs = expand("table5", seeds=2)
    assert len(runs) == 2 * 18
    assert "augmented:0.2/0.0002" in {r.dropout for r in runs if r.setup == "resnet20-svhn"}
    assert "augmented:0.2/0.0001" in {r.dropout for r in runs if r.setup == "resnet20-cifar100"}


def test_cli_unknown_table(tmp_path, capsys):
    code = cli.main(["replicate", "table9", "--store", str(tmp_path / "store")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "unknown table 'table9'" in err and "table3" in err


# --- the store -------------------------------------------------------------------------------

def test_store_roundtrip(tmp_path):
    store = ResultStore(str(tmp_path / "s"))
    assert store.get("nope") is None
    store.put("a", {"x": 1})
    assert store.get("a") == {"x": 1}
    (tmp_path / "s" / "b.json.tmp123").write_text("{half")  # a write cut short
    (tmp_path / "s" / "c.json").write_text("{broken")
    with pytest.raises(ValueError, match="not a valid record"):
        store.get("c")
    (tmp_path / "s" / "c.json").unlink()
    assert store.records() == {"a": {"x": 1}}
    assert sorted(os.listdir(tmp_path / "s")) == ["a.json", "b.json.tmp123"]


# --- sweeps (real trainings on the MNIST sample) -----------------------------------------------

def _sweep_env(tmp_path):
    """One core thread per training (a fast run beside other work), temporary output folders
    under tmp_path (so that this test's trainings can be found in /proc)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(tmp))


def _replicate_cmd(table, store, data_root, *extra):
    return [sys.executable, "-m", "augdrop_caffe.cli", "replicate", table, "--seeds", "1",
            "--quick", "--sample-fallback", "--data-root", str(data_root), "--store", str(store),
            "--jobs", "1", *extra]


def _processes_mentioning(marker):
    """(pid, cmdline) of live processes (not zombies) whose command line contains marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append((int(entry), cmdline))
    return found


def _snapshot(store):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in Path(store).glob("*.json")}


def test_killed_sweep_resumes(tmp_path):
    data_root = tmp_path / "empty-data"
    data_root.mkdir()
    store = tmp_path / "store"
    env = _sweep_env(tmp_path)
    cmd = _replicate_cmd("table3", store, data_root, "--iterations", "20")
    marker = str(tmp_path)
    runs = expand("table3", seeds=1, quick=True, iterations=20)
    assert len(runs) == 10
    try:
        with open(tmp_path / "first.log", "w") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            deadline = time.monotonic() + 60
            while not list(store.glob("*.json")):
                assert proc.poll() is None, (tmp_path / "first.log").read_text()
                assert time.monotonic() < deadline, "no record after 60 s"
                time.sleep(0.02)
            # the next training has started (a run takes about 1 s): kill the sweep alone
            time.sleep(0.3)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        before = _snapshot(store)
        assert 1 <= len(before) < len(runs)

        # its training child got SIGTERM from the kernel (PR_SET_PDEATHSIG) and is gone at
        # once, long before it could have finished on its own
        deadline = time.monotonic() + 2
        while _processes_mentioning(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _processes_mentioning(marker) == []
        # the killed training's output folder stays behind (its sweep died), unfinished: no
        # summary, or (SIGTERM came during its training loop) one marked interrupted
        left = list((tmp_path / "tmp").glob("augdrop-*"))
        assert len(left) == 1, left
        summary = left[0] / "summary.json"
        assert not summary.exists() or json.loads(summary.read_text())["interrupted"]

        time.sleep(0.02)  # a rewrite of a record would show in its mtime
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{len(runs)} runs, {len(before)} already in" in done.stdout
        assert f"{len(runs) - len(before)} to train" in done.stdout
    finally:  # never leave a training of this test behind, whatever failed
        for pid, _ in _processes_mentioning(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    after = _snapshot(store)
    assert sorted(after) == sorted(r.key + ".json" for r in runs)
    for name, (content, mtime) in before.items():  # not trained again, not rewritten
        assert after[name] == (content, mtime)
    records = ResultStore(str(store)).records()
    assert [rec["key"] for rec in records.values()] == list(records)  # each key once, its own file
    for key, rec in records.items():
        assert rec["status"] == "ok", rec.get("error")
        assert rec["quick"] is True and rec["iterations_override"] == 20
        assert rec["iterations"] == 20 and rec["settings"]["max_iter"] == 20
        assert 0.0 <= rec["final_test"]["accuracy"] <= 1.0
        assert rec["test_curve"][-1]["iter"] == 20
        assert any("QUICK" in n for n in rec["notes"])
        assert any("MNIST sample" in n for n in rec["notes"])
    assert {(r["setup"], r["dropout"], r["seed"]) for r in records.values()} == \
        {(r.setup, r.dropout, r.seed) for r in runs}


def test_a_training_killed_from_outside_is_not_recorded(tmp_path):
    """SIGTERM to a training (a user, a shutdown) is no failure of the run: nothing is
    recorded for it, so that the next sweep trains it again; the sweep goes on."""
    data_root = tmp_path / "empty-data"
    data_root.mkdir()
    store = tmp_path / "store"
    cmd = _replicate_cmd("table3", store, data_root, "--iterations", "1000000")
    marker = str(tmp_path)
    try:
        with open(tmp_path / "sweep.log", "w") as log:
            proc = subprocess.Popen(cmd, env=_sweep_env(tmp_path), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 60
            while not [p for p, c in _processes_mentioning(marker) if " train " in c]:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(1.0)  # the training is under way
            for pid, _ in [(p, c) for p, c in _processes_mentioning(marker) if " train " in c]:
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while "INTERRUPTED" not in (tmp_path / "sweep.log").read_text():
                assert time.monotonic() < deadline, (tmp_path / "sweep.log").read_text()
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)  # the sweep went on to the next run: stop it
            proc.wait(timeout=10)
    finally:
        for pid, _ in _processes_mentioning(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert "killed by signal 15" in (tmp_path / "sweep.log").read_text()
    assert _snapshot(store) == {}


def _runs_with_a_broken_one(table, seeds=4, quick=False, iterations=0):
    return [Run("lenet-mnist", "standard:0.1", 1, quick, iterations),
            Run("broken", "none", 1, quick, iterations),
            Run("lenet-mnist", "augmented:0.1/0.0001", 1, quick, iterations)]


def test_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data_root = tmp_path / "empty-data"
    data_root.mkdir()
    store_dir = tmp_path / "store"
    missing = tmp_path / "no_such_solver.prototxt"
    monkeypatch.setitem(tables.SOLVERS, "broken", str(missing))
    monkeypatch.setattr(sweep, "expand", _runs_with_a_broken_one)
    argv = ["replicate", "table3", "--seeds", "1", "--quick", "--iterations", "10",
            "--sample-fallback", "--data-root", str(data_root), "--store", str(store_dir),
            "--jobs", "1"]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    store = ResultStore(str(store_dir))
    keys = [r.key for r in _runs_with_a_broken_one("table3", quick=True, iterations=10)]
    assert sorted(store.records()) == sorted(keys)
    failed = store.get(keys[1])
    assert failed["status"] == "failed"
    assert "solver prototxt not found" in failed["error"] and str(missing) in failed["error"]
    assert failed["wall_time_s"] >= 0 and "final_test" not in failed
    assert f"{keys[1]}: FAILED: augdrop-caffe: error: solver prototxt not found" in out
    for key in (keys[0], keys[2]):  # before and after the failure
        assert store.get(key)["status"] == "ok"
        assert f"{key}: accuracy " in out
    assert "[3/3]" in out
    assert "[1/3]" in out and "; about" in out.split("[2/3]")[0]  # an estimate while runs remain
    assert "left 0" in out.split("[3/3]")[1] and "; about" not in out.split("[3/3]")[1]

    # a plain rerun keeps the failure; --retry-failed trains it (only it) again
    ok_before = _snapshot(store_dir)
    assert cli.main(argv) == 0
    assert "3 runs, 3 already in" in capsys.readouterr().out
    assert _snapshot(store_dir) == ok_before
    monkeypatch.setitem(tables.SOLVERS, "broken", tables.SOLVERS["lenet-mnist"])
    assert cli.main(argv + ["--retry-failed"]) == 0
    out = capsys.readouterr().out
    assert "3 runs, 2 already in" in out and "1 to train" in out
    retried = store.get(keys[1])
    assert retried["status"] == "ok" and "error" not in retried
    assert 0.0 <= retried["final_test"]["accuracy"] <= 1.0
    after = _snapshot(store_dir)
    for key in (keys[0], keys[2]):
        assert after[key + ".json"] == ok_before[key + ".json"]


def test_missing_data_fails_the_run(tmp_path, monkeypatch, capsys):
    """Without --sample-fallback and without MNIST, the run fails with the data error."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data_root = tmp_path / "empty-data"
    data_root.mkdir()
    store_dir = tmp_path / "store"
    monkeypatch.setattr(sweep, "expand", lambda table, seeds=4, quick=False, iterations=0:
                        [Run("lenet-mnist", "standard:0.1", 1, quick, iterations)])
    code = cli.main(["replicate", "table3", "--seeds", "1", "--iterations", "10",
                     "--data-root", str(data_root), "--store", str(store_dir)])
    assert code == 1
    rec = ResultStore(str(store_dir)).get(Run("lenet-mnist", "standard:0.1", 1, False, 10).key)
    assert rec["status"] == "failed"
    assert "mnist:train" in rec["error"] and "not found" in rec["error"]
    assert str(data_root) in rec["error"]
    assert "FAILED" in capsys.readouterr().out


# --- the report from a hand-made store ----------------------------------------------------------

SETTINGS = {"base_lr": 0.01, "lr_policy": "step", "gamma": 0.1, "stepsize": 6000,
            "momentum": 0.9, "weight_decay": 0.0005, "max_iter": 12000, "test_iter": 100,
            "test_interval": 500, "display": 100, "random_seed": 1}
HARDWARE = {"machine": "x86_64", "processor": "x86_64", "cpus": 8, "python": "3.11.7"}


def _record(run, accuracy, wall, status="ok"):
    rec = {"key": run.key, "setup": run.setup, "dropout": run.dropout, "seed": run.seed,
           "quick": run.quick, "iterations_override": run.iterations, "version": "0.1.0",
           "status": status, "wall_time_s": wall}
    if status != "ok":
        rec["error"] = "boom"
        return rec
    rec.update(final_test={"accuracy": accuracy, "loss": 0.05},
               test_curve=[{"iter": 0, "accuracy": 0.1, "loss": 2.3},
                           {"iter": 500, "accuracy": accuracy, "loss": 0.05}],
               train_curve=[{"iter": 0, "loss": 2.3, "lr": 0.01},
                            {"iter": 100, "loss": 0.4, "lr": 0.01},
                            {"iter": 200, "loss": 0.2 + run.seed / 100, "lr": 0.01}],
               iterations=500, settings=SETTINGS, notes=[], hardware=HARDWARE)
    return rec


def _put(store, setup, dropout, seed, accuracy, wall=10.0, quick=False, iterations=0,
         status="ok"):
    run = Run(setup, dropout, seed, quick, iterations)
    store.put(run.key, _record(run, accuracy, wall, status))


@pytest.fixture
def hand_store(tmp_path):
    store = ResultStore(str(tmp_path / "store"))
    _put(store, "lenet-mnist", "standard:0.1", 1, 0.9900, wall=10.0)
    _put(store, "lenet-mnist", "standard:0.1", 2, 0.9800, wall=30.0)
    _put(store, "lenet-mnist", "standard:0.2", 1, 0.5, status="failed")  # not counted
    _put(store, "lenet-mnist", "augmented:0.3/0.0001", 1, 0.9925, wall=20.0)
    _put(store, "lenet-mnist", "standard:0.1", 1, 0.4321, wall=2.0, quick=True)
    _put(store, "quick-cifar10", "standard:0.1", 1, 0.7)  # another table's run
    return store


def _row(md, label):
    """The cells of row `label`, outside the code-path grid (whose rows repeat the table's)."""
    md = md.split("\nCode paths:")[0]
    lines = [l for l in md.splitlines() if l.startswith(f"| {label} |")]
    assert len(lines) == 1, md
    return [c.strip() for c in lines[0].strip("|").split("|")][1:]


def test_report_markdown(hand_store):
    md = report_mod.render_markdown("table3", hand_store.folder)
    assert md.startswith("## Table 3: LeNet on MNIST, test accuracy")
    assert "QUICK" not in md
    assert "| | 0.1 | 0.2 | 0.3 | 0.4 | 0.5 |" in md
    mean = statistics.mean([0.99, 0.98])
    std = statistics.stdev([0.99, 0.98])  # ddof=1: 0.00707, not 0.005
    assert math.isclose(std, 0.0070710678, rel_tol=1e-6)
    assert _row(md, "standard") == [f"0.9916 / {mean:.4f} ± {std:.4f} (2)", "0.9922 / — (0)",
                                    "0.9918 / — (0)", "0.9917 / — (0)", "0.9922 / — (0)"]
    assert _row(md, "standard")[0] == "0.9916 / 0.9850 ± 0.0071 (2)"
    assert _row(md, "augmented") == ["0.9918 / — (0)", "0.9923 / — (0)",
                                     "0.9925 / 0.9925 (1)", "0.9920 / — (0)",
                                     "0.9925 / — (0)"]
    assert md.count("— (0)") == 8
    assert ("Settings: base_lr 0.01, lr_policy step, gamma 0.1, stepsize 6000, momentum 0.9, "
            "weight_decay 0.0005, max_iter 12000, test_iter 100, test_interval 500.") in md
    assert ("Hardware: 8 CPU cores (x86_64), Python 3.11.7; wall time per run 10-30 s "
            "(mean 20 s).") in md


def test_report_quick_banner_and_separation(hand_store):
    md = report_mod.render_markdown("table3", hand_store.folder, quick=True)
    assert md.splitlines()[0] == ("## Table 3: LeNet on MNIST, test accuracy (augmented: backward "
                                  "ratio 0.0001) — QUICK SMOKE RUNS, NOT THE PAPER'S SETTING")
    assert _row(md, "standard")[0] == "0.9916 / 0.4321 (1)"
    assert md.count("— (0)") == 9
    assert "wall time per run 2-2 s (mean 2 s)" in md


def test_report_files_and_png(hand_store, tmp_path):
    out = tmp_path / "out"
    md_path, png = report_mod.report("table3", hand_store.folder, str(out))
    assert md_path == str(out / "table3.md") and png == str(out / "table3-loss.png")
    assert Path(png).read_bytes()[:8] == PNG_MAGIC and Path(png).stat().st_size > 1000
    text = Path(md_path).read_text()
    assert text == report_mod.render_markdown("table3", hand_store.folder) + \
        "\n![loss curves](table3-loss.png)\n"
    md_q, png_q = report_mod.report("table3", hand_store.folder, str(out), quick=True)
    assert md_q == str(out / "table3-quick.md") and Path(png_q).read_bytes()[:8] == PNG_MAGIC
    assert "QUICK SMOKE RUNS" in Path(md_q).read_text()


def test_sweep_time_left():
    assert sweep.time_left(600, 2, 3) == "; about 15 min left"
    assert sweep.time_left(30, 1, 2) == "; about 60 s left"
    assert sweep.time_left(3600, 1, 2) == "; about 2.0 h left"
    assert sweep.time_left(10, 1, 0) == "" and sweep.time_left(0, 0, 5) == ""


class _ScriptedExecutor:
    """An executor that hands back scripted (run, record) batches, one batch per wait()."""
    name = "scripted"

    def __init__(self, batches):
        self.batches, self.submitted, self.closed = list(batches), [], False

    def submit(self, runs):
        self.submitted += runs

    def wait(self, timeout):
        return self.batches.pop(0) if self.batches else []

    def running(self):
        return 1

    def pending(self):
        return len(self.batches)

    def describe(self):
        return "scripted"

    def close(self):
        self.closed = True


def test_the_driver_writes_each_run_once_and_reports_progress(tmp_path, monkeypatch):
    """The driver loop shared by the executors: an ok and a failed record are written once
    each (a second result for a run is ignored), an interrupted run is not written, and a wait
    without results prints the sweep's state."""
    runs = [Run("lenet-mnist", f"standard:0.{i}", 1, True, 10) for i in (1, 2, 3)]
    ok = {"key": runs[0].key, "status": "ok", "final_test": {"accuracy": 0.5},
          "wall_time_s": 1.0, "provenance": {"executor": "ray", "host": "node-7"}}
    failed = {"key": runs[1].key, "status": "failed", "error": "trace\nboom"}
    stopped = {"key": runs[2].key, "status": "interrupted", "error": "killed by signal 9"}
    scripted = _ScriptedExecutor([[(runs[0], ok)], [],
                                  [(runs[1], failed), (runs[0], dict(ok, x=1))],
                                  [(runs[2], stopped)]])
    monkeypatch.setattr(sweep, "expand", lambda *a, **k: runs)
    monkeypatch.setattr(sweep, "make_executor", lambda *a, **k: scripted)
    lines = []
    failures = sweep.replicate("table3", str(tmp_path), quick=True, iterations=10,
                               log=lines.append, progress_every=0)
    assert failures == 2 and scripted.closed and scripted.submitted == runs
    store = ResultStore(str(tmp_path))
    assert sorted(store.records()) == sorted(r.key for r in runs[:2])
    assert store.get(runs[0].key) == ok  # the first result, not the second
    out = "\n".join(lines)
    assert f"[1/3] {runs[0].key}: accuracy 0.5000 (1 s on node-7) | done 1, failed 0" in out
    assert "[1/3] done 1, failed 0, running 1, left 2" in out  # the wait without results
    assert f"[2/3] {runs[1].key}: FAILED: boom | done 1, failed 1" in out
    assert f"{runs[0].key}: a second result came back; the first one stays recorded" in out
    assert f"[3/3] {runs[2].key}: INTERRUPTED (killed by signal 9), not recorded" in out
    assert lines[-1].startswith("Sweep done in ") and "1 trained, 1 failed, 1 interrupted" in out


def test_report_augmented_minus_standard(tmp_path):
    store = ResultStore(str(tmp_path / "store"))
    _put(store, "lenet-mnist", "standard:0.1", 1, 0.990)
    _put(store, "lenet-mnist", "standard:0.1", 2, 0.980)
    _put(store, "lenet-mnist", "augmented:0.1/0.0001", 1, 0.995)
    _put(store, "lenet-mnist", "augmented:0.1/0.0001", 2, 0.985)
    _put(store, "lenet-mnist", "augmented:0.2/0.0001", 1, 0.993)
    _put(store, "lenet-mnist", "standard:0.3", 1, 0.991)
    _put(store, "lenet-mnist", "augmented:0.3/0.0001", 1, 0.992)
    md = report_mod.render_markdown("table3", store.folder)
    se = math.sqrt(2 * statistics.stdev([0.99, 0.98]) ** 2 / 2)  # two cells, 2 seeds each
    # Welch: df = 2 (equal variances, 2 seeds each), where Student's t has a closed form:
    # P(T > t) = 1/2 - t / (2 sqrt(2 + t^2)), quantile(q) = (2q - 1) / sqrt(2q(1 - q))
    t = 0.005 / se
    p = 1 - t / math.sqrt(2 + t * t)
    half = (2 * 0.975 - 1) / math.sqrt(2 * 0.975 * 0.025) * se
    assert _row(md, "ratio 0.1") == ["+0.0002", f"+0.0050 ± {se:.4f}",
                                     f"[{0.005 - half:+.4f}, {0.005 + half:+.4f}]", f"{t:+.2f}",
                                     "2.0", f"{p:.3f}", "2, 2"]
    assert _row(md, "ratio 0.1")[2:6] == ["[-0.0254, +0.0354]", "+0.71", "2.0", "0.553"]
    assert _row(md, "ratio 0.2") == ["+0.0001", "—", "—", "—", "—", "—", "0, 1"]
    assert _row(md, "ratio 0.3") == ["+0.0007", "+0.0010 (no spread from one seed)", "—", "—",
                                     "—", "n < 2: no test", "1, 1"]
    _put(store, "quick-cifar10", "standard:0.2", 1, 0.76)
    _put(store, "quick-cifar10", "augmented:0.2/0.0002", 1, 0.77)
    md4 = report_mod.render_markdown("table4-cifar10", store.folder)
    gains4 = md4.split("Augmented minus standard")[1]
    assert _row(gains4, "CIFAR-10 0.2") == ["+0.0038", "+0.0100 (no spread from one seed)",
                                              "—", "—", "—", "n < 2: no test", "1, 1"]
    assert "Augmented minus standard" not in report_mod.render_markdown("table1", store.folder)
    assert "Best ratio" in md and "Best ratio" not in md4
    assert "standard paper 0.2, ours — (not every ratio run)" in md


def test_report_forward_backward_minus_standard_and_best_ratio(tmp_path):
    store = ResultStore(str(tmp_path / "store"))
    for i, ratio in enumerate((0.3, 0.2, 0.1, 0.05, 0.01, 0.005)):
        _put(store, "quick-cifar10", f"standard:{ratio:g}", 1, 0.70 + 0.01 * i)
        _put(store, "quick-cifar10", f"forward:{ratio:g}", 1, 0.60 + 0.01 * (i % 3))
    _put(store, "quick-cifar10", "backward:0.3", 1, 0.65)
    md = report_mod.render_markdown("table1", store.folder)
    forward = md.split("Forward minus standard")[1].split("Backward minus standard")[0]
    assert "the paper finds forward dropout below standard dropout" in forward
    untested = ["—", "—", "—", "n < 2: no test", "1, 1"]
    assert _row(forward, "ratio 0.3") == ["-0.0615", "-0.1000 (no spread from one seed)"] + untested
    assert _row(forward, "ratio 0.005") == ["-0.0030", "-0.1300 (no spread from one seed)"] + \
        untested
    backward = md.split("Backward minus standard")[1]
    assert _row(backward, "ratio 0.3") == ["-0.0090", "-0.0500 (no spread from one seed)"] + \
        untested
    assert _row(backward, "ratio 0.2")[1:] == ["—", "—", "—", "—", "—", "1, 0"]
    assert _row(md, "forward − standard") == ["0 of 6", "—",
                                               "— (no ratio has 2 seeds in both cells)",
                                               "—", "—", "—", "—"]
    assert ("Best ratio (highest mean accuracy): standard paper 0.1, ours 0.005; forward paper "
            "0.05, ours 0.1; backward paper 0.005, ours — (not every ratio run).") in md


def test_plot_panels_follow_the_papers_figures():
    # Figures 1-2: one panel per variant, a line per ratio, the plain net in every panel
    panels, reference = report_mod.plot_panels("table1")
    assert [title for title, _ in panels] == ["standard", "forward", "backward"]
    assert [label for label, _ in panels[1][1]] == ["0.3", "0.2", "0.1", "0.05", "0.01", "0.005"]
    assert panels[2][1][0][1].dropout == "backward:0.3"
    assert [c.dropout for c in reference] == ["none"]
    # Figure 3: standard against augmented at each ratio
    panels, reference = report_mod.plot_panels("table3")
    ratios = ("0.1", "0.2", "0.3", "0.4", "0.5")
    assert [title for title, _ in panels] == [f"ratio {r}" for r in ratios]
    assert [(label, c.dropout) for label, c in panels[2][1]] == [
        ("standard", "standard:0.3"), ("augmented", "augmented:0.3/0.0001")]
    assert reference == []
    panels, _ = report_mod.plot_panels("table4-cifar10")
    assert [title for title, _ in panels] == ["CIFAR-10 0.1", "CIFAR-10 0.2", "CIFAR-10 0.3"]
    assert [label for label, _ in panels[0][1]] == ["standard", "augmented"]


def test_report_empty_store(tmp_path, capsys):
    store = tmp_path / "store"
    code = cli.main(["report", "table3", "--store", str(store), "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    md = (tmp_path / "out" / "table3.md").read_text()
    assert md.count("— (0)") == 10
    assert "Settings:" not in md and "Hardware:" not in md and "![" not in md
    assert not (tmp_path / "out" / "table3-loss.png").exists()
    assert "(no plot: matplotlib missing or no runs)" in out


def test_cli_report_closes_its_file(tmp_path, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["report", "table3", "--store", str(tmp_path / "store"),
                         "--output", str(tmp_path / "out")]) == 0
        gc.collect()
    capsys.readouterr()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_report_finds_iteration_override_runs(tmp_path):
    """Runs of `replicate --iterations N` are stored under their own keys; the report (whose
    command line has no --iterations) reports them when the store has no full-length runs."""
    store = ResultStore(str(tmp_path / "store"))
    _put(store, "lenet-mnist", "standard:0.1", 1, 0.6, quick=True, iterations=10)
    _put(store, "lenet-mnist", "standard:0.2", 1, 0.7, quick=True, iterations=10)
    _put(store, "lenet-mnist", "standard:0.3", 1, 0.8, quick=True, iterations=20)
    assert report_mod.store_iterations(store, "table3", quick=True) == 10
    assert report_mod.store_iterations(store, "table3", quick=False) == 0
    md = report_mod.render_markdown("table3", store.folder, quick=True)
    assert "RUNS OF 10 ITERATIONS" in md and "QUICK" in md
    assert _row(md, "standard")[:3] == ["0.9916 / 0.6000 (1)",
                                        "0.9922 / 0.7000 (1)", "0.9918 / — (0)"]
    md20 = report_mod.render_markdown("table3", store.folder, quick=True, iterations=20)
    assert _row(md20, "standard")[2] == "0.9918 / 0.8000 (1)"
    # full-length runs come first once there are any
    _put(store, "lenet-mnist", "standard:0.5", 1, 0.99, quick=True)
    assert report_mod.store_iterations(store, "table3", quick=True) == 0
    md = report_mod.render_markdown("table3", store.folder, quick=True)
    assert "ITERATIONS" not in md and md.count("— (0)") == 9


# --- --quick end to end ---------------------------------------------------------------------------

def test_quick_replicate_then_report(tmp_path, capsys):
    data_root = tmp_path / "empty-data"
    data_root.mkdir()
    store = tmp_path / "store"
    done = subprocess.run(_replicate_cmd("table3", store, data_root, "--iterations", "10"),
                          env=_sweep_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 to train with 1 job(s) [QUICK smoke runs]" in done.stdout
    assert "[10/10]" in done.stdout
    assert f"Report: augdrop-caffe report table3 --store {store} --quick" in done.stdout
    assert len(list(store.glob("*.json"))) == 10

    out_dir = tmp_path / "results"
    code = cli.main(["report", "table3", "--quick", "--store", str(store), "--output", str(out_dir)])
    printed = capsys.readouterr().out
    assert code == 0
    mds = sorted(out_dir.glob("table3-quick*.md"))
    assert len(mds) == 1
    md = mds[0].read_text()
    assert md in printed
    assert "QUICK SMOKE RUNS, NOT THE PAPER'S SETTING" in md
    filled = re.findall(r"\d\.\d{4} / \d\.\d{4} \(1\)", md)
    assert len(filled) == 10 and "— (0)" not in md
    assert ("Settings: base_lr 0.01, lr_policy step, gamma 0.1, stepsize 6000, momentum 0.9, "
            "weight_decay 0.0005, max_iter 10, test_iter 10, test_interval 100.") in md
    assert "Hardware: " in md
    pngs = list(out_dir.glob("table3-quick*-loss.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == PNG_MAGIC
    assert f"![loss curves]({pngs[0].name})" in md
