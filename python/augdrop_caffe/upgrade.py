"""Old Caffe net and solver definitions brought to the current format, as BVLC Caffe's
src/caffe/util/upgrade_proto.cpp does (UpgradeNetAsNeeded, UpgradeSolverAsNeeded):

    V0 nets      `layers { layer { name: "conv1" type: "conv" num_output: 96 ... } }`, with
                 "padding" layers folded into the conv or pooling layer they feed
    V1 nets      `layers { type: CONVOLUTION blobs_lr: 1 weight_decay: 1 ... }`: the enum
                 type becomes the type name, blobs_lr/weight_decay become param { lr_mult
                 decay_mult }, param names and blob_share_mode become param { name share_mode }
    data fields  data_param / image_data_param / window_data_param scale, mean_file,
                 crop_size, mirror of a V1 layer move to its transform_param
    net inputs   input with input_shape or input_dim become an "Input" layer named "input"
    BatchNorm    a layer with three param specs (the old way to freeze its statistics) gets
                 lr_mult 0 and decay_mult 0 on each
    solvers      the solver_type enum becomes the type string; inline nets are upgraded too

upgrade_net and upgrade_solver change a parsed textformat Message in place and return what
they upgraded; textformat.parse_file(..., upgrade=True) applies them as the file is read and
says so once per file ("upgraded lenet.prototxt from V1 format"), as Caffe logs it. Where
Caffe stops (an unknown V0 type, a padding layer feeding anything but a convolution or a
pooling, a net with both `layer` and `layers`), the PrototxtError names the file and the line;
where Caffe logs a problem and goes on (a V0 field that the layer type has no use for), a
warning is logged with the file and line and the field is dropped, as Caffe drops it.
"""
import logging

from . import schema
from .textformat import Message, PrototxtError

__all__ = ["upgrade_net", "upgrade_solver", "upgrade_message", "announce", "V0_LAYER_TYPES"]

log = logging.getLogger("augdrop_caffe")
_announced = set()


def announce(filename, what):
    """Log "upgraded <filename> from <what>", once per file and kind of upgrade."""
    key = (str(filename), what)
    if key not in _announced:
        _announced.add(key)
        log.warning("upgraded %s from %s", filename, what)


# ---------------------------------------------------------------------------------------------
# V0 -> V1 (UpgradeV0PaddingLayers, UpgradeV0LayerParameter, UpgradeV0LayerType).

V0_LAYER_TYPES = {
    "accuracy": "ACCURACY", "bnll": "BNLL", "concat": "CONCAT", "conv": "CONVOLUTION",
    "data": "DATA", "dropout": "DROPOUT", "euclidean_loss": "EUCLIDEAN_LOSS",
    "flatten": "FLATTEN", "hdf5_data": "HDF5_DATA", "hdf5_output": "HDF5_OUTPUT",
    "im2col": "IM2COL", "images": "IMAGE_DATA", "infogain_loss": "INFOGAIN_LOSS",
    "innerproduct": "INNER_PRODUCT", "lrn": "LRN",
    "multinomial_logistic_loss": "MULTINOMIAL_LOGISTIC_LOSS", "pool": "POOLING",
    "relu": "RELU", "sigmoid": "SIGMOID", "softmax": "SOFTMAX", "softmax_loss": "SOFTMAX_LOSS",
    "split": "SPLIT", "tanh": "TANH", "window_data": "WINDOW_DATA",
}

