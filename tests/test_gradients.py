"""Gradient checks for every layer type with a backward pass (Caffe's GradientChecker style),
and convolution against a naive loop implementation."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from caffe_rng_reference import CaffeStream
from gradient_check import GradientChecker, write_net

F32 = np.float32


def make_net(tmp_path, body, inputs, phase=caffe.TRAIN, param_scale=0.5, seed=0):
    """A net from body with Input layers of the given shapes, params set to N(0, scale)."""
    net = caffe.Net(write_net(tmp_path, body, inputs), phase)
    rng = np.random.default_rng(seed + 1000)
    for layer in net.layers:
        if layer.type == "BatchNorm":
            continue
        for b in layer.blobs:
            b.data[...] = rng.normal(0, param_scale, size=b.data.shape)
    return net


def gaussian(shape, seed=0, std=1.0):
    return np.random.default_rng(seed).normal(0, std, size=shape).astype(F32)


def distinct(shape, seed=0, gap=0.05):
    """Values all different, at least gap apart (MAX pooling/eltwise: no ties under a step)."""
    n = int(np.prod(shape))
    perm = np.random.default_rng(seed).permutation(n)
    return ((perm - n / 2) * gap).astype(F32).reshape(shape)


# --- Convolution -------------------------------------------------------------------------------

CONV_CASES = {
    "pad1_stride2_nonsquare_input": ((2, 3, 6, 5), "num_output: 4 kernel_size: 3 pad: 1 stride: 2"),
    "dilation2": ((1, 2, 7, 7), "num_output: 3 kernel_size: 3 pad: 2 dilation: 2"),
    "group2": ((2, 4, 5, 5), "num_output: 6 kernel_size: 3 group: 2"),
    "no_bias": ((2, 3, 5, 4), "num_output: 2 kernel_size: 2 bias_term: false"),
    "nonsquare_kernel": ((2, 2, 6, 5),
                         "num_output: 3 kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 "
                         "pad_h: 1 pad_w: 0"),
    # the same geometry as nonsquare_kernel, spelled with repeated fields
    "nonsquare_kernel_repeated": ((2, 2, 6, 5),
                                  "num_output: 3 kernel_size: 3 kernel_size: 2 stride: 2 "
                                  "stride: 1 pad: 1 pad: 0"),
    "per_axis_repeated_fields": ((1, 2, 7, 6),
                                 "num_output: 2 kernel_size: 3 kernel_size: 2 stride: 1 "
                                 "stride: 2 pad: 0 pad: 1 dilation: 2 dilation: 1"),
    "many_outputs": ((3, 5, 9, 7), "num_output: 70 kernel_size: 3 pad: 1"),
    # Geometries the IMPLICIT engine takes (output pixels in whole vectors), at its kernels'
    # edges: output channels over a register tile (12) and over a
    # weight-gradient block (64), a half tile of pixels (48 = 32 + 16), a long reduction, odd
    # group widths, dilation, a non-square kernel; the data gradient both as the flipped
    # convolution ("same" padding) and by col2im (less padding, input pixels not in vectors).
    "implicit_1x1": ((2, 3, 4, 4), "num_output: 5 kernel_size: 1"),
    "implicit_many_outputs": ((2, 5, 4, 8), "num_output: 70 kernel_size: 3 pad: 1"),
    "implicit_no_pad": ((2, 2, 10, 8), "num_output: 4 kernel_size: 3"),
    "implicit_valid_odd_input": ((2, 3, 9, 9), "num_output: 4 kernel_size: 2"),
    "implicit_lenet_conv2": ((2, 4, 12, 12), "num_output: 6 kernel_size: 5"),
    "implicit_group3_valid": ((2, 6, 6, 6), "num_output: 39 kernel_size: 3 group: 3"),
    "implicit_long_reduction": ((2, 8, 4, 8), "num_output: 24 kernel_size: 5 pad: 2"),
    "implicit_group3": ((2, 6, 4, 4), "num_output: 39 kernel_size: 3 pad: 1 group: 3"),
    "implicit_dilation": ((1, 2, 8, 8), "num_output: 3 kernel_size: 3 pad: 2 dilation: 2"),
    "implicit_nonsquare": ((2, 2, 8, 8), "num_output: 3 kernel_h: 3 kernel_w: 1 pad_h: 1 "
                                         "pad_w: 0"),
    # strided: the input split into row phases (ResNet-20's 3x3 and 1x1 stride-2 layers),
    # odd sizes whose last phase is short, unequal strides, stride with dilation
    "implicit_stride2_resnet": ((2, 3, 8, 8), "num_output: 5 kernel_size: 3 pad: 1 stride: 2"),
    "implicit_stride2_1x1": ((2, 4, 8, 8), "num_output: 7 kernel_size: 1 stride: 2"),
    "implicit_stride2_odd_input": ((2, 2, 9, 9), "num_output: 3 kernel_size: 3 stride: 2"),
    "implicit_stride_3x2": ((2, 2, 11, 16), "num_output: 4 kernel_size: 3 pad: 1 stride_h: 3 "
                                           "stride_w: 2"),
    "implicit_stride2_dilation": ((1, 2, 7, 7), "num_output: 3 kernel_size: 3 pad: 2 "
                                                 "stride: 2 dilation: 2"),
}


def conv_body(param):
    return (f'layer {{ name: "conv" type: "Convolution" bottom: "x" top: "y" '
            f"convolution_param {{ {param} }} }}")


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_convolution_gradient(tmp_path, case):
    shape, param = CONV_CASES[case]
    net = make_net(tmp_path, conv_body(param), {"x": shape})
    GradientChecker().check(net, {"x": gaussian(shape)})


def test_convolution_two_bottoms_share_weights(tmp_path):
    """Caffe's Convolution takes several bottom/top pairs with one set of weights."""
    body = ('layer { name: "conv" type: "Convolution" bottom: "a" bottom: "b" top: "ya" '
            'top: "yb" convolution_param { num_output: 2 kernel_size: 3 stride: 2 pad: 1 } }')
    net = make_net(tmp_path, body, {"a": (1, 2, 5, 5), "b": (1, 2, 5, 5)})
    a, b = gaussian((1, 2, 5, 5), seed=1), gaussian((1, 2, 5, 5), seed=2)
    net.blobs["a"].data[...] = a
    net.blobs["b"].data[...] = b
    out = net.forward()
    W, bias = np.array(net.params["conv"][0].data), np.array(net.params["conv"][1].data)
    for name, x in (("ya", a), ("yb", b)):
        ref = conv_naive(x, W, bias, (2, 2), (1, 1), (1, 1), 1)
        np.testing.assert_allclose(out[name], ref, rtol=1e-5, atol=1e-5)
    GradientChecker().check(net, {"a": a, "b": b})


