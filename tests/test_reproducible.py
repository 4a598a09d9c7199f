"""Training is thread-independent (the same seed gives the same bits on 1, 2 or 3 threads),
every run's summary and store record carry their provenance, and `replicate --verify` says
whether a stored run is reproduced."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

import augdrop_caffe as caffe
from augdrop_caffe import cli
from augdrop_caffe.experiments.store import ResultStore
from augdrop_caffe.experiments.verify import first_difference
from augdrop_caffe.provenance import weights_digest

ROOT = Path(__file__).resolve().parents[1]
PROTOTXT = ROOT / "prototxt"
DATA = os.environ.get("AUGDROP_DATA", "")
PROVENANCE_FIELDS = {"version", "commit", "build_commit", "compiler", "simd", "threads",
                     "reduction_slots", "blas", "cpu", "cpus", "python", "device", "engines"}


@pytest.fixture(autouse=True)
def restore_threads():
    threads, slots = caffe.num_threads(), caffe.reduction_slots()
    yield
    caffe.set_num_threads(threads)
    caffe.set_reduction_slots(slots)


def trained_digest(solver_file, threads, iterations, slots=2, data_root=None):
    """Weights digest and loss after `iterations` steps on `threads` threads."""
    caffe.set_num_threads(threads)
    caffe.set_reduction_slots(slots)

    def edit(p):
        p["random_seed"] = [7]
        p["test_initialization"] = [False]
        p["test_interval"] = [10 ** 6]

    solver = caffe.get_solver(str(solver_file), data_root=data_root, edit=edit)
    solver.step(iterations)
    return weights_digest(solver.net), float(solver.net.blobs["loss"].data)


def sample_lenet_solver(tmp_path):
    net = (PROTOTXT / "lenet_train_test.prototxt").read_text()
    net = net.replace('"mnist:train"', '"mnist-sample:train"').replace('"mnist:test"', '"mnist-sample:test"')
    (tmp_path / "net.prototxt").write_text(net)
    solver = (PROTOTXT / "lenet_solver.prototxt").read_text()
    solver = "\n".join(l for l in solver.splitlines() if not l.startswith("net:"))
    (tmp_path / "solver.prototxt").write_text(f'net: "{tmp_path / "net.prototxt"}"\n{solver}\n')
    return tmp_path / "solver.prototxt"


def test_lenet_training_is_identical_on_1_2_and_3_threads(tmp_path):
    solver = sample_lenet_solver(tmp_path)
    results = {t: trained_digest(solver, t, 25) for t in (1, 2, 3)}
    assert results[1] == results[2] == results[3], results


def test_more_reduction_slots_change_the_bits_but_not_thread_independence(tmp_path):
    # The check above can fail: the slot count is part of the numerical recipe.
    solver = sample_lenet_solver(tmp_path)
    two = trained_digest(solver, 2, 25, slots=2)
    four = {t: trained_digest(solver, t, 25, slots=4) for t in (1, 3)}
    assert four[1] == four[3]
    assert four[1][0] != two[0]
    assert four[1][1] == pytest.approx(two[1], rel=1e-3)


@pytest.mark.skipif(not os.path.exists(os.path.join(DATA, "cifar-10-binary.tar.gz")),
                    reason="CIFAR-10 is not under $AUGDROP_DATA")
def test_cifar10_quick_training_is_identical_on_1_and_2_threads():
    solver = PROTOTXT / "cifar10_quick_solver.prototxt"
    one, two = (trained_digest(solver, t, 6) for t in (1, 2))
    assert one == two


def strided_net(tmp_path, engine):
    """A stride-2 convolution (the CAFFE engine's geometry) and a fully connected layer."""
    text = f"""
    name: "strided" force_backward: true
    layer {{ name: "in" type: "Input" top: "x" input_param {{ shape {{ dim: 24 dim: 5 dim: 9 dim: 9 }} }} }}
    layer {{ name: "conv" type: "Convolution" bottom: "x" top: "c"
             convolution_param {{ num_output: 7 kernel_size: 3 stride: 2 pad: 1 engine: {engine}
                                 weight_filler {{ type: "gaussian" std: 0.1 }}
                                 bias_filler {{ type: "gaussian" std: 0.1 }} }} }}
    layer {{ name: "ip" type: "InnerProduct" bottom: "c" top: "y"
             inner_product_param {{ num_output: 10 weight_filler {{ type: "gaussian" std: 0.1 }} }} }}
    """
    path = tmp_path / f"strided_{engine}.prototxt"
    path.write_text(text)
    return path


@pytest.mark.parametrize("engine", ["CAFFE", "DEFAULT"])
def test_gradients_of_both_conv_engines_do_not_follow_the_thread_count(tmp_path, engine):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((24, 5, 9, 9)).astype(np.float32)
    dy = rng.standard_normal((24, 10)).astype(np.float32)
    grads = {}
    for threads in (1, 2, 3):
        caffe.set_num_threads(threads)
        caffe.set_random_seed(5)
        net = caffe.Net(str(strided_net(tmp_path, engine)), caffe.TRAIN)
        net.blobs["x"].data[...] = x
        net.forward()
        net.blobs["y"].diff[...] = dy
        net.backward()
        grads[threads] = [b.diff.copy() for blobs in net.params.values() for b in blobs]
        grads[threads].append(net.blobs["x"].diff.copy())
    for threads in (2, 3):
        for a, b in zip(grads[1], grads[threads]):
            assert np.array_equal(a, b)


def test_reduction_slots_are_checked():
    with pytest.raises(caffe.EngineError, match="reduction slot"):
        caffe.set_reduction_slots(0)


def test_first_difference_names_the_place():
    assert first_difference({"a": [1, 2]}, {"a": [1, 2]}) is None
    assert first_difference({"a": [1, 2]}, {"a": [1, 3]}) == "a.[1]: stored 2, now 3"
    assert first_difference({"a": [1]}, {"a": [1, 2]}) == "a: 1 entries stored, 2 now"
    assert first_difference({"a": 1}, {"b": 1}) == "a: only in the stored record"
    # a NaN (a diverged test loss) stored and reproduced is no difference; NaN against a
    # number is
    assert first_difference({"loss": [float("nan")]}, {"loss": [float("nan")]}) is None
    assert first_difference({"loss": float("nan")}, {"loss": 1.0}) == "loss: stored nan, now 1.0"


def test_records_carry_provenance_and_verify_reproduces_them(tmp_path, capsys):
    store = tmp_path / "store"
    code = cli.main(["replicate", "table3", "--quick", "--seeds", "1", "--iterations", "20",
                     "--store", str(store), "--sample-fallback", "--threads", "2"])
    assert code == 0
    records = ResultStore(str(store)).records()
    assert len(records) == 10
    for record in records.values():
        assert PROVENANCE_FIELDS <= set(record["provenance"]), record["key"]
        assert record["provenance"]["engines"] == {"conv1": "IMPLICIT", "conv2": "WINOGRAD"}
        assert record["provenance"]["threads"] == 2
        assert len(record["weights_sha256"]) == 64
    key = "lenet-mnist_augmented-0.3-0.0001_seed1_quick_it20"
    capsys.readouterr()
    assert cli.main(["replicate", "--verify", key, "--store", str(store), "--threads", "1",
                     "--sample-fallback"]) == 0
    assert f"{key}: reproduced bit for bit" in capsys.readouterr().out

    # A record that today's code does not reproduce is reported, with the first difference.
    record = records[key]
    record["train_curve"][0]["loss"] += 1e-6
    ResultStore(str(store)).put(key, record)
    assert cli.main(["replicate", "--verify", key, "--store", str(store),
                     "--sample-fallback"]) == 1
    out = capsys.readouterr().out
    assert "NOT reproduced: first difference at train_curve.[0].loss" in out


def test_verify_of_a_missing_run_is_a_clear_error(tmp_path, capsys):
    code = cli.main(["replicate", "--verify", "nothing_seed1", "--store", str(tmp_path)])
    assert code == 1
    assert "no record named 'nothing_seed1'" in capsys.readouterr().err


def test_summary_json_has_provenance(tmp_path):
    from augdrop_caffe.train import train

    summary = train(str(sample_lenet_solver(tmp_path)), iterations=5, output=str(tmp_path / "run"),
                    quiet=True, seed=3)
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["provenance"] == summary["provenance"]
    assert PROVENANCE_FIELDS <= set(summary["provenance"])
    assert summary["provenance"]["reduction_slots"] == 2


def test_train_engine_option_forces_the_engines_and_the_record_says_so(tmp_path, capsys):
    """`train --engine LAYER=ENGINE`: the engine a replay needs when the automatic choice has
    changed since a record was made; the summary's provenance names what ran."""
    solver = str(sample_lenet_solver(tmp_path))
    assert cli.main(["train", "--solver", solver, "--iterations", "3", "--quiet",
                     "--output", str(tmp_path / "run"), "--engine", "conv1=CAFFE"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["provenance"]["engines"] == {"conv1": "CAFFE", "conv2": "WINOGRAD"}
    assert any("ENGINES: conv1=CAFFE" in note for note in summary["notes"])
    with pytest.raises(ValueError, match="--engine names nope, not Convolution layers of this "
                                         "net \\(conv1, conv2\\)"):
        from augdrop_caffe.train import train
        train(solver, iterations=1, output=str(tmp_path / "run2"), quiet=True,
              engines={"nope": "CAFFE"})
    with pytest.raises(SystemExit):
        cli.main(["train", "--solver", solver, "--engine", "conv1"])
    assert "give LAYER=ENGINE" in capsys.readouterr().err


def test_verify_replays_on_the_engines_the_record_names(tmp_path, monkeypatch):
    from augdrop_caffe.experiments import verify as verify_module

    store = ResultStore(str(tmp_path))
    record = {"key": "lenet-mnist_standard-0.5_seed1", "setup": "lenet-mnist",
              "dropout": "standard:0.5", "seed": 1, "quick": False, "status": "ok",
              "provenance": {"engines": {"conv1": "CAFFE", "conv2": "IMPLICIT"},
                             "reduction_slots": 2, "device": "cpu"}}
    store.put(record["key"], record)
    asked = {}

    def fake_train_one(run, *args, **kwargs):
        asked.update(kwargs)
        return {"status": "failed", "error": "stopped by the test"}

    monkeypatch.setattr(verify_module, "train_one", fake_train_one)
    reproduced, _ = verify_module.verify(record["key"], str(tmp_path), log=lambda *a: None)
    assert not reproduced
    assert asked["engines"] == {"conv1": "CAFFE", "conv2": "IMPLICIT"}
