"""Loads the compiled core after the OpenBLAS it links against.

The extension finds libscipy_openblas.so through its RPATH; loading it here first as well
makes the import work in layouts the RPATH does not foresee (editable installs, build trees).
"""
import ctypes
import os

try:
    import scipy_openblas32 as _openblas

    _lib = os.path.join(_openblas.get_lib_dir(), "libscipy_openblas.so")
    if os.path.exists(_lib):
        ctypes.CDLL(_lib, mode=ctypes.RTLD_GLOBAL)
except ImportError:  # the RPATH may still find it
    pass

# Threads that finish their part of a parallel loop wait for the others. libgomp's default
# lets them spin for about 300,000 rounds first; on a busy machine the spinning threads take
# the time slices the working ones need (100 LeNet iterations: 13.2 s on 2 threads against
# 5.2 s on 1 with other jobs on both cores). A short spin keeps the quiet machine's speed and
# lets a waiting thread give its core away under load (bench/bench_load.py). Set before the
# core (and with it libgomp) loads; the user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "10000"

from . import _core  # noqa: E402

EngineError = _core.EngineError


def engine_error(text, layer=None, layer_type=None, filename=None, line=None):
    """An EngineError with its facts as attributes: the layer's name and type (None when no
    layer is involved) and the prototxt file and line it was located in (None when unknown)."""
    error = EngineError(text)
    error.layer, error.layer_type = layer, layer_type
    error.filename, error.line = filename, line
    return error
