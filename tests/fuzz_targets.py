"""The readers of untrusted files, as fuzz targets: the contract, and seeds from real files.

The contract: on any bytes, a reader returns, or raises the project's own error for that kind
of file (PrototxtError, CaffeModelError, DataError) with a message that names the file; never
another exception, a hang or a crash. run(target, data) checks it: a foreign exception escapes
as ContractViolation (its cause chained), which a fuzzer reports.

Used by scripts/fuzz.py (coverage-guided, for a budget outside CI) and by the property tests
(tests/test_fuzz_properties.py) and regression tests (tests/test_fuzz_regressions.py).
"""
import gzip
import io
import os
import struct
import tarfile
import tempfile
import warnings

import numpy as np

from augdrop_caffe import caffemodel, textformat
from augdrop_caffe.caffemodel import CaffeModelError
from augdrop_caffe.data import readers
from augdrop_caffe.data.readers import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTOTXT_DIR = os.path.join(ROOT, "prototxt")
SAMPLE_DIR = os.path.join(ROOT, "python", "augdrop_caffe", "data", "sample")


class ContractViolation(AssertionError):
    """A reader broke the contract on some input (the cause is chained)."""


_SCRATCH = None


def _scratch_file(name, data):
    """A file of `data` in a per-process scratch folder (in memory where /dev/shm exists)."""
    global _SCRATCH
    if _SCRATCH is None:
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        _SCRATCH = tempfile.mkdtemp(prefix="augdrop-fuzz-", dir=base)
    path = os.path.join(_SCRATCH, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# --- the targets: each reads `data` as one kind of file ------------------------------------------

def prototxt(data):
    for root in ("NetParameter", "SolverParameter"):
        try:
            textformat.parse_bytes(data, root, "fuzz.prototxt")
        except textformat.PrototxtError as e:
            _names_file(e, "fuzz.prototxt")


def _blob_ok(a):
    if not (isinstance(a, np.ndarray) and a.dtype == np.float32):
        raise ContractViolation("a blob is not a float32 array: %r" % (a,))


def caffemodel_reader(data):
    try:
        name, layers = caffemodel.caffemodel_from_bytes(data, "fuzz.caffemodel", with_net_name=True)
    except CaffeModelError as e:
        _names_file(e, "fuzz.caffemodel")
        return
    assert isinstance(name, str)
    for lname, ltype, blobs in layers:
        assert isinstance(lname, str) and isinstance(ltype, str)
        for b in blobs:
            _blob_ok(b)


def binaryproto(data):
    try:
        _blob_ok(caffemodel.blobproto_from_bytes(data, "fuzz.binaryproto"))
    except CaffeModelError as e:
        _names_file(e, "fuzz.binaryproto")


def solverstate(data):
    try:
        state = caffemodel.solverstate_from_bytes(data, "fuzz.solverstate")
    except CaffeModelError as e:
        _names_file(e, "fuzz.solverstate")
        return
    assert isinstance(state["iter"], int) and isinstance(state["learned_net"], str)
    for h in state["history"]:
        _blob_ok(h)


def datum(data):
    try:
        d = readers.parse_datum(data)
    except DataError as e:
        _names_file(e, "")
        return
    assert isinstance(d["data"], bytes)


def idx(data):
    path = _scratch_file("fuzz-idx3-ubyte", data)
    try:
        a = readers.read_idx(path)
    except DataError as e:
        _names_file(e, path)
        return
    assert isinstance(a, np.ndarray) and a.dtype == np.uint8


def cifar(data):
    """The bytes as a CIFAR batch file, and as the .tar.gz archive of CIFAR-10 and CIFAR-100."""
    for label_bytes in (1, 2):
        try:
            readers._cifar_records(data, "fuzz.bin", label_bytes)
        except DataError as e:
            _names_file(e, "fuzz.bin")
    path = _scratch_file("fuzz-cifar.tar.gz", data)
    for label_bytes in (1, 2):
        try:
            x, y = readers.read_cifar(path, "test", label_bytes=label_bytes)
        except DataError as e:
            _names_file(e, path)
            continue
        assert x.dtype == np.uint8 and x.shape[1:] == (3, 32, 32) and len(x) == len(y)


TARGETS = {"prototxt": prototxt, "caffemodel": caffemodel_reader, "binaryproto": binaryproto,
           "solverstate": solverstate, "datum": datum, "idx": idx, "cifar": cifar}

# The source files each target exercises (for coverage reports).
TARGET_FILES = {"prototxt": ["textformat.py"], "caffemodel": ["caffemodel.py"],
                "binaryproto": ["caffemodel.py"], "solverstate": ["caffemodel.py"],
                "datum": ["data/readers.py"], "idx": ["data/readers.py"],
                "cifar": ["data/readers.py"]}


def _names_file(error, filename):
    text = str(error)
    if not text or (filename and filename not in text):
        raise ContractViolation("the error does not name the file %r: %r" % (filename, text))


def run(target, data):
    """Run one target on `data`; a foreign exception becomes ContractViolation."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # as the test suite runs: a warning is a failure
            TARGETS[target](bytes(data))
    except ContractViolation:
        raise
    except Exception as e:  # anything else breaks the contract
        raise ContractViolation("%s: %s: %s" % (target, type(e).__name__, e)) from e


# --- seeds ----------------------------------------------------------------------------------------

def _varint(v):
    v &= (1 << 64) - 1
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def _ld(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _tmp_bytes(write, *args, **kwargs):
    """The bytes one of caffemodel's writers produces."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f")
        write(path, *args, **kwargs)
        with open(path, "rb") as f:
            return f.read()


def _idx_bytes(array):
    a = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, a.ndim]) + struct.pack(">" + "I" * a.ndim, *a.shape) + a.tobytes()


