"""Net: pycaffe's Net over the compiled core (blobs, params, forward, backward, weights I/O)."""
import os
from collections import OrderedDict

import numpy as np

from . import textformat
from ._loader import EngineError, _core, engine_error
from .caffemodel import read_caffemodel, write_caffemodel
from .data import prepare_net_data


def locate_error(error, message, source):
    """The EngineError `error` with the prototxt file put in front, and the line of the layer's
    block when the error names a layer of `message` (its `layer` attribute); the layer, type,
    file and line travel as attributes."""
    text = str(error)
    if source is None:
        return error
    line = None
    if message is not None and error.layer is not None:
        for i, layer in enumerate(message.getlist("layer")):
            if layer.get("name", "") == error.layer:
                line = message.line_of("layer", i)
                break
    where = f"{source}:{line}" if line is not None else f"{source}"
    return engine_error(f"{where}: {text}", error.layer, error.layer_type, source, line)


def layers_in_state(net_dict, phase, level=0, stages=()):
    """Indices of the layers a Net of this phase, level and stages keeps: Caffe's FilterNet,
    read by the core (the one reader of the include/exclude rules)."""
    return _core.filter_layers(net_dict, int(phase), int(level), list(stages))


class Layer:
    """One layer of a Net: its name, Caffe type and parameter blobs."""

    def __init__(self, name, type_, blobs, engine=lambda: ""):
        self.name = name
        self.type = type_
        self.blobs = blobs
        self._engine = engine

    @property
    def engine(self):
        """The implementation in use where a layer has several (Convolution: IMPLICIT or
        CAFFE, decided by its engine field and its geometry); "" otherwise."""
        return self._engine()

    def __repr__(self):
        return f"<Layer {self.name!r} ({self.type}), {len(self.blobs)} params>"


