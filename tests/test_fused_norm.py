"""Fused normalization (Net.fuse_norm_layers): each in-place BatchNorm -> Scale [-> ReLU]
chain run as one forward and one backward pass on the CPU (csrc/layers/batch_norm_fused.cpp)
against the same net run layer by layer: the forward (every blob, the running statistics) bit
for bit, the gradients within float rounding (rtol 1e-5, the sums run in another order)."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from test_resnet20 import resnet_with_input

F32 = np.float32
RTOL, ATOL = 1e-5, 1e-6


def chain_net(bn_param="", scale_param="bias_term: true", relu=True, shape=(3, 4, 5, 6),
              scale_lr=1):
    conv = ('layer { name: "conv" type: "Convolution" bottom: "x" top: "c" '
            'convolution_param { num_output: 4 kernel_size: 3 pad: 1 '
            'weight_filler { type: "gaussian" std: 0.3 } } }') if len(shape) == 4 else \
           ('layer { name: "conv" type: "InnerProduct" bottom: "x" top: "c" '
            'inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.3 } } }')
    dims = " ".join(f"dim: {d}" for d in shape)
    return "\n".join([
        'name: "chain"',
        f'layer {{ name: "input" type: "Input" top: "x" top: "label" '
        f'input_param {{ shape {{ {dims} }} shape {{ dim: {shape[0]} }} }} }}',
        conv,
        f'layer {{ name: "bn" type: "BatchNorm" bottom: "c" top: "c" {bn_param} }}',
        f'layer {{ name: "scale" type: "Scale" bottom: "c" top: "c" '
        f'param {{ lr_mult: {scale_lr} }} '
        + ('' if "bias_term: true" not in scale_param else f'param {{ lr_mult: {scale_lr} }} ')
        + f'scale_param {{ {scale_param} filler {{ type: "uniform" min: 0.5 max: 1.5 }} '
        f'bias_filler {{ type: "uniform" min: -0.5 max: 0.5 }} }} }}',
        'layer { name: "relu" type: "ReLU" bottom: "c" top: "c" }' if relu else "",
        'layer { name: "ip" type: "InnerProduct" bottom: "c" top: "z" '
        'inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.3 } } }',
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "z" bottom: "label" top: "loss" }',
    ]) + "\n"


def make(tmp_path, text, fused, seed=3):
    path = tmp_path / "net.prototxt"
    if not isinstance(text, str) or "\n" in text:
        path.write_text(text)
        text = str(path)
    caffe.set_random_seed(seed)
    net = caffe.Net(text, caffe.TRAIN)
    net.fuse_norm_layers = fused
    rng = np.random.default_rng(seed)
    x = net.blobs[net.inputs[0]]
    x.data[...] = rng.normal(size=x.data.shape)
    net.blobs["label"].data[...] = rng.integers(0, 3, size=net.blobs["label"].data.shape)
    return net


def passes(net, n=2):
    """n forward-backward passes (the running statistics accumulate); every blob's data after
    each forward, and the gradients of the last."""
    forwards = []
    caffe.set_random_seed(99)  # the same dropout masks for both nets
    for _ in range(n):
        net.clear_param_diffs()
        net._net.forward()
        forwards.append({k: np.array(b.data) for k, b in net.blobs.items()})
        net._net.backward()
    stats = {f"{k}/{i}": np.array(b.data) for k, bs in net.params.items() for i, b in enumerate(bs)}
    grads = {f"{k}/{i}": np.array(b.diff) for k, bs in net.params.items() for i, b in enumerate(bs)}
    grads["x"] = np.array(net.blobs[net.inputs[0]].diff)
    return forwards, stats, grads


def assert_fused_matches(tmp_path, text, chains):
    ref, fused = make(tmp_path, text, False), make(tmp_path, text, True)
    assert fused._net.num_norm_chains == chains
    f_ref, s_ref, g_ref = passes(ref)
    f_fus, s_fus, g_fus = passes(fused)
    assert ref._net.num_norm_chains_run_fused == 0
    assert fused._net.num_norm_chains_run_fused == chains
    for a, b in zip(f_ref, f_fus):
        for k in a:
            np.testing.assert_array_equal(b[k], a[k], err_msg=f"forward {k}")
    for k in s_ref:  # params and BatchNorm's running sums
        np.testing.assert_array_equal(s_fus[k], s_ref[k], err_msg=f"param {k}")
    for k in g_ref:
        np.testing.assert_allclose(g_fus[k], g_ref[k], rtol=RTOL, atol=ATOL, err_msg=f"grad {k}")
    assert any(np.abs(g).max() > 0 for g in g_ref.values())


@pytest.mark.parametrize("relu", [True, False], ids=["relu", "no_relu"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_batch_stats_chain(tmp_path, relu, bias):
    assert_fused_matches(tmp_path, chain_net(relu=relu, scale_param=f"bias_term: {str(bias).lower()}"), 1)


def test_global_stats_chain(tmp_path):
    text = chain_net(bn_param="batch_norm_param { use_global_stats: true }")
    ref, fused = make(tmp_path, text, False), make(tmp_path, text, True)
    for net in (ref, fused):  # stored statistics: mean_sum, var_sum, scale factor
        bn = net.params["bn"]
        bn[0].data[...] = np.linspace(-1, 1, 4)
        bn[1].data[...] = np.linspace(0.5, 2, 4)
        bn[2].data[...] = 2.0
    f_ref, _, g_ref = passes(ref, 1)
    f_fus, _, g_fus = passes(fused, 1)
    assert fused._net.num_norm_chains_run_fused == 1
    for k in f_ref[0]:
        np.testing.assert_array_equal(f_fus[0][k], f_ref[0][k], err_msg=k)
    for k in g_ref:
        np.testing.assert_allclose(g_fus[k], g_ref[k], rtol=RTOL, atol=ATOL, err_msg=k)


def test_two_axis_bottom_and_fixed_scale(tmp_path):
    """(N, C) blobs (spatial 1), and a Scale with lr_mult 0 (no parameter gradient)."""
    assert_fused_matches(tmp_path, chain_net(shape=(7, 5), scale_lr=0), 1)


def test_resnet20_training_pass(tmp_path):
    """21 chains (10 with a ReLU); the whole net's forward bit for bit, gradients close."""
    path = resnet_with_input(tmp_path, "cifar10", 2)
    assert_fused_matches(tmp_path, path, 21)


