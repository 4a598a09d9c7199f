"""augdrop-caffe: a Caffe-faithful engine for "Demystifying Dropout" (ICML 2019).

A pycaffe-like API over the compiled core:

    import augdrop_caffe as caffe
    caffe.set_mode_cpu(); caffe.set_random_seed(1)      # or set_mode_gpu(), set_device(i)
    net = caffe.Net('lenet.prototxt', caffe.TRAIN)
    net.blobs['data'].data[...] = x
    net.forward(); net.backward()
    solver = caffe.get_solver('lenet_solver.prototxt'); solver.step(100)
"""
import time as _time

from . import textformat
from ._loader import EngineError, _core
from .caffemodel import CaffeModelError
from .net import Net
from .python_layer import Layer
from .solver import (AdaDeltaSolver, AdaGradSolver, AdamSolver, NesterovSolver, RMSPropSolver,
                     SGDSolver, get_solver)
from .textformat import PrototxtError

__version__ = "0.1.0"

# pycaffe's modules and names that need protobuf (or images) load on first use, so that
# `import augdrop_caffe` (and the CLI) stays free of them.
_LAZY = {
    "io": ("io", None), "proto": ("proto", None), "net_spec": ("net_spec", None),
    "coord_map": ("coord_map", None), "layers": ("net_spec", "layers"),
    "params": ("net_spec", "params"), "NetSpec": ("net_spec", "NetSpec"),
    "to_proto": ("net_spec", "to_proto"), "Classifier": ("classifier", "Classifier"),
    "Detector": ("detector", "Detector"), "draw": ("draw", None),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module("." + module_name, __name__)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value

TRAIN = 0
TEST = 1


def set_mode_cpu():
    """Run the layers and the solver on the CPU (the default)."""
    _core.set_mode("cpu")


def set_mode_gpu():
    """Run them on the GPU (set_device picks which). Needs a build with the CUDA backend and
    a usable device: EngineError says which is missing (see backends())."""
    _core.set_mode("gpu")


def set_device(device_id):
    """The CUDA device of the GPU mode (default 0), as caffe.set_device."""
    _core.set_device(int(device_id))


def mode():
    """'cpu' or 'gpu'."""
    return _core.get_mode()


def synchronize():
    """Wait for the GPU's queued work (a no-op on the CPU), for timing."""
    _core.synchronize()


def set_gpu_dropout_masks(source):
    """Where the GPU mode's dropout masks come from:
    'device' (default): drawn on the GPU by a counter-based generator (Philox4x32-10) keyed by
        two words of Caffe's stream per mask: fast and reproducible for a seed, but not the
        masks of a CPU run;
    'caffe': drawn on the host from Caffe's stream exactly as the CPU path draws them, then
        copied to the GPU: a GPU run then sees the same masks as a CPU run of the same seed
        (so the two can be compared exactly), at the cost of the host draws."""
    _core.set_gpu_dropout_masks(str(source))


def layer_type_list():
    """The layer types this build can create, as caffe.layer_type_list()."""
    return list(_core.layer_types())


def has_nccl():
    """False: this build has no NCCL multi-GPU support (caffe.has_nccl())."""
    return False


class Timer:
    """Wall-clock timer as caffe.Timer: start(), stop(), ms (the last start-stop interval,
    or the time since start while running). In GPU mode stop() waits for queued GPU work,
    as Caffe's timer does with CUDA events."""

    def __init__(self):
        self._start = self._stop = None

    def start(self):
        self._start, self._stop = _time.perf_counter(), None

    def stop(self):
        if self._start is not None:
            synchronize()
            self._stop = _time.perf_counter()

    @property
    def ms(self):
        if self._start is None:
            return 0.0
        end = self._stop if self._stop is not None else _time.perf_counter()
        return 1e3 * (end - self._start)


def get_solver_from_string(text, data_root=None):
    """The solver of a SolverParameter given as prototxt text (nets named by path are
    looked up from the working directory). Errors name '<string>' and the line."""
    textformat.parse_text(text, "SolverParameter", "<string>")  # our errors, with lines
    from google.protobuf import text_format

    from .proto import caffe_pb2

    return get_solver(text_format.Parse(text, caffe_pb2.SolverParameter()), data_root)


def set_random_seed(seed):
    """Reseed Caffe's CPU random stream (one mt19937), as caffe.set_random_seed."""
    _core.set_random_seed(int(seed))


def backends():
    """What this build has: {'cpu': True, 'cuda_compiled': bool, 'cuda_devices': int, ...}."""
    return dict(_core.backends())


def set_num_threads(n):
    """Threads for the core's loops (default: all cores). Results do not depend on it."""
    _core.set_num_threads(int(n))


def num_threads():
    """Threads the core's loops use now."""
    return _core.num_threads()


def set_reduction_slots(n=2):
    """Blocks that the loops keeping partial sums (weight gradients summed over a batch) are
    cut into, whatever the thread count: with the same slots, 1 or N threads give the same
    bits. The default, 2, reproduces the results recorded so far; more slots let more than two
    threads share those loops, and change the last bits (a run's record names the count)."""
    _core.set_reduction_slots(int(n))


def reduction_slots():
    return _core.reduction_slots()


__all__ = [
    "io", "proto", "net_spec", "coord_map", "layers", "params", "NetSpec", "to_proto",
    "AdaDeltaSolver", "AdaGradSolver", "AdamSolver", "CaffeModelError", "EngineError", "Layer", "Net",
    "NesterovSolver", "PrototxtError", "RMSPropSolver", "SGDSolver",
    "TEST", "TRAIN", "Timer", "backends", "get_solver", "get_solver_from_string", "has_nccl",
    "layer_type_list", "mode", "set_device", "set_gpu_dropout_masks",
    "num_threads", "reduction_slots", "set_mode_cpu", "set_mode_gpu", "set_num_threads",
    "set_random_seed", "set_reduction_slots", "synchronize",
]