def _sample_idx(name, count):
    """The first `count` items of one of the package's MNIST sample files, as IDX bytes."""
    with gzip.open(os.path.join(SAMPLE_DIR, name)) as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    a = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return _idx_bytes(a[:count])


def _tar_gz(members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def seeds(target):
    """Seed inputs for a target, from the project's real files or written by its own writers."""
    rng = np.random.RandomState(0)
    if target == "prototxt":
        out = []
        for name in sorted(os.listdir(PROTOTXT_DIR)):
            if name.endswith(".prototxt"):
                with open(os.path.join(PROTOTXT_DIR, name), "rb") as f:
                    out.append(f.read())
        return out
    if target == "caffemodel":
        net = textformat.parse_file(os.path.join(PROTOTXT_DIR, "lenet_train_test.prototxt"),
                                    "NetParameter")
        layers = []
        for layer in net.getlist("layer"):
            blobs = [rng.randn(2, 3).astype(np.float32), rng.randn(2).astype(np.float32)] \
                if layer.get("type") in ("Convolution", "InnerProduct") else []
            layers.append((layer.get("name"), layer.get("type"), blobs, layer))
        blob = b"\x08\x02\x10\x01\x18\x01\x20\x01" + _ld(5, struct.pack("<2f", 3, 4))
        v1 = _ld(4, b"fc8") + b"\x28\x0e" + _ld(6, blob) + _ld(2, b"fc7") + _ld(3, b"fc8")
        v0 = _ld(1, _ld(1, b"old") + _ld(2, b"conv") + _ld(50, blob))
        unpacked = b"".join(b"\x2d" + struct.pack("<f", v) for v in (1, 2, 3))
        doubles = b"".join(b"\x41" + struct.pack("<d", v) for v in (1, 2))
        return [
            _tmp_bytes(caffemodel.write_caffemodel, [(l[0], l[1], l[2]) for l in layers],
                       net_name="LeNet"),
            _tmp_bytes(caffemodel.write_caffemodel, layers, net_name="LeNet"),
            _ld(1, b"CaffeNet") + _ld(2, v1) + _ld(2, _ld(4, b"relu") + b"\x28\x12") + _ld(2, v0),
            _ld(100, _ld(1, b"a") + _ld(7, unpacked + _ld(7, _ld(1, b"\x03")))),
            _ld(100, _ld(1, b"b") + _ld(7, doubles + b"\x08\x01\x10\x01\x18\x01\x20\x02")),
        ]
    if target == "binaryproto":
        return [_tmp_bytes(caffemodel.write_blobproto, rng.rand(3, 4, 4).astype(np.float32)),
                _tmp_bytes(caffemodel.write_blobproto, rng.rand(5).astype(np.float32)),
                _tmp_bytes(caffemodel.write_blobproto, rng.rand(2, 3).astype(np.float32),
                           legacy=False)]
    if target == "solverstate":
        return [_tmp_bytes(caffemodel.write_solverstate, iter=10000,
                           learned_net="lenet_iter_10000.caffemodel", current_step=2,
                           history=[rng.randn(2, 3).astype(np.float32),
                                    rng.randn(2).astype(np.float32)]),
                _tmp_bytes(caffemodel.write_solverstate, iter=0)]
    if target == "datum":
        img = rng.randint(0, 256, (3, 2, 2)).astype(np.uint8).tobytes()
        head = b"\x08\x03\x10\x02\x18\x02"
        return [head + _ld(4, img) + b"\x28\x07",
                head + _ld(4, img) + b"\x28\x07\x38\x01",  # encoded
                b"\x08\x01\x10\x01\x18\x02" + _ld(6, struct.pack("<2f", 0.5, 2)) + b"\x28\x01",
                b"\x08\x01\x10\x01\x18\x01\x35" + struct.pack("<f", 1.5)]
    if target == "idx":
        images = _sample_idx("t10k-images-idx3-ubyte.gz", 2)
        labels = _sample_idx("t10k-labels-idx1-ubyte.gz", 5)
        return [images, labels, gzip.compress(images, mtime=0), gzip.compress(labels, mtime=0)]
    if target == "cifar":
        def records(n, label_bytes):
            return b"".join(bytes(rng.randint(0, 100, label_bytes).astype(np.uint8))
                            + rng.randint(0, 256, 3072).astype(np.uint8).tobytes()
                            for _ in range(n))
        return [_tar_gz({"cifar-10-batches-bin/test_batch.bin": records(1, 1)}),
                _tar_gz({"cifar-100-binary/test.bin": records(1, 2)}), records(1, 1)]
    raise KeyError(target)
