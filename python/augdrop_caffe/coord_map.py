"""caffe.coord_map: how the spatial coordinates of one NetSpec top map onto another's, and the
Crop layer that aligns them (pycaffe's python/caffe/coord_map.py, as used by FCNs).

A map is (axis, a, b): input coordinate x lands at output coordinate a * x + b on the spatial
axes after `axis` (a convolution: a = 1 / stride, b = (pad - (extent - 1) / 2) / stride).
Pointwise layers map as (None, 1, 0): no axis, the identity. a and b are numpy arrays with
one entry per spatial axis (or scalars for the identity).
"""
import numpy as np

from .net_spec import layers as L

# Layers that keep every spatial coordinate where it is.
PASS_THROUGH_LAYERS = ["AbsVal", "BatchNorm", "Bias", "BNLL", "Dropout", "AugmentedDropout",
                       "Eltwise", "ELU", "Log", "LRN", "Exp", "MVN", "Power", "ReLU", "PReLU",
                       "Scale", "Sigmoid", "Split", "TanH", "Threshold", "Clip", "Swish"]


class UndefinedMapException(Exception):
    """A layer whose coordinate map is not defined (InnerProduct, ...)."""


class AxisMismatchException(Exception):
    """Two maps along different axes cannot be composed."""


class CropError(AssertionError, ValueError):
    """crop() cannot align the tops (a scale other than 1, a negative or fractional offset).
    An AssertionError as in pycaffe, and a ValueError."""


def _array(value):
    return np.array(value, ndmin=1)


def conv_params(fn):
    """(axis, stride, effective kernel extent, pad) of a Convolution, Deconvolution, Im2col
    or Pooling call, from its convolution_param dict or its own keywords."""
    p = fn.params.get("convolution_param", fn.params)
    legacy = {"pad_h", "pad_w", "kernel_h", "kernel_w", "stride_h", "stride_w"} & set(p)
    if legacy:
        raise CropError("coordinate maps do not support the legacy _h/_w fields (%s)"
                        % ", ".join(sorted(legacy)))
    kernel = _array(p["kernel_size"])
    dilation = _array(p.get("dilation", 1))
    return (p.get("axis", 1), _array(p.get("stride", 1)), (kernel - 1) * dilation + 1,
            _array(p.get("pad", 0)))


def crop_params(fn):
    """(axis, offset) of a Crop call (defaults: the spatial axes from 2, offset 0)."""
    p = fn.params.get("crop_param", fn.params)
    return p.get("axis", 2), _array(p.get("offset", 0))


def coord_map(fn):
    """The (axis, scale, shift) of one layer call."""
    kind = fn.type_name
    if kind in ("Convolution", "Pooling", "Im2col"):
        axis, stride, extent, pad = conv_params(fn)
        return axis, 1 / stride, (pad - (extent - 1) / 2) / stride
    if kind == "Deconvolution":
        axis, stride, extent, pad = conv_params(fn)
        return axis, stride, (extent - 1) / 2 - pad
    if kind in PASS_THROUGH_LAYERS:
        return None, 1, 0
    if kind == "Crop":
        axis, offset = crop_params(fn)
        return axis - 1, 1, -offset  # the map's axis is the last non-spatial one
    raise UndefinedMapException(kind)


def compose(base, then):
    """base followed by then: scales multiply, then's shift scaled by base's scale."""
    ax1, a1, b1 = base
    ax2, a2, b2 = then
    if ax1 is not None and ax2 is not None and ax1 != ax2:
        raise AxisMismatchException(f"axis {ax1} then axis {ax2}")
    return (ax2 if ax1 is None else ax1), a1 * a2, a1 * b2 + b1


def inverse(cmap):
    """The map back: scale 1/a, shift -b/a."""
    ax, a, b = cmap
    return ax, 1 / a, -b / a


def _mappable_bottoms(top):
    # A Crop maps only its first bottom; the second only gives the size.
    inputs = top.fn.inputs
    return inputs[:1] if top.fn.type_name == "Crop" else inputs


def _maps_to_ancestors(start):
    """{ancestor top: map from the ancestor's coordinates to start's}, walking bottoms
    through every layer with a defined map."""
    maps = {start: (None, 1, 0)}
    frontier = [start]
    while frontier:
        top = frontier.pop()
        try:
            step = coord_map(top.fn)
        except UndefinedMapException:
            continue
        for bottom in _mappable_bottoms(top):
            maps[bottom] = compose(maps[top], step)
            frontier.append(bottom)
    return maps


def coord_map_from_to(top_from, top_to):
    """The map from top_to's coordinates to top_from's, through their nearest common
    ancestor; RuntimeError when no spatial path connects them."""
    from_maps = _maps_to_ancestors(top_from)
    to_maps = {top_to: (None, 1, 0)}
    frontier = [top_to]
    while frontier:
        top = frontier.pop()
        if top in from_maps:
            return compose(to_maps[top], inverse(from_maps[top]))
        try:
            step = coord_map(top.fn)
        except UndefinedMapException:
            continue
        for bottom in _mappable_bottoms(top):
            to_maps[bottom] = compose(to_maps[top], step)
            frontier.append(bottom)
    raise RuntimeError("could not map coordinates between the tops: are they connected "
                       "by spatial layers?")


def crop(top_from, top_to):
    """A Crop layer call that cuts top_from to top_to's spatial extent and alignment."""
    ax, a, b = coord_map_from_to(top_from, top_to)
    if not np.all(a == 1):
        raise CropError(f"scale mismatch on crop (a = {a})")
    if not np.all(b <= 0):
        raise CropError(f"cannot crop a negative offset (b = {b})")
    if not np.all(np.round(b) == b):
        raise CropError(f"cannot crop a fractional offset (b = {b})")
    return L.Crop(top_from, top_to,
                  crop_param=dict(axis=ax + 1, offset=[int(v) for v in -np.round(b)]))
