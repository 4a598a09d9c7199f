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

from . import _core  # noqa: E402

EngineError = _core.EngineError
