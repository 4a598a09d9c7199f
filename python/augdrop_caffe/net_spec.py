"""caffe.net_spec: nets written as Python calls, as pycaffe's (python/caffe/net_spec.py).

    from augdrop_caffe import layers as L, params as P
    n = NetSpec()
    n.data, n.label = L.Input(shape=[dict(dim=[64, 1, 28, 28]), dict(dim=[64])], ntop=2)
    n.conv = L.Convolution(n.data, kernel_size=5, num_output=20)
    n.pool = L.Pooling(n.conv, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.relu = L.ReLU(n.pool, in_place=True)
    net_param = n.to_proto()        # a caffe_pb2.NetParameter; str() is its prototxt

A layer call's keywords go to the layer's own <type>_param when that message has the field,
else to LayerParameter itself (name, loss_weight, include, param, ...); a keyword ending in
`param` always goes to LayerParameter. Lists fill repeated fields, dicts fill messages, and a
single value given to a repeated field becomes a one-element list. `ntop` sets the number of
tops (0: the call returns the layer, for Silence), `in_place=True` makes the top the bottom.
Blobs and layers take the names they are assigned in a NetSpec; the others are named
<Type><k> (Convolution1, ...).
"""
from collections import Counter, OrderedDict

from .proto import caffe_pb2


def _param_field_names():
    """{layer type: its LayerParameter field, less '_param'}, read from the schema: the
    message ConvolutionParameter sits in convolution_param, so Convolution -> convolution."""
    names = {}
    for field in caffe_pb2.LayerParameter.DESCRIPTOR.fields:
        if field.name.endswith("_param") and field.message_type is not None:
            type_name = field.message_type.name
            if type_name.endswith("Parameter"):
                names[type_name[:-len("Parameter")]] = field.name[:-len("_param")]
    # Caffe's Deconvolution layer reads convolution_param (no DeconvolutionParameter exists).
    names.setdefault("Deconvolution", "convolution")
    return names


_PARAM_FIELDS = _param_field_names()


def assign_proto(proto, name, value):
    """Set field `name` of message `proto` from a Python value (recursively: lists fill
    repeated fields, dicts fill messages; a lone value for a repeated field is a list of
    one)."""
    target = getattr(proto, name)
    repeated = hasattr(target, "extend")
    if repeated and not isinstance(value, (list, tuple)):
        value = [value]
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], dict):
            for item in value:
                message = target.add()
                for key, v in item.items():
                    assign_proto(message, key, v)
        else:
            target.extend(value)
    elif isinstance(value, dict):
        for key, v in value.items():
            assign_proto(target, key, v)
    else:
        setattr(proto, name, value)


class Top:
    """One output blob of a layer call: the n-th top of Function fn."""

    def __init__(self, fn, n):
        self.fn = fn
        self.n = n

    def to_proto(self):
        """The NetParameter of every layer this top needs."""
        return to_proto(self)

    def _to_proto(self, layers, names, autonames):
        return self.fn._to_proto(layers, names, autonames)


class Function:
    """One layer call: its type, input Tops and parameters."""

    def __init__(self, type_name, inputs, params):
        self.type_name = type_name
        for i, top in enumerate(inputs):
            if not isinstance(top, Top):
                raise TypeError("%s input %d is not a Top (type is %s)"
                                % (type_name, i, type(top)))
        self.inputs = inputs
        params = dict(params)
        self.ntop = params.pop("ntop", 1)
        self.in_place = params.pop("in_place", False)
        self.params = params
        self.tops = tuple(Top(self, n) for n in range(self.ntop))

    def _top_name(self, top, names, autonames):
        if top not in names:
            autonames[top.fn.type_name] += 1
            names[top] = top.fn.type_name + str(autonames[top.fn.type_name])
        return names[top]

    def _layer_name(self, names, autonames):
        # A layer is named by its first top; a top-less layer by its own NetSpec name.
        if self not in names:
            if self.ntop > 0:
                names[self] = self._top_name(self.tops[0], names, autonames)
            else:
                autonames[self.type_name] += 1
                names[self] = self.type_name + str(autonames[self.type_name])
        return names[self]

    def _to_proto(self, layers, names, autonames):
        if self in layers:
            return
        bottoms = []
        for top in self.inputs:
            top._to_proto(layers, names, autonames)
            bottoms.append(layers[top.fn].top[top.n])
        layer = caffe_pb2.LayerParameter(type=self.type_name)
        layer.bottom.extend(bottoms)
        if self.in_place:
            layer.top.extend(bottoms)
        else:
            layer.top.extend(self._top_name(t, names, autonames) for t in self.tops)
        layer.name = self._layer_name(names, autonames)
        own = _PARAM_FIELDS.get(self.type_name)
        for key, value in self.params.items():
            if not key.endswith("param") and own is not None and key in getattr(
                    layer, own + "_param").DESCRIPTOR.fields_by_name:
                assign_proto(getattr(layer, own + "_param"), key, value)
            else:
                assign_proto(layer, key, value)
        layers[self] = layer


def to_proto(*tops):
    """The NetParameter of every layer the given tops need, blobs named automatically."""
    layers, autonames = OrderedDict(), Counter()
    for top in tops:
        top._to_proto(layers, {}, autonames)
    net = caffe_pb2.NetParameter()
    net.layer.extend(layers.values())
    return net


class NetSpec:
    """Tops (or top-less layers) assigned as attributes or items, named by their keys;
    to_proto() gives the NetParameter that computes them all."""

    def __init__(self):
        super().__setattr__("tops", OrderedDict())

    def __setattr__(self, name, value):
        self.tops[name] = value

    def __getattr__(self, name):
        try:
            return self.tops[name]
        except KeyError:
            raise AttributeError(f"NetSpec has no top {name!r}") from None

    def __setitem__(self, key, value):
        self.tops[key] = value

    def __getitem__(self, key):
        return self.tops[key]

    def __contains__(self, key):
        return key in self.tops

    def to_proto(self):
        names = {value: key for key, value in self.tops.items()}
        layers, autonames = OrderedDict(), Counter()
        for top in self.tops.values():
            top._to_proto(layers, names, autonames)
        net = caffe_pb2.NetParameter()
        net.layer.extend(layers.values())
        return net


class Layers:
    """L.<Type>(*bottoms, **params): a Top (one top), a tuple of Tops (ntop > 1) or the
    Function itself (ntop=0)."""

    def __getattr__(self, type_name):
        if type_name.startswith("__"):
            raise AttributeError(type_name)

        def layer(*inputs, **params):
            fn = Function(type_name, inputs, params)
            if fn.ntop == 0:
                return fn
            return fn.tops[0] if fn.ntop == 1 else fn.tops

        layer.__name__ = type_name
        return layer


class Parameters:
    """P.<Type>.<VALUE>: the enum values of <Type>Parameter, e.g. P.Pooling.MAX."""

    def __getattr__(self, type_name):
        if type_name.startswith("__"):
            raise AttributeError(type_name)
        message = getattr(caffe_pb2, type_name + "Parameter")

        class _Values:
            def __getattr__(self, value_name):
                return getattr(message, value_name)

        return _Values()


layers = Layers()
params = Parameters()