def _pair(param, name, default):
    """Parse (h, w) of a convolution field from a param string (the test's own cases)."""
    tokens = param.split()
    vals = {}
    for k, v in zip(tokens[::2], tokens[1::2]):
        if v.lstrip("-").isdigit():
            vals.setdefault(k.rstrip(":"), []).append(int(v))
    if name + "_h" in vals:
        return vals[name + "_h"][0], vals[name + "_w"][0]
    v = vals.get(name, [default])
    return v[0], v[-1]


def conv_naive(x, W, b, stride, pad, dil, group, dy=None):
    """Caffe's convolution by plain loops: y, and with dy also (dx, dW, db)."""
    N, C, H, Wd = x.shape
    O, Cg, KH, KW = W.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    OH = (H + 2 * ph - (dh * (KH - 1) + 1)) // sh + 1
    OW = (Wd + 2 * pw - (dw * (KW - 1) + 1)) // sw + 1
    og = O // group
    x64, W64 = x.astype(np.float64), W.astype(np.float64)
    y = np.zeros((N, O, OH, OW))
    dx, dW = np.zeros_like(x64), np.zeros_like(W64)
    for n in range(N):
        for o in range(O):
            g = o // og
            for i in range(OH):
                for j in range(OW):
                    acc = 0.0 if b is None else float(b[o])
                    d = 0.0 if dy is None else float(dy[n, o, i, j])
                    for c in range(Cg):
                        for ki in range(KH):
                            h = i * sh - ph + ki * dh
                            if not 0 <= h < H:
                                continue
                            for kj in range(KW):
                                w = j * sw - pw + kj * dw
                                if not 0 <= w < Wd:
                                    continue
                                acc += W64[o, c, ki, kj] * x64[n, g * Cg + c, h, w]
                                if dy is not None:
                                    dW[o, c, ki, kj] += d * x64[n, g * Cg + c, h, w]
                                    dx[n, g * Cg + c, h, w] += d * W64[o, c, ki, kj]
                    y[n, o, i, j] = acc
    if dy is None:
        return y
    db = dy.astype(np.float64).sum(axis=(0, 2, 3))
    return y, dx, dW, db


