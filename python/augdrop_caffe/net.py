"""Net: pycaffe's Net over the compiled core (blobs, params, forward, backward, weights I/O)."""
import os
from collections import OrderedDict

import numpy as np

from . import textformat
from ._loader import EngineError, _core, engine_error
from .caffemodel import read_caffemodel, write_caffemodel
from .data import prepare_net_data


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("HDF5 weights need h5py: pip install h5py (or "
                          "pip install 'augdrop-caffe[hdf5]')") from None
    return h5py


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
    """One layer of a Net: its name, Caffe type and parameter blobs. For a Python layer, the
    other attributes are its Python object's (as pycaffe's net.layers gives that object)."""

    def __init__(self, name, type_, blobs, engine=lambda: "", python=None, force_engine=None):
        self.name = name
        self.type = type_
        self.blobs = blobs
        self._engine = engine
        self._force_engine = force_engine
        self._python = python

    def __getattr__(self, attr):
        python = self.__dict__.get("_python")
        if python is None or attr.startswith("__"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")
        return getattr(python, attr)

    @property
    def engine(self):
        """The implementation in use where a layer has several (Convolution: WINOGRAD,
        IMPLICIT or CAFFE, decided by its engine field, its geometry and a speed rule; CAFFE
        in GPU mode, where every convolution is im2col + GEMM); "" otherwise. Setting it
        (Convolution only) forces that engine from now on and reshapes the net; "DEFAULT"
        goes back to the automatic choice."""
        return self._engine()

    @engine.setter
    def engine(self, name):
        if self._force_engine is None:
            raise AttributeError(f"layer {self.name!r} ({self.type}) has no choice of engine")
        self._force_engine(str(name))

    def __repr__(self):
        return f"<Layer {self.name!r} ({self.type}), {len(self.blobs)} params>"


class Net:
    """A network in a phase, as caffe.Net.

    Net(prototxt, phase), Net(prototxt, weights, phase), or keywords
    Net(prototxt, phase=TEST, weights=path, level=0, stages=(), data_root=None); the prototxt
    may also be a caffe_pb2.NetParameter.
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
        stages = () if stages is None else stages  # pycaffe's default is None
        if isinstance(model, (str, bytes, os.PathLike)) and not os.path.isfile(model):
            raise FileNotFoundError(f"net prototxt not found: {model}")
        message, model = textformat.parse_source(model, "NetParameter", upgrade=True)
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
        self.layers = [Layer(n, t, core.layer_blobs(i), lambda i=i: core.layer_engine(i),
                             core.python_layer(i) if t == "Python" else None,
                             (lambda e, i=i: core.force_layer_engine(i, e))
                             if t == "Convolution" else None)
                       for i, (n, t) in enumerate(zip(core.layer_names, core.layer_types))]
        names = core.blob_names
        self._blob_names = list(names)
        self.blobs = OrderedDict(zip(names, core.blobs))
        self.params = OrderedDict((l.name, l.blobs) for l in self.layers if l.blobs)
        self._inputs = list(core.input_blob_indices)
        self._outputs = list(core.output_blob_indices)
        self.inputs = [names[i] for i in self._inputs]
        self.outputs = [names[i] for i in self._outputs]
        self.blob_loss_weights = OrderedDict(
            (n, core.blob_loss_weight(i)) for i, n in enumerate(names))
        bottoms, tops = core.bottom_ids, core.top_ids
        self.bottom_names = OrderedDict(
            (l, [names[j] for j in bottoms[i]]) for i, l in enumerate(self._layer_names))
        self.top_names = OrderedDict(
            (l, [names[j] for j in tops[i]]) for i, l in enumerate(self._layer_names))

    @property
    def name(self):
        return self._net.name

    @property
    def phase(self):
        return self._net.phase

    @property
    def layer_dict(self):
        return OrderedDict((l.name, l) for l in self.layers)

    def _bottom_ids(self, i):
        return list(self._net.bottom_ids[i])

    def _top_ids(self, i):
        return list(self._net.top_ids[i])

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except EngineError as e:
            raise locate_error(e, self._message, self._source) from None

    def _layer_index(self, name):
        """A layer's index by name; ValueError (as pycaffe's list.index) naming the layers."""
        try:
            return self._layer_names.index(name)
        except ValueError:
            raise ValueError(f"no layer named {name!r} in net {self.name!r} (layers: "
                             f"{self._layer_names})") from None

    def _set_arrays(self, arrays, allowed, what, attr):
        """Copy {blob name: array} into the blobs' data or diff, as pycaffe: the names must be
        blobs of `allowed`, the batch size must match, and numpy broadcasts the rest."""
        for name, array in arrays.items():
            if name not in allowed:
                raise KeyError(f"{name!r} is not an {what} of this net ({what}s: {allowed})")
            target = getattr(self.blobs[name], attr)
            array = np.asarray(array)
            if array.ndim and target.ndim and array.shape[0] != target.shape[0]:
                raise ValueError(f"{name!r} has batch size {array.shape[0]}, the net's blob "
                                 f"{target.shape[0]} (shape {target.shape})")
            target[...] = array

    def reshape(self):
        """Propagate the blobs' shapes through every layer (after an input blob's reshape),
        without a forward pass."""
        self._call(self._net.reshape)

    def forward(self, blobs=None, start=None, end=None, **kwargs):
        """Run the layers from `start` to `end` (names, both included; default: all) after
        copying the keyword arrays into the input blobs, as pycaffe's Net.forward.

        Returns {blob name: data view} for the tops of `end` (the net's outputs when `end` is
        not given) and the blobs named in `blobs`."""
        blobs = list(blobs or [])
        self._set_arrays(kwargs, self.inputs, "input", "data")
        s = 0 if start is None else self._layer_index(start)
        if end is None:
            e, outs = len(self.layers) - 1, self.outputs + blobs
        else:
            e = self._layer_index(end)
            outs = self.top_names[end] + blobs
        self._call(self._net.forward_from_to, s, e)
        return {name: self.blobs[name].data for name in OrderedDict.fromkeys(outs)}

    def backward(self, diffs=None, start=None, end=None, **kwargs):
        """Run backward from layer `start` down to layer `end` (names, both included; default:
        all) after copying the keyword arrays into the output blobs' diffs, as pycaffe's
        Net.backward.

        Returns {blob name: diff view} for the bottoms of `end` (the net's inputs when `end`
        is not given) and the blobs named in `diffs`."""
        diffs = list(diffs or [])
        self._set_arrays(kwargs, self.outputs, "output", "diff")
        s = len(self.layers) - 1 if start is None else self._layer_index(start)
        if end is None:
            e, outs = 0, self.inputs + diffs
        else:
            e = self._layer_index(end)
            outs = self.bottom_names[end] + diffs
        self._call(self._net.backward_from_to, s, e)
        return {name: self.blobs[name].diff for name in OrderedDict.fromkeys(outs)}

    def _batch(self, arrays):
        """Cut {blob name: array of N items} into the net's batches: dicts of batch-sized
        arrays, the last padded with zeros (pycaffe's Net._batch)."""
        if not arrays:
            return
        num = len(next(iter(arrays.values())))
        batch_size = next(iter(self.blobs.values())).shape[0]
        for i in range(0, num - num % batch_size, batch_size):
            yield {name: a[i:i + batch_size] for name, a in arrays.items()}
        remainder = num % batch_size
        if remainder:
            padded = {}
            for name, a in arrays.items():
                a = np.asarray(a)
                pad = np.zeros((batch_size - remainder,) + a.shape[1:], dtype=a.dtype)
                padded[name] = np.concatenate([a[-remainder:], pad])
            yield padded

    def forward_all(self, blobs=None, **kwargs):
        """forward() over every batch of the keyword arrays (any number of items): {blob
        name: array of all items} for the outputs and `blobs`, the padding dropped."""
        outs = {name: [] for name in OrderedDict.fromkeys(self.outputs + list(blobs or []))}
        batches = self._batch(kwargs) if kwargs else [{}]
        for batch in batches:
            for name, value in self.forward(blobs=blobs, **batch).items():
                outs[name].extend(value.copy())
        outs = {name: np.asarray(v) for name, v in outs.items()}
        return self._unpad(outs, kwargs)

    def forward_backward_all(self, blobs=None, diffs=None, **kwargs):
        """forward() and backward() over every batch: the keyword arrays of input blobs feed
        forward, those of output blobs feed backward. Returns ({blob: data}, {blob: diff})
        of all items, the padding dropped."""
        outs = {name: [] for name in OrderedDict.fromkeys(self.outputs + list(blobs or []))}
        grads = {name: [] for name in OrderedDict.fromkeys(self.inputs + list(diffs or []))}
        fwd = list(self._batch({k: v for k, v in kwargs.items() if k in self.inputs}))
        bwd = list(self._batch({k: v for k, v in kwargs.items() if k in self.outputs}))
        for i in range(max(len(fwd), len(bwd), 1)):
            f = fwd[i] if i < len(fwd) else {}
            b = bwd[i] if i < len(bwd) else {}
            for name, value in self.forward(blobs=blobs, **f).items():
                outs[name].extend(value.copy())
            for name, value in self.backward(diffs=diffs, **b).items():
                grads[name].extend(value.copy())
        outs = {name: np.asarray(v) for name, v in outs.items()}
        grads = {name: np.asarray(v) for name, v in grads.items()}
        return self._unpad(outs, kwargs), self._unpad(grads, kwargs)

    @staticmethod
    def _unpad(results, kwargs):
        if not kwargs or not results:
            return results
        num = len(next(iter(kwargs.values())))
        return {name: v[:num] for name, v in results.items()}

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
        """Load weights from a .caffemodel, or an HDF5 file when the name ends in .h5 (as
        Caffe's CopyTrainedLayersFrom); layers matched by name, others ignored."""
        if str(path).endswith(".h5"):
            return self.load_hdf5(path)
        self._copy_arrays(path, read_caffemodel(path))

    def _copy_arrays(self, path, layers):
        for name, _type, arrays in layers:
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

    def save_hdf5(self, path):
        """Write the weights as Caffe's Net::ToHDF5 does: /data/<layer>/<i> float32 datasets
        (needs h5py). DEVIATION: a shared parameter is written under every layer using it."""
        h5py = _h5py()
        with h5py.File(path, "w") as f:
            data = f.create_group("data")
            for layer in self.layers:
                group = data.create_group(layer.name)
                for i, blob in enumerate(layer.blobs):
                    group.create_dataset(str(i), data=np.array(blob.data, dtype=np.float32))

    def load_hdf5(self, path):
        """Load weights written by save_hdf5 or Caffe's HDF5 snapshots (needs h5py)."""
        h5py = _h5py()
        with h5py.File(path, "r") as f:
            if "data" not in f:
                raise engine_error(f"{path}: no /data group; not a Caffe HDF5 weights file",
                                   filename=str(path))
            layers = [(name, None, [np.asarray(group[k]) for k in sorted(group, key=int)])
                      for name, group in f["data"].items()]
        self._copy_arrays(path, layers)

    def save(self, path):
        """Write the weights as a .caffemodel that BVLC Caffe reads."""
        layers = [(l.name, l.type, [np.array(b.data) for b in l.blobs]) for l in self.layers]
        write_caffemodel(path, layers, net_name=self.name)
