"""LRN (ACROSS_CHANNELS, WITHIN_CHANNEL) and MVN: each against a numpy reference of Caffe's
formula written here, the gradient checker, and bad parameters or shapes raising an error that
names the layer."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from gradient_check import GradientChecker, write_net

F32 = np.float32


def gaussian(shape, seed=0, std=1.0):
    return np.random.default_rng(seed).normal(0, std, size=shape).astype(F32)


def body(layer_type, param="", top="y"):
    return f'layer {{ name: "n" type: "{layer_type}" bottom: "x" top: "{top}" {param} }}'


def run(tmp_path, layer_type, param, x, top="y"):
    net = caffe.Net(write_net(tmp_path, body(layer_type, param, top), {"x": x.shape}), caffe.TRAIN)
    net.blobs["x"].data[...] = x
    return net, np.array(net.forward()[top])


# ---- LRN ---------------------------------------------------------------------------------------

def lrn_ref(x, local_size=5, alpha=1.0, beta=0.75, k=1.0, within=False):
    """Caffe's formulas: across, y = x (k + alpha/n sum_{n channels} x^2)^-beta; within,
    y = x (1 + alpha/n^2 sum_{n x n pixels} x^2)^-beta; windows centred, zero padded."""
    x = x.astype(np.float64)
    half = (local_size - 1) // 2
    sq = x ** 2
    N, C, H, W = x.shape
    s = np.zeros_like(x)
    if within:
        p = np.pad(sq, ((0, 0), (0, 0), (half, half), (half, half)))
        for dh in range(local_size):
            for dw in range(local_size):
                s += p[:, :, dh:dh + H, dw:dw + W]
        scale = 1.0 + alpha / local_size ** 2 * s
    else:
        p = np.pad(sq, ((0, 0), (half, half), (0, 0), (0, 0)))
        for dc in range(local_size):
            s += p[:, dc:dc + C]
        scale = k + alpha / local_size * s
    return x * scale ** -beta


LRN_CASES = {  # name: (lrn_param, reference kwargs, shape)
    "across_default": ("", {}, (2, 7, 3, 3)),
    "across_n3_k2": ("lrn_param { local_size: 3 alpha: 0.5 beta: 0.6 k: 2 }",
                     dict(local_size=3, alpha=0.5, beta=0.6, k=2.0), (2, 4, 2, 3)),
    "across_wider_than_channels": ("lrn_param { local_size: 7 alpha: 2 }",
                                   dict(local_size=7, alpha=2.0), (1, 3, 2, 2)),
    "within_n3": ("lrn_param { norm_region: WITHIN_CHANNEL local_size: 3 alpha: 0.5 }",
                  dict(local_size=3, alpha=0.5, within=True), (2, 2, 5, 5)),
    "within_n5_k_ignored": ("lrn_param { norm_region: WITHIN_CHANNEL local_size: 5 beta: 0.9 "
                            "k: 7 }", dict(local_size=5, beta=0.9, within=True), (1, 2, 4, 6)),
}


@pytest.mark.parametrize("case", sorted(LRN_CASES))
def test_lrn_forward_matches_numpy(tmp_path, case):
    param, kw, shape = LRN_CASES[case]
    x = gaussian(shape, 1, std=1.5)
    _, y = run(tmp_path, "LRN", param, x)
    np.testing.assert_allclose(y, lrn_ref(x, **kw), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", sorted(LRN_CASES))
def test_lrn_gradient(tmp_path, case):
    param, _, shape = LRN_CASES[case]
    x = gaussian(shape, 2)
    net, _ = run(tmp_path, "LRN", param, x)
    GradientChecker().check(net, {"x": x})


@pytest.mark.parametrize("param,match", [
    ("lrn_param { local_size: 4 }", "odd"),
    ("lrn_param { local_size: 0 }", "odd"),
])
def test_lrn_bad_parameters_name_the_layer(tmp_path, param, match):
    with pytest.raises(caffe.EngineError, match=match) as e:
        caffe.Net(write_net(tmp_path, body("LRN", param), {"x": (1, 3, 2, 2)}), caffe.TRAIN)
    assert "layer 'n' (LRN)" in str(e.value), str(e.value)


def test_lrn_needs_4_axes(tmp_path):
    with pytest.raises(caffe.EngineError, match="4 axes") as e:
        caffe.Net(write_net(tmp_path, body("LRN"), {"x": (2, 3, 4)}), caffe.TRAIN)
    assert "layer 'n' (LRN)" in str(e.value), str(e.value)


# ---- MVN ---------------------------------------------------------------------------------------

def mvn_ref(x, normalize_variance=True, across_channels=False, eps=1e-9):
    x4 = x.astype(np.float64).reshape(x.shape + (1,) * (4 - x.ndim))
    rows = x4.reshape(x4.shape[0], -1) if across_channels else \
        x4.reshape(x4.shape[0] * x4.shape[1], -1)
    y = rows - rows.mean(1, keepdims=True)
    if normalize_variance:
        y = y / (np.sqrt((y ** 2).mean(1, keepdims=True)) + eps)
    return y.reshape(x4.shape)


MVN_CASES = {  # name: (mvn_param, reference kwargs, shape)
    "default": ("", {}, (2, 3, 4, 5)),
    "across": ("mvn_param { across_channels: true }", dict(across_channels=True), (2, 3, 3, 2)),
    "nonorm": ("mvn_param { normalize_variance: false }", dict(normalize_variance=False),
               (2, 3, 2, 2)),
    "across_nonorm": ("mvn_param { across_channels: true normalize_variance: false }",
                      dict(across_channels=True, normalize_variance=False), (2, 3, 3, 3)),
    "eps": ("mvn_param { eps: 0.5 }", dict(eps=0.5), (2, 2, 3, 3)),
    "two_axes": ("", {}, (3, 6)),  # rows of one value each: all zero, as in Caffe
    "two_axes_across": ("mvn_param { across_channels: true }", dict(across_channels=True), (3, 6)),
}


@pytest.mark.parametrize("case", sorted(MVN_CASES))
def test_mvn_forward_matches_numpy(tmp_path, case):
    param, kw, shape = MVN_CASES[case]
    x = gaussian(shape, 3, std=2.0) + F32(0.7)
    _, y = run(tmp_path, "MVN", param, x)
    ref = mvn_ref(x, **kw)
    assert y.shape == ref.shape  # Caffe reshapes the top to (num, channels, height, width)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("case", ["default", "across", "nonorm", "across_nonorm"])
def test_mvn_gradient(tmp_path, case, in_place):
    param, _, shape = MVN_CASES[case]
    x = gaussian(shape, 4)
    top = "x" if in_place else "y"
    net, _ = run(tmp_path, "MVN", param, x, top=top)
    GradientChecker(threshold=2e-3).check(net, {"x": x}, tops=[top])


def test_mvn_backward_is_caffes_formula_which_leaves_eps_out(tmp_path):
    """Caffe's backward pass divides (dy - mean(dy) - y mean(dy y)) by sqrt(var) + eps: the true
    gradient only for eps = 0 (with eps 1e-9, as good as). A large eps shows it is Caffe's."""
    x = gaussian((2, 2, 3, 3), 5)
    net, y = run(tmp_path, "MVN", "mvn_param { eps: 0.5 }", x)
    dy = gaussian(y.shape, 6)
    net.backward(y=dy)
    rows = lambda a: a.astype(np.float64).reshape(4, -1)  # noqa: E731
    xr, yr, dyr = rows(x), rows(y), rows(dy)
    sd = np.sqrt(((xr - xr.mean(1, keepdims=True)) ** 2).mean(1, keepdims=True)) + 0.5
    ref = (dyr - dyr.mean(1, keepdims=True) - yr * (dyr * yr).mean(1, keepdims=True)) / sd
    np.testing.assert_allclose(net.blobs["x"].diff.reshape(4, -1), ref, rtol=1e-5, atol=1e-6)


def test_mvn_more_than_4_axes_names_the_layer(tmp_path):
    with pytest.raises(caffe.EngineError, match="at most 4 axes") as e:
        caffe.Net(write_net(tmp_path, body("MVN"), {"x": (2, 2, 2, 2, 2)}), caffe.TRAIN)
    assert "layer 'n' (MVN)" in str(e.value), str(e.value)