def test_forward_that_ends_inside_a_chain_runs_unfused(tmp_path):
    text = chain_net()
    ref, fused = make(tmp_path, text, False), make(tmp_path, text, True)
    for net in (ref, fused):
        net.forward(end="bn")  # BatchNorm's output, as Caffe leaves the in-place blob
    np.testing.assert_array_equal(fused.blobs["c"].data, ref.blobs["c"].data)
    assert fused._net.num_norm_chains_run_fused == 0
    fused.forward()
    assert fused._net.num_norm_chains_run_fused == 1
    with pytest.raises(caffe.EngineError, match="fused normalization chain") as e:
        fused._net.backward_from_to(list(fused._layer_names).index("relu"),
                                    list(fused._layer_names).index("scale"))
    assert e.value.layer == "relu"
    fused.fuse_norm_layers = False  # unfused again from the next forward on
    assert fused.fuse_norm_layers is False
    fused.forward()
    assert fused._net.num_norm_chains_run_fused == 0
    fused.backward()


def test_chains_need_the_in_place_pattern(tmp_path):
    """Not fused: a Scale over two axes, a leaky ReLU (it stays outside the chain), a
    BatchNorm not in place."""
    assert make(tmp_path, chain_net(scale_param="num_axes: 2"), True)._net.num_norm_chains == 0
    leaky = chain_net().replace('top: "c" }', 'top: "c" relu_param { negative_slope: 0.1 } }')
    assert_fused_matches(tmp_path, leaky, 1)
    separate = chain_net().replace('name: "bn" type: "BatchNorm" bottom: "c" top: "c"',
                                   'name: "bn" type: "BatchNorm" bottom: "c" top: "b"') \
        .replace('bottom: "c" top: "c" param', 'bottom: "b" top: "b" param') \
        .replace('name: "relu" type: "ReLU" bottom: "c" top: "c"', 'name: "relu" type: "ReLU" bottom: "b" top: "b"') \
        .replace('type: "InnerProduct" bottom: "c" top: "z"', 'type: "InnerProduct" bottom: "b" top: "z"')
    assert make(tmp_path, separate, True)._net.num_norm_chains == 0
