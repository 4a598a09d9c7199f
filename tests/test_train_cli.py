"""Training through the driver (augdrop_caffe.train, augdrop_caffe.cli): a short real run on the
package's MNIST sample, snapshot + resume identical to an uninterrupted run, and the command
line's exit codes and messages."""
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from augdrop_caffe import cli
from augdrop_caffe.caffemodel import read_caffemodel, read_solverstate
from augdrop_caffe.data import fetch as fetch_mod
from augdrop_caffe.train import train

ROOT = Path(__file__).resolve().parents[1]
PROTOTXT = ROOT / "prototxt"
LENET_SOLVER = PROTOTXT / "lenet_solver.prototxt"
LENET_NET = PROTOTXT / "lenet_train_test.prototxt"


@pytest.fixture
def empty_data(tmp_path_factory, monkeypatch):
    """AUGDROP_DATA pointing at an empty folder: no full MNIST anywhere."""
    root = tmp_path_factory.mktemp("empty-data")
    monkeypatch.setenv("AUGDROP_DATA", str(root))
    return root


def sample_lenet(path, transform="scale: 0.00390625", train_batch=100, test_batch=100):
    """The paper's LeNet prototxt with its sources on the package's MNIST sample."""
    text = LENET_NET.read_text()
    text = text.replace('"mnist:train" batch_size: 100', f'"mnist-sample:train" batch_size: {train_batch}')
    text = text.replace('"mnist:test" batch_size: 100', f'"mnist-sample:test" batch_size: {test_batch}')
    text = text.replace("transform_param { scale: 0.00390625 }", f"transform_param {{ {transform} }}")
    assert "mnist:" not in text
    path.write_text(text)
    return path


