"""PReLU, Bias (a learned param or a second bottom) and Scale with its scale as a second bottom:
each against a numpy reference written here, the gradient checker (params and every bottom that
takes a gradient, in place where Caffe allows it), and bad shapes raising an error that names
the layer."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from gradient_check import GradientChecker, write_net

F32 = np.float32


def gaussian(shape, seed=0, std=1.0):
    return np.random.default_rng(seed).normal(0, std, size=shape).astype(F32)


def away_from_zero(shape, seed=0):
    """Values at least 0.1 from PReLU's kink."""
    x = gaussian(shape, seed)
    return np.where(np.abs(x) < 0.1, np.sign(x + 1e-9) * 0.1 + x, x).astype(F32)


def make(tmp_path, body, inputs, name="net.prototxt"):
    net = caffe.Net(write_net(tmp_path, body, inputs, name=name), caffe.TRAIN)
    rng = np.random.default_rng(7)
    for layer in net.layers:
        for b in layer.blobs:
            b.data[...] = rng.normal(0, 0.5, size=b.data.shape)
    return net


def broadcast(p, ndim, axis):
    return np.reshape(p, (1,) * axis + p.shape + (1,) * (ndim - axis - p.ndim))


# ---- PReLU -------------------------------------------------------------------------------------

@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("shared,shape", [(False, (2, 3, 4, 4)), (True, (2, 3, 4)),
                                          (False, (3, 5))])
def test_prelu(tmp_path, shared, shape, in_place):
    top = "x" if in_place else "y"
    body = (f'layer {{ name: "p" type: "PReLU" bottom: "x" top: "{top}" '
            f'prelu_param {{ channel_shared: {str(shared).lower()} }} }}')
    net = make(tmp_path, body, {"x": shape})
    a = np.array(net.params["p"][0].data)
    assert a.shape == (() if shared else (shape[1],))
    x = away_from_zero(shape, 1)
    net.blobs["x"].data[...] = x
    y = net.forward()[top]
    slope = a if shared else broadcast(a, len(shape), 1)
    np.testing.assert_allclose(y, np.where(x > 0, x, slope * x), rtol=1e-6)
    GradientChecker().check(net, {"x": x}, tops=[top])


def test_prelu_default_filler_is_a_quarter_and_filler_is_read(tmp_path):
    net = caffe.Net(write_net(tmp_path, 'layer { name: "p" type: "PReLU" bottom: "x" top: "y" }',
                              {"x": (2, 3)}), caffe.TRAIN)
    np.testing.assert_array_equal(net.params["p"][0].data, np.full(3, 0.25, F32))
    net = caffe.Net(write_net(tmp_path, 'layer { name: "p" type: "PReLU" bottom: "x" top: "y" '
                              'prelu_param { filler { type: "constant" value: -0.5 } } }',
                              {"x": (2, 3)}, name="f.prototxt"), caffe.TRAIN)
    np.testing.assert_array_equal(net.params["p"][0].data, np.full(3, -0.5, F32))


def test_prelu_needs_2_axes(tmp_path):
    with pytest.raises(caffe.EngineError, match=">=2") as e:
        caffe.Net(write_net(tmp_path, 'layer { name: "p" type: "PReLU" bottom: "x" top: "y" }',
                            {"x": (6,)}), caffe.TRAIN)
    assert "layer 'p' (PReLU)" in str(e.value), str(e.value)


# ---- Bias --------------------------------------------------------------------------------------

BIAS_LEARNED = {  # name: (bias_param, input shape, bias shape, axis)
    "default": ("", (2, 3, 4), (3,), 1),
    "axis0_2axes": ("axis: 0 num_axes: 2", (2, 3, 4), (2, 3), 0),
    "to_the_end": ("axis: 1 num_axes: -1", (2, 3, 2), (3, 2), 1),
    "scalar": ("num_axes: 0", (2, 3), (), 0),
    "negative_axis": ("axis: -1", (2, 3, 4), (4,), 2),
}


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("case", sorted(BIAS_LEARNED))
def test_bias_learned(tmp_path, case, in_place):
    param, shape, bshape, axis = BIAS_LEARNED[case]
    top = "x" if in_place else "y"
    net = make(tmp_path, f'layer {{ name: "b" type: "Bias" bottom: "x" top: "{top}" '
                         f'bias_param {{ {param} }} }}', {"x": shape})
    b = np.array(net.params["b"][0].data)
    assert b.shape == bshape
    x = gaussian(shape, 2)
    net.blobs["x"].data[...] = x
    np.testing.assert_allclose(net.forward()[top], x + broadcast(b, len(shape), axis), rtol=1e-6)
    GradientChecker().check(net, {"x": x}, tops=[top])