@pytest.mark.parametrize("engine", ["DEFAULT", "CAFFE"])
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_convolution_matches_naive_loops(tmp_path, case, engine):
    """Both engines: DEFAULT (the panel kernels) and CAFFE (im2col + BLAS)."""
    shape, param = CONV_CASES[case]
    param += f" engine: {engine}"
    net = make_net(tmp_path, conv_body(param), {"x": shape})
    implicit = engine == "DEFAULT" and case.startswith("implicit_")
    conv = next(layer for layer in net.layers if layer.name == "conv")
    assert conv.engine == ("IMPLICIT" if implicit else "CAFFE")
    x = gaussian(shape, seed=3)
    net.blobs["x"].data[...] = x
    out = net.forward()["y"].copy()
    W = np.array(net.params["conv"][0].data)
    b = np.array(net.params["conv"][1].data) if len(net.params["conv"]) > 1 else None
    group = _pair(param, "group", 1)[0]
    geom = dict(stride=_pair(param, "stride", 1), pad=_pair(param, "pad", 0),
                dil=_pair(param, "dilation", 1), group=group)
    dy = gaussian(out.shape, seed=4)
    y, dx, dW, db = conv_naive(x, W, b, dy=dy, **geom)
    assert out.shape == y.shape
    np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-5)
    for blob in net.params["conv"]:
        blob.diff[...] = 0
    net.backward(y=dy)
    np.testing.assert_allclose(net.blobs["x"].diff, dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net.params["conv"][0].diff, dW, rtol=1e-5, atol=1e-5)
    if b is not None:
        np.testing.assert_allclose(net.params["conv"][1].diff, db, rtol=1e-5, atol=1e-5)


def test_convolution_param_diffs_accumulate(tmp_path):
    shape, param = CONV_CASES["pad1_stride2_nonsquare_input"]
    net = make_net(tmp_path, conv_body(param), {"x": shape})
    net.blobs["x"].data[...] = gaussian(shape)
    dy = gaussian(net.forward()["y"].shape, seed=1)
    net.clear_param_diffs()
    net.backward(y=dy)
    once = [np.array(b.diff) for b in net.params["conv"]]
    net.forward()
    net.backward(y=dy)
    for b, d in zip(net.params["conv"], once):
        np.testing.assert_allclose(b.diff, 2 * d, rtol=1e-6, atol=1e-6)


# --- InnerProduct ------------------------------------------------------------------------------

IP_CASES = {
    "default": ((2, 3, 2, 2), "num_output: 4", (2, 4)),
    "axis2": ((2, 3, 2, 2), "num_output: 3 axis: 2", (2, 3, 3)),
    "transpose": ((3, 5), "num_output: 4 transpose: true", (3, 4)),
    "no_bias": ((3, 2, 3), "num_output: 2 bias_term: false", (3, 2)),
}


@pytest.mark.parametrize("case", sorted(IP_CASES))
def test_inner_product_gradient(tmp_path, case):
    shape, param, out_shape = IP_CASES[case]
    body = (f'layer {{ name: "ip" type: "InnerProduct" bottom: "x" top: "y" '
            f"inner_product_param {{ {param} }} }}")
    net = make_net(tmp_path, body, {"x": shape})
    x = gaussian(shape)
    net.blobs["x"].data[...] = x
    y = net.forward()["y"]
    assert y.shape == out_shape
    # The forward against numpy.
    axis = 2 if "axis: 2" in param else 1
    M = int(np.prod(shape[:axis]))
    W = np.array(net.params["ip"][0].data, np.float64)
    W = W.T if "transpose" in param else W
    ref = x.reshape(M, -1).astype(np.float64) @ W.T
    if "bias_term: false" not in param:
        ref = ref + net.params["ip"][1].data
    else:
        assert len(net.params["ip"]) == 1
    np.testing.assert_allclose(y.reshape(M, -1), ref, rtol=1e-5, atol=1e-5)
    GradientChecker().check(net, {"x": x})


# --- Pooling -----------------------------------------------------------------------------------

def _pooled(size, k, pad, stride):
    out = int(np.ceil((size + 2 * pad - k) / stride)) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1
    return out


