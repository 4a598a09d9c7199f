"""caffe.draw: a NetParameter as a Graphviz graph (pycaffe's python/caffe/draw.py).

Layers are boxes (in-place neuron layers green; convolutions red, pooling orange, inner
products purple, others blue), blobs octagons, edges labelled with a layer's output size.
get_dot_source writes the DOT text itself, so describing a net needs nothing installed;
get_pydot_graph needs pydot (pip install pydot, or 'augdrop-caffe[draw]'), and draw_net /
draw_net_to_file need Graphviz's `dot` program (through pydot when installed, else run
directly).
"""
import shutil
import subprocess

from .proto import caffe_pb2

LAYER_STYLE_DEFAULT = {"shape": "record", "fillcolor": "#6495ED", "style": "filled"}
NEURON_LAYER_STYLE = {"shape": "record", "fillcolor": "#90EE90", "style": "filled"}
BLOB_STYLE = {"shape": "octagon", "fillcolor": "#E0E0E0", "style": "filled"}
_SPATIAL = ("Convolution", "Deconvolution", "Pooling")
_LEARNED = ("Convolution", "Deconvolution", "InnerProduct")


def get_pooling_types_dict():
    """{pooling method number: name}."""
    values = caffe_pb2.PoolingParameter.PoolMethod.DESCRIPTOR.values
    return {v.number: v.name for v in values}


def get_edge_label(layer):
    """The label of a layer's outgoing edges: batch size, or number of outputs."""
    if layer.type == "Data":
        return "Batch " + str(layer.data_param.batch_size)
    if layer.type in ("Convolution", "Deconvolution"):
        return str(layer.convolution_param.num_output)
    if layer.type == "InnerProduct":
        return str(layer.inner_product_param.num_output)
    return '""'


def get_layer_lr_mult(layer):
    """(weights, bias) lr_mult of a Convolution, Deconvolution or InnerProduct layer."""
    if layer.type not in _LEARNED:
        raise ValueError("%s layers do not have a learning rate multiplier" % layer.type)
    mults = [p.lr_mult for p in layer.param]
    if len(mults) > 2:
        raise ValueError("layer %s has %d param specs; expected at most 2"
                         % (layer.name, len(mults)))
    return tuple(mults + [1.0] * (2 - len(mults)))


def get_layer_label(layer, rankdir, display_lrm=False):
    """A layer's node label: name, (type), kernel/stride/pad, lr mults (quoted for DOT)."""
    sep = " " if rankdir in ("TB", "BT") else r"\n"
    kind = layer.type
    if kind == "Pooling":
        kind += " " + get_pooling_types_dict()[layer.pooling_param.pool]
    parts = [layer.name, "(%s)" % kind]
    if layer.type in _SPATIAL:
        if layer.type == "Pooling":
            p = layer.pooling_param
            kernel, stride, pad = p.kernel_size, p.stride, p.pad
        else:
            p = layer.convolution_param
            kernel = p.kernel_size[0] if len(p.kernel_size) else 1
            stride = p.stride[0] if len(p.stride) else 1
            pad = p.pad[0] if len(p.pad) else 0
        parts.append(sep.join(["kernel size: %d" % kernel, "stride: %d" % stride,
                               "pad: %d" % pad]))
    if display_lrm and layer.type in _LEARNED:
        lrm = get_layer_lr_mult(layer)
        if any(lrm):
            parts.append("lr mult: %.1f, %.1f" % lrm)
    return '"%s"' % sep.join(parts)


def choose_color_by_layertype(layertype):
    return {"Convolution": "#FF5050", "Deconvolution": "#FF5050", "Pooling": "#FF9900",
            "InnerProduct": "#CC33FF"}.get(layertype, "#6495ED")


def _included(layer, phase):
    if phase is None:
        return True
    if len(layer.include) and len(layer.exclude):
        raise ValueError("layer %s has both include and exclude specified." % layer.name)
    included = not len(layer.include) or any(r.phase == phase for r in layer.include)
    return included and not any(r.phase == phase for r in layer.exclude)


def _graph(caffe_net, rankdir, label_edges, phase, display_lrm):
    """(nodes {id: (label, style)}, edges [(src id, dst id, label)]) of the net."""
    nodes, edges = {}, []
    for layer in caffe_net.layer:
        if not _included(layer, phase):
            continue
        node = "%s_%s" % (layer.name, layer.type)
        in_place = len(layer.bottom) == 1 and list(layer.bottom) == list(layer.top)
        style = NEURON_LAYER_STYLE if in_place else dict(
            LAYER_STYLE_DEFAULT, fillcolor=choose_color_by_layertype(layer.type))
        nodes[node] = (get_layer_label(layer, rankdir, display_lrm), style)
        for blob in layer.bottom:
            nodes[blob + "_blob"] = ('"%s"' % blob, BLOB_STYLE)
            edges.append((blob + "_blob", node, '""'))
        for blob in layer.top:
            nodes.setdefault(blob + "_blob", ('"%s"' % blob, {}))
            edges.append((node, blob + "_blob", get_edge_label(layer) if label_edges
                          else '""'))
    return nodes, edges


def _quote(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def get_dot_source(caffe_net, rankdir, label_edges=True, phase=None, display_lrm=False):
    """The Graphviz DOT text of a NetParameter (nodes named by their labels, as pycaffe)."""
    nodes, edges = _graph(caffe_net, rankdir, label_edges, phase, display_lrm)
    lines = ["digraph %s {" % _quote(caffe_net.name or "Net"), "rankdir=%s;" % rankdir]
    for label, style in nodes.values():
        attrs = "".join(' %s="%s"' % kv for kv in style.items())
        lines.append("%s [%s];" % (label, attrs.strip()) if attrs else "%s;" % label)
    for src, dst, label in edges:
        label = label if label.startswith('"') else _quote(label)
        lines.append("%s -> %s [label=%s];" % (nodes[src][0], nodes[dst][0], label))
    lines.append("}")
    return "\n".join(lines) + "\n"


def get_pydot_graph(caffe_net, rankdir, label_edges=True, phase=None, display_lrm=False):
    """The net as a pydot.Dot graph (needs pydot)."""
    try:
        import pydot
    except ImportError:
        raise ImportError("get_pydot_graph needs pydot: pip install pydot (or "
                          "pip install 'augdrop-caffe[draw]')") from None
    return pydot.graph_from_dot_data(
        get_dot_source(caffe_net, rankdir, label_edges, phase, display_lrm))[0]


def draw_net(caffe_net, rankdir, ext="png", phase=None, display_lrm=False):
    """The net drawn by Graphviz as bytes of format `ext` (png, pdf, svg, ...)."""
    source = get_dot_source(caffe_net, rankdir, phase=phase, display_lrm=display_lrm)
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("drawing a net needs Graphviz's `dot` program on the PATH "
                           "(e.g. apt-get install graphviz); get_dot_source gives the text")
    return subprocess.run([dot, "-T" + ext], input=source.encode(), stdout=subprocess.PIPE,
                          check=True).stdout


def draw_net_to_file(caffe_net, filename, rankdir="LR", phase=None, display_lrm=False):
    """Draw the net into filename, its format from the extension (.dot/.gv: the text)."""
    ext = filename.rpartition(".")[2] or "png"
    if ext in ("dot", "gv"):
        data = get_dot_source(caffe_net, rankdir, phase=phase,
                              display_lrm=display_lrm).encode()
    else:
        data = draw_net(caffe_net, rankdir, ext, phase, display_lrm)
    with open(filename, "wb") as f:
        f.write(data)
