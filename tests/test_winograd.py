"""The WINOGRAD convolution engine (csrc/math/winograd.hpp): F(2x2, 3x3) for the forward and
the data gradient, IMPLICIT's weight gradient. Against float64 loops on the geometries it
takes (pads 0-2, odd input sizes with even outputs, groups, several strips, bias or not), a
finite-difference gradient check, the automatic rule, forced engines and their errors."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from gradient_check import GradientChecker, write_net
from test_gradients import gaussian

# (bottom shape, convolution_param): every one a 3x3 stride-1 layer with an even output.
CASES = {
    "same_pad": ((2, 8, 8, 8), "num_output: 8 kernel_size: 3 pad: 1"),
    "no_pad": ((2, 5, 10, 6), "num_output: 7 kernel_size: 3"),
    "pad2": ((2, 3, 6, 6), "num_output: 4 kernel_size: 3 pad: 2"),
    # more padding than the kernel's reach: the data gradient cannot be the flipped
    # convolution (col2im), forward and weight gradient stay Winograd's
    "pad3": ((2, 4, 4, 6), "num_output: 5 kernel_size: 3 pad: 3"),
    "odd_outputs_over_a_register_tile": ((1, 6, 4, 8), "num_output: 13 kernel_size: 3 pad: 1"),
    "group2": ((2, 8, 8, 4), "num_output: 10 kernel_size: 3 pad: 1 group: 2"),
    "no_bias": ((2, 4, 4, 4), "num_output: 3 kernel_size: 3 pad: 1 bias_term: false"),
    # 64 -> 64 on 32x32: the strip planner cuts the image into several strips
    "several_strips": ((1, 64, 32, 32), "num_output: 64 kernel_size: 3 pad: 1"),
    # 36 tiles in one strip: not whole vectors, the strip's last vector is zero-filled
    "partial_vector_strip": ((1, 40, 12, 12), "num_output: 40 kernel_size: 3 pad: 1"),
    # strips of 3 tile rows (24 tiles) and a last one of 2 rows
    "short_last_strip": ((1, 64, 10, 16), "num_output: 64 kernel_size: 3 pad: 1"),
    # F(2x2, 5x5): cifar10_quick's "same" layers, LeNet's valid conv2, groups, several strips
    "k5_same_pad": ((2, 6, 8, 8), "num_output: 5 kernel_size: 5 pad: 2"),
    "k5_valid": ((2, 4, 12, 12), "num_output: 6 kernel_size: 5"),
    "k5_pad1_group2": ((2, 4, 6, 10), "num_output: 6 kernel_size: 5 pad: 1 group: 2"),
    "k5_several_strips": ((1, 32, 16, 16), "num_output: 32 kernel_size: 5 pad: 2"),
}


def conv_net(tmp_path, shape, param, engine=None, name="net.prototxt"):
    body = (f'layer {{ name: "conv" type: "Convolution" bottom: "x" top: "y" '
            f"convolution_param {{ {param} weight_filler {{ type: 'gaussian' std: 0.5 }} "
            f"bias_filler {{ type: 'gaussian' std: 0.5 }} }} }}").replace("'", '"')
    net = caffe.Net(write_net(tmp_path, body, {"x": shape}, name=name), caffe.TRAIN)
    conv = next(layer for layer in net.layers if layer.name == "conv")
    if engine:
        conv.engine = engine
    return net, conv


def conv_naive(x, W, b, pad, group, dy):
    """Stride-1 convolution in float64, by the kernel's taps (numpy, not per-pixel loops):
    (y, dx, dW, db)."""
    N, C, H, Wd = x.shape
    O, Cg, KH, KW = W.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    OH, OW = H + 2 * pad - KH + 1, Wd + 2 * pad - KW + 1
    W64, dy64 = W.astype(np.float64), dy.astype(np.float64)
    y = np.zeros((N, O, OH, OW))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W64)
    og = O // group
    for g in range(group):
        o, c = slice(g * og, (g + 1) * og), slice(g * Cg, (g + 1) * Cg)
        for i in range(KH):
            for j in range(KW):
                window = xp[:, c, i:i + OH, j:j + OW]
                y[:, o] += np.einsum("oc,nchw->nohw", W64[o, :, i, j], window)
                dxp[:, c, i:i + OH, j:j + OW] += np.einsum("oc,nohw->nchw", W64[o, :, i, j],
                                                           dy64[:, o])
                dW[o, :, i, j] = np.einsum("nohw,nchw->oc", dy64[:, o], window)
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    dx = dxp[:, :, pad:pad + H, pad:pad + Wd]
    return y, dx, dW, dy64.sum(axis=(0, 2, 3))


def _geometry(param):
    fields = dict(zip(param.split()[::2], param.split()[1::2]))
    return int(fields.get("pad:", 0)), int(fields.get("group:", 1))


@pytest.mark.parametrize("case", sorted(CASES))
def test_winograd_matches_float64_loops(tmp_path, case):
    shape, param = CASES[case]
    net, conv = conv_net(tmp_path, shape, param, "WINOGRAD")
    assert conv.engine == "WINOGRAD"
    x = gaussian(shape, seed=3)
    net.blobs["x"].data[...] = x
    out = net.forward()["y"].copy()
    W = np.array(conv.blobs[0].data)
    b = np.array(conv.blobs[1].data) if len(conv.blobs) > 1 else None
    pad, group = _geometry(param)
    dy = gaussian(out.shape, seed=4)
    y, dx, dW, db = conv_naive(x, W, b, pad, group, dy)
    for blob in conv.blobs:
        blob.diff[...] = 0
    net.backward(y=dy)
    # Relative to the largest value: Winograd rounds the transformed sums, not each term;
    # F(2x2, 5x5)'s transforms (factors up to 5, and 1/24) round more than F(2x2, 3x3)'s.
    rel = 1e-5 if "kernel_size: 5" in param else 2e-6
    for ours, ref in ((out, y), (net.blobs["x"].diff, dx), (conv.blobs[0].diff, dW)):
        assert np.abs(ours - ref).max() <= rel * np.abs(ref).max() + 1e-6
    if b is not None:
        np.testing.assert_allclose(conv.blobs[1].diff, db, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, param, pad", [
    ((4, 64, 8, 8), "num_output: 64 kernel_size: 3 pad: 1", 1),    # ResNet-20's widest
    ((4, 32, 8, 8), "num_output: 64 kernel_size: 5 pad: 2", 2),    # cifar10_quick's conv3
])
def test_winograd_error_is_far_inside_the_golden_tolerance(tmp_path, shape, param, pad):
    """Forward, data and weight gradients against float64, beside IMPLICIT's error on the same
    data: both far below the golden cases' layer rule (rtol 1e-4 of max|A|)."""
    param += " bias_term: false"
    x, errors = gaussian(shape, seed=5), {}
    for engine in ("WINOGRAD", "IMPLICIT"):
        net, conv = conv_net(tmp_path, shape, param, engine, name=f"{engine}.prototxt")
        conv.blobs[0].data[...] = gaussian(conv.blobs[0].data.shape, seed=6, std=0.05)
        net.blobs["x"].data[...] = x
        out = net.forward()["y"].copy()
        dy = gaussian(out.shape, seed=7)
        conv.blobs[0].diff[...] = 0
        net.backward(y=dy)
        y, dx, dW, _ = conv_naive(x, np.array(conv.blobs[0].data), None, pad, 1, dy)
        errors[engine] = max(np.abs(ours - ref).max() / np.abs(ref).max() for ours, ref in
                             ((out, y), (net.blobs["x"].diff, dx), (conv.blobs[0].diff, dW)))
    print(f"max error / max|A|: WINOGRAD {errors['WINOGRAD']:.2e}, IMPLICIT {errors['IMPLICIT']:.2e}")
    # Measured here (the largest of forward, data and weight gradients): 3x3 WINOGRAD 3.5e-7
    # (IMPLICIT 9.9e-7), 5x5 4.5e-6 (IMPLICIT 1.3e-6).
    assert errors["WINOGRAD"] < 1e-5 < 1e-4
    assert errors["IMPLICIT"] < 5e-6


