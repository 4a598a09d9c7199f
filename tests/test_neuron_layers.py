"""The elementwise (neuron) layers of Caffe's catalogue: Sigmoid, TanH, AbsVal, BNLL, ELU, Exp,
Log, Power, Swish, Threshold, Clip. Each: its formula against a numpy reference on a small
hand-made input, the gradient checker (all but Threshold, which has no gradient), in place
where Caffe allows it, and bad parameters raising an error that names the layer."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from gradient_check import GradientChecker, write_net

F32 = np.float32
# Hand-made: negatives, small magnitudes, positives, a few large magnitudes. POS stays away from
# 0, where Log and Power curve too fast for a central difference of step 0.01.
X = np.array([[-3.0, -1.5, -0.7, -0.2, 0.1, 0.4],
              [0.9, 1.3, 2.0, 2.7, -2.2, 3.5]], F32)
POS = np.array([[0.35, 0.3, 0.8, 1.0, 1.7, 2.5], [3.0, 0.6, 1.2, 4.5, 0.45, 2.2]], F32)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def body(layer_type, top="y", param=""):
    return f'layer {{ name: "n" type: "{layer_type}" bottom: "x" top: "{top}" {param} }}'


# name: (type, param text, numpy reference of top, input, in place allowed, kink points)
CASES = {
    "sigmoid": ("Sigmoid", "", sigmoid, X, True, []),
    "tanh": ("TanH", "", np.tanh, X, True, []),
    "absval": ("AbsVal", "", np.abs, X, False, [0.0]),
    "bnll": ("BNLL", "", lambda x: np.log1p(np.exp(x)), X, False, []),
    "elu": ("ELU", "", lambda x: np.where(x > 0, x, np.exp(x) - 1), X, True, [0.0]),
    "elu_alpha0.4": ("ELU", "elu_param { alpha: 0.4 }",
                     lambda x: np.where(x > 0, x, 0.4 * (np.exp(x) - 1)), X, True, [0.0]),
    "exp": ("Exp", "", np.exp, X, True, []),
    "exp_base3_scale_shift": ("Exp", "exp_param { base: 3 scale: 0.5 shift: -0.3 }",
                              lambda x: 3.0 ** (-0.3 + 0.5 * x), X, True, []),
    "log": ("Log", "", np.log, POS, False, []),
    "log_base10_scale_shift": ("Log", "log_param { base: 10 scale: 0.7 shift: 0.4 }",
                               lambda x: np.log10(0.4 + 0.7 * x), POS, False, []),
    "power_0.5": ("Power", "power_param { power: 0.5 scale: 1.2 shift: 0.3 }",
                  lambda x: (0.3 + 1.2 * x) ** 0.5, POS, False, []),
    "power_3_noshift": ("Power", "power_param { power: 3 scale: -0.8 }",
                        lambda x: (-0.8 * x) ** 3, X, False, []),
    "power_2": ("Power", "power_param { power: 2 scale: 0.5 shift: 1 }",
                lambda x: (1 + 0.5 * x) ** 2, X, False, []),
    "power_1": ("Power", "power_param { power: 1 scale: -2 shift: 0.5 }",
                lambda x: 0.5 - 2 * x, X, False, []),
    "power_scale0": ("Power", "power_param { power: 2.5 scale: 0 shift: 2 }",
                     lambda x: np.full_like(x, 2.0 ** 2.5), X, False, []),
    "swish": ("Swish", "", lambda x: x * sigmoid(x), X, True, []),
    "swish_beta1.5": ("Swish", "swish_param { beta: 1.5 }", lambda x: x * sigmoid(1.5 * x), X,
                      True, []),
    "clip": ("Clip", "clip_param { min: -0.5 max: 0.8 }", lambda x: np.clip(x, -0.5, 0.8), X,
             False, [-0.5, 0.8]),
}


def _net(tmp_path, case, in_place=False):
    layer_type, param, _, x, _, _ = CASES[case]
    top = "x" if in_place else "y"
    net = caffe.Net(write_net(tmp_path, body(layer_type, top, param), {"x": x.shape}), caffe.TRAIN)
    return net, top


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_matches_numpy(tmp_path, case):
    _, _, ref, x, _, _ = CASES[case]
    net, top = _net(tmp_path, case)
    net.blobs["x"].data[...] = x
    y = net.forward()[top]
    np.testing.assert_allclose(y, ref(x.astype(np.float64)), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient(tmp_path, case, in_place):
    *_, x, in_place_ok, kinks = CASES[case]
    if in_place and not in_place_ok:
        pytest.skip("Caffe's backward pass of this layer reads the bottom data: not in place")
    net, top = _net(tmp_path, case, in_place)
    for k in kinks:  # keep away from kinks by more than the checker's step
        assert np.all(np.abs(x - k) > 0.05)
    GradientChecker().check(net, {"x": x.copy()}, tops=[top])


def test_threshold_forward(tmp_path):
    net = caffe.Net(write_net(tmp_path, body("Threshold", param="threshold_param { threshold: 0.4 }"),
                              {"x": X.shape}, force_backward=False), caffe.TEST)
    net.blobs["x"].data[...] = X
    np.testing.assert_array_equal(net.forward()["y"], (X > 0.4).astype(F32))
    default = caffe.Net(write_net(tmp_path, body("Threshold"), {"x": X.shape},
                                  name="default.prototxt", force_backward=False), caffe.TEST)
    default.blobs["x"].data[...] = X
    np.testing.assert_array_equal(default.forward()["y"], (X > 0).astype(F32))


def test_threshold_backward_is_an_error_naming_the_layer(tmp_path):
    net = caffe.Net(write_net(tmp_path, body("Threshold"), {"x": X.shape}), caffe.TRAIN)
    net.blobs["x"].data[...] = X
    net.forward()
    with pytest.raises(caffe.EngineError, match="no backward pass") as e:
        net.backward(y=np.ones_like(X))
    assert "'n'" in str(e.value) and "Threshold" in str(e.value), str(e.value)


@pytest.mark.parametrize("layer_type,param,match", [
    ("Exp", "exp_param { base: -2 }", "base"),
    ("Exp", "exp_param { base: 0 }", "base"),
    ("Log", "log_param { base: -0.5 }", "base"),
    ("Log", "log_param { base: 1 }", "base"),
    ("Clip", "clip_param { min: -1 }", "max"),
])
def test_bad_parameters_name_the_layer(tmp_path, layer_type, param, match):
    with pytest.raises(caffe.EngineError, match=match) as e:
        caffe.Net(write_net(tmp_path, body(layer_type, param=param), {"x": (2, 3)}), caffe.TRAIN)
    assert f"layer 'n' ({layer_type})" in str(e.value), str(e.value)


def test_absval_refuses_in_place(tmp_path):
    with pytest.raises(caffe.EngineError, match="in-place"):
        caffe.Net(write_net(tmp_path, body("AbsVal", top="x"), {"x": (2, 3)}), caffe.TRAIN)


def test_power_negative_base_fractional_power_is_nan_as_in_caffe(tmp_path):
    """Caffe computes pow() as is: a negative base with a non-integer power gives NaN."""
    net = caffe.Net(write_net(tmp_path, body("Power", param="power_param { power: 0.5 }"),
                              {"x": (1, 2)}), caffe.TRAIN)
    net.blobs["x"].data[...] = np.array([[-4.0, 4.0]], F32)
    y = net.forward()["y"]
    assert np.isnan(y[0, 0]) and y[0, 1] == 2.0


def test_relu_is_a_neuron_layer_still(tmp_path):
    net = caffe.Net(write_net(tmp_path, body("ReLU", top="x"), {"x": X.shape}), caffe.TRAIN)
    net.blobs["x"].data[...] = X
    np.testing.assert_array_equal(net.forward()["x"], np.maximum(X, 0))