def write_solver(path, net, **fields):
    lines = [f'net: "{net}"'] + [f'{k}: "{v}"' if isinstance(v, str) else f"{k}: {v}"
                                 for k, v in fields.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def weights(path):
    return {name: blobs for name, _type, blobs in read_caffemodel(str(path))}


def run_cli(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---- (a) a short real training run ---------------------------------------------------------

@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """`augdrop-caffe train --solver prototxt/lenet_solver.prototxt --sample-fallback
    --iterations 60` with no full MNIST: trains on the package's sample."""
    empty = tmp_path_factory.mktemp("no-mnist")
    out = tmp_path_factory.mktemp("short-run")
    mp = pytest.MonkeyPatch()
    mp.setenv("AUGDROP_DATA", str(empty))
    try:
        code = cli.main(["train", "--solver", str(LENET_SOLVER), "--sample-fallback",
                         "--iterations", "60", "--output", str(out), "--quiet"])
    finally:
        mp.undo()
    assert code == 0
    return out


def test_short_run_learns(short_run):
    summary = json.loads((short_run / "summary.json").read_text())
    curve = summary["test_curve"]
    assert curve[0]["iter"] == 0 and curve[-1]["iter"] == 60
    assert curve[0]["accuracy"] < 0.3  # an untrained net is at chance
    assert summary["final_test"]["accuracy"] > 0.5  # chance is 0.1
    assert summary["final_test"]["loss"] < 0.5 * curve[0]["loss"]
    assert summary["iterations"] == 60


def test_short_run_summary_fields(short_run):
    summary = json.loads((short_run / "summary.json").read_text())
    for field in ("final_test", "wall_time_s", "seed", "settings"):
        assert field in summary
    assert summary["seed"] == 1  # lenet_solver.prototxt's random_seed
    assert 0 < summary["wall_time_s"] < 120
    s = summary["settings"]
    assert s["max_iter"] == 60 and s["test_iter"] == 10 and s["base_lr"] == pytest.approx(0.01)
    assert s["lr_policy"] == "step"
    assert any("MNIST sample" in n for n in summary["notes"])
    assert summary["dropout"] == {"default": None, "per_layer": {}}


def test_short_run_log_and_snapshot(short_run):
    log = (short_run / "train.log").read_text()
    assert "Iteration 0, Testing net (#0)" in log
    assert "Test net output #0: accuracy = " in log
    assert "Iteration 0 (" in log and "loss = " in log and "lr = 0.01" in log
    assert "Optimization Done" in log
    # snapshot_after_train: Caffe-readable weights and solver state at the last iteration
    model = short_run / "lenet_iter_60.caffemodel"
    state = read_solverstate(str(short_run / "lenet_iter_60.solverstate"))
    assert state["iter"] == 60
    assert Path(state["learned_net"]).name == model.name
    w = weights(model)
    assert w["conv1"][0].shape == (20, 1, 5, 5) and w["ip2"][0].shape == (10, 500)


# ---- (b) snapshot and resume ----------------------------------------------------------------

def resume_setup(tmp_path):
    """LeNet on the sample with a random transform (mirror, TRAIN crops) and the paper's
    AugmentedDropout: resuming needs the weights, the momentum, the lr step, the Caffe random
    stream, and the Data layers' cursors and transformer streams."""
    net = sample_lenet(tmp_path / "net.prototxt",
                       transform="scale: 0.00390625 mirror: true crop_size: 24",
                       train_batch=64, test_batch=50)
    # 2,000 training images in batches of 64: the cursor wraps around at iteration 31
    return write_solver(tmp_path / "solver.prototxt", net, test_iter=2, test_interval=10,
                        base_lr=0.01, momentum=0.9, weight_decay=0.0005, lr_policy="step",
                        gamma=0.5, stepsize=15, display=5, max_iter=40, snapshot=20,
                        snapshot_prefix="run", random_seed=7)


def test_resume_is_bit_identical(tmp_path, capsys):
    solver = resume_setup(tmp_path)
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    s1 = train(str(solver), output=str(whole), quiet=True)
    assert s1["iterations"] == 40
    assert (whole / "run_iter_20.solverstate").is_file()
    mid = whole / "run_iter_20.solverstate"
    code, out, err = run_cli(["train", "--solver", solver, "--snapshot", mid,
                              "--output", resumed], capsys)
    assert code == 0, err
    assert "Resuming from" in out and "at iteration 20" in out
    a, b = weights(whole / "run_iter_40.caffemodel"), weights(resumed / "run_iter_40.caffemodel")
    assert a.keys() == b.keys()
    for name in a:
        for x, y in zip(a[name], b[name]):
            assert x.tobytes() == y.tobytes(), f"layer {name} differs after resume"
    ha = read_solverstate(str(whole / "run_iter_40.solverstate"))
    hb = read_solverstate(str(resumed / "run_iter_40.solverstate"))
    assert (ha["iter"], ha["current_step"]) == (hb["iter"], hb["current_step"]) == (40, 2)
    for x, y in zip(ha["history"], hb["history"]):
        assert x.tobytes() == y.tobytes()
    # the resumed run's test scores (at 20, tested again on resume as Caffe does, 30, 40)
    # are the uninterrupted run's
    s2 = json.loads((resumed / "summary.json").read_text())
    assert [e for e in s1["test_curve"] if e["iter"] >= 20] == s2["test_curve"]

    # The check has teeth: without the random stream and data cursors (a bare Caffe
    # .solverstate), the resumed run is not the same.
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(mid, bare / mid.name)
    shutil.copy(whole / "run_iter_20.caffemodel", bare / "run_iter_20.caffemodel")
    train(str(solver), snapshot=str(bare / mid.name), output=str(tmp_path / "bare-run"),
          quiet=True)
    c = weights(tmp_path / "bare-run" / "run_iter_40.caffemodel")
    assert not all(x.tobytes() == y.tobytes() for n in a for x, y in zip(a[n], c[n]))


def test_weights_and_snapshot_together_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="not both"):
        cli.main(["train", "--solver", str(LENET_SOLVER), "--weights", "w.caffemodel",
                  "--snapshot", "s.solverstate", "--output", str(tmp_path)])


# ---- (c) the command line --------------------------------------------------------------------

def test_missing_data_without_fallback(empty_data, tmp_path, capsys):
    code, out, err = run_cli(["train", "--solver", LENET_SOLVER, "--output", tmp_path / "o",
                              "--quiet"], capsys)
    assert code == 1
    assert "train-images-idx3-ubyte" in err and str(empty_data) in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # one clear line


def test_missing_data_exit_status_of_the_real_process(tmp_path):
    env = dict(os.environ, AUGDROP_DATA=str(tmp_path / "nothing"))
    proc = subprocess.run([sys.executable, "-m", "augdrop_caffe.cli", "train", "--solver",
                           str(LENET_SOLVER), "--output", str(tmp_path / "o"), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert "t10k-images-idx3-ubyte" in proc.stderr or "train-images-idx3-ubyte" in proc.stderr
    assert "Traceback" not in proc.stderr


BAD_NET = """name: "bad"
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param { shape { dim: 1 dim: 2 } }
}
layer {
  name: "ip"
  type: "InnerProduct"
  bottom: "data"
  top: "ip"
  inner_product_param { num_output: 2 wieght_filler { type: "xavier" } }
}
"""


def test_bad_prototxt_file_and_line(tmp_path, capsys):
    net = tmp_path / "bad_net.prototxt"
    net.write_text(BAD_NET)
    solver = write_solver(tmp_path / "solver.prototxt", net, base_lr=0.01, max_iter=1)
    code, _, err = run_cli(["train", "--solver", solver, "--output", tmp_path / "o"], capsys)
    assert code == 1
    assert f"{net}:13" in err and "wieght_filler" in err
    code, _, err = run_cli(["time", "--model", net, "--iterations", "1"], capsys)
    assert code == 1 and f"{net}:13" in err
    # and a syntax error in the solver itself
    broken = tmp_path / "broken_solver.prototxt"
    broken.write_text('net: "x.prototxt"\nbase_lr: 0.01\nmax_iter: {\n')
    code, _, err = run_cli(["train", "--solver", broken, "--output", tmp_path / "o2"], capsys)
    assert code == 1 and f"{broken}:3" in err


def test_missing_solver_and_net_files(tmp_path, capsys):
    code, _, err = run_cli(["train", "--solver", tmp_path / "absent.prototxt",
                            "--output", tmp_path / "o"], capsys)
    assert code == 1 and "absent.prototxt" in err
    solver = write_solver(tmp_path / "solver.prototxt", "no_such_net.prototxt", max_iter=1)
    code, _, err = run_cli(["train", "--solver", solver, "--output", tmp_path / "o"], capsys)
    assert code == 1 and "no_such_net.prototxt" in err


@pytest.mark.parametrize("spec, match", [
    ("augmented:0.5", "augmented needs PF/PB"),
    ("standard:1", r"outside \[0, 1\)"),
    ("gaussian:0.5", "unknown variant"),
    ("drop9=standard:0.5", "drop9"),  # a layer the net does not have
])
def test_bad_dropout_spec_exit_2(spec, match, empty_data, tmp_path, capsys):
    code, _, err = run_cli(["train", "--solver", LENET_SOLVER, "--sample-fallback",
                            "--dropout", spec, "--output", tmp_path / "o"], capsys)
    assert code == 2
    assert err.startswith("augdrop-caffe: ")
    assert re.search(match, err)
    assert "Traceback" not in err


def test_bad_dropout_spec_real_process(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "augdrop_caffe.cli", "train", "--solver",
                           str(LENET_SOLVER), "--dropout", "augmented:0.5",
                           "--output", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "augmented needs PF/PB" in proc.stderr


def test_data_fetch_offline_fails_fast_and_leaves_no_files(tmp_path, monkeypatch, capsys):
    calls = []

    def offline(url, timeout=None, **kwargs):
        calls.append((url, timeout))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    # No network is reached from the tests: the fetcher's urlopen is made to fail as it does
    # on an offline machine.
    monkeypatch.setattr(fetch_mod.urllib.request, "urlopen", offline)
    root = tmp_path / "root"
    code, _, err = run_cli(["data", "fetch", "mnist", "--data-root", root], capsys)
    assert code == 1
    assert "cannot download" in err and "offline" in err
    assert "train-images-idx3-ubyte.gz" in err and str(root) in err
    assert "6bbc9ace898e44ae57da46a324031adb" in err  # the MD5 to check a hand copy against
    assert len(calls) == 1 and calls[0][0].startswith("https://")
    assert calls[0][1] is not None and calls[0][1] <= 60  # never waits forever
    assert not [p for p in root.rglob("*") if p.is_file()]  # no partial download left


def test_data_fetch_unknown_name(tmp_path, capsys):
    code, _, err = run_cli(["data", "fetch", "imagenet", "--data-root", tmp_path], capsys)
    assert code == 1
    assert "unknown data set 'imagenet'" in err and "mnist" in err


def test_data_info(capsys):
    code, out, _ = run_cli(["data", "info", "mnist-sample:test"], capsys)
    assert code == 0
    assert "1000 images of shape (1, 28, 28)" in out and "10 classes" in out


def test_time_prints_a_per_layer_table(tmp_path, capsys, monkeypatch):
    data = os.environ.get("AUGDROP_DATA", "")
    if data and (Path(data) / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        model = LENET_NET  # the package's prototxt, on the real MNIST
    else:
        model = sample_lenet(tmp_path / "lenet_sample.prototxt")
    code, out, err = run_cli(["time", "--model", model, "--iterations", "2"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "forward ms" in lines[0] and "backward ms" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines[1:] if not line.startswith("Average")}
    assert list(rows) == ["mnist", "conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "drop1",
                          "ip2", "loss"]  # the TRAIN phase's layers, in order
    assert rows["conv1"][1] == "Convolution[IMPLICIT]" and rows["drop1"][1] == "AugmentedDropout"
    assert rows["conv2"][1] == "Convolution[WINOGRAD]"
    assert all(float(r[2]) >= 0 and float(r[3]) >= 0 for r in rows.values())
    for what in ("Average forward pass", "Average backward pass", "Average forward-backward"):
        assert any(line.startswith(what) and line.endswith(" ms") for line in lines)

    code, out, err = run_cli(["time", "--model", model, "--iterations", "1", "--by-type"], capsys)
    assert code == 0, err
    table = out.split("\n\n", 1)[1].splitlines()
    end = next(i for i, line in enumerate(table) if line.startswith("all"))
    assert table[0].split()[:2] == ["type", "layers"]
    assert "WINOGRAD does fewer" in table[end + 1]  # its GFLOP/s is an effective rate
    by_type = {line.split()[0]: line.split() for line in table[1:end]}
    assert by_type["Convolution[IMPLICIT]"][1] == "1" and by_type["InnerProduct"][1] == "2"
    assert by_type["Convolution[WINOGRAD]"][1] == "1"
    assert float(by_type["Convolution[IMPLICIT]"][-1]) > 0  # GFLOP/s


def test_test_command_on_a_snapshot(short_run, tmp_path, capsys):
    model = sample_lenet(tmp_path / "lenet_sample.prototxt")
    code, out, err = run_cli(["test", "--model", model, "--weights",
                              short_run / "lenet_iter_60.caffemodel", "--iterations", "4"],
                             capsys)
    assert code == 0, err
    assert out.count("Batch ") == 4
    final = {line.split(" = ")[0]: float(line.split(" = ")[1])
             for line in out.splitlines() if not line.startswith("Batch")}
    assert set(final) == {"accuracy", "loss"}
    assert final["accuracy"] > 0.5
    # the mean of the batch scores
    batch_acc = [float(line.split("accuracy = ")[1].split(",")[0])
                 for line in out.splitlines() if line.startswith("Batch")]
    assert final["accuracy"] == pytest.approx(np.mean(batch_acc), abs=1e-6)


def test_test_command_missing_weights(tmp_path, capsys):
    model = sample_lenet(tmp_path / "lenet_sample.prototxt")
    code, _, err = run_cli(["test", "--model", model, "--weights", tmp_path / "none.caffemodel",
                            "--iterations", "1"], capsys)
    assert code == 1 and "none.caffemodel" in err


def test_dropout_none_removes_the_dropout_layers(tmp_path, capsys):
    net = sample_lenet(tmp_path / "net.prototxt", train_batch=20, test_batch=20)
    solver = write_solver(tmp_path / "solver.prototxt", net, test_iter=1, test_interval=100,
                          base_lr=0.01, lr_policy="fixed", max_iter=2, random_seed=3, snapshot_prefix="x")
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["train", "--solver", solver, "--dropout", "none", "--seed", "5",
                              "--output", out_dir, "--quiet"], capsys)
    assert code == 0, err
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["dropout"]["default"] == "none"
    assert summary["seed"] == 5 and summary["settings"]["random_seed"] == 5
    layers = [name for name, _t, _b in read_caffemodel(str(out_dir / "x_iter_2.caffemodel"))]
    assert "drop1" not in layers and "ip1" in layers and "ip2" in layers
    # and the same solver with a variant keeps the layer
    code, out, err = run_cli(["train", "--solver", solver, "--dropout", "drop1=forward:0.3",
                              "--output", tmp_path / "out2", "--quiet"], capsys)
    assert code == 0, err
    types = {name: t for name, t, _b in read_caffemodel(str(tmp_path / "out2" / "x_iter_2.caffemodel"))}
    assert types["drop1"] == "AugmentedDropout"
    summary = json.loads((tmp_path / "out2" / "summary.json").read_text())
    assert summary["dropout"]["per_layer"] == {"drop1": "forward:0.3"}
