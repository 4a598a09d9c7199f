"""Where a sweep's runs are trained: the executor interface and the local executor.

An executor takes runs and hands back their records; it never writes the store (the driver,
experiments/sweep.py, alone does: its loop owns the store writes, the progress and the resume).
Two executors share this interface: LocalExecutor (trainings as child processes of this
machine, --jobs at once) and RayExecutor (experiments/ray_executor.py: one Ray task per run on
a cluster).
"""
import os
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Optional

from .training import base_record, placement, train_one


@dataclass(frozen=True)
class TrainOptions:
    """How each run of a sweep is trained, wherever it is placed."""
    data_root: Optional[str] = None  # None: $AUGDROP_DATA, else the user cache folder
    sample_fallback: bool = False
    device: str = "cpu"
    threads: Optional[int] = None    # threads of each training's core


def failed_record(run, error, wall_time_s, where):
    """The record of a run whose training raised instead of returning a record."""
    record = base_record(run)
    record.update(status="failed", error=str(error)[-2000:], wall_time_s=wall_time_s,
                  provenance=dict(where))
    return record


class Executor:
    """The interface the sweep's driver uses.

    submit(runs)    start training the runs (the executor queues what cannot start yet)
    wait(timeout)   [(run, record)] of the runs finished since the last call; [] after
                    `timeout` seconds without one. A record has status ok, failed (recorded)
                    or interrupted (stopped from outside: not recorded, trained next time)
    running()       how many runs are training now
    pending()       how many submitted runs have not come back yet
    describe()      where the runs go, for the sweep's first line
    close()         stop whatever still runs (nothing of it is recorded)
    """
    name = "executor"

    def submit(self, runs):
        raise NotImplementedError

    def wait(self, timeout):
        raise NotImplementedError

    def running(self):
        raise NotImplementedError

    def pending(self):
        raise NotImplementedError

    def describe(self):
        raise NotImplementedError

    def close(self):
        pass


def default_threads(jobs):
    """The user's OMP_NUM_THREADS, as for `train`, else all cores; shared by the jobs."""
    try:
        cores = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        cores = os.cpu_count() or 1
    return max(1, cores // max(jobs, 1))


class LocalExecutor(Executor):
    """`jobs` trainings at once, each a child process of this machine. A killed sweep takes
    its trainings with it (PR_SET_PDEATHSIG, see training.py)."""
    name = "local"

    def __init__(self, options, jobs=1):
        self.jobs = max(jobs, 1)
        self.options = options
        self._pool = ThreadPoolExecutor(max_workers=self.jobs)
        self._futures = {}  # future -> (run, submitted at)

    def submit(self, runs):
        o = self.options
        for run in runs:
            future = self._pool.submit(train_one, run, o.data_root, o.sample_fallback,
                                       o.threads, o.device, where=placement(self.name))
            self._futures[future] = (run, time.monotonic())

    def wait(self, timeout):
        done, _ = wait_futures(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for future in done:
            run, submitted = self._futures.pop(future)
            try:
                out.append((run, future.result()))
            except Exception as e:  # train_one itself failed (not the training): record it
                out.append((run, failed_record(run, f"{type(e).__name__}: {e}",
                                               time.monotonic() - submitted,
                                               placement(self.name))))
        return out

    def running(self):
        return min(len(self._futures), self.jobs)

    def pending(self):
        return len(self._futures)

    def describe(self):
        return f"with {self.jobs} job(s)"

    def close(self):
        # Runs not started are dropped; running ones end with this process or, on Ctrl-C,
        # with the SIGINT their process group got too (then they come back interrupted).
        self._pool.shutdown(wait=True, cancel_futures=True)
