"""augdrop-caffe: a Caffe-faithful engine for "Demystifying Dropout" (ICML 2019).

A pycaffe-like API over the compiled core:

    import augdrop_caffe as caffe
    caffe.set_mode_cpu(); caffe.set_random_seed(1)
    net = caffe.Net('lenet.prototxt', caffe.TRAIN)
    net.blobs['data'].data[...] = x
    net.forward(); net.backward()
    solver = caffe.get_solver('lenet_solver.prototxt'); solver.step(100)
"""
from ._loader import EngineError, _core
from .caffemodel import CaffeModelError
from .net import Net
from .solver import NesterovSolver, SGDSolver, get_solver
from .textformat import PrototxtError

__version__ = "0.1.0"

TRAIN = 0
TEST = 1


def set_mode_cpu():
    """Run on the CPU (the only backend of this build's layers for now)."""


def set_mode_gpu():
    raise EngineError("the GPU backend is not implemented yet; use set_mode_cpu()")


def set_device(device_id):
    raise EngineError("the GPU backend is not implemented yet; use set_mode_cpu()")


def set_random_seed(seed):
    """Reseed Caffe's CPU random stream (one mt19937), as caffe.set_random_seed."""
    _core.set_random_seed(int(seed))


def backends():
    """What this build has: {'cpu': True, 'cuda_compiled': bool, 'cuda_devices': int, ...}."""
    return dict(_core.backends())


def set_num_threads(n):
    """Threads for the BLAS (and, later, the core's own loops)."""
    _core.set_num_threads(int(n))


__all__ = [
    "CaffeModelError", "EngineError", "Net", "NesterovSolver", "PrototxtError", "SGDSolver",
    "TEST", "TRAIN", "backends", "get_solver", "set_device", "set_mode_cpu", "set_mode_gpu",
    "set_num_threads", "set_random_seed",
]