POOL_CASES = {
    "7x7_k3_s2": ((2, 2, 7, 7), "kernel_size: 3 stride: 2", (3, 3)),
    "8x8_k3_s2_p1": ((1, 2, 8, 8), "kernel_size: 3 stride: 2 pad: 1", (5, 5)),
    "6x5_k2_s2": ((2, 1, 6, 5), "kernel_size: 2 stride: 2", (3, 3)),
    # ceil gives 4, but the last window would start in the right padding: Caffe clips to 3
    "5x5_k2_s2_p1": ((1, 2, 5, 5), "kernel_size: 2 stride: 2 pad: 1", (3, 3)),
    "5x7_kh3_kw2": ((1, 2, 5, 7), "kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 3 pad_h: 1",
                    (3, 3)),
}


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pooling_gradient(tmp_path, method, case):
    shape, param, pooled = POOL_CASES[case]
    body = (f'layer {{ name: "pool" type: "Pooling" bottom: "x" top: "y" '
            f"pooling_param {{ pool: {method} {param} }} }}")
    net = make_net(tmp_path, body, {"x": shape})
    x = distinct(shape) if method == "MAX" else gaussian(shape)
    net.blobs["x"].data[...] = x
    assert net.forward()["y"].shape == shape[:2] + pooled
    GradientChecker(threshold=1e-3 if method == "MAX" else 1e-2).check(net, {"x": x})


def test_pooling_ceil_rule_shapes():
    # The reference formula used above is Caffe's (ceil, clipped so the last window starts
    # inside the image or the left padding).
    assert _pooled(7, 3, 0, 2) == 3
    assert _pooled(8, 3, 1, 2) == 5
    assert _pooled(6, 2, 0, 2) == 3
    assert _pooled(5, 2, 0, 2) == 3  # floor would give 2
    assert _pooled(5, 2, 1, 2) == 3  # the clip for a window starting in the padding


def test_pooling_ave_padded_divisor(tmp_path):
    """AVE divides by the window size clipped to the padded image, as Caffe."""
    shape = (1, 1, 8, 8)
    body = ('layer { name: "pool" type: "Pooling" bottom: "x" top: "y" '
            "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }")
    net = make_net(tmp_path, body, {"x": shape})
    x = gaussian(shape)
    net.blobs["x"].data[...] = x
    y = net.forward()["y"]
    ref = np.zeros((5, 5))
    for i in range(5):
        for j in range(5):
            hs, ws = i * 2 - 1, j * 2 - 1
            he, we = min(hs + 3, 8 + 1), min(ws + 3, 8 + 1)
            size = (he - hs) * (we - ws)
            ref[i, j] = x[0, 0, max(hs, 0):min(he, 8), max(ws, 0):min(we, 8)].sum() / size
    np.testing.assert_allclose(y[0, 0], ref, rtol=1e-5, atol=1e-6)


def test_pooling_global_ave_gradient(tmp_path):
    shape = (2, 3, 5, 3)
    body = ('layer { name: "pool" type: "Pooling" bottom: "x" top: "y" '
            "pooling_param { pool: AVE global_pooling: true } }")
    net = make_net(tmp_path, body, {"x": shape})
    x = gaussian(shape)
    net.blobs["x"].data[...] = x
    y = net.forward()["y"]
    assert y.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(y[..., 0, 0], x.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    GradientChecker(threshold=1e-2).check(net, {"x": x})


def test_pooling_max_routes_gradient_to_first_maximum(tmp_path):
    shape = (1, 1, 2, 2)
    body = ('layer { name: "pool" type: "Pooling" bottom: "x" top: "y" '
            "pooling_param { pool: MAX kernel_size: 2 } }")
    net = make_net(tmp_path, body, {"x": shape})
    net.blobs["x"].data[...] = np.array([[[[1.0, 3.0], [3.0, 3.0]]]], F32)
    net.forward()
    net.backward(y=np.full((1, 1, 1, 1), 5.0, F32))
    np.testing.assert_array_equal(net.blobs["x"].diff[0, 0], [[0, 5], [0, 0]])


# --- ReLU --------------------------------------------------------------------------------------

@pytest.mark.parametrize("slope", [0.0, 0.1])
@pytest.mark.parametrize("in_place", [False, True])
def test_relu_gradient(tmp_path, slope, in_place):
    shape = (2, 3, 3, 2)
    top = "x" if in_place else "y"
    body = (f'layer {{ name: "relu" type: "ReLU" bottom: "x" top: "{top}" '
            f"relu_param {{ negative_slope: {slope} }} }}")
    net = make_net(tmp_path, body, {"x": shape})
    x = gaussian(shape)
    x[np.abs(x) < 0.05] += 0.2  # keep away from the kink, as Caffe's test shifts its inputs
    net.blobs["x"].data[...] = x
    y = net.forward()[top]
    np.testing.assert_allclose(y, np.where(x > 0, x, slope * x), rtol=1e-6, atol=0)
    GradientChecker(kink=0.0, kink_range=0.01).check(net, {"x": x}, tops=[top])


# --- Softmax / SoftmaxWithLoss -----------------------------------------------------------------

@pytest.mark.parametrize("shape,axis,in_place", [((2, 5), 1, False), ((2, 4, 2, 3), 1, False),
                                               ((2, 3, 4), 2, False), ((3, 4, 2), 1, True)])
def test_softmax_gradient(tmp_path, shape, axis, in_place):
    top = "x" if in_place else "y"
    body = (f'layer {{ name: "sm" type: "Softmax" bottom: "x" top: "{top}" '
            f"softmax_param {{ axis: {axis} }} }}")
    net = make_net(tmp_path, body, {"x": shape})
    x = gaussian(shape)
    net.blobs["x"].data[...] = x
    y = net.forward()[top]
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=axis, keepdims=True), rtol=1e-5, atol=1e-7)
    GradientChecker(threshold=1e-2).check(net, {"x": x}, tops=[top])


