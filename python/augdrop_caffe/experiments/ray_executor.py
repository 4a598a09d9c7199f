"""The Ray executor: each run of a sweep is one Ray task on a cluster (`--executor ray`).

- A task asks for --cpus-per-run CPUs (its training's threads) and --gpus-per-run GPUs, and
  is named by the run's key (Ray's dashboard lists the tasks by run).
- A task returns the run's record as its result; the driver alone writes the store. A task
  whose worker dies is retried by Ray (max_retries); only the finished attempt's result
  reaches the driver, so a run is recorded once.
- Data: without --data-root, the files of each data set the sweep needs are read on the
  driver and put once into Ray's object store; a worker writes them to a folder of its node
  (once per node and content) and trains from there: no shared file system. With
  --data-root, each node reads that folder itself (it must exist on every node).
- A driver that dies (killed, Ctrl-C) ends its Ray job, and Ray ends the job's workers; a
  training is a child process that dies with its worker (PR_SET_PDEATHSIG). Nothing of the
  dead driver's sweep keeps running; the next `replicate` trains what has no record.

Ray is optional: `pip install 'augdrop-caffe[ray]'`.
"""
import hashlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import replace

from .executors import Executor, failed_record
from .training import placement, train_one
from ..data.root import find_data_root

INSTALL_HINT = ("--executor ray needs Ray, which is not installed: "
                "pip install 'augdrop-caffe[ray]' (or pip install 'ray[default]')")


class RayMissing(RuntimeError):
    """Ray cannot be imported; the message says how to install it."""


class RayClusterError(RuntimeError):
    """The Ray cluster cannot be reached, or cannot hold one run."""


def import_ray():
    try:
        import ray
    except ImportError as e:
        raise RayMissing(f"{INSTALL_HINT} ({e})") from None
    return ray


# The files of each named data set, as data/sources.py looks for them under a data root:
# for each item, the alternatives in its order of preference (a folder stands for its files).
_MNIST = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
          "t10k-labels-idx1-ubyte")
DATA_SET_FILES = {
    "mnist": [(f"mnist/{n}.gz", f"mnist/{n}") for n in _MNIST],
    "cifar10": [("cifar-10-batches-bin", "cifar-10-binary.tar.gz")],
    "cifar100": [("cifar-100-binary", "cifar-100-binary.tar.gz")],
    "svhn": [(f"svhn/{s}_32x32.mat", f"{s}_32x32.mat") for s in ("train", "test")],
}


def data_set_of(setup):
    """The named data set a setup trains on ("quick-cifar10" -> "cifar10"), or None."""
    name = setup.rsplit("-", 1)[-1]
    return name if name in DATA_SET_FILES else None


def data_set_files(name, root):
    """[relative path] of the files of data set `name` present under `root`."""
    found = []
    for alternatives in DATA_SET_FILES[name]:
        for rel in alternatives:
            path = os.path.join(root, rel)
            if os.path.isfile(path):
                found.append(rel)
                break
            if os.path.isdir(path):
                for folder, _, names in os.walk(path):
                    found += sorted(os.path.relpath(os.path.join(folder, n), root) for n in names)
                break
    return found


def read_data_set(name, root):
    """({relative path: bytes}, content digest) of a data set's files under root."""
    files, digest = {}, hashlib.sha256()
    for rel in data_set_files(name, root):
        with open(os.path.join(root, rel), "rb") as f:
            files[rel] = f.read()
        digest.update(rel.encode() + b"\0" + len(files[rel]).to_bytes(8, "little"))
        digest.update(files[rel])
    return files, digest.hexdigest()


