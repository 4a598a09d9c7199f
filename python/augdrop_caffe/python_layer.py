"""Python layers: `type: "Python"` with python_param { module layer param_str }, as pycaffe.

    class Scale10(augdrop_caffe.Layer):
        def setup(self, bottom, top):       # once; self.param_str, self.phase, self.blobs set
            self.k = float(self.param_str or 10)
        def reshape(self, bottom, top):     # before every forward
            top[0].reshape(*bottom[0].data.shape)
        def forward(self, bottom, top):
            top[0].data[...] = self.k * bottom[0].data
        def backward(self, top, propagate_down, bottom):
            if propagate_down[0]:
                bottom[0].diff[...] = self.k * top[0].diff

The module must be importable (on sys.path / PYTHONPATH), for nets built from Python and
from the command line alike. bottom and top are lists of Blob (data and diff as numpy views);
self.blobs holds the layer's params: self.blobs.add_blob(*shape) in setup adds one, which the
net then treats as any layer's param (learned by the solver, saved in .caffemodel).
An exception raised in these methods reaches the caller as itself, its message naming the
layer, and with .layer and .layer_type set.
"""
import importlib

__all__ = ["Layer"]


class Layer:
    """The base class of Python layers (pycaffe's caffe.Layer)."""

    #: set by the engine before setup: the python_param's param_str, the net's phase
    #: (0 TRAIN, 1 TEST) and the layer's param blobs
    param_str = ""
    phase = 0
    blobs = ()

    def setup(self, bottom, top):
        """Once, when the net is built: check the bottoms, read param_str, add param blobs."""

    def reshape(self, bottom, top):
        """Before every forward pass: shape the tops (top[i].reshape(*dims))."""

    def forward(self, bottom, top):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def backward(self, top, propagate_down, bottom):
        raise NotImplementedError(f"{type(self).__name__} has no backward()")

    @property
    def type(self):
        return "Python"


def _create(module, layer, name):
    """The engine's factory: an instance of module.layer, a Layer subclass."""
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise type(e)(f"cannot import module '{module}' ({e}); put its folder on sys.path "
                      f"or PYTHONPATH") from e
    cls = getattr(mod, layer, None)
    if cls is None:
        raise AttributeError(f"module '{module}' ({getattr(mod, '__file__', '?')}) has no "
                             f"class '{layer}'")
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"{module}.{layer} must be a subclass of augdrop_caffe.Layer")
    return cls()