def _softmax_loss_ref(scores, labels, normalization, ignore=None, axis=1):
    s = np.moveaxis(scores.astype(np.float64), axis, -1)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    p = p.reshape(-1, p.shape[-1])
    lab = labels.reshape(-1).astype(int)
    valid = lab != ignore if ignore is not None else np.ones(lab.shape, bool)
    loss = -np.log(p[valid, lab[valid]]).sum()
    outer = int(np.prod(scores.shape[:axis]))
    norm = {"VALID": valid.sum(), "FULL": lab.size, "BATCH_SIZE": outer, "NONE": 1}
    return loss / max(1, norm[normalization])


SML_CASES = {
    "VALID": ((4, 5), (4,), "normalization: VALID", None),
    "BATCH_SIZE": ((4, 5), (4,), "normalization: BATCH_SIZE", None),
    "FULL": ((2, 4, 3), (2, 3), "normalization: FULL", None),
    "NONE": ((4, 5), (4,), "normalization: NONE", None),
    "ignore_label": ((6, 4), (6,), "ignore_label: 2", 2),
    "ignore_label_BATCH_SIZE": ((6, 4), (6,), "ignore_label: 1 normalization: BATCH_SIZE", 1),
    "spatial": ((2, 4, 3, 2), (2, 1, 3, 2), "", None),
    "spatial_ignore_FULL": ((2, 3, 2, 2), (2, 2, 2), "ignore_label: 0 normalization: FULL", 0),
}


@pytest.mark.parametrize("case", sorted(SML_CASES))
def test_softmax_with_loss_gradient(tmp_path, case):
    sshape, lshape, loss_param, ignore = SML_CASES[case]
    body = ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" '
            f'top: "loss" loss_param {{ {loss_param} }} }}')
    net = make_net(tmp_path, body, {"x": sshape, "label": lshape})
    x = gaussian(sshape, std=2.0)
    labels = np.random.default_rng(5).integers(0, sshape[1], size=lshape).astype(F32)
    if ignore is not None:
        labels.reshape(-1)[:2] = ignore  # make sure some are ignored
    net.blobs["x"].data[...] = x
    net.blobs["label"].data[...] = labels
    loss = float(net.forward()["loss"])
    mode = loss_param.split("normalization: ")[1].split()[0] if "normalization" in loss_param \
        else "VALID"
    np.testing.assert_allclose(loss, _softmax_loss_ref(x, labels, mode, ignore), rtol=1e-5)
    GradientChecker(threshold=1e-2).check(net, {"x": x, "label": labels}, check_blobs=["x"])
    if ignore is not None:  # ignored entries take no gradient at all
        net.forward()
        net.backward()
        d = np.moveaxis(net.blobs["x"].diff, 1, -1).reshape(-1, sshape[1])
        assert np.all(d[labels.reshape(-1) == ignore] == 0)


def test_softmax_with_loss_label_takes_no_gradient(tmp_path):
    body = ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" '
            'top: "loss" }')
    net = make_net(tmp_path, body, {"x": (3, 4), "label": (3,)})
    net.blobs["x"].data[...] = gaussian((3, 4))
    net.blobs["label"].data[...] = [0, 3, 1]
    net.blobs["label"].diff[...] = 7
    net.forward()
    net.backward()
    assert np.all(net.blobs["label"].diff == 7)


def test_softmax_with_loss_weight_scales_the_gradient(tmp_path):
    diffs = []
    for w in (1, 2.5):
        sub = tmp_path / str(w)
        sub.mkdir()
        body = ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" '
                f'top: "loss" loss_weight: {w} }}')
        net = make_net(sub, body, {"x": (3, 4), "label": (3,)})
        assert net.blob_loss_weights["loss"] == pytest.approx(w)
        net.blobs["x"].data[...] = gaussian((3, 4))
        net.blobs["label"].data[...] = [0, 3, 1]
        net.forward()
        net.backward()  # the top diff is the loss weight, set by the layer
        diffs.append(np.array(net.blobs["x"].diff))
    np.testing.assert_allclose(diffs[1], 2.5 * diffs[0], rtol=1e-6)


