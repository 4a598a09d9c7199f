"""Signals as Caffe's -sigint_effect / -sighup_effect: SIGINT and SIGTERM sent to a real
`augdrop-caffe train` process stop it after the current iteration with a snapshot and a summary
marked interrupted, and --snapshot then resumes it to the very weights of an uninterrupted run;
SIGHUP snapshots and the run goes on. From Python, Ctrl-C during solver.step raises
KeyboardInterrupt within an iteration and leaves the solver where stepping on is exact."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import augdrop_caffe as caffe
from augdrop_caffe import cli
from augdrop_caffe.caffemodel import read_caffemodel, read_solverstate
from augdrop_caffe.train import train

from test_train_cli import sample_lenet, write_solver

ITERATIONS = 40  # of the reference run, and of every run resumed or left to finish


def signal_solver(folder, **fields):
    """LeNet on the package's MNIST sample, small batches, a random transform (mirror, crops)
    and the paper's AugmentedDropout: an exact resume needs the weights, the momentum, the lr
    step, the random stream and the data layers' cursors. A display line every iteration tells
    the test how far the run is; no periodic snapshots (the paper's solvers have none)."""
    folder.mkdir(exist_ok=True)
    net = sample_lenet(folder / "net.prototxt",
                       transform="scale: 0.00390625 mirror: true crop_size: 24",
                       train_batch=16, test_batch=50)
    settings = dict(test_iter=1, test_interval=10, base_lr=0.01, momentum=0.9,
                    weight_decay=0.0005, lr_policy="step", gamma=0.5, stepsize=15, display=1,
                    max_iter=ITERATIONS, snapshot_prefix="run", random_seed=7)
    settings.update(fields)
    return write_solver(folder / "solver.prototxt", net, **settings)


def model_bytes(path):
    return {name: [b.tobytes() for b in blobs] for name, _type, blobs in read_caffemodel(str(path))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its final weights and solver state."""
    folder = tmp_path_factory.mktemp("reference")
    summary = train(str(signal_solver(folder)), output=str(folder / "run"), quiet=True)
    assert summary["iterations"] == ITERATIONS and summary["interrupted"] is False
    assert summary["signal"] is None
    return folder / "run"


def start_training(solver, output, *extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "augdrop_caffe.cli", "train", "--solver",
                             str(solver), "--output", str(output), *map(str, extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def signal_at_iteration(proc, signum, iteration, timeout=120):
    """Read the run's log lines until it displays `iteration`, then send `signum`; returns
    (exit status, the whole stdout, stderr)."""
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(f"Iteration {iteration} ("):
                proc.send_signal(signum)
                break
        rest, err = proc.communicate()
        return proc.returncode, "".join(lines) + rest, err
    finally:
        watchdog.cancel()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_snapshots_and_resumes_exactly(signum, reference, tmp_path, capsys):
    solver = signal_solver(tmp_path)
    run = tmp_path / "run"
    # Far more iterations than the test waits for: the signal, not the end, stops it.
    proc = start_training(solver, run, "--iterations", 100000)
    code, out, err = signal_at_iteration(proc, signum, 1)
    # Ended by the same signal once the snapshot and summary are written: a shell sees
    # 128 + signum (130, 143), a parent process sees a run stopped from outside.
    assert code == -signum, (code, out[-2000:], err[-2000:])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["signal"] == signal.Signals(signum).name
    stopped = summary["iterations"]
    assert 2 <= stopped < ITERATIONS, f"stopped at {stopped}: the signal came too late"
    assert summary["final_test"] == {}
    state = run / f"run_iter_{stopped}.solverstate"
    for suffix in (".caffemodel", ".solverstate", ".augdrop_state"):
        assert (run / f"run_iter_{stopped}{suffix}").is_file()
    assert read_solverstate(str(state))["iter"] == stopped
    log = (run / "train.log").read_text()
    assert f"Optimization stopped early at iteration {stopped} by " \
           f"{signal.Signals(signum).name}; resume with --snapshot {state} --output {run}" in log
    assert "Optimization Done" not in log
    # only whole iterations: the last displayed iteration is the last one run
    displayed = [int(line.split()[1]) for line in log.splitlines()
                 if line.startswith("Iteration ") and "iter/s" in line]
    assert displayed[-1] == stopped - 1

    # Resumed in its own folder (allowed without --overwrite: the snapshot is there) to the
    # reference's length: the very weights and solver state of the uninterrupted run.
    code = cli.main(["train", "--solver", str(solver), "--snapshot", str(state),
                     "--output", str(run), "--iterations", str(ITERATIONS), "--quiet"])
    assert code == 0, capsys.readouterr().err
    final = f"run_iter_{ITERATIONS}"
    assert model_bytes(run / f"{final}.caffemodel") == model_bytes(reference / f"{final}.caffemodel")
    a = read_solverstate(str(reference / f"{final}.solverstate"))
    b = read_solverstate(str(run / f"{final}.solverstate"))
    assert (a["iter"], a["current_step"]) == (b["iter"], b["current_step"])
    assert [h.tobytes() for h in a["history"]] == [h.tobytes() for h in b["history"]]
    resumed = json.loads((run / "summary.json").read_text())
    assert resumed["interrupted"] is False and resumed["iterations"] == ITERATIONS
    log = (run / "train.log").read_text()  # one log, the stop and the resume
    assert "stopped early" in log and f"Resuming from {state} at iteration {stopped}" in log


def test_sighup_snapshots_and_goes_on(reference, tmp_path):
    solver = signal_solver(tmp_path)
    run = tmp_path / "run"
    proc = start_training(solver, run)
    code, out, err = signal_at_iteration(proc, signal.SIGHUP, 1)
    assert code == 0, err[-2000:]
    snapshots = sorted(int(p.stem.split("_")[-1]) for p in run.glob("run_iter_*.caffemodel"))
    assert len(snapshots) == 2 and snapshots[-1] == ITERATIONS, snapshots
    taken = snapshots[0]
    assert 2 <= taken < ITERATIONS
    assert f"Snapshotting to {run / f'run_iter_{taken}.caffemodel'}" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] is False and summary["iterations"] == ITERATIONS
    assert "Optimization Done" in out
    # the snapshot on the way changed nothing: the uninterrupted run's weights
    final = f"run_iter_{ITERATIONS}.caffemodel"
    assert model_bytes(run / final) == model_bytes(reference / final)


def test_effect_none_ignores_the_signal(tmp_path):
    solver = signal_solver(tmp_path, max_iter=12)
    run = tmp_path / "run"
    proc = start_training(solver, run, "--sigint-effect", "none", "--sighup-effect", "none")
    code, out, err = signal_at_iteration(proc, signal.SIGINT, 2)
    assert code == 0, err[-2000:]
    assert json.loads((run / "summary.json").read_text())["iterations"] == 12
    assert [p.name for p in run.glob("*.caffemodel")] == ["run_iter_12.caffemodel"]


def test_sigint_effect_snapshot_goes_on(tmp_path):
    solver = signal_solver(tmp_path, max_iter=30)
    run = tmp_path / "run"
    proc = start_training(solver, run, "--sigint-effect", "snapshot")
    code, out, err = signal_at_iteration(proc, signal.SIGINT, 2)
    assert code == 0, err[-2000:]
    assert len(list(run.glob("run_iter_*.caffemodel"))) == 2
    assert json.loads((run / "summary.json").read_text())["interrupted"] is False


def test_bad_signal_effect_is_refused(tmp_path):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--solver", "s.prototxt", "--sigint-effect", "pause"])
    assert e.value.code == 2
    with pytest.raises(ValueError, match="sighup_effect must be one of stop, snapshot, none"):
        train("s.prototxt", output=str(tmp_path / "o"), sighup_effect="pause")


# ---- from Python: solver.step ----------------------------------------------------------------

def python_solver(folder, seed=7, **fields):
    settings = dict(random_seed=seed, display=0, test_interval=0)
    settings.update(fields)
    return caffe.get_solver(str(signal_solver(folder, **settings)))


def weights_of(solver):
    return {name: [np.array(b.data).tobytes() for b in blobs]
            for name, blobs in solver.net.params.items()}


def test_ctrl_c_during_step_raises_within_an_iteration(tmp_path):
    solver = python_solver(tmp_path / "a")
    main = threading.main_thread().ident
    sent, handled = [], []

    def on_sigint(signum, frame):
        # Python's own Ctrl-C behaviour, set here rather than inherited (a process started
        # with SIGINT ignored never gets it); a repeated signal after the first is dropped.
        handled.append(time.monotonic())
        if len(handled) == 1:
            raise KeyboardInterrupt

    def interrupt():
        # Ctrl-C once the loop runs (a signal before it would meet no step to interrupt), again
        # every 0.2 s until it is handled: on a loaded machine this thread can be scheduled
        # late, so the step is far longer than the test needs and the signal is repeated.
        while solver.iter == 0:
            time.sleep(0.01)
        deadline = time.monotonic() + 60
        while not handled and time.monotonic() < deadline:
            sent.append(time.monotonic())
            signal.pthread_kill(main, signal.SIGINT)
            time.sleep(0.2)

    previous = signal.signal(signal.SIGINT, on_sigint)
    thread = threading.Thread(target=interrupt)
    try:
        thread.start()
        with pytest.raises(KeyboardInterrupt):
            solver.step(10 ** 6)
        raised = time.monotonic()
        thread.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert raised - max(t for t in sent if t <= raised) < 5.0, \
        "KeyboardInterrupt came long after Ctrl-C"
    done = solver.iter
    assert 0 < done < 10 ** 6 and solver.requested_early_exit
    # The solver is consistent: stepping on gives what an uninterrupted run gives.
    solver.step(5)
    assert solver.iter == done + 5 and not solver.requested_early_exit
    interrupted = weights_of(solver)
    whole = python_solver(tmp_path / "b")
    whole.step(done + 5)
    assert weights_of(whole) == interrupted


def test_step_callbacks_events_and_actions(tmp_path):
    solver = python_solver(tmp_path, seed=3)
    events = []
    asked = iter(["snapshot", None, "stop"])
    solver.step(10, on_event=lambda e: events.append((e.kind, e.iter)), action=lambda: next(asked))
    # the snapshot the action asked for after the first iteration; stop after the third
    assert solver.iter == 3 and solver.requested_early_exit
    assert events == [("snapshot", 1)]
    assert solver.step(1, on_event=lambda e: "stop", action=lambda: "snapshot") is None
    assert solver.iter == 4 and solver.requested_early_exit

    # an exception in a callback ends the step once the iteration is whole, then is raised
    def failing(event):
        raise RuntimeError(f"callback failed at {event.kind} {event.iter}")

    with pytest.raises(RuntimeError, match="callback failed at snapshot 5"):
        solver.step(10, on_event=failing, action=lambda: "snapshot")
    assert solver.iter == 5
    with pytest.raises(ValueError, match="'stop' or 'snapshot', not 'pause'"):
        solver.step(10, action=lambda: "pause")
    assert solver.iter == 6
    solver.step(2)
    assert solver.iter == 8 and not solver.requested_early_exit


def test_display_and_test_events(tmp_path):
    """Display events carry the iteration's rate and the mean loss of the last average_loss
    iterations (the window restarts with each step, as Caffe's Step clears it); test events
    one result per test net; periodic snapshot events come at the snapshot interval."""
    plain = python_solver(tmp_path / "plain", display=1, test_interval=4, snapshot=5)
    losses = []
    plain.step(6, on_event=lambda e: losses.append(e.smoothed_loss) if e.kind == "display" else None)
    smoothing = python_solver(tmp_path / "window", display=1, average_loss=3, test_interval=4,
                              snapshot=5)
    events = []
    smoothing.step(6, on_event=events.append)
    displays = [e for e in events if e.kind == "display"]
    assert [e.iter for e in displays] == list(range(6))
    assert all(e.rate == np.float32(0.01) for e in displays)
    for k, e in enumerate(displays):
        window = losses[max(0, k - 2):k + 1]
        assert e.smoothed_loss == sum(window) / len(window)
    assert [(e.kind, e.iter) for e in events if e.kind != "display"] == [
        ("test", 0), ("test", 4), ("snapshot", 5)]
    test = next(e for e in events if e.kind == "test").tests
    assert len(test) == 1 and test[0].names == ["accuracy", "loss"]
    assert 0 <= test[0].values[0] <= 1