# V0 field -> {V0 type: (V1 param message field, its field)}; "*" for every type. A field
# whose target is repeated is appended to (convolution's pad, kernel_size, stride).
_DATA = ("data", "hdf5_data", "images", "window_data")
_V0_FIELDS = {
    "num_output": {"conv": ("convolution_param", "num_output"),
                   "innerproduct": ("inner_product_param", "num_output")},
    "biasterm": {"conv": ("convolution_param", "bias_term"),
                 "innerproduct": ("inner_product_param", "bias_term")},
    "weight_filler": {"conv": ("convolution_param", "weight_filler"),
                      "innerproduct": ("inner_product_param", "weight_filler")},
    "bias_filler": {"conv": ("convolution_param", "bias_filler"),
                    "innerproduct": ("inner_product_param", "bias_filler")},
    "pad": {"conv": ("convolution_param", "pad"), "pool": ("pooling_param", "pad")},
    "kernelsize": {"conv": ("convolution_param", "kernel_size"),
                   "pool": ("pooling_param", "kernel_size")},
    "group": {"conv": ("convolution_param", "group")},
    "stride": {"conv": ("convolution_param", "stride"), "pool": ("pooling_param", "stride")},
    "pool": {"pool": ("pooling_param", "pool")},
    "dropout_ratio": {"dropout": ("dropout_param", "dropout_ratio")},
    "local_size": {"lrn": ("lrn_param", "local_size")},
    "alpha": {"lrn": ("lrn_param", "alpha")},
    "beta": {"lrn": ("lrn_param", "beta")},
    "k": {"lrn": ("lrn_param", "k")},
    "source": {"data": ("data_param", "source"), "hdf5_data": ("hdf5_data_param", "source"),
               "images": ("image_data_param", "source"),
               "window_data": ("window_data_param", "source"),
               "infogain_loss": ("infogain_loss_param", "source")},
    "scale": {"*": ("transform_param", "scale")},
    "meanfile": {"*": ("transform_param", "mean_file")},
    "batchsize": {"data": ("data_param", "batch_size"),
                  "hdf5_data": ("hdf5_data_param", "batch_size"),
                  "images": ("image_data_param", "batch_size"),
                  "window_data": ("window_data_param", "batch_size")},
    "cropsize": {"*": ("transform_param", "crop_size")},
    "mirror": {"*": ("transform_param", "mirror")},
    "rand_skip": {"data": ("data_param", "rand_skip"),
                  "images": ("image_data_param", "rand_skip")},
    "shuffle_images": {"images": ("image_data_param", "shuffle")},
    "new_height": {"images": ("image_data_param", "new_height")},
    "new_width": {"images": ("image_data_param", "new_width")},
    "concat_dim": {"concat": ("concat_param", "concat_dim")},
    "det_fg_threshold": {"window_data": ("window_data_param", "fg_threshold")},
    "det_bg_threshold": {"window_data": ("window_data_param", "bg_threshold")},
    "det_fg_fraction": {"window_data": ("window_data_param", "fg_fraction")},
    "det_context_pad": {"window_data": ("window_data_param", "context_pad")},
    "det_crop_mode": {"window_data": ("window_data_param", "crop_mode")},
    "hdf5_output_param": {"hdf5_output": ("hdf5_output_param", None)},
}
# Copied as they are; new_num and the other V0 fields Caffe never reads are dropped.
_V0_COPIED = ("name", "type", "blobs", "blobs_lr", "weight_decay")


def _fail(filename, line, reason):
    raise PrototxtError(filename, line, reason)


def _warn(filename, line, reason):
    where = "%s:%d" % (filename, line) if line is not None else str(filename)
    log.warning("%s: %s", where, reason)


