"""The loss layers on the LossLayer base (csrc/layers/loss_layer.hpp): EuclideanLoss,
SigmoidCrossEntropyLoss, ContrastiveLoss, HingeLoss, InfogainLoss, MultinomialLogisticLoss.
Each: its loss against a numpy reference of Caffe's formula on a small input, the gradient
checker on the bottoms that take a gradient, and the LossLayer contract (loss weight 1 by
default, scaled by loss_weight; the label bottom takes no gradient); bad shapes and parameters
raise an error naming the layer."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from gradient_check import GradientChecker, write_net

F32 = np.float32


def gaussian(shape, seed=0, std=1.0):
    return np.random.default_rng(seed).normal(0, std, size=shape).astype(F32)


def loss_body(layer_type, bottoms, param="", top="loss"):
    b = " ".join(f'bottom: "{x}"' for x in bottoms)
    return f'layer {{ name: "l" type: "{layer_type}" {b} top: "{top}" {param} }}'


def build(tmp_path, body, inputs, name="net.prototxt", force_backward=True):
    return caffe.Net(write_net(tmp_path, body, {k: v.shape for k, v in inputs.items()}, name=name,
                               force_backward=force_backward), caffe.TRAIN)


def forward(net, inputs):
    for k, v in inputs.items():
        net.blobs[k].data[...] = v
    return float(net.forward()["loss"])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---- EuclideanLoss -------------------------------------------------------------------------------

def test_euclidean_loss_forward_and_gradient(tmp_path):
    a, b = gaussian((4, 5), 1), gaussian((4, 5), 2)
    net = build(tmp_path, loss_body("EuclideanLoss", ["a", "b"]), {"a": a, "b": b})
    loss = forward(net, {"a": a, "b": b})
    ref = np.sum((a.astype(np.float64) - b) ** 2) / 4 / 2
    np.testing.assert_allclose(loss, ref, rtol=1e-6)
    # Both bottoms take a gradient (Caffe's EuclideanLoss allows force_backward on either).
    GradientChecker().check(net, {"a": a, "b": b})


def test_euclidean_loss_spatial_target_of_other_shape(tmp_path):
    """Only count(1) must agree: (2, 6) predictions against (2, 2, 3) targets."""
    a, b = gaussian((2, 6), 1), gaussian((2, 2, 3), 2)
    net = build(tmp_path, loss_body("EuclideanLoss", ["a", "b"]), {"a": a, "b": b})
    loss = forward(net, {"a": a, "b": b})
    np.testing.assert_allclose(loss, np.sum((a.astype(np.float64) - b.reshape(2, 6)) ** 2) / 4,
                               rtol=1e-6)


def test_loss_weight_defaults_to_one_and_scales_the_gradient(tmp_path):
    a, b = gaussian((3, 4), 1), gaussian((3, 4), 2)
    diffs = []
    for w in (None, 2.5):
        sub = tmp_path / str(w)
        sub.mkdir()
        param = "" if w is None else f"loss_weight: {w}"
        net = build(sub, loss_body("EuclideanLoss", ["a", "b"], param), {"a": a, "b": b})
        assert net.blob_loss_weights["loss"] == pytest.approx(1.0 if w is None else w)
        forward(net, {"a": a, "b": b})
        net.backward()  # the top diff is the loss weight, set by the layer
        diffs.append(np.array(net.blobs["a"].diff))
    np.testing.assert_allclose(diffs[0], (a - b) / 3, rtol=1e-6)
    np.testing.assert_allclose(diffs[1], 2.5 * diffs[0], rtol=1e-6)


def test_euclidean_loss_shape_mismatch_names_the_layer(tmp_path):
    with pytest.raises(caffe.EngineError, match="same dimension") as e:
        build(tmp_path, loss_body("EuclideanLoss", ["a", "b"]),
              {"a": np.zeros((2, 3), F32), "b": np.zeros((2, 4), F32)})
    assert "layer 'l' (EuclideanLoss)" in str(e.value), str(e.value)


def test_loss_layer_first_dimensions_must_agree(tmp_path):
    with pytest.raises(caffe.EngineError, match="same first dimension") as e:
        build(tmp_path, loss_body("EuclideanLoss", ["a", "b"]),
              {"a": np.zeros((2, 3), F32), "b": np.zeros((3, 2), F32)})
    assert "layer 'l' (EuclideanLoss)" in str(e.value), str(e.value)


# ---- SigmoidCrossEntropyLoss ---------------------------------------------------------------------

def _xent_ref(x, t, normalization, ignore=None):
    x, t = x.astype(np.float64), t.astype(np.float64)
    p = sigmoid(x)
    ll = t * np.log(p) + (1 - t) * np.log(1 - p)
    valid = np.ones(x.shape, bool) if ignore is None else t.astype(int) != ignore
    norm = {"VALID": valid.sum(), "FULL": x.size, "BATCH_SIZE": x.shape[0], "NONE": 1}
    return -ll[valid].sum() / max(1, norm[normalization])


XENT_CASES = {  # name: (loss_param, normalization it means, ignore label)
    "default_batch_size": ("", "BATCH_SIZE", None),
    "valid": ("normalization: VALID", "VALID", None),
    "full": ("normalization: FULL", "FULL", None),
    "none": ("normalization: NONE", "NONE", None),
    "legacy_normalize_true": ("normalize: true", "VALID", None),
    "legacy_normalize_false": ("normalize: false", "BATCH_SIZE", None),
    "ignore_valid": ("ignore_label: -1 normalization: VALID", "VALID", -1),
    "ignore_batch_size": ("ignore_label: -1", "BATCH_SIZE", -1),
}


@pytest.mark.parametrize("case", sorted(XENT_CASES))
def test_sigmoid_cross_entropy_loss(tmp_path, case):
    param, mode, ignore = XENT_CASES[case]
    x = gaussian((4, 5), 3, std=2.0)
    t = np.random.default_rng(4).uniform(0, 1, (4, 5)).astype(F32)
    if ignore is not None:
        t.reshape(-1)[[0, 3, 7, 11, 12]] = ignore
    net = build(tmp_path, loss_body("SigmoidCrossEntropyLoss", ["x", "t"],
                                    f"loss_param {{ {param} }}"), {"x": x, "t": t})
    loss = forward(net, {"x": x, "t": t})
    np.testing.assert_allclose(loss, _xent_ref(x, t, mode, ignore), rtol=1e-5)
    GradientChecker().check(net, {"x": x, "t": t}, check_blobs=["x"])
    net.backward()
    if ignore is not None:  # ignored targets take no gradient
        assert np.all(net.blobs["x"].diff[t == ignore] == 0)
        assert np.any(net.blobs["x"].diff[t != ignore] != 0)


def test_sigmoid_cross_entropy_large_scores_stay_finite(tmp_path):
    x = np.array([[-80.0, 80.0, 0.0, 30.0]], F32)
    t = np.array([[0.0, 1.0, 0.5, 0.0]], F32)
    net = build(tmp_path, loss_body("SigmoidCrossEntropyLoss", ["x", "t"]), {"x": x, "t": t})
    loss = forward(net, {"x": x, "t": t})
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, np.log(2) + 30.0, rtol=1e-5)


def test_label_bottom_takes_no_gradient_even_under_force_backward(tmp_path):
    x, t = gaussian((3, 4), 1), np.full((3, 4), 0.5, F32)
    net = build(tmp_path, loss_body("SigmoidCrossEntropyLoss", ["x", "t"]), {"x": x, "t": t})
    forward(net, {"x": x, "t": t})
    net.blobs["t"].diff[...] = 7
    net.backward()
    assert np.all(net.blobs["t"].diff == 7)
    assert np.any(net.blobs["x"].diff != 0)


def test_sigmoid_cross_entropy_count_mismatch_names_the_layer(tmp_path):
    with pytest.raises(caffe.EngineError, match="same count") as e:
        build(tmp_path, loss_body("SigmoidCrossEntropyLoss", ["x", "t"]),
              {"x": np.zeros((2, 3), F32), "t": np.zeros((2, 4), F32)})
    assert "layer 'l' (SigmoidCrossEntropyLoss)" in str(e.value), str(e.value)


# ---- ContrastiveLoss -----------------------------------------------------------------------------

def _contrastive_ref(a, b, y, margin=1.0, legacy=False):
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    d2 = ((a - b) ** 2).sum(1)
    dissimilar = np.maximum(margin - d2, 0) if legacy else np.maximum(margin - np.sqrt(d2), 0) ** 2
    return np.where(y.reshape(-1).astype(int) != 0, d2, dissimilar).sum() / len(a) / 2


@pytest.mark.parametrize("param,margin,legacy,shape", [
    ("", 1.0, False, (6, 4)),
    ("contrastive_loss_param { margin: 0.9 }", 0.9, False, (6, 4, 1, 1)),
    ("contrastive_loss_param { margin: 0.85 legacy_version: true }", 0.85, True, (6, 4)),
])
def test_contrastive_loss(tmp_path, param, margin, legacy, shape):
    a, b = gaussian(shape, 1, std=0.7), gaussian(shape, 2, std=0.7)
    y = np.array([1, 0, 1, 0, 0, 0], F32).reshape((6,) + (1,) * (len(shape) - 1))
    inputs = {"a": a, "b": b, "y": y}
    net = build(tmp_path, loss_body("ContrastiveLoss", ["a", "b", "y"], param), inputs)
    loss = forward(net, inputs)
    ref = _contrastive_ref(a, b, y, margin, legacy)
    np.testing.assert_allclose(loss, ref, rtol=1e-5)
    # Some dissimilar pairs inside the margin, some outside: both branches are exercised.
    d = np.sqrt(((a - b).reshape(6, -1) ** 2).sum(1))
    inside = (d ** 2 if legacy else d) < margin
    assert inside[y.reshape(-1) == 0].any() and (~inside[y.reshape(-1) == 0]).any(), d
    # a and b take gradients; the pair label never does. (The 1e-4 that Caffe adds to the
    # distance in the non-legacy gradient is well inside the threshold here.)
    GradientChecker(threshold=2e-3).check(net, inputs, check_blobs=["a", "b"])
    net.blobs["y"].diff[...] = 5
    net.backward()
    assert np.all(net.blobs["y"].diff == 5)


def test_contrastive_loss_bad_shapes_name_the_layer(tmp_path):
    inputs = {"a": np.zeros((3, 4, 2), F32), "b": np.zeros((3, 4, 2), F32),
              "y": np.zeros((3,), F32)}
    with pytest.raises(caffe.EngineError, match="ContrastiveLoss takes features") as e:
        build(tmp_path, loss_body("ContrastiveLoss", ["a", "b", "y"]), inputs)
    assert "layer 'l' (ContrastiveLoss)" in str(e.value), str(e.value)


# ---- HingeLoss -----------------------------------------------------------------------------------

def _hinge_ref(x, labels, norm):
    x = x.reshape(len(x), -1).astype(np.float64)
    sign = np.ones_like(x)
    sign[np.arange(len(x)), labels.astype(int)] = -1
    t = np.maximum(0, 1 + sign * x)
    return (t if norm == "L1" else t ** 2).sum() / len(x)


@pytest.mark.parametrize("norm", ["L1", "L2"])
def test_hinge_loss(tmp_path, norm):
    x = gaussian((6, 5), 3)
    x[np.abs(np.abs(x) - 1) < 0.05] += 0.1  # away from the hinge's kink at |x| = 1
    labels = np.array([0, 4, 2, 2, 1, 3], F32)
    inputs = {"x": x, "label": labels}
    param = "" if norm == "L1" else "hinge_loss_param { norm: L2 }"
    net = build(tmp_path, loss_body("HingeLoss", ["x", "label"], param), inputs)
    np.testing.assert_allclose(forward(net, inputs), _hinge_ref(x, labels, norm), rtol=1e-5)
    GradientChecker().check(net, inputs, check_blobs=["x"])


def test_hinge_loss_label_out_of_range_names_the_layer(tmp_path):
    inputs = {"x": gaussian((2, 3)), "label": np.array([0, 3], F32)}
    net = build(tmp_path, loss_body("HingeLoss", ["x", "label"]), inputs)
    with pytest.raises(caffe.EngineError, match="out of range") as e:
        forward(net, inputs)
    assert "layer 'l' (HingeLoss)" in str(e.value), str(e.value)


# ---- MultinomialLogisticLoss ---------------------------------------------------------------------

def test_multinomial_logistic_loss(tmp_path):
    rng = np.random.default_rng(6)
    p = rng.uniform(0.05, 1.0, (6, 5)).astype(F32)
    p /= p.sum(1, keepdims=True)
    p[5, 2] = 0  # clipped to 1e-20 inside the log, as Caffe's kLOG_THRESHOLD
    labels = np.array([0, 4, 2, 2, 1, 2], F32)
    inputs = {"p": p, "label": labels}
    net = build(tmp_path, loss_body("MultinomialLogisticLoss", ["p", "label"]), inputs)
    picked = np.maximum(p[np.arange(6), labels.astype(int)].astype(np.float64), 1e-20)
    np.testing.assert_allclose(forward(net, inputs), -np.log(picked).sum() / 6, rtol=1e-5)
    net.backward()
    ref = np.zeros((6, 5))
    ref[np.arange(6), labels.astype(int)] = -1 / 6 / np.maximum(picked, np.float32(1e-20))
    np.testing.assert_allclose(net.blobs["p"].diff, ref, rtol=1e-5)
    # The gradient check away from the clipped entry.
    p[5, 2] = 0.3
    inputs["p"] = p
    GradientChecker(stepsize=1e-3, threshold=2e-3).check(net, inputs, check_blobs=["p"])


def test_multinomial_logistic_loss_label_shape_names_the_layer(tmp_path):
    with pytest.raises(caffe.EngineError, match="label must be") as e:
        build(tmp_path, loss_body("MultinomialLogisticLoss", ["p", "label"]),
              {"p": np.zeros((3, 4), F32), "label": np.zeros((3, 2), F32)})
    assert "layer 'l' (MultinomialLogisticLoss)" in str(e.value), str(e.value)


# ---- InfogainLoss --------------------------------------------------------------------------------

def _infogain_ref(x, labels, H, axis=1, ignore=None, normalization="VALID"):
    s = np.moveaxis(x.astype(np.float64), axis, -1)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    p = p.reshape(-1, p.shape[-1])
    lab = labels.reshape(-1).astype(int)
    valid = lab != ignore if ignore is not None else np.ones(lab.shape, bool)
    loss = -(H.astype(np.float64)[lab[valid]] * np.log(p[valid])).sum()
    outer = int(np.prod(x.shape[:axis]))
    norm = {"VALID": valid.sum(), "FULL": lab.size, "BATCH_SIZE": outer, "NONE": 1}
    return loss / max(1, norm[normalization])


INFOGAIN_CASES = {  # name: (scores shape, labels shape, param, axis, ignore, normalization)
    "default": ((6, 4), (6,), "", 1, None, "VALID"),
    "spatial_axis1": ((2, 3, 2, 2), (2, 2, 2), "", 1, None, "VALID"),
    "axis2_ignore_full": ((2, 2, 3), (2, 2), "infogain_loss_param { axis: 2 } "
                          "loss_param { ignore_label: 1 normalization: FULL }", 2, 1, "FULL"),
}


@pytest.mark.parametrize("case", sorted(INFOGAIN_CASES))
def test_infogain_loss_with_H_bottom(tmp_path, case):
    xshape, lshape, param, axis, ignore, norm = INFOGAIN_CASES[case]
    K = xshape[axis]
    x = gaussian(xshape, 7)
    labels = np.random.default_rng(8).integers(0, K, lshape).astype(F32)
    if ignore is not None:
        labels.reshape(-1)[:2] = ignore
    H = np.random.default_rng(9).uniform(0, 1, (K, K)).astype(F32)
    inputs = {"x": x, "label": labels, "H": H}
    body = loss_body("InfogainLoss", ["x", "label", "H"], param)
    # No force_backward: Caffe refuses a gradient for H, and force_backward would ask for one.
    net = build(tmp_path, 'layer { name: "pre" type: "Bias" bottom: "x" top: "xb" '
                'bias_param { axis: 0 num_axes: -1 } } '
                + body.replace('bottom: "x"', 'bottom: "xb"'),
                inputs, force_backward=False)
    net.params["pre"][0].data[...] = 0
    np.testing.assert_allclose(forward(net, inputs),
                               _infogain_ref(x, labels, H, axis, ignore, norm), rtol=1e-5)
    GradientChecker().check(net, inputs, check_blobs=[], check_params=[("pre", 0)])


def test_infogain_identity_H_is_the_softmax_loss(tmp_path):
    x, labels = gaussian((5, 3), 1), np.array([0, 2, 1, 1, 0], F32)
    inputs = {"x": x, "label": labels, "H": np.eye(3, dtype=F32)}
    info = build(tmp_path, loss_body("InfogainLoss", ["x", "label", "H"]), inputs,
                 force_backward=False)
    soft = build(tmp_path, loss_body("SoftmaxWithLoss", ["x", "label"]),
                 {"x": x, "label": labels}, name="soft.prototxt")
    np.testing.assert_allclose(forward(info, inputs), forward(soft, {"x": x, "label": labels}),
                               rtol=1e-6)


def test_infogain_source_binaryproto_and_probability_top(tmp_path):
    from augdrop_caffe.caffemodel import write_blobproto
    H = np.array([[1.0, 0.5, 0.0], [0.2, 1.0, 0.1], [0.0, 0.3, 2.0]], F32)
    write_blobproto(str(tmp_path / "H.binaryproto"), H.reshape(1, 1, 3, 3))
    x, labels = gaussian((4, 3), 2), np.array([0, 2, 1, 2], F32)
    body = ('layer { name: "l" type: "InfogainLoss" bottom: "x" bottom: "label" top: "loss" '
            f'top: "prob" infogain_loss_param {{ source: "{tmp_path / "H.binaryproto"}" }} }}')
    net = build(tmp_path, body, {"x": x, "label": labels})
    out_loss = forward(net, {"x": x, "label": labels})
    np.testing.assert_allclose(out_loss, _infogain_ref(x, labels, H), rtol=1e-5)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(net.blobs["prob"].data, e / e.sum(1, keepdims=True), rtol=1e-5)
    assert net.blob_loss_weights["prob"] == 0
    GradientChecker().check(net, {"x": x, "label": labels}, check_blobs=["x"], tops=["loss"])


@pytest.mark.parametrize("param,H_shape,match", [
    ("", None, "source must be specified"),
    ("loss_param { normalize: true }", (3, 3), "normalize is deprecated"),
    ("", (2, 2), "H must be 3x3"),
])
def test_infogain_bad_parameters_name_the_layer(tmp_path, param, H_shape, match):
    inputs = {"x": np.zeros((2, 3), F32), "label": np.zeros((2,), F32)}
    bottoms = ["x", "label"]
    if H_shape:
        inputs["H"] = np.zeros(H_shape, F32)
        bottoms.append("H")
    with pytest.raises(caffe.EngineError, match=match) as e:
        build(tmp_path, loss_body("InfogainLoss", bottoms, param), inputs, force_backward=False)
    assert "layer 'l' (InfogainLoss)" in str(e.value), str(e.value)


def test_infogain_refuses_a_gradient_for_H_as_caffe(tmp_path):
    inputs = {"x": gaussian((2, 3)), "label": np.array([0, 1], F32), "H": np.eye(3, dtype=F32)}
    net = build(tmp_path, loss_body("InfogainLoss", ["x", "label", "H"]), inputs)
    forward(net, inputs)
    with pytest.raises(caffe.EngineError, match="cannot backpropagate to infogain"):
        net.backward()
