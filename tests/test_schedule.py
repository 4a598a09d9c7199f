"""--schedule (schedules.py): ResNet-20's paper schedule (640,000 iterations as printed) or the
usual 64k one, lr steps scaled alike, named in the log, the summary and the sweep's records."""
import json
import os

import pytest

from augdrop_caffe import cli
from augdrop_caffe.experiments import tables, training
from augdrop_caffe.experiments.training import prototxt_dir
from augdrop_caffe.schedules import ScheduleError, apply_schedule
from augdrop_caffe.solver import load_solver_param


def resnet_solver():
    return load_solver_param(os.path.join(prototxt_dir(), "resnet20_cifar10_solver.prototxt"))[0]


def test_64k_scales_max_iter_and_the_lr_steps():
    param = resnet_solver()
    assert param["max_iter"] == [640000] and param["stepvalue"] == [320000, 480000]
    note = apply_schedule(param, "64k")
    assert param["max_iter"] == [64000]
    assert param["stepvalue"] == [32000, 48000]
    assert param["test_interval"] == [1000] and param["snapshot"] == [5000]
    assert note == ("SCHEDULE 64k: 64,000 iterations instead of the solver's 640,000 (x0.1); "
                    "lr steps at 32,000, 48,000")


def test_paper_schedule_leaves_the_solver_alone():
    param = resnet_solver()
    assert apply_schedule(param, "paper") is None and apply_schedule(param, None) is None
    assert param == resnet_solver()
    with pytest.raises(ScheduleError, match="expected one of paper, 64k"):
        apply_schedule(param, "32k")


def test_64k_tables_are_runs_of_their_own():
    paper, short = tables.expand("table2", seeds=1), tables.expand("table2-64k", seeds=1)
    assert len(paper) == len(short) == 19
    assert {r.setup for r in short} == {"resnet20-cifar10-64k"}
    assert not {r.key for r in paper} & {r.key for r in short}
    assert tables.schedule_of("resnet20-cifar10-64k") == "64k"
    assert tables.schedule_of("resnet20-cifar10") == "paper"
    assert tables.SOLVERS["resnet20-svhn-64k"] == tables.SOLVERS["resnet20-svhn"]
    assert "SCHEDULE 64k" in tables.table_title("table5-64k")
    assert "SCHEDULE paper" in tables.table_title("table5")
    assert len(tables.expand("table5-64k", seeds=1)) == 18


def test_cli_maps_the_schedule_to_its_table():
    assert cli._scheduled_table("table2", "64k", "replicate") == "table2-64k"
    assert cli._scheduled_table("table2-64k", "64k", "report") == "table2-64k"
    assert cli._scheduled_table("table1", "paper", "report") == "table1"
    with pytest.raises(SystemExit, match="for the ResNet-20 tables"):
        cli._scheduled_table("table1", "64k", "replicate")


def test_sweep_passes_the_schedule_and_records_it(monkeypatch, tmp_path):
    seen = {}

    class Done:
        returncode, stdout, stderr = 1, "", "stopped here"

    def fake_run(cmd, **kw):
        seen["cmd"] = cmd
        return Done()

    monkeypatch.setattr(training.subprocess, "run", fake_run)
    record = training.train_one(tables.Run("resnet20-cifar10-64k", "standard:0.1", 1, quick=True))
    assert seen["cmd"][seen["cmd"].index("--schedule") + 1] == "64k"
    assert record["schedule"] == "64k" and record["status"] == "failed"
    record = training.train_one(tables.Run("resnet20-cifar10", "standard:0.1", 1, quick=True))
    assert "--schedule" not in seen["cmd"] and record["schedule"] == "paper"


def test_train_names_the_schedule(tmp_path, capsys):
    """A short LeNet training on 64k: the note in the log, settings.schedule and schedule in
    summary.json."""
    out = str(tmp_path / "run")
    solver = os.path.join(prototxt_dir(), "lenet_solver.prototxt")
    assert cli.main(["train", "--solver", solver, "--schedule", "64k", "--iterations", "2",
                     "--quick", "--sample-fallback", "--output", out, "--quiet"]) == 0
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert summary["schedule"] == "64k" and summary["settings"]["schedule"] == "64k"
    assert any(n.startswith("SCHEDULE 64k: 64,000 iterations instead of the solver's 12,000")
               for n in summary["notes"])
    with open(os.path.join(out, "train.log")) as f:
        assert "SCHEDULE 64k" in f.read()
