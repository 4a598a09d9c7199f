"""Run folders that never collide or overwrite, a failed start that leaves no folder, and the
command line's checks of counts and intervals."""
import json
import os
import subprocess
import sys
import threading

import pytest

import augdrop_caffe.train as train_mod
from augdrop_caffe import cli

from test_train_cli import sample_lenet, write_solver


def tiny_solver(folder, **fields):
    folder.mkdir(exist_ok=True)
    net = sample_lenet(folder / "net.prototxt", train_batch=8, test_batch=8)
    settings = dict(test_iter=1, test_interval=100, base_lr=0.01, lr_policy="fixed",
                    max_iter=2, snapshot_prefix="x", random_seed=1)
    settings.update(fields)
    return write_solver(folder / "solver.prototxt", net, **settings)


def test_runs_started_together_get_their_own_folders(tmp_path):
    solver = tiny_solver(tmp_path / "s")
    work = tmp_path / "work"
    work.mkdir()
    cmd = [sys.executable, "-m", "augdrop_caffe.cli", "train", "--solver", str(solver), "--quiet"]
    procs = [subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    folders = sorted((work / "runs").iterdir())
    assert len(folders) == 2 and all(f.name.startswith("solver-") for f in folders)
    for f in folders:
        assert json.loads((f / "summary.json").read_text())["iterations"] == 2
        log = (f / "train.log").read_text()
        assert log.count("Solving ") == 1 and log.count("Optimization Done") == 1


def test_same_second_gets_a_suffix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_mod.time, "strftime", lambda fmt: "-20261205-080000")
    made = []
    threads = [threading.Thread(target=lambda: made.append(train_mod._new_run_folder("a/s.prototxt")))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(made) == sorted([os.path.join("runs", "s-20261205-080000")] +
                                  [os.path.join("runs", f"s-20261205-080000-{n}") for n in range(2, 7)])


def test_output_holding_files_is_refused(tmp_path, capsys):
    solver = tiny_solver(tmp_path / "s")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"mine": 1}')
    code = cli.main(["train", "--solver", str(solver), "--output", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"--output {out} already holds files (summary.json)" in err
    assert "--overwrite" in err and "--snapshot" in err
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]  # untouched
    assert json.loads((out / "summary.json").read_text()) == {"mine": 1}
    # a file is no folder
    code = cli.main(["train", "--solver", str(solver), "--output", str(out / "summary.json")])
    assert code == 2 and "is a file, not a folder" in capsys.readouterr().err
    # --overwrite writes into it: a fresh train.log, the summary replaced
    (out / "train.log").write_text("an older run's log\n")
    code = cli.main(["train", "--solver", str(solver), "--output", str(out), "--quiet",
                     "--overwrite"])
    assert code == 0, capsys.readouterr().err
    assert "older run" not in (out / "train.log").read_text()
    assert json.loads((out / "summary.json").read_text())["iterations"] == 2
    # a snapshot from that folder resumes there without --overwrite (train.log goes on)
    code = cli.main(["train", "--solver", str(solver), "--output", str(out), "--quiet",
                     "--snapshot", str(out / "x_iter_2.solverstate"), "--iterations", "3"])
    assert code == 0, capsys.readouterr().err
    log = (out / "train.log").read_text()
    assert log.count("Solving ") == 2 and "Resuming from" in log
    # but one from elsewhere does not
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    code = cli.main(["train", "--solver", str(solver), "--output", str(other), "--quiet",
                     "--snapshot", str(out / "x_iter_3.solverstate")])
    assert code == 2 and "already holds files (keep.txt)" in capsys.readouterr().err


def test_failed_start_leaves_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    solver = write_solver(tmp_path / "solver.prototxt", "no_such_net.prototxt", max_iter=1)
    code = cli.main(["train", "--solver", str(solver)])
    assert code == 1 and "no_such_net.prototxt" in capsys.readouterr().err
    assert list((tmp_path / "runs").iterdir()) == []
    code = cli.main(["train", "--solver", str(solver), "--output", str(tmp_path / "o")])
    assert code == 1 and not (tmp_path / "o").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    code = cli.main(["train", "--solver", str(solver), "--output", str(empty)])
    assert code == 1 and empty.is_dir() and not list(empty.iterdir())


def test_failed_resume_and_failed_iteration_keep_the_error_in_train_log(tmp_path, capsys):
    solver = tiny_solver(tmp_path / "s")
    out = tmp_path / "out"
    assert cli.main(["train", "--solver", str(solver), "--output", str(out), "--quiet"]) == 0
    capsys.readouterr()
    # a resume from a snapshot that is not there: the run's folder and log stay, with the error
    code = cli.main(["train", "--solver", str(solver), "--output", str(out), "--quiet",
                     "--snapshot", str(out / "x_iter_7.solverstate")])
    assert code == 1 and "x_iter_7.solverstate" in capsys.readouterr().err
    log = (out / "train.log").read_text().splitlines()
    assert log[-1].startswith("ERROR: ") and "x_iter_7.solverstate" in log[-1]
    # a run that fails after it started (a loss that becomes NaN) keeps its log and the error
    nan = tiny_solver(tmp_path / "nan", base_lr=1e12, max_iter=20, display=1)
    code = cli.main(["train", "--solver", str(nan), "--output", str(tmp_path / "nan-run"),
                     "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "loss is" in err
    log = (tmp_path / "nan-run" / "train.log").read_text().splitlines()
    assert any(line.startswith("Iteration 0 (") for line in log)
    assert log[-1].startswith("ERROR: ") and "loss is" in log[-1]


@pytest.mark.parametrize("argv, argument, wants", [
    (["train", "--solver", "s", "--iterations", "-5"], "--iterations", "positive"),
    (["train", "--solver", "s", "--iterations", "0"], "--iterations", "positive"),
    (["train", "--solver", "s", "--iterations", "many"], "--iterations", "positive"),
    (["train", "--solver", "s", "--seed", "-1"], "--seed", "non-negative"),
    (["train", "--solver", "s", "--threads", "0"], "--threads", "positive"),
    (["train", "--solver", "s", "--reduction-slots", "-2"], "--reduction-slots", "positive"),
    (["test", "--model", "m", "--weights", "w", "--iterations", "0"], "--iterations", "positive"),
    (["time", "--model", "m", "--iterations", "-1"], "--iterations", "positive"),
    (["replicate", "table1", "--seeds", "0"], "--seeds", "positive"),
    (["replicate", "table1", "--jobs", "-2"], "--jobs", "positive"),
    (["replicate", "table1", "--threads", "0"], "--threads", "positive"),
    (["replicate", "table1", "--iterations", "-3"], "--iterations", "positive"),
])
def test_counts_and_intervals_must_be_positive(argv, argument, wants, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argument}: must be a {wants} integer" in err


def test_valid_counts_are_accepted():
    args = cli.build_parser().parse_args(["train", "--solver", "s", "--seed", "0",
                                          "--iterations", "1", "--threads", "2"])
    assert (args.seed, args.iterations, args.threads) == (0, 1, 2)
    args = cli.build_parser().parse_args(["replicate", "table1"])
    assert (args.seeds, args.jobs, args.iterations) == (4, 1, 0)  # 0: no override