def _fold_padding_layers(net, filename):
    """Caffe's UpgradeV0PaddingLayers: a V0 "padding" layer disappears and its pad moves to
    the convolution or pooling layer it feeds. Returns [(V1 layer, line)] of the others."""
    layers = net.getlist("layers")
    lines = [net.line_of("layers", i) for i in range(len(layers))]
    last_top = {name: -1 for name in net.getlist("input")}  # blob -> index of its producer
    kept = []
    for i, conn in enumerate(layers):
        v0 = conn.get("layer")
        if v0.get("type") != "padding":
            kept.append((conn, lines[i]))
        for j, blob in enumerate(conn.getlist("bottom")):
            if blob not in last_top:
                _fail(filename, lines[i], "unknown bottom blob '%s' of V0 layer '%s' (no "
                      "earlier layer or input produces it)" % (blob, v0.get("name")))
            source_index = last_top[blob]
            if source_index == -1:
                continue
            source = layers[source_index]
            if source.get("layer").get("type") != "padding":
                continue
            if v0.get("type") not in ("conv", "pool"):
                _fail(filename, lines[i], "V0 padding layer '%s' feeds layer '%s' of type "
                      "'%s'; a padding layer may feed only a conv or pool layer"
                      % (source.get("layer").get("name"), v0.get("name"), v0.get("type")))
            if len(conn.getlist("bottom")) != 1 or len(source.getlist("bottom")) != 1 \
                    or len(source.getlist("top")) != 1:
                _fail(filename, lines[i], "V0 padding layer '%s' and the layer '%s' it feeds "
                      "must each have one bottom (and the padding layer one top)"
                      % (source.get("layer").get("name"), v0.get("name")))
            v0.set("pad", source.get("layer").get("pad"))
            bottoms = conn.getlist("bottom")
            bottoms[j] = source.getlist("bottom")[0]
            conn.set("bottom", bottoms)
        for blob in conn.getlist("top"):
            last_top[blob] = i
    return kept


def _v0_to_v1(conn, line, filename):
    """Caffe's UpgradeV0LayerParameter: one V1 layer from a V1 layer holding a V0 layer."""
    out = Message("V1LayerParameter")
    for field in ("bottom", "top"):
        if conn.has(field):
            out.set(field, conn.getlist(field))
    if not conn.has("layer"):
        return out
    v0 = conn.get("layer")
    v0_type = v0.get("type")
    if v0.has("name"):
        out.set("name", v0.get("name"))
    if v0.has("type"):
        if v0_type not in V0_LAYER_TYPES:
            _fail(filename, v0.line_of("type") or line, "unknown V0 layer type '%s' (layer "
                  "'%s'); V0 types are %s" % (v0_type, v0.get("name"), ", ".join(V0_LAYER_TYPES)))
        out.set("type", V0_LAYER_TYPES[v0_type])
    for field in ("blobs", "blobs_lr", "weight_decay"):
        if v0.has(field):
            out.set(field, v0.getlist(field))
    for field in v0.fields:
        if field in _V0_COPIED or not v0.has(field):
            continue
        targets = _V0_FIELDS.get(field)
        target = None if targets is None else targets.get(v0_type, targets.get("*"))
        if target is None:
            _warn(filename, v0.line_of(field) or line, "V0 layer '%s': parameter %s has no "
                  "meaning for layer type '%s'; dropped, as Caffe drops it"
                  % (v0.get("name"), field, v0_type))
            continue
        param, name = target
        value = v0.get(field)
        if name is None:  # a whole message (hdf5_output_param)
            out.set(param, value)
            continue
        sub = out.mutable(param)
        if schema.field(sub.type_name, name).repeated:
            sub.add(name, value)
        else:
            sub.set(name, value)
    return out


def _upgrade_v0(net, filename):
    kept = _fold_padding_layers(net, filename)
    upgraded = [(_v0_to_v1(conn, line, filename), line) for conn, line in kept]
    # UpgradeV0Net keeps only the name, the inputs and force_backward of a V0 net.
    old = net.copy()
    for field in list(net.fields):
        net.clear(field)
    if old.has("name"):
        net.set("name", old.get("name"))
    for layer, line in upgraded:
        net._append("layers", layer, line)
    for field in ("input", "input_dim", "force_backward"):
        if old.has(field):
            net.fields[field] = old.fields[field]
            net.lines[field] = old.lines[field]


# ---------------------------------------------------------------------------------------------
# Deprecated data transformation fields (UpgradeNetDataTransformation).

_TRANSFORM_OWNERS = {"DATA": "data_param", "IMAGE_DATA": "image_data_param",
                     "WINDOW_DATA": "window_data_param"}
_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")


