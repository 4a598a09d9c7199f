"""One run of a sweep, trained in a child process: the unit of work every executor runs.

`train_one` starts `python -m augdrop_caffe.cli train ... --quiet` (a crash of the core cannot
take the sweep down), reads its summary.json and returns the store record; it never writes the
store (the sweep's driver alone does). Executors call it where the run is placed: a thread of
the local executor, or a Ray worker on some node of a cluster.
"""
import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from .. import __version__
from .tables import MC_EVALUATED, SOLVERS, schedule_of


def prototxt_dir():
    """The paper's prototxts: installed with the package, or in the source tree."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(here, "prototxt"),
                      os.path.join(os.path.dirname(os.path.dirname(here)), "prototxt")):
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError("the package's prototxt folder is missing")


# Resolved here, in the parent: the child of a multi-threaded fork must not dlopen/dlsym.
_PRCTL = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None


def _die_with_parent(parent):
    """Runs in the child before exec: end it when the process that started it ends (the
    sweep, or the Ray worker that runs the task)."""
    _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the prctl: no signal will come
        os._exit(1)


# A training killed by one of these was stopped from outside (a user, a shutdown): it is not
# recorded, so that the next sweep trains it again. Any other death is a failure, recorded.
INTERRUPTING_SIGNALS = {int(signal.SIGHUP), int(signal.SIGINT), int(signal.SIGKILL),
                        int(signal.SIGTERM)}


def placement(executor):
    """Where a run is trained, for its record's provenance: the executor and the host."""
    return {"executor": executor, "host": socket.gethostname()}


def base_record(run):
    """The fields every record of `run` has, whatever became of its training."""
    return {"key": run.key, "setup": run.setup, "dropout": run.dropout, "seed": run.seed,
            "quick": run.quick, "iterations_override": run.iterations, "version": __version__,
            "schedule": schedule_of(run.setup)}


def train_one(run, data_root=None, sample_fallback=False, threads=None, device="cpu",
              reduction_slots=None, where=None, engines=None):
    """Train one run in a child process; returns its record (status ok, failed or
    interrupted). `where` (a dict, e.g. `placement("local")`) is added to its provenance.
    engines: {layer: engine} forced on those Convolution layers (`train --engine`)."""
    output = tempfile.mkdtemp(prefix=f"augdrop-{run.key}-")
    cmd = [sys.executable, "-m", "augdrop_caffe.cli", "train",
           "--solver", os.path.join(prototxt_dir(), SOLVERS[run.setup]),
           "--dropout", run.dropout, "--seed", str(run.seed), "--output", output, "--quiet"]
    if schedule_of(run.setup) != "paper":
        cmd += ["--schedule", schedule_of(run.setup)]
    if run.quick:
        cmd.append("--quick")
    if run.iterations:
        cmd += ["--iterations", str(run.iterations)]
    if data_root:
        cmd += ["--data-root", data_root]
    if sample_fallback:
        cmd.append("--sample-fallback")
    cmd += ["--device", device]
    if reduction_slots:
        cmd += ["--reduction-slots", str(reduction_slots)]
    for layer, engine in sorted((engines or {}).items()):
        cmd += ["--engine", f"{layer}={engine}"]
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    record = base_record(run)
    start = time.time()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              preexec_fn=functools.partial(_die_with_parent, os.getpid())
                              if _PRCTL is not None else None)
        summary_path = os.path.join(output, "summary.json")
        if -proc.returncode in INTERRUPTING_SIGNALS:  # stopped from outside, not a failure
            record.update(status="interrupted", error=f"killed by signal {-proc.returncode}",
                          wall_time_s=time.time() - start)
        elif proc.returncode != 0 or not os.path.isfile(summary_path):
            error = (proc.stderr.strip() or proc.stdout.strip() or f"exit code {proc.returncode}")
            record.update(status="failed", error=error[-2000:], wall_time_s=time.time() - start)
        else:
            with open(summary_path) as f:
                summary = json.load(f)
            record.update(status="ok", final_test=summary["final_test"],
                          test_curve=summary["test_curve"], train_curve=summary["train_curve"],
                          wall_time_s=summary["wall_time_s"], iterations=summary["iterations"],
                          settings=summary["settings"], notes=summary["notes"],
                          hardware=summary["hardware"], provenance=summary["provenance"],
                          weights_sha256=summary["weights_sha256"])
            if run.setup in MC_EVALUATED:  # Table 6: Monte Carlo dropout beside the standard test
                from .mc_eval import mc_test
                record["mc_test"] = mc_test(run, output, summary, prototxt_dir(), data_root, env,
                                            device, functools.partial(_die_with_parent, os.getpid())
                                            if _PRCTL is not None else None)
        if where:
            record["provenance"] = {**record.get("provenance", {}), **where}
        return record
    finally:
        shutil.rmtree(output, ignore_errors=True)
