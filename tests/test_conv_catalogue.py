"""The convolution family beyond Convolution: Deconvolution (the adjoint of Convolution), Im2col,
SPP, Pooling STOCHASTIC, and Convolution's N-d spellings. Each: a numpy reference of its
formula, the gradient checker, and bad parameters giving an error that names the layer."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from caffe_rng_reference import CaffeStream
from gradient_check import GradientChecker, write_net
from test_gradients import conv_naive, distinct, gaussian, make_net

F32 = np.float32


def layer(type_, param, bottom="x", top="y", name="l"):
    return f'layer {{ name: "{name}" type: "{type_}" bottom: "{bottom}" top: "{top}" {param} }}'


# --- Deconvolution -------------------------------------------------------------------------------

# name: (bottom shape, convolution_param, stride, pad, dilation, group)
DECONV_CASES = {
    "k3_s1": ((2, 3, 4, 4), "num_output: 4 kernel_size: 3", (1, 1), (0, 0), (1, 1), 1),
    "k4_s2_p1": ((2, 3, 4, 4), "num_output: 2 kernel_size: 4 stride: 2 pad: 1",
                 (2, 2), (1, 1), (1, 1), 1),
    "group2_s2_p1": ((2, 4, 3, 3), "num_output: 6 kernel_size: 3 stride: 2 pad: 1 group: 2",
                     (2, 2), (1, 1), (1, 1), 2),
    "dilation2_nonsquare": ((1, 2, 3, 4), "num_output: 3 kernel_h: 3 kernel_w: 2 stride_h: 2 "
                            "stride_w: 1 pad_h: 1 pad_w: 0 dilation: 2", (2, 1), (1, 0), (2, 2), 1),
}


def _deconv_net(tmp_path, case, bias=True):
    shape, param, *_ = DECONV_CASES[case]
    if not bias:
        param += " bias_term: false"
    return make_net(tmp_path, layer("Deconvolution", f"convolution_param {{ {param} }}"),
                    {"x": shape})


@pytest.mark.parametrize("case", sorted(DECONV_CASES))
def test_deconvolution_is_the_adjoint_of_convolution(tmp_path, case):
    """<conv(x), y> == <x, deconv(y)> with the same weights, no bias; and deconv's forward is
    the naive convolution's data gradient, its data gradient the naive convolution."""
    shape, param, stride, pad, dil, group = DECONV_CASES[case]
    net = _deconv_net(tmp_path, case, bias=False)
    W = np.array(net.params["l"][0].data)
    y = gaussian(shape, seed=1)
    net.blobs["x"].data[...] = y
    out = net.forward()["y"].copy()
    num_output = int(param.split()[1])
    assert W.shape[:2] == (shape[1], num_output // group)
    # Convolution of an x the size of deconv's top, with num_output = deconv's bottom channels.
    x = gaussian(out.shape, seed=2)
    conv_x, dx_naive, _, _ = conv_naive(x, W, None, stride, pad, dil, group, dy=y)
    assert conv_x.shape == y.shape
    np.testing.assert_allclose(out, dx_naive, rtol=1e-5, atol=1e-5)
    lhs = float(np.sum(conv_x * y.astype(np.float64)))
    rhs = float(np.sum(x.astype(np.float64) * out))
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs)), (lhs, rhs)
    # The data gradient: deconv's backward of a top diff x is conv(x).
    net.backward(y=x)
    np.testing.assert_allclose(net.blobs["x"].diff, conv_x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", sorted(DECONV_CASES))
def test_deconvolution_bias_and_gradients(tmp_path, case):
    shape, *_ = DECONV_CASES[case]
    net = _deconv_net(tmp_path, case)
    x = gaussian(shape, seed=5)
    net.blobs["x"].data[...] = x
    with_bias = net.forward()["y"].copy()
    b = np.array(net.params["l"][1].data)
    nobias = _deconv_net(tmp_path, case, bias=False)
    nobias.params["l"][0].data[...] = net.params["l"][0].data
    nobias.blobs["x"].data[...] = x
    np.testing.assert_allclose(with_bias, nobias.forward()["y"] + b[None, :, None, None],
                               rtol=1e-6, atol=1e-6)
    GradientChecker().check(net, {"x": x})


def test_deconvolution_two_bottoms_share_weights(tmp_path):
    body = ('layer { name: "l" type: "Deconvolution" bottom: "a" bottom: "b" top: "ya" top: "yb" '
            'convolution_param { num_output: 2 kernel_size: 3 stride: 2 } }')
    net = make_net(tmp_path, body, {"a": (1, 2, 3, 3), "b": (1, 2, 3, 3)})
    GradientChecker().check(net, {"a": gaussian((1, 2, 3, 3), seed=1),
                                  "b": gaussian((1, 2, 3, 3), seed=2)})


@pytest.mark.parametrize("type_,param,shape,match", [
    ("Deconvolution", "num_output: 3 kernel_size: 3 group: 2", (1, 4, 3, 3), "group"),
    ("Deconvolution", "kernel_size: 3", (1, 4, 3, 3), "num_output"),
    ("Deconvolution", "num_output: 2 kernel_size: 3 kernel_size: 3 kernel_size: 3", (1, 4, 3, 3),
     "2-d"),
    ("Convolution", "num_output: 2 kernel_h: 3 kernel_w: 3", (1, 2, 3, 3, 3), "2-d"),
    ("Convolution", "num_output: 2 kernel_size: 2 kernel_size: 2", (1, 2, 3, 3, 3), "once per"),
    ("Deconvolution", "num_output: 2 kernel_size: 1", (1, 2, 1, 1, 1, 1, 1, 1, 1), "spatial axes"),
    ("Convolution", "num_output: 2 kernel_size: 1", (2, 3), "spatial"),
    ("Im2col", "kernel_h: 2 kernel_w: 2", (1, 2, 3, 3, 3), "2-d"),
    ("Im2col", "kernel_size: 2", (1, 2), "spatial"),
    ("Im2col", "kernel_size: 0", (1, 2, 3, 3), "kernel"),
    ("Im2col", "kernel_size: 4", (1, 2, 3, 3), "larger"),
    ("Im2col", "kernel_size: 2 stride: 0", (1, 2, 3, 3), "stride"),
])
def test_bad_convolution_params_name_the_layer(tmp_path, type_, param, shape, match):
    body = layer(type_, f"convolution_param {{ {param} }}")
    with pytest.raises(caffe.EngineError, match=match) as e:
        caffe.Net(write_net(tmp_path, body, {"x": shape}), caffe.TRAIN)
    assert f"layer 'l' ({type_})" in str(e.value), str(e.value)


@pytest.mark.parametrize("type_", ["Convolution", "Deconvolution"])
def test_nd_spellings_of_2d_convolution(tmp_path, type_):
    """kernel_size/stride/pad given once per spatial axis, and force_nd_im2col, are the same
    2-d layer as the plain form."""
    shape = (2, 2, 5, 5)
    plain = make_net(tmp_path, layer(type_, "convolution_param { num_output: 3 kernel_size: 3 "
                                            "stride: 2 pad: 1 }"), {"x": shape})
    nd = make_net(tmp_path, layer(type_, "convolution_param { num_output: 3 kernel_size: 3 "
                                         "kernel_size: 3 stride: 2 stride: 2 pad: 1 pad: 1 "
                                         "force_nd_im2col: true }"), {"x": shape})
    x = gaussian(shape)
    outs = []
    for net in (plain, nd):
        for i, b in enumerate(net.params["l"]):
            b.data[...] = plain.params["l"][i].data
        net.blobs["x"].data[...] = x
        outs.append(net.forward()["y"].copy())
    np.testing.assert_array_equal(outs[0], outs[1])


# --- N-d Convolution and Deconvolution ----------------------------------------------------------

def _taps(x_shape, kernel, stride, pad, dil):
    """For each kernel tap, the slices of the padded image that it reads, and the output size."""
    out = [(s + 2 * p - (d * (k - 1) + 1)) // st + 1
           for s, k, st, p, d in zip(x_shape, kernel, stride, pad, dil)]
    taps = []
    for tap in np.ndindex(*kernel):
        taps.append(tuple(slice(t * d, t * d + st * (o - 1) + 1, st)
                          for t, d, st, o in zip(tap, dil, stride, out)))
    return taps, out


def conv_nd_ref(x, W, b, stride, pad, dil, group, dy=None):
    """N-d convolution by numpy: y, and with dy also (dx, dW, db). x: (N, C, *S)."""
    N, C = x.shape[:2]
    O, Cg = W.shape[:2]
    kernel = W.shape[2:]
    taps, out = _taps(x.shape[2:], kernel, stride, pad, dil)
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(p, p) for p in pad])
    cols = np.stack([xp[(slice(None), slice(None)) + t] for t in taps], axis=2)  # N C K *out
    cols = cols.reshape(N, group, Cg * len(taps), -1)
    Wm = W.astype(np.float64).reshape(group, O // group, Cg * len(taps))
    y = np.einsum("gok,ngkp->ngop", Wm, cols).reshape(N, O, *out)
    if b is not None:
        y += b.reshape((1, O) + (1,) * len(out))
    if dy is None:
        return y
    dyg = dy.astype(np.float64).reshape(N, group, O // group, -1)
    dW = np.einsum("ngop,ngkp->gok", dyg, cols).reshape(W.shape)
    dcols = np.einsum("gok,ngop->ngkp", Wm, dyg).reshape(N, C, len(taps), *out)
    dxp = np.zeros_like(xp)
    for i, t in enumerate(taps):
        dxp[(slice(None), slice(None)) + t] += dcols[:, :, i]
    dx = dxp[(slice(None), slice(None)) + tuple(slice(p, p + s) for p, s in zip(pad, x.shape[2:]))]
    return y, dx, dW, dy.astype(np.float64).sum(axis=tuple([0] + list(range(2, dy.ndim))))


# name: (bottom shape, num_output, the rest of convolution_param, stride, pad, dilation, group)
ND_CASES = {
    "conv3d_per_axis": ((2, 2, 4, 5, 3), 3, "kernel_size: 3 kernel_size: 2 kernel_size: 2 "
                        "stride: 1 stride: 2 stride: 1 pad: 1 pad: 0 pad: 1",
                        (1, 2, 1), (1, 0, 1), (1, 1, 1), 1),
    "conv3d_dilated_group": ((1, 4, 5, 4, 4), 2, "kernel_size: 2 dilation: 2 group: 2",
                             (1, 1, 1), (0, 0, 0), (2, 2, 2), 2),
    "conv1d": ((2, 3, 9), 6, "kernel_size: 3 stride: 2 pad: 1 group: 3", (2,), (1,), (1,), 3),
}


def _nd_body(type_, num_output, param):
    return layer(type_, f"convolution_param {{ num_output: {num_output} {param} }}")


@pytest.mark.parametrize("case", sorted(ND_CASES))
def test_nd_convolution_matches_numpy(tmp_path, case):
    shape, num_output, param, stride, pad, dil, group = ND_CASES[case]
    net = make_net(tmp_path, _nd_body("Convolution", num_output, param), {"x": shape})
    assert net.layers[-1].engine == "CAFFE"
    x = gaussian(shape, seed=3)
    net.blobs["x"].data[...] = x
    out = net.forward()["y"].copy()
    W, b = np.array(net.params["l"][0].data), np.array(net.params["l"][1].data)
    dy = gaussian(out.shape, seed=4)
    y, dx, dW, db = conv_nd_ref(x, W, b, stride, pad, dil, group, dy=dy)
    assert out.shape == y.shape
    np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-5)
    net.clear_param_diffs()
    net.backward(y=dy)
    np.testing.assert_allclose(net.blobs["x"].diff, dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net.params["l"][0].diff, dW, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net.params["l"][1].diff, db, rtol=1e-5, atol=1e-5)
    GradientChecker().check(net, {"x": x})


@pytest.mark.parametrize("case", sorted(ND_CASES))
def test_nd_deconvolution_is_the_adjoint(tmp_path, case):
    """Deconvolution over the same N-d geometry, its bottom shaped as the convolution's output:
    forward = the numpy convolution's data gradient, <conv(x), y> == <x, deconv(y)>, and its
    gradients by the checker."""
    shape, num_output, param, stride, pad, dil, group = ND_CASES[case]
    conv = make_net(tmp_path, _nd_body("Convolution", num_output, param), {"x": shape})
    y_shape = conv.blobs["y"].data.shape
    net = make_net(tmp_path, _nd_body("Deconvolution", shape[1], param + " bias_term: false"),
                   {"x": y_shape})
    W = np.array(net.params["l"][0].data)
    assert W.shape == conv.params["l"][0].data.shape
    yv = gaussian(y_shape, seed=1)
    net.blobs["x"].data[...] = yv
    out = net.forward()["y"].copy()
    x0 = gaussian(out.shape, seed=2)  # the deconvolution's top: a convolution input
    conv_x, dx, _, _ = conv_nd_ref(x0, W, None, stride, pad, dil, group, dy=yv)
    assert conv_x.shape == y_shape
    np.testing.assert_allclose(out, dx, rtol=1e-5, atol=1e-5)
    lhs, rhs = float(np.sum(conv_x * yv)), float(np.sum(x0 * out))
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs)), (lhs, rhs)
    GradientChecker().check(net, {"x": yv})