# --- Eltwise -----------------------------------------------------------------------------------

@pytest.mark.parametrize("op,nb,extra", [("SUM", 2, "coeff: 0.5 coeff: -2"),
                                         ("SUM", 3, ""),
                                         ("PROD", 2, ""),
                                         ("PROD", 3, ""),
                                         ("PROD", 3, "stable_prod_grad: false"),
                                         ("MAX", 2, ""),
                                         ("MAX", 3, "")])
def test_eltwise_gradient(tmp_path, op, nb, extra):
    shape = (2, 3, 2, 2)
    names = ["a", "b", "c"][:nb]
    bottoms = " ".join(f'bottom: "{n}"' for n in names)
    body = (f'layer {{ name: "elt" type: "Eltwise" {bottoms} top: "y" '
            f"eltwise_param {{ operation: {op} {extra} }} }}")
    net = make_net(tmp_path, body, {n: shape for n in names})
    if op == "MAX":
        allv = distinct((nb,) + shape, gap=0.05)
        inputs = {n: allv[i] for i, n in enumerate(names)}
    else:
        inputs = {n: gaussian(shape, seed=i) for i, n in enumerate(names)}
        if op == "PROD":  # away from zero (the unstable y / x form)
            inputs = {n: v + np.sign(v) * 0.3 for n, v in inputs.items()}
    for n, v in inputs.items():
        net.blobs[n].data[...] = v
    y = net.forward()["y"]
    stack = np.stack([inputs[n].astype(np.float64) for n in names])
    if op == "SUM":
        coeff = [0.5, -2] if "coeff" in extra else [1.0] * nb
        ref = sum(c * s for c, s in zip(coeff, stack))
    elif op == "PROD":
        ref = np.prod(stack, axis=0)
    else:
        ref = stack.max(axis=0)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    GradientChecker(threshold=1e-3 if op != "PROD" else 1e-2).check(net, inputs)


# --- BatchNorm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,in_place", [((4, 3, 2, 2), False), ((5, 2), False),
                                            ((3, 2, 3), True)])
def test_batch_norm_train_gradient(tmp_path, shape, in_place):
    top = "x" if in_place else "y"
    body = (f'layer {{ name: "bn" type: "BatchNorm" bottom: "x" top: "{top}" '
            "batch_norm_param { use_global_stats: false } }")
    net = make_net(tmp_path, body, {"x": shape})
    x = gaussian(shape, std=2.0) + 1.0
    net.blobs["x"].data[...] = x
    y = net.forward()[top]
    axes = (0,) + tuple(range(2, len(shape)))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)
    GradientChecker(threshold=1e-2).check(net, {"x": x}, tops=[top])