def test_winograd_gradient_check(tmp_path):
    shape = (2, 3, 4, 8)
    net, conv = conv_net(tmp_path, shape, "num_output: 4 kernel_size: 3 pad: 1", "WINOGRAD")
    assert conv.engine == "WINOGRAD"
    GradientChecker().check(net, {"x": gaussian(shape)})


@pytest.mark.parametrize("shape, param, engine", [
    ((2, 64, 8, 8), "num_output: 64 kernel_size: 3 pad: 1", "WINOGRAD"),      # ResNet-20 res3
    ((2, 32, 16, 16), "num_output: 32 kernel_size: 3 pad: 1", "WINOGRAD"),    # res2
    ((2, 16, 32, 32), "num_output: 16 kernel_size: 3 pad: 1", "IMPLICIT"),    # res1: no gain
    ((2, 16, 16, 16), "num_output: 32 kernel_size: 3 pad: 1", "IMPLICIT"),
    ((2, 64, 8, 8), "num_output: 64 kernel_size: 3 pad: 1 stride: 2", "IMPLICIT"),
    ((2, 32, 16, 16), "num_output: 32 kernel_size: 5 pad: 2", "WINOGRAD"),    # cifar10_quick conv2
    ((2, 32, 8, 8), "num_output: 64 kernel_size: 5 pad: 2", "WINOGRAD"),      # conv3
    ((2, 3, 32, 32), "num_output: 32 kernel_size: 5 pad: 2", "IMPLICIT"),     # conv1: slower
    ((2, 20, 12, 12), "num_output: 50 kernel_size: 5", "WINOGRAD"),           # LeNet conv2
    ((2, 1, 28, 28), "num_output: 20 kernel_size: 5", "IMPLICIT"),            # LeNet conv1
    ((2, 64, 8, 8), "num_output: 64 kernel_size: 7 pad: 3", "IMPLICIT"),
    ((2, 64, 8, 8), "num_output: 64 kernel_size: 3 pad: 1 engine: CAFFE", "CAFFE"),
])
def test_the_automatic_rule(tmp_path, shape, param, engine):
    _, conv = conv_net(tmp_path, shape, param)
    assert conv.engine == engine