# --- Im2col --------------------------------------------------------------------------------------

def im2col_ref(x, k, s, p, d):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = k, s, p, d
    N, C, H, W = x.shape
    OH = (H + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    OW = (W + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    xp = np.zeros((N, C, H + 2 * ph + sh * OH + dh * kh, W + 2 * pw + sw * OW + dw * kw), x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    out = np.zeros((N, C, kh, kw, OH, OW), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * OH:sh, j * dw:j * dw + sw * OW:sw]
    return out.reshape(N, C * kh * kw, OH, OW)


IM2COL_CASES = {
    "k2_s2": ((1, 3, 6, 6), "kernel_size: 2 stride: 2", (2, 2), (2, 2), (0, 0), (1, 1)),
    "k3_p1": ((2, 2, 5, 5), "kernel_size: 3 pad: 1", (3, 3), (1, 1), (1, 1), (1, 1)),
    "nonsquare_dilated": ((2, 2, 7, 6), "kernel_h: 2 kernel_w: 3 stride_h: 2 stride_w: 1 "
                          "pad_h: 1 pad_w: 2 dilation: 2", (2, 3), (2, 1), (1, 2), (2, 2)),
}


@pytest.mark.parametrize("case", sorted(IM2COL_CASES))
def test_im2col_forward_and_gradient(tmp_path, case):
    shape, param, k, s, p, d = IM2COL_CASES[case]
    net = make_net(tmp_path, layer("Im2col", f"convolution_param {{ {param} }}"), {"x": shape})
    x = gaussian(shape)
    net.blobs["x"].data[...] = x
    np.testing.assert_array_equal(net.forward()["y"], im2col_ref(x, k, s, p, d))
    GradientChecker().check(net, {"x": x})


def test_nd_im2col_forward_and_gradient(tmp_path):
    shape, kernel, stride, pad, dil = (2, 2, 4, 3, 5), (2, 2, 3), (1, 2, 2), (1, 0, 1), (1, 1, 2)
    param = " ".join(f"{f}: {v}" for f, vals in (("kernel_size", kernel), ("stride", stride),
                                                 ("pad", pad), ("dilation", dil)) for v in vals)
    net = make_net(tmp_path, layer("Im2col", f"convolution_param {{ {param} }}"), {"x": shape})
    x = gaussian(shape)
    net.blobs["x"].data[...] = x
    taps, out = _taps(shape[2:], kernel, stride, pad, dil)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    ref = np.stack([xp[(slice(None), slice(None)) + t] for t in taps], axis=2)
    np.testing.assert_array_equal(net.forward()["y"], ref.reshape(2, -1, *out))
    GradientChecker().check(net, {"x": x})


# --- SPP -----------------------------------------------------------------------------------------

def pool_ref(x, method, kh, kw, sh, sw, ph, pw):
    """Caffe's pooling (ceil rule, AVE divisor over the padded window) by plain loops."""
    N, C, H, W = x.shape

    def pooled(size, k, pad, stride):
        out = int(np.ceil((size + 2 * pad - k) / stride)) + 1
        return out - 1 if pad > 0 and (out - 1) * stride >= size + pad else out

    PH, PW = pooled(H, kh, ph, sh), pooled(W, kw, pw, sw)
    y = np.zeros((N, C, PH, PW), np.float64)
    for i in range(PH):
        for j in range(PW):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, H + ph), min(w0 + kw, W + pw)
            size = (h1 - h0) * (w1 - w0)
            win = x[:, :, max(h0, 0):min(h1, H), max(w0, 0):min(w1, W)].astype(np.float64)
            y[:, :, i, j] = win.max(axis=(2, 3)) if method == "MAX" else win.sum(axis=(2, 3)) / size
    return y


def spp_ref(x, height, method):
    N, C, H, W = x.shape
    levels = []
    for lvl in range(height):
        bins = 2 ** lvl
        kh, kw = -(-H // bins), -(-W // bins)
        levels.append(pool_ref(x, method, kh, kw, kh, kw, (kh * bins - H + 1) // 2,
                               (kw * bins - W + 1) // 2))
    if height == 1:
        return levels[0]
    return np.concatenate([lv.reshape(N, -1) for lv in levels], axis=1)


@pytest.mark.parametrize("shape,height,method", [
    ((2, 2, 8, 9), 3, "AVE"), ((2, 3, 6, 6), 2, "MAX"), ((1, 2, 5, 7), 1, "MAX"),
    ((2, 2, 9, 11), 3, "MAX"),
])
def test_spp_forward_and_gradient(tmp_path, shape, height, method):
    body = layer("SPP", f"spp_param {{ pyramid_height: {height} pool: {method} }}")
    net = make_net(tmp_path, body, {"x": shape})
    x = distinct(shape, seed=1)  # no ties within a step in the MAX windows
    net.blobs["x"].data[...] = x
    out = net.forward()["y"]
    ref = spp_ref(x, height, method)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    GradientChecker().check(net, {"x": x})


def test_spp_follows_a_new_input_size(tmp_path):
    net = make_net(tmp_path, layer("SPP", "spp_param { pyramid_height: 2 pool: AVE }"),
                   {"x": (1, 2, 6, 6)})
    net.blobs["x"].reshape(1, 2, 7, 5)
    x = gaussian((1, 2, 7, 5))
    net.blobs["x"].data[...] = x
    np.testing.assert_allclose(net.forward()["y"], spp_ref(x, 2, "AVE"), rtol=1e-6, atol=1e-6)


def test_spp_needs_pyramid_height(tmp_path):
    with pytest.raises(caffe.EngineError, match="pyramid_height") as e:
        caffe.Net(write_net(tmp_path, layer("SPP", "spp_param { pool: AVE }"), {"x": (1, 1, 4, 4)}),
                  caffe.TRAIN)
    assert "layer 'l' (SPP)" in str(e.value), str(e.value)


# --- Pooling STOCHASTIC --------------------------------------------------------------------------

def stochastic_ref(x, k, s, u=None):
    """Caffe's pooling_layer.cu StoPoolForwardTrain / Test in float32, with its uniforms u.
    Returns the top and (TRAIN) the chosen flat index within each plane."""
    N, C, H, W = x.shape
    PH = int(np.ceil((H - k) / s)) + 1
    PW = int(np.ceil((W - k) / s)) + 1
    y = np.zeros((N, C, PH, PW), F32)
    idx = np.zeros((N, C, PH, PW), np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(PH):
                for j in range(PW):
                    cells = [(h, w) for h in range(i * s, min(i * s + k, H))
                             for w in range(j * s, min(j * s + k, W))]
                    total, squares = F32(0), F32(0)
                    for h, w in cells:
                        total = F32(total + x[n, c, h, w])
                        squares = F32(squares + F32(x[n, c, h, w] * x[n, c, h, w]))
                    if u is None:
                        y[n, c, i, j] = squares / total if total > 0 else 0
                        continue
                    thres, run = F32(u[n, c, i, j] * total), F32(0)
                    for h, w in cells:
                        run = F32(run + x[n, c, h, w])
                        if run >= thres:
                            y[n, c, i, j], idx[n, c, i, j] = x[n, c, h, w], h * W + w
                            break
    return y, idx


def _stochastic_net(tmp_path, phase, shape=(2, 3, 7, 6), param="kernel_size: 3 stride: 2"):
    body = layer("Pooling", f"pooling_param {{ pool: STOCHASTIC {param} }}")
    return caffe.Net(write_net(tmp_path, body, {"x": shape}), phase)


def test_stochastic_pooling_test_phase_is_the_weighted_average(tmp_path):
    net = _stochastic_net(tmp_path, caffe.TEST)
    x = np.abs(gaussian((2, 3, 7, 6), seed=2))
    x[0, 0, :3, :3] = 0  # a window summing to 0 gives 0
    net.blobs["x"].data[...] = x
    ref, _ = stochastic_ref(x, 3, 2)
    np.testing.assert_allclose(net.forward()["y"], ref, rtol=1e-6, atol=1e-7)
    assert net.blobs["y"].data[0, 0, 0, 0] == 0
    with pytest.raises(caffe.EngineError, match="TEST") as e:
        net.backward(y=np.ones_like(ref))
    assert "layer 'l' (Pooling)" in str(e.value)


def test_stochastic_pooling_train_samples_with_caffes_stream(tmp_path):
    shape = (2, 3, 7, 6)
    net = _stochastic_net(tmp_path, caffe.TRAIN, shape)
    x = np.abs(gaussian(shape, seed=3)) + 0.05
    net.blobs["x"].data[...] = x
    caffe.set_random_seed(77)
    out = net.forward()["y"].copy()
    u = CaffeStream(77).uniform(out.size, 0.0, 1.0).reshape(out.shape)
    ref, idx = stochastic_ref(x, 3, 2, u)
    np.testing.assert_array_equal(out, ref)
    # The gradient goes to the sampled element of each window (summed where windows share it).
    dy = gaussian(out.shape, seed=4)
    net.backward(y=dy)
    dx = np.zeros(shape, np.float64)
    for n, c, i, j in np.ndindex(*out.shape):
        dx[n, c].flat[idx[n, c, i, j]] += dy[n, c, i, j]
    np.testing.assert_allclose(net.blobs["x"].diff, dx, rtol=1e-6, atol=1e-6)
    # Another seed samples other elements somewhere.
    caffe.set_random_seed(78)
    assert not np.array_equal(net.forward()["y"], out)


def test_stochastic_pooling_refuses_padding(tmp_path):
    with pytest.raises(caffe.EngineError, match="padding") as e:
        _stochastic_net(tmp_path, caffe.TRAIN, param="kernel_size: 3 stride: 2 pad: 1")
    assert "layer 'l' (Pooling)" in str(e.value)


def test_max_pooling_mask_top_after_argmax_buffer(tmp_path):
    """MAX's argmax (one SyncedMemory buffer) as its second top, and its backward."""
    body = ('layer { name: "l" type: "Pooling" bottom: "x" top: "y" top: "m" '
            'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }')
    net = caffe.Net(write_net(tmp_path, body, {"x": (1, 2, 4, 4)}), caffe.TRAIN)
    x = distinct((1, 2, 4, 4), seed=5)
    net.blobs["x"].data[...] = x
    out = net.forward()
    windows = x.reshape(1, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(1, 2, 2, 2, 4)
    pos = windows.argmax(axis=-1)
    rows = np.arange(2)[:, None] * 2 + pos // 2
    cols = np.arange(2)[None, :] * 2 + pos % 2
    np.testing.assert_array_equal(out["m"], rows * 4 + cols)
    np.testing.assert_array_equal(out["y"], windows.max(axis=-1))