@pytest.mark.parametrize("in_place", [False, True])
def test_batch_norm_test_phase_gradient(tmp_path, in_place):
    shape = (3, 2, 2, 3)
    top = "x" if in_place else "y"
    body = f'layer {{ name: "bn" type: "BatchNorm" bottom: "x" top: "{top}" }}'
    net = make_net(tmp_path, body, {"x": shape}, phase=caffe.TEST)
    mean_sum, var_sum, s = np.array([1.0, -2.0]), np.array([4.0, 0.5]), 2.0
    net.params["bn"][0].data[...] = mean_sum
    net.params["bn"][1].data[...] = var_sum
    net.params["bn"][2].data[...] = s
    x = gaussian(shape)
    net.blobs["x"].data[...] = x
    y = net.forward()[top]
    c = (slice(None), None, None)
    ref = (x - (mean_sum / s)[c]) / np.sqrt((var_sum / s)[c] + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    GradientChecker().check(net, {"x": x}, tops=[top])


# --- Scale -------------------------------------------------------------------------------------

SCALE_CASES = {
    "default": ((2, 3, 2, 2), "", (3,)),
    "bias": ((2, 3, 2, 2), "bias_term: true", (3,)),
    "num_axes2_bias": ((2, 3, 4, 2), "axis: 1 num_axes: 2 bias_term: true", (3, 4)),
    "axis0_num_axes_all": ((2, 3), "axis: 0 num_axes: -1", (2, 3)),
    "scalar": ((2, 3, 2), "num_axes: 0 bias_term: true", ()),
}


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("case", sorted(SCALE_CASES))
def test_scale_gradient(tmp_path, case, in_place):
    shape, param, pshape = SCALE_CASES[case]
    top = "x" if in_place else "y"
    body = (f'layer {{ name: "scale" type: "Scale" bottom: "x" top: "{top}" '
            f"scale_param {{ {param} }} }}")
    net = make_net(tmp_path, body, {"x": shape})
    assert tuple(net.params["scale"][0].data.shape) == pshape
    x = gaussian(shape)
    net.blobs["x"].data[...] = x
    y = net.forward()[top]
    axis = 0 if "axis: 0" in param else 1
    bshape = (1,) * axis + pshape + (1,) * (len(shape) - axis - len(pshape))
    ref = x * np.reshape(net.params["scale"][0].data, bshape)
    if "bias_term: true" in param:
        ref = ref + np.reshape(net.params["scale"][1].data, bshape)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    GradientChecker().check(net, {"x": x}, tops=[top])


# --- Dropout -----------------------------------------------------------------------------------

@pytest.mark.parametrize("ratio", [0.3, 0.5])
def test_dropout_train_gradient(tmp_path, ratio):
    shape = (3, 4, 5)
    body = (f'layer {{ name: "drop" type: "Dropout" bottom: "x" top: "y" '
            f"dropout_param {{ dropout_ratio: {ratio} }} }}")
    net = make_net(tmp_path, body, {"x": shape})
    x = gaussian(shape)
    res = GradientChecker(seed=11).check(net, {"x": x})
    comp, est = res[("blob", "x")]
    assert np.any(comp == 0) and np.any(comp != 0)  # the mask did drop something


def _adrop_body(variant, pf, pb, top="y"):
    return (f'layer {{ name: "drop" type: "AugmentedDropout" bottom: "x" top: "{top}" '
            f"augmented_dropout_param {{ variant: {variant} forward_ratio: {pf} "
            f"backward_ratio: {pb} }} }}")


@pytest.mark.parametrize("variant,pf,pb", [("STANDARD", 0.4, 0.0),
                                           ("STANDARD", 0.4, 0.7),  # p_b unused
                                           ("AUGMENTED", 0.4, 0.0),  # m_b = m_f: true grad
                                           ("BACKWARD", 0.4, 0.0),   # identity
                                           ("FORWARD", 0.0, 0.3)])   # identity
def test_augmented_dropout_true_gradient_cases(tmp_path, variant, pf, pb):
    """Where the variant's backward is the true gradient of its forward."""
    shape = (3, 4, 5)
    net = make_net(tmp_path, _adrop_body(variant, pf, pb), {"x": shape})
    GradientChecker(seed=5).check(net, {"x": gaussian(shape)})


def _masks(seed, n, variant, pf, pb):
    """(m_f, m_b) as float32 arrays from Caffe's stream (m_f drawn first, then m_e)."""
    s = CaffeStream(seed)
    sf = F32(1.0 / (1.0 - float(F32(pf))))
    sb = F32(1.0 / (1.0 - float(F32(pb))))
    ones = np.ones(n, F32)
    mf = s.bernoulli(n, 1.0 - float(F32(pf))).astype(F32) * sf if variant != "BACKWARD" else ones
    me = (s.bernoulli(n, 1.0 - float(F32(pb))).astype(F32) * sb
          if variant in ("BACKWARD", "AUGMENTED") else ones)
    mb = {"STANDARD": mf, "FORWARD": ones, "BACKWARD": me, "AUGMENTED": mf * me}[variant]
    return mf, mb


@pytest.mark.parametrize("variant,pf,pb", [("FORWARD", 0.5, 0.0),
                                           ("BACKWARD", 0.0, 0.5),
                                           ("AUGMENTED", 0.5, 0.3)])
def test_augmented_dropout_backward_is_the_variant_formula(tmp_path, variant, pf, pb):
    """FORWARD/BACKWARD/AUGMENTED deliberately do not backpropagate the true gradient: the
    numeric gradient is W * m_f (or W), the computed one W * m_b (DESIGN.md's table)."""
    shape = (4, 6)
    n = int(np.prod(shape))
    net = make_net(tmp_path, _adrop_body(variant, pf, pb), {"x": shape})
    checker = GradientChecker(seed=23)
    x = gaussian(shape)
    inputs = {"x": x}
    checker.objective(net, inputs, {})
    weights = checker.top_weights(net, ["y"])
    computed = checker.analytic(net, inputs, weights, ["x"], [])[("blob", "x")]
    numeric, _ = checker.numeric(net, inputs, weights, ("blob", "x"))
    mf, mb = _masks(23, n, variant, pf, pb)
    w = weights["y"]
    np.testing.assert_allclose(numeric, w * mf.reshape(shape), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(computed, w * mb.reshape(shape), rtol=1e-6, atol=0)
    assert not np.allclose(computed, numeric, rtol=1e-3, atol=1e-3)


# --- Split -------------------------------------------------------------------------------------

def test_split_gradient(tmp_path):
    """A blob feeding two layers gets a Split; its diff is the sum of both consumers'."""
    body = ('layer { name: "ip1" type: "InnerProduct" bottom: "x" top: "a" '
            "inner_product_param { num_output: 3 } }\n"
            'layer { name: "relu" type: "ReLU" bottom: "x" top: "b" }\n'
            'layer { name: "ip2" type: "InnerProduct" bottom: "x" top: "c" '
            "inner_product_param { num_output: 2 bias_term: false } }")
    net = make_net(tmp_path, body, {"x": (2, 5)})
    assert "Split" in [l.type for l in net.layers]
    x = gaussian((2, 5))
    x[np.abs(x) < 0.05] += 0.2
    GradientChecker(kink=0.0, kink_range=0.01).check(net, {"x": x})


def test_split_then_in_place_consumer(tmp_path):
    """A split branch modified in place must not disturb the other branch."""
    body = ('layer { name: "ip0" type: "InnerProduct" bottom: "x" top: "h" '
            "inner_product_param { num_output: 4 } }\n"
            'layer { name: "scale" type: "Scale" bottom: "h" top: "s" '
            "scale_param { bias_term: true } }\n"
            'layer { name: "ip1" type: "InnerProduct" bottom: "h" top: "a" '
            "inner_product_param { num_output: 3 } }\n"
            'layer { name: "relu" type: "ReLU" bottom: "a" top: "a" '
            "relu_param { negative_slope: 0.2 } }")
    net = make_net(tmp_path, body, {"x": (3, 5)})
    GradientChecker(kink=0.0, kink_range=-1).check(net, {"x": gaussian((3, 5))})


def test_checker_detects_a_wrong_gradient(tmp_path):
    """The checker itself: FORWARD dropout's backward (all ones) is not the gradient of its
    forward (x * m_f), and the check must say so."""
    from gradient_check import GradientMismatch
    net = make_net(tmp_path, _adrop_body("FORWARD", 0.5, 0.0), {"x": (3, 4)})
    with pytest.raises(GradientMismatch):
        GradientChecker(seed=2).check(net, {"x": gaussian((3, 4))})


def test_small_net_end_to_end_gradient(tmp_path):
    """Conv -> ReLU -> MAX pool -> IP -> SoftmaxWithLoss, with a dropout in between."""
    body = ('layer { name: "conv" type: "Convolution" bottom: "x" top: "c" '
            "convolution_param { num_output: 2 kernel_size: 3 pad: 1 } }\n"
            'layer { name: "pool" type: "Pooling" bottom: "c" top: "p" '
            "pooling_param { pool: AVE kernel_size: 2 stride: 2 } }\n"
            'layer { name: "drop" type: "Dropout" bottom: "p" top: "p" '
            "dropout_param { dropout_ratio: 0.25 } }\n"
            'layer { name: "ip" type: "InnerProduct" bottom: "p" top: "s" '
            "inner_product_param { num_output: 3 } }\n"
            'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "s" bottom: "label" '
            'top: "loss" }')
    net = make_net(tmp_path, body, {"x": (2, 2, 4, 4), "label": (2,)})
    GradientChecker(threshold=1e-2, seed=3).check(
        net, {"x": gaussian((2, 2, 4, 4)), "label": np.array([0, 2], F32)}, check_blobs=["x"])


@pytest.mark.parametrize("layer,param", [
    ("Convolution", "convolution_param { num_output: 1 kernel_h: 3 kernel_w: 1 }"),
    ("Pooling", "pooling_param { pool: MAX kernel_h: 3 kernel_w: 1 }"),
], ids=["Convolution", "Pooling"])
def test_kernel_h_kernel_w_fields(tmp_path, layer, param):
    """Caffe's ConvolutionParameter/PoolingParameter spell a non-square kernel kernel_h and
    kernel_w; a 3x1 kernel over 5x4 gives 3x4."""
    body = f'layer {{ name: "l" type: "{layer}" bottom: "x" top: "y" {param} }}'
    net = make_net(tmp_path, body, {"x": (1, 1, 5, 4)})
    net.blobs["x"].data[...] = gaussian((1, 1, 5, 4))
    assert net.forward()["y"].shape == (1, 1, 3, 4)
