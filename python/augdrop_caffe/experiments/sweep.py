"""`augdrop-caffe replicate TABLE`: train every run of a table that the store lacks.

The driver here owns the sweep: which runs are left (resume: a run with a record is skipped),
the store writes (only here, each atomic, each run once), and the progress. Where the runs
train is the executor's business (executors.py: this machine, --jobs at once;
ray_executor.py: one Ray task per run on a cluster). A killed sweep takes its running
trainings with it and, restarted, trains only what has no record yet.
"""
import time

from .executors import LocalExecutor, TrainOptions, default_threads
from .store import ResultStore
from .tables import expand


def time_left(elapsed_s, done, remaining):
    """The sweep's estimate after `done` runs in `elapsed_s` seconds, `remaining` to go: the
    mean time between completions so far (which counts parallel jobs) times what is left."""
    if remaining <= 0 or done <= 0:
        return ""
    left = elapsed_s / done * remaining
    return (f"; about {left / 3600:.1f} h left" if left >= 5400 else
            f"; about {left / 60:.0f} min left" if left >= 120 else f"; about {left:.0f} s left")


def make_executor(kind, options, jobs=1, address=None, cpus_per_run=1, gpus_per_run=0, log=print):
    if kind == "local":
        return LocalExecutor(options, jobs)
    if kind == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(options, address=address, cpus_per_run=cpus_per_run,
                           gpus_per_run=gpus_per_run, log=log)
    raise ValueError(f"unknown executor '{kind}' (local or ray)")


class SweepProgress:
    """The counts of a sweep, for its lines in the driver's terminal."""

    def __init__(self, total):
        self.total, self.ok, self.failed, self.interrupted = total, 0, 0, 0
        self.start = time.monotonic()

    @property
    def finished(self):
        return self.ok + self.failed + self.interrupted

    def status(self, running):
        left = self.total - self.finished
        eta = time_left(time.monotonic() - self.start, self.finished, left)
        return (f"done {self.ok}, failed {self.failed + self.interrupted}, running {running}, "
                f"left {left}{eta}")


def replicate(table, store_dir, seeds=4, jobs=1, quick=False, data_root=None,
              sample_fallback=False, retry_failed=False, iterations=0, device="cpu", log=print,
              threads=None, executor="local", address=None, cpus_per_run=1, gpus_per_run=0,
              progress_every=60.0):
    """Train the runs of `table` that `store_dir` lacks; returns how many failed or were
    interrupted. executor: "local" (--jobs trainings on this machine) or "ray"."""
    store = ResultStore(store_dir)
    runs = expand(table, seeds, quick, iterations)
    todo = []
    for run in runs:
        rec = store.get(run.key)
        if rec is None or (retry_failed and rec.get("status") == "failed"):
            todo.append(run)
    head = (f"{table}: {len(runs)} runs, {len(runs) - len(todo)} already in {store_dir}, "
            f"{len(todo)} to train")
    quick_note = " [QUICK smoke runs]" if quick else ""
    if not todo:
        log(head + quick_note)
        return 0
    if executor == "ray":
        threads = threads or max(1, int(cpus_per_run))
    else:
        threads = threads or default_threads(jobs)
    options = TrainOptions(data_root, sample_fallback, device, threads)
    ex = make_executor(executor, options, jobs, address, cpus_per_run, gpus_per_run, log)
    try:
        log(f"{head} {ex.describe()}{quick_note}")
        return _drive(ex, todo, store, log, progress_every)
    finally:
        ex.close()


def _drive(ex, todo, store, log, progress_every):
    """The one loop of every sweep: submit, collect records, write each once, report."""
    progress = SweepProgress(len(todo))
    recorded = set()
    ex.submit(todo)
    last_line = time.monotonic()
    while ex.pending():
        finished = ex.wait(timeout=progress_every)
        if not finished:
            if time.monotonic() - last_line >= progress_every:
                log(f"[{progress.finished}/{progress.total}] "
                    f"{progress.status(ex.running())}")
                last_line = time.monotonic()
            continue
        for run, record in finished:
            if record["status"] == "interrupted":
                progress.interrupted += 1
                message = (f"INTERRUPTED ({record['error']}), not recorded: the next sweep "
                           f"trains it again")
            elif run.key in recorded:  # cannot happen with either executor; never write twice
                log(f"{run.key}: a second result came back; the first one stays recorded")
                continue
            else:
                store.put(run.key, record)
                recorded.add(run.key)
                if record["status"] == "ok":
                    progress.ok += 1
                    acc = record["final_test"].get("accuracy")
                    acc = f"{acc:.4f}" if isinstance(acc, (int, float)) else "n/a"
                    where = record.get("provenance", {})
                    on = f" on {where['host']}" if where.get("executor") == "ray" else ""
                    message = f"accuracy {acc} ({record['wall_time_s']:.0f} s{on})"
                else:
                    progress.failed += 1
                    message = f"FAILED: {record['error'].splitlines()[-1]}"
            log(f"[{progress.finished}/{progress.total}] {run.key}: {message} | "
                f"{progress.status(ex.running())}")
            last_line = time.monotonic()
    elapsed = time.monotonic() - progress.start
    log(f"Sweep done in {elapsed:.0f} s: {progress.ok} trained, {progress.failed} failed, "
        f"{progress.interrupted} interrupted")
    return progress.failed + progress.interrupted