class Net:
    """A network in a phase, as caffe.Net.

    Net(prototxt, phase), Net(prototxt, weights, phase), or keywords
    Net(prototxt, phase=TEST, weights=path, level=0, stages=(), data_root=None).
    Data layers' sources are loaded from data_root (default: $AUGDROP_DATA, then the cache).
    """

    def __init__(self, model, *args, weights=None, phase=None, level=0, stages=(),
                 data_root=None):
        if len(args) == 1:
            phase = args[0]
        elif len(args) == 2:
            weights, phase = args
        elif len(args) > 2:
            raise TypeError("Net(prototxt, phase) or Net(prototxt, weights, phase)")
        if phase is None:
            raise TypeError("Net needs a phase: augdrop_caffe.TRAIN or augdrop_caffe.TEST")
        if not os.path.isfile(model):
            raise FileNotFoundError(f"net prototxt not found: {model}")
        message = textformat.parse_file(model, "NetParameter", upgrade=True)
        net_dict = message.to_dict()
        try:
            # Only the layers of this phase, level and stages are built, so only their data
            # sources are loaded: a TEST net needs no TRAIN data.
            prepare_net_data(net_dict, data_root, layers_in_state(net_dict, phase, level, stages))
            core = _core.Net(net_dict, int(phase), int(level), list(stages))
        except EngineError as e:
            raise locate_error(e, message, model) from None
        self._init(core, message, model)
        if weights is not None:
            self.copy_from(weights)

    @classmethod
    def _wrap(cls, core, message, source):
        """A Net around a core net built elsewhere (a solver's train or test net)."""
        net = cls.__new__(cls)
        net._init(core, message, source)
        return net

    def _init(self, core, message, source):
        self._net = core
        self._message = message
        self._source = source
        self._layer_names = list(core.layer_names)
        self.layers = [Layer(n, t, core.layer_blobs(i), lambda i=i: core.layer_engine(i))
                       for i, (n, t) in enumerate(zip(core.layer_names, core.layer_types))]
        names = core.blob_names
        self.blobs = OrderedDict(zip(names, core.blobs))
        self.params = OrderedDict((l.name, l.blobs) for l in self.layers if l.blobs)
        self.inputs = [names[i] for i in core.input_blob_indices]
        self.outputs = [names[i] for i in core.output_blob_indices]
        self.blob_loss_weights = OrderedDict(
            (n, core.blob_loss_weight(i)) for i, n in enumerate(names))

    @property
    def name(self):
        return self._net.name

    @property
    def layer_dict(self):
        return OrderedDict((l.name, l) for l in self.layers)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except EngineError as e:
            raise locate_error(e, self._message, self._source) from None

    def _layer_range(self, start, end, default_start, default_end):
        s = default_start if start is None else self._layer_names.index(start)
        e = default_end if end is None else self._layer_names.index(end)
        return s, e

    def forward(self, blobs=None, start=None, end=None, **kwargs):
        """Set the given inputs, run forward, return {output: data view}."""
        for name, array in kwargs.items():
            if name not in self.inputs:
                raise KeyError(f"'{name}' is not an input of this net (inputs: {self.inputs})")
            target = self.blobs[name].data
            array = np.asarray(array, dtype=np.float32)
            if array.shape != target.shape:
                raise ValueError(f"input '{name}' has shape {array.shape}, the net expects "
                                 f"{target.shape}")
            target[...] = array
        s, e = self._layer_range(start, end, 0, len(self.layers) - 1)
        self._call(self._net.forward_from_to, s, e)
        outs = list(self.outputs) + [b for b in (blobs or []) if b not in self.outputs]
        return {name: self.blobs[name].data for name in outs}

    def backward(self, diffs=None, start=None, end=None, **kwargs):
        """Set the given output diffs, run backward, return {input: diff view}."""
        for name, array in kwargs.items():
            if name not in self.outputs:
                raise KeyError(f"'{name}' is not an output of this net (outputs: {self.outputs})")
            target = self.blobs[name].diff
            array = np.asarray(array, dtype=np.float32)
            if array.shape != target.shape:
                raise ValueError(f"diff for '{name}' has shape {array.shape}, the blob is "
                                 f"{target.shape}")
            target[...] = array
        s, e = self._layer_range(start, end, len(self.layers) - 1, 0)
        self._call(self._net.backward_from_to, s, e)
        ins = list(self.inputs) + [b for b in (diffs or []) if b not in self.inputs]
        return {name: self.blobs[name].diff for name in ins}

    def set_input_arrays(self, data, labels, layer=None):
        """Hand a MemoryData layer its arrays, as pycaffe's Net.set_input_arrays: data
        (n, C, H, W) and labels (n,) (or (n, 1, 1, 1)), float32 and C-contiguous, n a
        multiple of the layer's batch_size. The layer reads them in place at each forward
        pass; the Net keeps references so that they stay alive. `layer`: the MemoryData
        layer's name (default: the net's first layer, which pycaffe requires it to be)."""
        index = 0 if layer is None else self._layer_names.index(layer)
        if self.layers[index].type != "MemoryData":
            raise engine_error(f"set_input_arrays needs a MemoryData layer; layer "
                               f"'{self.layers[index].name}' is {self.layers[index].type}",
                               self.layers[index].name, self.layers[index].type, self._source)
        for what, array in (("data", data), ("labels", labels)):
            if not (isinstance(array, np.ndarray) and array.dtype == np.float32
                    and array.flags.c_contiguous):
                raise TypeError(f"set_input_arrays: {what} must be a C-contiguous float32 "
                                f"numpy array (np.ascontiguousarray(x, dtype=np.float32))")
        if labels.ndim == 1:  # pycaffe's reshape to (n, 1, 1, 1), a view of the same memory
            labels = labels[:, None, None, None]
        self._call(_core.set_input_arrays, self._net, index, data, labels)
        self._input_arrays = (data, labels)

    def clear_param_diffs(self):
        self._net.clear_param_diffs()

    def share_with(self, other):
        """Use other's parameter memory for the layers with the same names."""
        self._call(self._net.share_with, other._net)

    def copy_from(self, path):
        """Load weights from a .caffemodel (layers matched by name; others ignored)."""
        for name, _type, arrays in read_caffemodel(path):
            if name not in self.params:
                continue
            targets = self.params[name]
            layer_type = self.layer_dict[name].type
            if len(arrays) != len(targets):
                raise engine_error(f"{path}: layer '{name}' has {len(arrays)} param blobs, the "
                                   f"net's layer has {len(targets)}", name, layer_type, path)
            for i, (src, dst) in enumerate(zip(arrays, targets)):
                # Caffe's Blob::ShapeEquals: the same shape, or, for a legacy 4-D blob
                # (num, channels, height, width), the param's shape padded with 1s in front.
                shape = tuple(dst.shape)
                legacy = (1,) * (4 - len(shape)) + shape if len(shape) <= 4 else None
                if src.shape != shape and not (src.ndim == 4 and src.shape == legacy):
                    raise engine_error(f"{path}: layer '{name}' param {i} has shape "
                                       f"{tuple(src.shape)}, the net expects {tuple(dst.shape)}",
                                       name, layer_type, path)
                dst.data[...] = src.reshape(dst.shape)

    def save(self, path):
        """Write the weights as a .caffemodel that BVLC Caffe reads."""
        layers = [(l.name, l.type, [np.array(b.data) for b in l.blobs]) for l in self.layers]
        write_caffemodel(path, layers, net_name=self.name)
