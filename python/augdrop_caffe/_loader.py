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


def engine_error(text, layer=None, layer_type=None, filename=None, line=None):
    """An EngineError with its facts as attributes: the layer's name and type (None when no
    layer is involved) and the prototxt file and line it was located in (None when unknown)."""
    error = EngineError(text)
    error.layer, error.layer_type = layer, layer_type
    error.filename, error.line = filename, line
    return error