def _needs_data_upgrade(net):
    for layer in net.getlist("layers"):
        owner = _TRANSFORM_OWNERS.get(layer.get("type"))
        if owner and layer.has(owner) and any(layer.get(owner).has(f)
                                              for f in _TRANSFORM_FIELDS):
            return True
    return False


def _upgrade_data_transformation(net):
    for layer in net.getlist("layers"):
        owner = _TRANSFORM_OWNERS.get(layer.get("type"))
        if not owner or not layer.has(owner):
            continue
        param = layer.get(owner)
        for field in _TRANSFORM_FIELDS:
            if param.has(field):
                line = param.line_of(field)
                transform = layer.mutable("transform_param")
                transform._store(field, param.get(field), line)
                param.clear(field)


# ---------------------------------------------------------------------------------------------
# V1 -> current (UpgradeV1Net, UpgradeV1LayerParameter, UpgradeV1LayerType).

_V1_PARAMS = tuple(name for name, fd in schema.fields("V1LayerParameter").items()
                   if name.endswith("_param"))


def _param_spec(layer, i):
    while len(layer.getlist("param")) <= i:
        layer.add("param", Message("ParamSpec"))
    return layer.getlist("param")[i]


def _v1_to_layer(v1, line, filename):
    layer = Message("LayerParameter")
    for field in ("bottom", "top"):
        if v1.has(field):
            layer.set(field, v1.getlist(field))
    if v1.has("name"):
        layer.set("name", v1.get("name"))
    for field in ("include", "exclude"):
        if v1.has(field):
            layer.set(field, v1.getlist(field))
    if v1.has("type"):
        layer.set("type", schema.V1_LAYER_TYPE_NAMES[v1.get("type")])
    if v1.has("blobs"):
        layer.set("blobs", v1.getlist("blobs"))
    for i, name in enumerate(v1.getlist("param")):
        _param_spec(layer, i).set("name", name)
    for i, mode in enumerate(v1.getlist("blob_share_mode")):
        _param_spec(layer, i).set("share_mode", mode)
    for i, lr in enumerate(v1.getlist("blobs_lr")):
        _param_spec(layer, i).set("lr_mult", lr)
    for i, decay in enumerate(v1.getlist("weight_decay")):
        _param_spec(layer, i).set("decay_mult", decay)
    if v1.has("loss_weight"):
        layer.set("loss_weight", v1.getlist("loss_weight"))
    for field in _V1_PARAMS:
        if v1.has(field):
            layer.set(field, v1.get(field))
    if v1.has("layer"):
        _warn(filename, line, "layer '%s' holds a V0 layer beside its V1 fields; the V0 layer "
              "is ignored, as Caffe ignores it" % v1.get("name"))
    # Fields in number order, as Caffe's upgrade tools print them (name, type, bottom, ...).
    numbers = schema.fields("LayerParameter")
    for table in (layer.fields, layer.lines):
        ordered = sorted(table.items(), key=lambda kv: numbers[kv[0]].number)
        table.clear()
        table.update(ordered)
    return layer


def _upgrade_v1(net, filename):
    if net.has("layer"):
        _fail(filename, net.line_of("layers"), "the net has both 'layer' and 'layers' fields: "
              "Caffe refuses to upgrade it; write every layer as layer { type: \"Type\" ... } "
              "(the current format) or every one as layers { type: TYPE ... } (V1)")
    layers = net.getlist("layers")
    lines = [net.line_of("layers", i) for i in range(len(layers))]
    net.clear("layers")
    for v1, line in zip(layers, lines):
        net._append("layer", _v1_to_layer(v1, line, filename), line)


# ---------------------------------------------------------------------------------------------
# Net inputs (UpgradeNetInput) and BatchNorm params (UpgradeNetBatchNorm).