def test_forced_engines_give_the_same_results_as_each_other_within_rounding(tmp_path):
    shape, param = (2, 8, 8, 8), "num_output: 8 kernel_size: 3 pad: 1"
    x = gaussian(shape, seed=1)
    outs = {}
    for engine in ("CAFFE", "IMPLICIT", "WINOGRAD", "DEFAULT"):
        caffe.set_random_seed(1)  # the same filled weights for each
        net, conv = conv_net(tmp_path, shape, param)
        conv.engine = engine
        assert conv.engine == ("IMPLICIT" if engine == "DEFAULT" else engine)
        net.blobs["x"].data[...] = x
        outs[engine] = net.forward()["y"].copy()
    for engine in ("CAFFE", "WINOGRAD"):
        np.testing.assert_allclose(outs[engine], outs["IMPLICIT"], rtol=1e-5, atol=1e-5)
    assert np.array_equal(outs["DEFAULT"], outs["IMPLICIT"])


def test_forcing_an_engine_the_geometry_does_not_take_names_the_layer(tmp_path):
    _, conv = conv_net(tmp_path, (1, 2, 8, 8), "num_output: 2 kernel_size: 3 pad: 1 stride: 2")
    with pytest.raises(caffe.EngineError, match="layer 'conv' .*WINOGRAD.*3x3 or 5x5 kernels, stride 1"):
        conv.engine = "WINOGRAD"
    net, conv = conv_net(tmp_path, (1, 2, 5, 5), "num_output: 2 kernel_size: 3 pad: 1")
    with pytest.raises(caffe.EngineError, match="layer 'conv' .*IMPLICIT.*25 output pixels"):
        conv.engine = "IMPLICIT"
    assert conv.engine == "CAFFE"  # the layer keeps the engine it had, and still runs
    net.forward()
    with pytest.raises(caffe.EngineError, match="no engine FAST"):
        conv.engine = "FAST"


def test_only_convolutions_have_an_engine_to_force(tmp_path):
    net = caffe.Net(write_net(tmp_path, 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }',
                              {"x": (1, 2)}), caffe.TRAIN)
    relu = next(layer for layer in net.layers if layer.name == "r")
    with pytest.raises(AttributeError, match="no choice of engine"):
        relu.engine = "CAFFE"


def test_winograd_on_every_conv_test_geometry_it_takes(tmp_path):
    """Every geometry of test_gradients.py's convolution cases that WINOGRAD's geometry takes
    (3x3 or 5x5, stride 1, no dilation, an even output of whole vectors), forced onto it:
    forward, data and weight gradients against the float64 loops there."""
    from test_gradients import CONV_CASES, _pair
    from test_gradients import conv_naive as loops

    taken = []
    for case, (shape, param) in sorted(CONV_CASES.items()):
        net, conv = conv_net(tmp_path, shape, param, name=f"{case}.prototxt")
        try:
            conv.engine = "WINOGRAD"
        except caffe.EngineError:
            continue
        taken.append(case)
        x = gaussian(shape, seed=3)
        net.blobs["x"].data[...] = x
        out = net.forward()["y"].copy()
        W = np.array(conv.blobs[0].data)
        b = np.array(conv.blobs[1].data) if len(conv.blobs) > 1 else None
        geom = dict(stride=_pair(param, "stride", 1), pad=_pair(param, "pad", 0),
                    dil=_pair(param, "dilation", 1), group=_pair(param, "group", 1)[0])
        dy = gaussian(out.shape, seed=4)
        y, dx, dW, _ = loops(x, W, b, dy=dy, **geom)
        for blob in conv.blobs:
            blob.diff[...] = 0
        net.backward(y=dy)
        rel = 1e-5 if "kernel_size: 5" in param else 2e-6
        for what, ours, ref in (("y", out, y), ("dx", net.blobs["x"].diff, dx),
                                ("dW", conv.blobs[0].diff, dW)):
            assert np.abs(ours - ref).max() <= rel * np.abs(ref).max() + 1e-6, (case, what)
    # Six here: implicit_group3 and implicit_group3_valid (groups: IMPLICIT's weight gradient),
    # implicit_lenet_conv2 (5x5, data gradient by col2im), implicit_long_reduction (5x5),
    # implicit_many_outputs, implicit_no_pad.
    assert len(taken) >= 6, taken
