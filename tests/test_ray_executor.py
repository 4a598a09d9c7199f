"""`augdrop-caffe replicate --executor ray`: the sweep on a Ray cluster.

A one-node Ray cluster is started once for this module on 127.0.0.1 (2 CPUs). The sweeps
train LeNet for 20 iterations (--quick) on the package's MNIST sample with one thread a run:
about 2 s a run. The drivers are child processes (a test kills them) that add a small table
of 4 runs (table3 at ratios 0.1 and 0.3), or 5 with one that fails, before the CLI runs.
"""
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from augdrop_caffe import cli
from augdrop_caffe.experiments import ray_executor
from augdrop_caffe.experiments.store import ResultStore
from augdrop_caffe.experiments.tables import Run

try:
    import ray  # noqa: F401
    RAY = True
except ImportError:
    RAY = False
NO_RAY = "Ray is not installed (pip install 'augdrop-caffe[ray]'); the Ray executor is optional"
needs_ray = pytest.mark.skipif(not RAY, reason=NO_RAY)

SAMPLE = Path(ray_executor.__file__).resolve().parent.parent / "data" / "sample"
# The 4 runs of "ray4" and, in "ray5", one more whose dropout ratio is out of range.
DRIVER = """
import sys
from augdrop_caffe.experiments import tables
cells = [c for c in tables.table_cells("table3") if c.column in ("0.1", "0.3")]
broken = tables.Cell("broken", "-", "lenet-mnist", "standard:1.5", 0.0)
tables.TABLES["ray4"] = ("table3 at 0.1 and 0.3", lambda: cells)
tables.TABLES["ray5"] = ("ray4 and a run that fails", lambda: cells + [broken])
from augdrop_caffe import cli
sys.exit(cli.main(sys.argv[1:]))
"""
KEYS4 = [Run("lenet-mnist", d, 1, True, 20).key
         for d in ("standard:0.1", "standard:0.3", "augmented:0.1/0.0001", "augmented:0.3/0.0001")]
BROKEN = Run("lenet-mnist", "standard:1.5", 1, True, 20).key
COMPARED = ("weights_sha256", "final_test", "test_curve", "train_curve", "iterations")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, address, env, node_tmp):
        self.address, self.env, self.node_tmp = address, env, node_tmp


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`ray start --head` on 127.0.0.1 with 2 CPUs, in its own session (ended by its id)."""
    if not RAY:
        pytest.skip(NO_RAY)
    # Ray's socket paths must stay short: its temp dir lives directly under /tmp.
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    node_tmp = tmp_path_factory.mktemp("ray-node-tmp")  # the workers' TMPDIR
    # Without this variable Ray takes the machine's outward address for the node, even when
    # told 127.0.0.1; with it, everything listens on 127.0.0.1 only.
    # Token authentication as Ray recommends it, with this module's own token (the head, its
    # workers and the drivers share it through the environment; ~/.ray is not read).
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
               OMP_NUM_THREADS="1", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH"):
        env.pop(name, None)
    port = _free_port()
    log = open(tmp_path_factory.mktemp("ray-head") / "head.log", "w")
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--port", str(port), "--num-cpus", "2", "--num-gpus", "0", "--include-dashboard=false",
         "--ray-client-server-port", str(_free_port()),
         "--dashboard-agent-listen-port", str(_free_port()),
         "--temp-dir", ray_tmp, "--disable-usage-stats"],
        env=dict(env, TMPDIR=str(node_tmp)), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in Path(log.name).read_text():
            assert head.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "Ray did not start in 90 s"
            time.sleep(0.2)
        yield Cluster(f"127.0.0.1:{port}", env, node_tmp)
    finally:
        for sig, wait in ((signal.SIGTERM, 2), (signal.SIGKILL, 5)):
            try:
                os.killpg(head.pid, sig)  # the head's session: GCS, raylet, workers
            except ProcessLookupError:
                break
            try:
                head.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        log.close()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _driver(args):
    return [sys.executable, "-c", DRIVER, "replicate", *args]


def _sweep_args(table, store, *extra):
    return [table, "--seeds", "1", "--quick", "--iterations", "20", "--store", str(store), *extra]


def _processes_mentioning(marker):
    """(pid, ppid, cmdline) of live processes whose command line contains marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if marker in cmdline and stat[0] != "Z":
            found.append((int(entry), int(stat[1]), cmdline))
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _kill_all(marker):
    for pid, _, _ in _processes_mentioning(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _snapshot(store):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in Path(store).glob("*.json")}


# --- without a cluster ------------------------------------------------------------------------

