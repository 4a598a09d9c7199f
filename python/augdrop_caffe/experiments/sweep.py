"""`augdrop-caffe replicate TABLE`: train every run of a table that the store lacks.

Each run is a separate `augdrop-caffe train` process (a crash cannot take the sweep down);
its summary becomes one record in the store. A killed sweep takes its running trainings
with it and, restarted, trains only what has no record yet.
"""
import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from .. import __version__
from .store import ResultStore
from .tables import MC_EVALUATED, SOLVERS, expand, schedule_of


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
    """Runs in the child before exec: end it when the sweep process ends."""
    _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the sweep died before the prctl: no signal will come
        os._exit(1)


# A training killed by one of these was stopped from outside (a user, a shutdown): it is not
# recorded, so that the next sweep trains it again. Any other death is a failure, recorded.
INTERRUPTING_SIGNALS = {int(signal.SIGHUP), int(signal.SIGINT), int(signal.SIGKILL),
                        int(signal.SIGTERM)}


def train_one(run, data_root=None, sample_fallback=False, threads=None, device="cpu",
              reduction_slots=None):
    """Train one run in a child process; returns its record (status ok or failed)."""
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
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    record = {"key": run.key, "setup": run.setup, "dropout": run.dropout, "seed": run.seed,
              "quick": run.quick, "iterations_override": run.iterations, "version": __version__,
              "schedule": schedule_of(run.setup)}
    start = time.time()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              preexec_fn=functools.partial(_die_with_parent, os.getpid())
                              if _PRCTL is not None else None)
        summary_path = os.path.join(output, "summary.json")
        if -proc.returncode in INTERRUPTING_SIGNALS:  # stopped from outside, not a failure
            record.update(status="interrupted", error=f"killed by signal {-proc.returncode}",
                          wall_time_s=time.time() - start)
            return record
        if proc.returncode != 0 or not os.path.isfile(summary_path):
            error = (proc.stderr.strip() or proc.stdout.strip() or f"exit code {proc.returncode}")
            record.update(status="failed", error=error[-2000:], wall_time_s=time.time() - start)
            return record
        import json
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
        return record
    finally:
        shutil.rmtree(output, ignore_errors=True)


def time_left(elapsed_s, done, remaining):
    """The sweep's estimate after `done` runs in `elapsed_s` seconds, `remaining` to go: the
    mean time between completions so far (which counts parallel jobs) times what is left."""
    if remaining <= 0 or done <= 0:
        return ""
    left = elapsed_s / done * remaining
    return (f"; about {left / 3600:.1f} h left" if left >= 5400 else
            f"; about {left / 60:.0f} min left" if left >= 120 else f"; about {left:.0f} s left")


def replicate(table, store_dir, seeds=4, jobs=1, quick=False, data_root=None,
              sample_fallback=False, retry_failed=False, iterations=0, device="cpu", log=print,
              threads=None):
    store = ResultStore(store_dir)
    runs = expand(table, seeds, quick, iterations)
    todo = []
    for run in runs:
        rec = store.get(run.key)
        if rec is None or (retry_failed and rec.get("status") == "failed"):
            todo.append(run)
    log(f"{table}: {len(runs)} runs, {len(runs) - len(todo)} already in {store_dir}, "
        f"{len(todo)} to train with {jobs} job(s)" + (" [QUICK smoke runs]" if quick else ""))
    try:  # the user's OMP_NUM_THREADS, as for `train`, else all cores; shared by the jobs
        cores = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        cores = os.cpu_count() or 1
    threads = threads or max(1, cores // max(jobs, 1))
    failures = 0
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        futures = {pool.submit(train_one, run, data_root, sample_fallback, threads, device): run
                   for run in todo}
        for done, future in enumerate(as_completed(futures), 1):
            run = futures[future]
            record = future.result()
            eta = time_left(time.monotonic() - start, done, len(todo) - done)
            if record["status"] == "interrupted":
                failures += 1
                log(f"[{done}/{len(todo)}] {run.key}: INTERRUPTED ({record['error']}), not "
                    f"recorded: the next sweep trains it again{eta}")
                continue
            store.put(run.key, record)
            if record["status"] == "ok":
                acc = record["final_test"].get("accuracy")
                acc = f"{acc:.4f}" if isinstance(acc, (int, float)) else "n/a"
                log(f"[{done}/{len(todo)}] {run.key}: accuracy {acc} "
                    f"({record['wall_time_s']:.0f} s{eta})")
            else:
                failures += 1
                log(f"[{done}/{len(todo)}] {run.key}: FAILED: "
                    f"{record['error'].splitlines()[-1]}{eta}")
    return failures