def test_bias_filler_default_zero(tmp_path):
    net = caffe.Net(write_net(tmp_path, 'layer { name: "b" type: "Bias" bottom: "x" top: "y" }',
                              {"x": (2, 3)}), caffe.TRAIN)
    np.testing.assert_array_equal(net.params["b"][0].data, np.zeros(3, F32))


@pytest.mark.parametrize("param,bshape,axis", [("", (3, 4), 1), ("axis: 0", (2, 3), 0),
                                               ("axis: 2", (4,), 2)])
def test_bias_from_second_bottom(tmp_path, param, bshape, axis):
    shape = (2, 3, 4, 2)
    net = make(tmp_path, f'layer {{ name: "b" type: "Bias" bottom: "x" bottom: "b" top: "y" '
                         f'bias_param {{ {param} }} }}', {"x": shape, "b": bshape})
    assert "b" not in net.params  # no learned param with a bias bottom
    x, b = gaussian(shape, 3), gaussian(bshape, 4)
    net.blobs["x"].data[...] = x
    net.blobs["b"].data[...] = b
    np.testing.assert_allclose(net.forward()["y"], x + broadcast(b, 4, axis), rtol=1e-6)
    # The bias bottom's diff is written (not accumulated) each pass: the checker's repeat of
    # the analytic pass would see it doubled otherwise.
    GradientChecker().check(net, {"x": x, "b": b})


def test_bias_dimension_mismatch_names_the_layer(tmp_path):
    with pytest.raises(caffe.EngineError, match="dimension mismatch") as e:
        caffe.Net(write_net(tmp_path, 'layer { name: "b" type: "Bias" bottom: "x" bottom: "b" '
                            'top: "y" }', {"x": (2, 3, 4), "b": (4,)}), caffe.TRAIN)
    assert "layer 'b' (Bias)" in str(e.value), str(e.value)


# ---- Scale with the scale as a second bottom ----------------------------------------------------

SCALE_TWO = {  # name: (scale_param, input shape, scale shape, axis)
    "axis0": ("axis: 0", (2, 3, 4), (2, 3), 0),
    "default_axis": ("", (2, 3, 4), (3,), 1),
    "bias_term": ("bias_term: true", (2, 3, 2, 2), (3, 2), 1),
    "scalar_bias_term": ("bias_term: true", (2, 3), (), 0),
}


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("case", sorted(SCALE_TWO))
def test_scale_from_second_bottom(tmp_path, case, in_place):
    param, shape, sshape, axis = SCALE_TWO[case]
    top = "x" if in_place else "y"
    net = make(tmp_path, f'layer {{ name: "s" type: "Scale" bottom: "x" bottom: "s" '
                         f'top: "{top}" scale_param {{ {param} }} }}', {"x": shape, "s": sshape})
    params = net.params.get("s", [])
    # Only the bias is learned, shaped as the scale bottom.
    assert [tuple(p.data.shape) for p in params] == ([sshape] if "bias_term" in param else [])
    x, s = gaussian(shape, 5), gaussian(sshape, 6)
    net.blobs["x"].data[...] = x
    net.blobs["s"].data[...] = s
    ref = x * broadcast(s, len(shape), axis)
    if params:
        ref = ref + broadcast(np.array(params[0].data), len(shape), axis)
    np.testing.assert_allclose(net.forward()[top], ref, rtol=1e-6, atol=1e-7)
    GradientChecker().check(net, {"x": x, "s": s}, tops=[top])


def test_scale_bottom_shape_mismatch_names_the_layer(tmp_path):
    with pytest.raises(caffe.EngineError, match="dimension mismatch") as e:
        caffe.Net(write_net(tmp_path, 'layer { name: "s" type: "Scale" bottom: "x" bottom: "s" '
                            'top: "y" }', {"x": (2, 3, 4), "s": (4,)}), caffe.TRAIN)
    assert "layer 's' (Scale)" in str(e.value), str(e.value)