def test_without_ray_the_executor_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code = cli.main(["replicate", "table3", "--executor", "ray", "--store", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 1
    assert "--executor ray needs Ray" in err and "pip install 'augdrop-caffe[ray]'" in err
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").iterdir())


@pytest.mark.parametrize("argv, message", [
    (["--address", "127.0.0.1:1"], "go with --executor ray"),
    (["--cpus-per-run", "2"], "go with --executor ray"),
    (["--executor", "ray", "--device", "cuda"], "needs --gpus-per-run"),
    (["--executor", "ray", "--jobs", "4"], "--jobs is the local executor's"),
])
def test_ray_options_are_checked(tmp_path, argv, message, capsys):
    if "ray" in argv and not RAY:
        pytest.skip(NO_RAY)
    with pytest.raises(SystemExit) as info:
        cli.main(["replicate", "table3", "--store", str(tmp_path / "s"), *argv])
    assert message in str(info.value)


def test_data_set_files_and_node_folder(tmp_path):
    root = tmp_path / "root"
    (root / "mnist").mkdir(parents=True)
    for f in SAMPLE.iterdir():
        shutil.copy(f, root / "mnist" / f.name)
    (root / "cifar-10-batches-bin").mkdir()
    (root / "cifar-10-batches-bin" / "test_batch.bin").write_bytes(b"x" * 3073)
    assert ray_executor.data_set_files("mnist", str(root)) == [
        f"mnist/{n}.gz" for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    assert ray_executor.data_set_files("cifar10", str(root)) == [
        "cifar-10-batches-bin/test_batch.bin"]
    assert ray_executor.data_set_files("svhn", str(root)) == []
    assert [ray_executor.data_set_of(s) for s in ("lenet-mnist", "quick-cifar10",
                                                  "resnet20-cifar100", "quick-svhn", "other")] \
        == ["mnist", "cifar10", "cifar100", "svhn", None]

    files, digest = ray_executor.read_data_set("mnist", str(root))
    assert len(files) == 4 and len(digest) == 64
    assert ray_executor.read_data_set("mnist", str(root))[1] == digest  # content decides
    fetched = []

    def fetch():
        fetched.append(1)
        return files
    base = tmp_path / "node"
    folder = ray_executor.node_data_root("mnist", digest, fetch, base=str(base))
    for rel, data in files.items():
        assert (Path(folder) / rel).read_bytes() == data
    # a second run on this node reuses the folder without fetching
    assert ray_executor.node_data_root("mnist", digest, fetch, base=str(base)) == folder
    assert fetched == [1]
    assert sorted(p.name for p in base.iterdir()) == [Path(folder).name]  # no leftovers


# --- on a local Ray cluster -------------------------------------------------------------------

def _records(store):
    return ResultStore(str(store)).records()


@needs_ray
def test_ray_records_equal_the_local_executors(cluster, tmp_path):
    """The same 4 runs on both executors give the same weights, scores and curves; the Ray
    workers get the data through the object store (no --data-root)."""
    data = tmp_path / "driver-data"  # the MNIST sample, laid out as a full MNIST
    (data / "mnist").mkdir(parents=True)
    for f in SAMPLE.iterdir():
        shutil.copy(f, data / "mnist" / f.name)
    local = subprocess.run(_driver(_sweep_args("ray4", tmp_path / "local", "--jobs", "2",
                                               "--data-root", str(data))),
                           env=cluster.env, capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stdout + local.stderr
    env = dict(cluster.env, AUGDROP_DATA=str(data))
    on_ray = subprocess.run(_driver(_sweep_args("ray4", tmp_path / "ray", "--executor", "ray",
                                                "--address", cluster.address)),
                            env=env, capture_output=True, text=True, timeout=120)
    out = on_ray.stdout
    assert on_ray.returncode == 0, out + on_ray.stderr
    assert "4 to train on Ray (127.0.0.1:" in out and "1 CPU(s) per run, 2 at once" in out
    assert "Shipping mnist (4 file(s)" in out and "[4/4]" in out
    assert "done 4, failed 0, running 0, left 0" in out
    a, b = _records(tmp_path / "local"), _records(tmp_path / "ray")
    assert sorted(a) == sorted(b) == sorted(KEYS4)
    for key in KEYS4:
        assert a[key]["status"] == b[key]["status"] == "ok"
        for field in COMPARED:
            assert a[key][field] == b[key][field], (key, field)
        assert a[key]["provenance"]["executor"] == "local"
        prov = b[key]["provenance"]
        assert prov["executor"] == "ray" and prov["node_ip"] == "127.0.0.1"
        assert prov["host"] == socket.gethostname() and prov["threads"] == 1
        assert prov["data"].startswith("object store: mnist ")
        assert not any("sample" in n for n in b[key]["notes"])  # the shipped "full" MNIST
    # the node wrote the shipped files once, into its own temporary folder
    node = list((cluster.node_tmp / "augdrop-caffe-data").glob("mnist-*"))
    assert len(node) == 1 and len(list((node[0] / "mnist").iterdir())) == 4


@needs_ray
def test_a_killed_worker_is_retried_and_its_run_recorded_once(cluster, tmp_path):
    """SIGKILL to the Ray worker of a training: its training dies with it, Ray runs the task
    again, and the run has one record; a run that fails is recorded failed, the rest go on."""
    data_root = tmp_path / "empty-data"
    data_root.mkdir()
    store = tmp_path / "store"
    marker = str(data_root)
    cmd = _driver(_sweep_args("ray5", store, "--executor", "ray", "--address", cluster.address,
                              "--sample-fallback", "--data-root", str(data_root)))
    killed = None
    try:
        with open(tmp_path / "sweep.log", "w") as log:
            proc = subprocess.Popen(cmd, env=cluster.env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            deadline = time.monotonic() + 60
            while killed is None:
                assert proc.poll() is None, (tmp_path / "sweep.log").read_text()
                assert time.monotonic() < deadline, "no training started in 60 s"
                for pid, ppid, cmdline in _processes_mentioning(marker):
                    if " train " in cmdline and "standard:1.5" not in cmdline:
                        worker = _cmdline(ppid)
                        assert worker.startswith("ray::lenet-mnist_"), worker  # named by run
                        killed = (pid, ppid, worker.split()[0][len("ray::"):])
                        os.kill(ppid, signal.SIGKILL)
                        break
                time.sleep(0.05)
            deadline = time.monotonic() + 10  # the training died with its worker
            while killed[0] in [p for p, _, _ in _processes_mentioning(marker)]:
                assert time.monotonic() < deadline, "the training outlived its worker"
                time.sleep(0.05)
            code = proc.wait(timeout=120)
    finally:
        _kill_all(marker)
    out = (tmp_path / "sweep.log").read_text()
    assert code == 1, out  # the broken run failed
    assert killed[2] in KEYS4
    records = _records(store)
    assert sorted(records) == sorted(KEYS4 + [BROKEN])
    assert sorted(p.name for p in store.iterdir()) == sorted(k + ".json" for k in records)
    for key in KEYS4:
        assert records[key]["status"] == "ok", records[key].get("error")
    assert records[BROKEN]["status"] == "failed" and "1.5" in records[BROKEN]["error"]
    assert out.count(f"] {killed[2]}: accuracy") == 1 and "second result" not in out
    assert "[5/5]" in out and "done 4, failed 1, running 0, left 0" in out


@needs_ray
def test_a_killed_driver_leaves_nothing_running_and_resumes(cluster, tmp_path):
    """SIGKILL to the driver ends its Ray job: Ray ends the job's workers and their trainings
    die with them. The restarted driver trains only what has no record, each run once."""
    data_root = tmp_path / "empty-data"
    data_root.mkdir()
    store = tmp_path / "store"
    marker = str(data_root)
    cmd = _driver(_sweep_args("ray4", store, "--executor", "ray", "--address", cluster.address,
                              "--sample-fallback", "--data-root", str(data_root)))
    try:
        with open(tmp_path / "first.log", "w") as log:
            proc = subprocess.Popen(cmd, env=cluster.env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            deadline = time.monotonic() + 60
            while not list(store.glob("*.json")):
                assert proc.poll() is None, (tmp_path / "first.log").read_text()
                assert time.monotonic() < deadline, "no record after 60 s"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        before = _snapshot(store)
        assert 1 <= len(before) < len(KEYS4)
        deadline = time.monotonic() + 30
        while _processes_mentioning(marker):
            assert time.monotonic() < deadline, _processes_mentioning(marker)
            time.sleep(0.1)
        time.sleep(0.02)  # a rewrite of a record would show in its mtime
        done = subprocess.run(cmd, env=cluster.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"4 runs, {len(before)} already in" in done.stdout
        assert f"{4 - len(before)} to train on Ray" in done.stdout
    finally:
        _kill_all(marker)
    after = _snapshot(store)
    assert sorted(after) == sorted(k + ".json" for k in KEYS4)
    for name, (content, mtime) in before.items():  # not trained again, not rewritten
        assert after[name] == (content, mtime)
    for key, record in _records(store).items():
        assert record["key"] == key and record["status"] == "ok", record.get("error")
        assert record["provenance"]["executor"] == "ray"
