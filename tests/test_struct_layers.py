"""The layers of Caffe's catalogue that move, cut, join and reduce blobs: Flatten, Reshape,
Silence, Concat, Slice, Tile, Reduction. Each: its shape rule and forward values against a numpy
reference on a small input, the gradient checker, the pointer sharing Caffe does (Flatten,
Reshape, a one-bottom Concat, a one-top Slice), and bad parameters raising an error that names
the layer."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from gradient_check import GradientChecker, write_net

F32 = np.float32


def values(shape, seed=0):
    """Distinct values, all at least 0.05 away from 0 (ASUM's kink)."""
    n = int(np.prod(shape))
    v = np.random.default_rng(seed).permutation(n).astype(F32) - F32(n / 2) + F32(0.5)
    return (v * F32(0.1)).reshape(shape)


def layer(layer_type, bottoms, tops, param=""):
    b = " ".join(f'bottom: "{x}"' for x in bottoms)
    t = " ".join(f'top: "{x}"' for x in tops)
    return f'layer {{ name: "n" type: "{layer_type}" {b} {t} {param} }}'


def build(tmp_path, body, inputs, phase=caffe.TRAIN, force_backward=True):
    return caffe.Net(write_net(tmp_path, body, inputs, force_backward=force_backward), phase)


def forward(tmp_path, body, xs):
    """Build a net of Input blobs xs = {name: array} and body; forward; the net."""
    net = build(tmp_path, body, {k: v.shape for k, v in xs.items()})
    for k, v in xs.items():
        net.blobs[k].data[...] = v
    net.forward()
    return net


def expect_error(tmp_path, layer_type, body, inputs, match):
    with pytest.raises(caffe.EngineError, match=match) as e:
        net = build(tmp_path, body, inputs)
        for k, shape in inputs.items():
            net.blobs[k].data[...] = values(shape)
        net.forward()
    assert f"layer 'n' ({layer_type})" in str(e.value), str(e.value)


# ---- Flatten -----------------------------------------------------------------------------------

@pytest.mark.parametrize("param,shape", [
    ("", (2, 30)),                                                 # axis 1 to the end
    ("flatten_param { axis: 2 }", (2, 3, 10)),
    ("flatten_param { axis: 1 end_axis: 2 }", (2, 15, 2)),
    ("flatten_param { axis: 0 end_axis: -2 }", (30, 2)),
    ("flatten_param { axis: -2 end_axis: -2 }", (2, 3, 5, 2)),     # one axis: the same shape
    ("flatten_param { axis: 2 end_axis: 1 }", (2, 3, 1, 5, 2)),    # Caffe inserts an axis of 1
])
def test_flatten_shape_and_values(tmp_path, param, shape):
    x = values((2, 3, 5, 2))
    net = forward(tmp_path, layer("Flatten", ["x"], ["y"], param), {"x": x})
    y = net.blobs["y"].data
    assert y.shape == shape
    np.testing.assert_array_equal(y, x.reshape(shape))


def test_flatten_shares_data_and_diff(tmp_path):
    """Caffe's Flatten copies nothing: top data is the bottom's memory (forward), and after
    backward the bottom's diff is the top's."""
    x = values((2, 3, 4))
    net = forward(tmp_path, layer("Flatten", ["x"], ["y"]), {"x": x})
    assert np.shares_memory(net.blobs["y"].data, net.blobs["x"].data)
    dy = values((2, 12), seed=1)
    net.backward(y=dy)
    assert np.shares_memory(net.blobs["x"].diff, net.blobs["y"].diff)
    np.testing.assert_array_equal(net.blobs["x"].diff, dy.reshape(2, 3, 4))


def test_flatten_gradient(tmp_path):
    net = build(tmp_path, layer("Flatten", ["x"], ["y"], "flatten_param { axis: 2 }"),
                {"x": (2, 3, 2, 2)})
    GradientChecker().check(net, {"x": values((2, 3, 2, 2))})


# ---- Reshape -----------------------------------------------------------------------------------

@pytest.mark.parametrize("param,shape", [
    ("shape { dim: 0 dim: -1 }", (2, 60)),
    ("shape { dim: 6 dim: 2 dim: 10 }", (6, 2, 10)),
    ("shape { dim: -1 dim: 0 dim: 2 }", (20, 3, 2)),
    ("shape { dim: 0 dim: 2 dim: -1 } axis: 1 num_axes: 2", (2, 3, 2, 2, 5)),
    ("shape { dim: 1 dim: 1 } axis: 1 num_axes: 0", (2, 1, 1, 3, 4, 5)),  # insert singletons
    ("shape { dim: 1 } axis: -1 num_axes: 0", (2, 3, 4, 5, 1)),            # append one at the end
    ("shape { dim: 20 } axis: -3", (2, 3, 20)),                             # the last two axes
    ("shape { } axis: 1 num_axes: 0", (2, 3, 4, 5)),                        # nothing changes
])
def test_reshape_shape_and_values(tmp_path, param, shape):
    x = values((2, 3, 4, 5))
    net = forward(tmp_path, layer("Reshape", ["x"], ["y"], f"reshape_param {{ {param} }}"),
                  {"x": x})
    y = net.blobs["y"].data
    assert y.shape == shape
    np.testing.assert_array_equal(y, x.reshape(shape))


def test_reshape_shares_data_and_diff(tmp_path):
    x = values((2, 3, 4))
    net = forward(tmp_path, layer("Reshape", ["x"], ["y"], "reshape_param { shape { dim: -1 } }"),
                  {"x": x})
    assert np.shares_memory(net.blobs["y"].data, net.blobs["x"].data)
    assert np.shares_memory(net.blobs["y"].diff, net.blobs["x"].diff)


def test_reshape_follows_the_bottom(tmp_path):
    """The shape is worked out again at every forward pass (0 copies, -1 infers)."""
    net = build(tmp_path, layer("Reshape", ["x"], ["y"], "reshape_param { shape { dim: 0 dim: -1 } }"),
                {"x": (2, 3, 4)})
    net.blobs["x"].reshape(3, 2, 2)
    net.blobs["x"].data[...] = values((3, 2, 2))
    net.forward()
    assert net.blobs["y"].data.shape == (3, 4)
    np.testing.assert_array_equal(net.blobs["y"].data, values((3, 2, 2)).reshape(3, 4))


def test_reshape_gradient(tmp_path):
    net = build(tmp_path, layer("Reshape", ["x"], ["y"], "reshape_param { shape { dim: 0 dim: -1 } }"),
                {"x": (2, 3, 2)})
    GradientChecker().check(net, {"x": values((2, 3, 2))})


# ---- Silence -----------------------------------------------------------------------------------

def test_silence_has_no_output_and_zeroes_the_diffs(tmp_path):
    net = build(tmp_path, layer("Silence", ["x", "z"], []), {"x": (2, 3), "z": (4,)})
    assert list(net.outputs) == []
    for b in ("x", "z"):
        net.blobs[b].data[...] = 1
        net.blobs[b].diff[...] = 7
    net.forward()
    net.backward()
    for b in ("x", "z"):
        np.testing.assert_array_equal(net.blobs[b].diff, 0)


def test_silence_needs_a_bottom(tmp_path):
    expect_error(tmp_path, "Silence", layer("Silence", [], []), {}, "at least 1 bottom")


# ---- Concat ------------------------------------------------------------------------------------

@pytest.mark.parametrize("param,axis", [
    ("", 1), ("concat_param { axis: 0 }", 0), ("concat_param { axis: -1 }", 2),
    ("concat_param { concat_dim: 2 }", 2), ("concat_param { axis: -3 }", 0),
])
def test_concat_values(tmp_path, param, axis):
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for i, s in enumerate(shapes):
        s[axis] = i + 1
    xs = {f"x{i}": values(s, seed=i) for i, s in enumerate(shapes)}
    net = forward(tmp_path, layer("Concat", list(xs), ["y"], param), xs)
    np.testing.assert_array_equal(net.blobs["y"].data, np.concatenate(list(xs.values()), axis))


def test_concat_one_bottom_shares(tmp_path):
    net = forward(tmp_path, layer("Concat", ["x"], ["y"]), {"x": values((2, 3))})
    assert np.shares_memory(net.blobs["y"].data, net.blobs["x"].data)
    assert np.shares_memory(net.blobs["y"].diff, net.blobs["x"].diff)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_concat_gradient(tmp_path, axis):
    shapes = {"x0": [2, 2, 3], "x1": [2, 2, 3]}
    shapes["x1"][axis] = 1
    net = build(tmp_path, layer("Concat", ["x0", "x1"], ["y"], f"concat_param {{ axis: {axis} }}"),
                shapes)
    GradientChecker().check(net, {k: values(s, seed=i) for i, (k, s) in enumerate(shapes.items())})


@pytest.mark.parametrize("param,shapes,match", [
    ("concat_param { axis: 1 concat_dim: 1 }", [(2, 3), (2, 3)], "not both"),
    ("", [(2, 3), (3, 3)], "same shape, except at concat_axis"),
    ("", [(2, 3), (2, 3, 1)], "same #axes"),
    ("concat_param { axis: 2 }", [(2, 3), (2, 3)], "out of range"),
    ("concat_param { concat_dim: 2 }", [(2, 3), (2, 3)], "concat_dim out of range"),
])
def test_concat_bad_parameters_name_the_layer(tmp_path, param, shapes, match):
    inputs = {f"x{i}": s for i, s in enumerate(shapes)}
    expect_error(tmp_path, "Concat", layer("Concat", list(inputs), ["y"], param), inputs, match)


# ---- Slice -------------------------------------------------------------------------------------

@pytest.mark.parametrize("param,tops,points,axis", [
    ("", 2, 2, 1),                                                     # even, axis 1
    ("slice_param { axis: 0 }", 3, 3, 0),
    ("slice_param { axis: -1 slice_point: 1 slice_point: 3 }", 3, [1, 3], 2),
    ("slice_param { slice_dim: 1 slice_point: 3 }", 2, [3], 1),
    ("slice_param { axis: 1 slice_point: 2 slice_point: 4 }", 3, [2, 4], 1),  # empty last top
])
def test_slice_values(tmp_path, param, tops, points, axis):
    x = values((6, 4, 4))
    names = [f"y{i}" for i in range(tops)]
    net = forward(tmp_path, layer("Slice", ["x"], names, param), {"x": x})
    for name, ref in zip(names, np.split(x, points, axis), strict=True):
        np.testing.assert_array_equal(net.blobs[name].data, ref)


def test_slice_one_top_shares(tmp_path):
    net = forward(tmp_path, layer("Slice", ["x"], ["y"]), {"x": values((2, 3))})
    assert np.shares_memory(net.blobs["y"].data, net.blobs["x"].data)
    assert np.shares_memory(net.blobs["y"].diff, net.blobs["x"].diff)


@pytest.mark.parametrize("param", ["slice_param { axis: 0 }", "slice_param { slice_point: 1 }",
                                   "slice_param { axis: 2 slice_point: 1 slice_point: 2 }"])
def test_slice_gradient(tmp_path, param):
    tops = ["y0", "y1", "y2"] if "slice_point: 2" in param else ["y0", "y1"]
    net = build(tmp_path, layer("Slice", ["x"], tops, param), {"x": (2, 3, 3)})
    GradientChecker().check(net, {"x": values((2, 3, 3))})


@pytest.mark.parametrize("param,tops,match", [
    ("slice_param { axis: 1 slice_dim: 1 }", 2, "not both"),
    ("", 3, "evenly divide"),
    ("slice_param { slice_point: 1 }", 3, "one fewer than the tops"),
    ("slice_param { slice_point: 2 slice_point: 1 }", 3, "greater than 2"),
    ("slice_param { slice_point: 0 }", 2, "greater than 0"),
    ("slice_param { slice_point: 5 }", 2, "past the end"),
    ("slice_param { axis: 0 slice_point: 1 slice_point: 2 }", 3, "cannot make 3 tops"),
    ("slice_param { slice_dim: 2 }", 2, "slice_dim out of range"),
])
def test_slice_bad_parameters_name_the_layer(tmp_path, param, tops, match):
    expect_error(tmp_path, "Slice", layer("Slice", ["x"], [f"y{i}" for i in range(tops)], param),
                 {"x": (2, 4)}, match)


# ---- Tile --------------------------------------------------------------------------------------

@pytest.mark.parametrize("axis,tiles", [(1, 3), (0, 2), (2, 1), (-1, 4)])
def test_tile_values(tmp_path, axis, tiles):
    x = values((2, 3, 4))
    net = forward(tmp_path, layer("Tile", ["x"], ["y"],
                                  f"tile_param {{ axis: {axis} tiles: {tiles} }}"), {"x": x})
    # Caffe repeats the whole block x[o, ...] from the axis on: tiles copies side by side.
    np.testing.assert_array_equal(net.blobs["y"].data, np.concatenate([x] * tiles, axis))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_tile_gradient(tmp_path, axis):
    net = build(tmp_path, layer("Tile", ["x"], ["y"], f"tile_param {{ axis: {axis} tiles: 3 }}"),
                {"x": (2, 2, 3)})
    GradientChecker().check(net, {"x": values((2, 2, 3))})


@pytest.mark.parametrize("param,match", [
    ("tile_param { axis: 1 }", "tiles must be specified"),
    ("tile_param { tiles: 0 }", "must be positive"),
    ("tile_param { tiles: -2 }", "must be positive"),
    ("tile_param { axis: 3 tiles: 2 }", "out of range"),
])
def test_tile_bad_parameters_name_the_layer(tmp_path, param, match):
    expect_error(tmp_path, "Tile", layer("Tile", ["x"], ["y"], param), {"x": (2, 3)}, match)


# ---- Reduction ---------------------------------------------------------------------------------

OPS = {"SUM": lambda x, ax: x.sum(ax), "ASUM": lambda x, ax: np.abs(x).sum(ax),
       "SUMSQ": lambda x, ax: (x * x).sum(ax), "MEAN": lambda x, ax: x.mean(ax)}


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("axis,coeff", [(0, 1.0), (1, -0.5), (2, 2.0), (-1, 1.0)])
def test_reduction_values(tmp_path, op, axis, coeff):
    x = values((2, 3, 4))
    param = f"reduction_param {{ operation: {op} axis: {axis} coeff: {coeff} }}"
    net = forward(tmp_path, layer("Reduction", ["x"], ["y"], param), {"x": x})
    a = axis % 3
    ref = coeff * OPS[op](x.astype(np.float64), tuple(range(a, 3)))
    y = net.blobs["y"].data
    assert y.shape == x.shape[:a]
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("axis", [1, 2])
def test_reduction_gradient(tmp_path, op, axis):
    param = f"reduction_param {{ operation: {op} axis: {axis} coeff: 1.5 }}"
    net = build(tmp_path, layer("Reduction", ["x"], ["y"], param), {"x": (2, 3, 2)})
    GradientChecker().check(net, {"x": values((2, 3, 2))})


@pytest.mark.parametrize("op", sorted(OPS))
def test_reduction_to_a_scalar_as_a_loss(tmp_path, op):
    """axis 0 gives a scalar (shape ()); as a loss, its diff is the loss weight."""
    x = values((2, 3))
    body = layer("Reduction", ["x"], ["loss"],
                 f"reduction_param {{ operation: {op} }} loss_weight: 1.5")
    net = build(tmp_path, body, {"x": x.shape})
    net.blobs["x"].data[...] = x
    out = net.forward()
    assert net.blobs["loss"].data.shape == ()
    np.testing.assert_allclose(out["loss"], OPS[op](x.astype(np.float64), (0, 1)), rtol=1e-6)
    net.backward()
    grad = {"SUM": np.ones_like(x), "ASUM": np.sign(x), "SUMSQ": 2 * x,
            "MEAN": np.full_like(x, 1 / x.size)}[op]
    np.testing.assert_allclose(net.blobs["x"].diff, 1.5 * grad, rtol=1e-6)


def test_reduction_bad_axis_names_the_layer(tmp_path):
    expect_error(tmp_path, "Reduction",
                 layer("Reduction", ["x"], ["y"], "reduction_param { axis: 2 }"), {"x": (2, 3)},
                 "out of range")


# ---- In place: Caffe refuses it for Flatten and Reshape -----------------------------------------

@pytest.mark.parametrize("layer_type,param", [("Flatten", ""),
                                              ("Reshape", "reshape_param { shape { dim: -1 } }")])
def test_in_place_is_refused(tmp_path, layer_type, param):
    expect_error(tmp_path, layer_type, layer(layer_type, ["x"], ["x"], param), {"x": (2, 3)},
                 "in-place")


@pytest.mark.parametrize("param,match", [
    ("shape { dim: -1 dim: -1 }", "multiple -1"),
    ("shape { dim: 5 dim: -1 }", "divisible"),
    ("shape { dim: 7 }", "count must match"),
    ("shape { dim: 0 dim: 0 dim: 0 }", "no corresponding bottom axis"),
    ("shape { dim: -2 }", "dims must be positive"),
    ("shape { dim: 6 } axis: 3", "out of range"),
    ("shape { dim: 6 } axis: -4", "out of range"),
    ("shape { dim: 6 } axis: 1 num_axes: 2", "end_axis = axis \\+ num_axes is out of range"),
    ("shape { dim: 6 } num_axes: -2", "num_axes must be >= 0"),
])
def test_reshape_bad_parameters_name_the_layer(tmp_path, param, match):
    expect_error(tmp_path, "Reshape", layer("Reshape", ["x"], ["y"], f"reshape_param {{ {param} }}"),
                 {"x": (2, 3)}, match)


def test_flatten_bad_axes_name_the_layer(tmp_path):
    expect_error(tmp_path, "Flatten",
                 layer("Flatten", ["x"], ["y"], "flatten_param { axis: 2 end_axis: 0 }"),
                 {"x": (2, 3, 4)}, "axis range")