def node_data_root(name, digest, fetch, base=None):
    """The folder of this node that holds data set `name` with content `digest`: written from
    `fetch()` ({relative path: bytes}) the first time, then reused. Concurrent workers of
    one node each write a private folder and rename it into place; the first rename wins."""
    base = base or os.path.join(tempfile.gettempdir(), "augdrop-caffe-data")
    folder = os.path.join(base, f"{name}-{digest[:16]}")
    if os.path.isdir(folder):
        return folder
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{name}-{digest[:16]}-", dir=base)
    try:
        for rel, data in fetch().items():
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        os.rename(tmp, folder)
    except OSError:
        if not os.path.isdir(folder):
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def ray_train_task(run, options, data):
    """The body of one Ray task, on a worker: returns the run's record.
    data: None (train from options.data_root on this node), or (name, digest, [ObjectRef])
    of a data set in the object store; the ref is in a list so that Ray hands it over
    unresolved and a node that already has the files never fetches them again."""
    ray = import_ray()
    where = placement("ray")
    where["node_ip"] = ray.util.get_node_ip_address()
    where["node_id"] = ray.get_runtime_context().get_node_id()
    data_root = options.data_root
    if data is not None:
        name, digest, box = data
        data_root = node_data_root(name, digest, lambda: ray.get(box[0]))
        where["data"] = f"object store: {name} {digest[:12]}"
    else:
        where["data"] = f"node folder {data_root}"
    return train_one(run, data_root, options.sample_fallback, options.threads, options.device,
                     where=where)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, options, address=None, cpus_per_run=1, gpus_per_run=0, max_retries=3,
                 log=print):
        self.ray = ray = import_ray()
        self.options, self.log = options, log
        self.cpus_per_run, self.gpus_per_run = cpus_per_run, gpus_per_run
        self.max_retries = max_retries
        self._own_connection = not ray.is_initialized()
        if self._own_connection:
            # None: $RAY_ADDRESS, else a new Ray instance on this machine ("local": never
            # one that happens to run here); "auto": the cluster this machine is a node of;
            # "HOST:PORT": that cluster's head.
            address = address or os.environ.get("RAY_ADDRESS") or "local"
            try:
                context = ray.init(address=address, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise RayClusterError(f"cannot start or reach Ray at "
                                      f"{address}: {e}") from None
            self.dashboard = getattr(context, "dashboard_url", None)
        else:
            self.dashboard = None
        self.address = ("a Ray instance started on this machine" if address in (None, "local")
                        else address)
        self._check_resources()
        self._task = ray.remote(ray_train_task)
        self._refs = {}  # ObjectRef -> (run, submitted at)
        self._shipped = {}  # data set name -> (name, digest, [ObjectRef]), once per sweep

    def _nodes(self):
        return [n for n in self.ray.nodes() if n.get("Alive")]

    def _check_resources(self):
        nodes = self._nodes()
        most_cpus = max((n["Resources"].get("CPU", 0) for n in nodes), default=0)
        most_gpus = max((n["Resources"].get("GPU", 0) for n in nodes), default=0)
        if self.cpus_per_run > most_cpus:
            raise RayClusterError(f"--cpus-per-run {self.cpus_per_run}: no node of the Ray "
                                  f"cluster has that many CPUs (the largest has {most_cpus:g})")
        if self.gpus_per_run > most_gpus:
            raise RayClusterError(f"--gpus-per-run {self.gpus_per_run:g}: no node of the Ray "
                                  f"cluster has that many GPUs (the largest has {most_gpus:g})")

    def slots(self):
        """Runs the cluster can train at once with the resources each asks for."""
        slots = 0
        for node in self._nodes():
            res = node["Resources"]
            fit = int(res.get("CPU", 0) // self.cpus_per_run) if self.cpus_per_run else 1 << 30
            if self.gpus_per_run:
                fit = min(fit, int(res.get("GPU", 0) // self.gpus_per_run))
            slots += fit
        return slots

    def _ship(self, name):
        """Put a data set's files into the object store once; None where the driver has none
        (the worker then looks in the driver's data root path, and fails or falls back on
        the MNIST sample as a local run would)."""
        if name not in self._shipped:
            root = find_data_root(None)
            files, digest = read_data_set(name, root)
            if not files:
                self._shipped[name] = None
            else:
                size = sum(len(b) for b in files.values())
                self.log(f"Shipping {name} ({len(files)} file(s), {size / 1e6:.1f} MB from "
                         f"{root}) to the workers through Ray's object store")
                self._shipped[name] = (name, digest, [self.ray.put(files)])
                del files
        return self._shipped[name]

    def submit(self, runs):
        o = self.options
        for run in runs:
            data = None
            name = data_set_of(run.setup)
            if o.data_root is None and name is not None:
                data = self._ship(name)
            # nothing shipped: the worker looks where a local run would
            o_run = o if data is not None else replace(
                o, data_root=o.data_root or find_data_root(None))
            ref = self._task.options(
                name=run.key, num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run,
                max_retries=self.max_retries, retry_exceptions=False,
            ).remote(run, o_run, data)
            self._refs[ref] = (run, time.monotonic())

    def wait(self, timeout):
        ray = self.ray
        if not self._refs:
            return []
        ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if ready:  # and whatever else has finished by now
            ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
        out = []
        for ref in ready:
            run, submitted = self._refs.pop(ref)
            try:
                out.append((run, ray.get(ref)))
            except ray.exceptions.TaskCancelledError:
                continue
            except ray.exceptions.RayError as e:
                # the task raised, or its worker died more often than max_retries allows
                out.append((run, failed_record(run, f"{type(e).__name__}: {e}",
                                               time.monotonic() - submitted,
                                               {"executor": "ray"})))
        return out

    def running(self):
        return min(len(self._refs), self.slots())

    def pending(self):
        return len(self._refs)

    def describe(self):
        res = self.ray.cluster_resources()
        gpus = f", {res['GPU']:g} GPU(s)" if res.get("GPU") else ""
        per_run = f"{self.cpus_per_run} CPU(s)" + (f" and {self.gpus_per_run:g} GPU(s)"
                                                     if self.gpus_per_run else "")
        dashboard = f"; dashboard http://{self.dashboard}" if self.dashboard else ""
        return (f"on Ray ({self.address}: {len(self._nodes())} node(s), {res.get('CPU', 0):g} "
                f"CPUs{gpus}; {per_run} per run, {self.slots()} at once{dashboard})")

    def close(self):
        for ref in list(self._refs):  # runs not finished: stopped, not recorded
            self.ray.cancel(ref, force=True)
        self._refs.clear()
        if self._own_connection:
            self.ray.shutdown()
