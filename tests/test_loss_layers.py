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


# ---- EuclideanLoss -----------------------------------------------------------------------------

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