def _upgrade_input(net, filename):
    inputs = net.getlist("input")
    shapes = net.getlist("input_shape")
    dims = net.getlist("input_dim")
    line = net.line_of("input")
    if shapes or dims:
        if shapes and len(shapes) < len(inputs):
            _fail(filename, line, "%d net inputs but %d input_shape" % (len(inputs), len(shapes)))
        if not shapes and len(dims) < 4 * len(inputs):
            _fail(filename, line, "%d net inputs need %d input_dim values (num, channels, "
                  "height, width each), got %d" % (len(inputs), 4 * len(inputs), len(dims)))
        layer = Message("LayerParameter")
        layer.set("name", "input")
        layer.set("type", "Input")
        param = layer.mutable("input_param")
        for i, name in enumerate(inputs):
            layer.add("top", name)
            if shapes:
                param.add("shape", shapes[i])
            else:
                param.add("shape", {"dim": dims[4 * i:4 * i + 4]})
        old = net.getlist("layer")
        old_lines = [net.line_of("layer", i) for i in range(len(old))]
        net.clear("layer")
        net._append("layer", layer, line)
        for l, ln in zip(old, old_lines):
            net._append("layer", l, ln)
    for field in ("input", "input_shape", "input_dim"):
        net.clear(field)


def _needs_batch_norm_upgrade(net):
    return any(l.get("type") == "BatchNorm" and len(l.getlist("param")) == 3
               for l in net.getlist("layer"))


def _upgrade_batch_norm(net):
    for layer in net.getlist("layer"):
        if layer.get("type") == "BatchNorm" and len(layer.getlist("param")) == 3:
            for spec in layer.getlist("param"):
                spec.set("lr_mult", 0.0)
                spec.set("decay_mult", 0.0)


# ---------------------------------------------------------------------------------------------

def upgrade_net(net, filename="<net>"):
    """Upgrade a NetParameter Message in place, in Caffe's order (V0, data fields, V1, inputs,
    BatchNorm); returns the names of what was upgraded, [] for a current net."""
    done = []
    if any(l.has("layer") for l in net.getlist("layers")):
        _upgrade_v0(net, filename)
        done.append("V0 format")
    if _needs_data_upgrade(net):
        _upgrade_data_transformation(net)
        done.append("deprecated data transformation fields")
    if net.getlist("layers"):
        _upgrade_v1(net, filename)
        if "V0 format" not in done:
            done.insert(0, "V1 format")
    if net.getlist("input"):
        _upgrade_input(net, filename)
        done.append("deprecated input fields")
    if _needs_batch_norm_upgrade(net):
        _upgrade_batch_norm(net)
        done.append("BatchNorm's old param specs")
    return done


_SOLVER_TYPES = {"SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad",
                 "RMSPROP": "RMSProp", "ADADELTA": "AdaDelta", "ADAM": "Adam"}
_INLINE_NETS = ("net_param", "train_net_param", "test_net_param")


def upgrade_solver(solver, filename="<solver>"):
    """Upgrade a SolverParameter Message in place (Caffe's UpgradeSolverType; the nets given
    inline are upgraded as nets); returns the names of what was upgraded."""
    done = []
    if solver.has("solver_type"):
        if solver.has("type"):
            _fail(filename, solver.line_of("solver_type"), "the old solver_type field (enum) "
                  "and the new type field (string) cannot both be given")
        line = solver.line_of("solver_type")
        solver._store("type", _SOLVER_TYPES[solver.get("solver_type")], line)
        solver.clear("solver_type")
        done.append("the solver_type enum")
    for field in _INLINE_NETS:
        for net in solver.getlist(field):
            for what in upgrade_net(net, filename):
                if what not in done:
                    done.append(what)
    return done


def upgrade_message(message, filename):
    """upgrade_net or upgrade_solver by the message's type, and say so once per file."""
    if message.type_name == "NetParameter":
        done = upgrade_net(message, filename)
    elif message.type_name == "SolverParameter":
        done = upgrade_solver(message, filename)
    else:
        return []
    if done:
        announce(filename, " and ".join(done))
    return done
