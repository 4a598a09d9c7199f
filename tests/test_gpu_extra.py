"""More GPU-vs-CPU cases than tests/test_gpu.py: in-place layers, options off the default path,
sizes that need several blocks or several iterations per thread, param-diff accumulation over
two backward passes, L1 regularization, iter_size and clip_gradients on the solver. Skipped, as
test_gpu.py, where no GPU is usable; CI runs them on the CUDA emulator (tools/cuda_emu)."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from gradient_check import write_net
from test_gpu import (ATOL, RTOL, assert_same, pytestmark,  # noqa: F401 - skips here too
                      run_both, train_both_and_compare)
from test_gradients import distinct, gaussian


@pytest.fixture(autouse=True)
def cpu_mode_after():
    yield
    caffe.set_mode_cpu()
    caffe.set_gpu_dropout_masks("device")


AD = ('layer {{ name: "l" type: "AugmentedDropout" bottom: "x" top: "{top}" '
      'augmented_dropout_param {{ variant: {v} forward_ratio: 0.3 backward_ratio: 0.2 {extra} }} }} '
      'layer {{ name: "ip" type: "InnerProduct" bottom: "{top}" top: "z" '
      'inner_product_param {{ num_output: 3 }} }}')

CASES = {
    "eltwise_prod_unstable3": ('layer { name: "l" type: "Eltwise" bottom: "x" bottom: "z" bottom: "w" '
                               'top: "y" eltwise_param { operation: PROD stable_prod_grad: false } }',
                               {"x": (2, 3, 4), "z": (2, 3, 4), "w": (2, 3, 4)}),
    "eltwise_prod_stable3": ('layer { name: "l" type: "Eltwise" bottom: "x" bottom: "z" bottom: "w" '
                             'top: "y" eltwise_param { operation: PROD } }',
                             {"x": (2, 3, 4), "z": (2, 3, 4), "w": (2, 3, 4)}),
    "eltwise_max3": ('layer { name: "l" type: "Eltwise" bottom: "x" bottom: "z" bottom: "w" top: "y" '
                     'eltwise_param { operation: MAX } }', {"x": (2, 3, 4), "z": (2, 3, 4), "w": (2, 3, 4)}),
    "eltwise_sum3": ('layer { name: "l" type: "Eltwise" bottom: "x" bottom: "z" bottom: "w" top: "y" '
                     'eltwise_param { operation: SUM coeff: 1 coeff: -0.5 coeff: 1 } }',
                     {"x": (2, 3, 4), "z": (2, 3, 4), "w": (2, 3, 4)}),
    "relu_inplace": ('layer { name: "l" type: "ReLU" bottom: "x" top: "x" }', {"x": (3, 700)}),
    "relu_big": ('layer { name: "l" type: "ReLU" bottom: "x" top: "y" }', {"x": (5, 1000)}),
    "dropout_inplace": ('layer { name: "l" type: "Dropout" bottom: "x" top: "x" '
                        'dropout_param { dropout_ratio: 0.4 } }', {"x": (3, 700)}),
    "batchnorm_inplace": ('layer { name: "l" type: "BatchNorm" bottom: "x" top: "x" }', {"x": (4, 3, 2, 2)}),
    "batchnorm_big_spatial": ('layer { name: "l" type: "BatchNorm" bottom: "x" top: "y" }', {"x": (3, 2, 23, 29)}),
    "batchnorm_2d": ('layer { name: "l" type: "BatchNorm" bottom: "x" top: "y" }', {"x": (8, 5)}),
    "batchnorm_global_train": ('layer { name: "l" type: "BatchNorm" bottom: "x" top: "y" '
                               'batch_norm_param { use_global_stats: true } }', {"x": (4, 3, 2, 2)}),
    "scale_inplace": ('layer { name: "l" type: "Scale" bottom: "x" top: "x" scale_param { bias_term: true } }',
                      {"x": (2, 3, 4, 2)}),
    "scale_nobias": ('layer { name: "l" type: "Scale" bottom: "x" top: "y" }', {"x": (2, 3, 4, 2)}),
    "scale_big_inner": ('layer { name: "l" type: "Scale" bottom: "x" top: "y" scale_param { bias_term: true } }',
                        {"x": (2, 3, 30, 31)}),
    "scale_axis0_2axes": ('layer { name: "l" type: "Scale" bottom: "x" top: "y" '
                          'scale_param { axis: 0 num_axes: 2 bias_term: true } }', {"x": (2, 3, 4)}),
    "softmax_axis2": ('layer { name: "l" type: "Softmax" bottom: "x" top: "y" softmax_param { axis: 2 } }',
                      {"x": (2, 3, 4, 5)}),
    "softmax_inplace": ('layer { name: "l" type: "Softmax" bottom: "x" top: "x" }', {"x": (3, 7)}),
    "pool_max_mask_top": ('layer { name: "l" type: "Pooling" bottom: "x" top: "y" top: "m" '
                          'pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }', {"x": (2, 2, 9, 8)}),
    "pool_ave_pad": ('layer { name: "l" type: "Pooling" bottom: "x" top: "y" '
                     'pooling_param { pool: AVE kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 1 } }',
                     {"x": (2, 2, 7, 6)}),
    "pool_max_big": ('layer { name: "l" type: "Pooling" bottom: "x" top: "y" '
                     'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }', {"x": (4, 8, 16, 16)}),
    "ip_nobias_axis2": ('layer { name: "l" type: "InnerProduct" bottom: "x" top: "y" '
                        'inner_product_param { num_output: 4 bias_term: false axis: 2 } }', {"x": (2, 3, 5)}),
    "ip_big": ('layer { name: "l" type: "InnerProduct" bottom: "x" top: "y" '
               'inner_product_param { num_output: 600 } }', {"x": (9, 70)}),
    "conv_two_bottoms": ('layer { name: "l" type: "Convolution" bottom: "x" bottom: "z" top: "y" top: "yz" '
                         'convolution_param { num_output: 3 kernel_size: 3 pad: 1 stride: 2 } }',
                         {"x": (2, 2, 5, 5), "z": (2, 2, 5, 5)}),
    "conv_big": ('layer { name: "l" type: "Convolution" bottom: "x" top: "y" '
                 'convolution_param { num_output: 8 kernel_size: 5 } }', {"x": (3, 4, 20, 20)}),
}
# The neuron layers (tests/test_neuron_layers.py), over several blocks, in place where Caffe
# allows it. Cases named positive_* get inputs above 0 (Log, a fractional Power).
NEURON = 'layer {{ name: "l" type: "{t}" bottom: "x" top: "{top}" {p} }}'
for _name, _t, _p, _in_place in [
        ("sigmoid", "Sigmoid", "", True), ("tanh", "TanH", "", True), ("absval", "AbsVal", "", False),
        ("bnll", "BNLL", "", False), ("elu", "ELU", "elu_param { alpha: 0.4 }", True),
        ("exp", "Exp", "exp_param { base: 2 scale: 0.5 shift: -0.3 }", True),
        ("positive_log", "Log", "log_param { base: 2 scale: 0.7 shift: 0.4 }", False),
        ("positive_power_half", "Power", "power_param { power: 0.5 scale: 1.2 shift: 0.3 }", False),
        ("power_2", "Power", "power_param { power: 2 scale: 0.5 shift: 1 }", False),
        ("power_3_noshift", "Power", "power_param { power: 3 scale: -0.8 }", False),
        ("power_1", "Power", "power_param { power: 1 scale: -2 shift: 0.5 }", False),
        ("power_scale0", "Power", "power_param { power: 2 scale: 0 shift: 1.5 }", False),
        ("swish", "Swish", "swish_param { beta: 1.5 }", True),
        ("clip", "Clip", "clip_param { min: -0.5 max: 0.8 }", False)]:
    CASES[f"neuron_{_name}"] = (NEURON.format(t=_t, top="y", p=_p), {"x": (3, 700)})
    if _in_place:
        CASES[f"neuron_{_name}_inplace"] = (NEURON.format(t=_t, top="x", p=_p), {"x": (3, 700)})
for _v in ("STANDARD", "FORWARD", "BACKWARD", "AUGMENTED"):
    CASES[f"ad_{_v.lower()}_inplace"] = (AD.format(top="x", v=_v, extra=""), {"x": (4, 40)})
    CASES[f"ad_{_v.lower()}_no_mbf"] = (AD.format(top="y", v=_v, extra="mask_backward_features: false"),
                                        {"x": (4, 40)})
    CASES[f"ad_{_v.lower()}_big"] = (AD.format(top="y", v=_v, extra=""), {"x": (3, 1500)})


def values_for(case, inputs):
    maker = distinct if "max" in case else gaussian
    values = {name: maker(shape, seed=i) for i, (name, shape) in enumerate(inputs.items())}
    if "positive_" in case:
        values = {name: np.abs(v) + np.float32(0.1) for name, v in values.items()}
    return values


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer(tmp_path, case):
    body, inputs = CASES[case]
    assert_same(run_both(tmp_path, body, inputs, values_for(case, inputs)))


def test_threshold_forward_gpu_matches_cpu(tmp_path):
    """Threshold has no backward pass (as in Caffe): its forward alone, in both modes."""
    x = gaussian((3, 700), seed=3)
    x[np.abs(x - 0.3) < 1e-3] += 0.01
    body = 'layer { name: "l" type: "Threshold" bottom: "x" top: "y" threshold_param { threshold: 0.3 } }'
    outs = []
    for mode in (caffe.set_mode_cpu, caffe.set_mode_gpu):
        mode()
        net = caffe.Net(write_net(tmp_path, body, {"x": x.shape}, force_backward=False), caffe.TEST)
        net.blobs["x"].data[...] = x
        outs.append(np.array(net.forward()["y"]))
    np.testing.assert_array_equal(outs[0], (x > 0.3).astype(np.float32))
    np.testing.assert_array_equal(outs[1], outs[0])


def test_softmax_loss_many_blocks(tmp_path):
    """1800 labels: SumBlocks over 4 blocks, then SumTotal."""
    body = ('layer { name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" '
            'loss_param { ignore_label: 1 normalization: VALID } }')
    inputs = {"x": (2, 5, 30, 30), "label": (2, 1, 30, 30)}
    values = {"x": gaussian(inputs["x"]),
              "label": np.random.default_rng(3).integers(0, 5, inputs["label"]).astype(np.float32)}
    pairs = run_both(tmp_path, body, inputs, values)
    assert_same({k: v for k, v in pairs.items() if k != "diff/label"})


@pytest.mark.parametrize("norm", ["FULL", "BATCH_SIZE", "NONE"])
def test_softmax_loss_normalizations(tmp_path, norm):
    body = ('layer { name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" '
            f'loss_weight: 2.5 loss_param {{ normalization: {norm} }} }}')
    inputs = {"x": (6, 4), "label": (6,)}
    values = {"x": gaussian(inputs["x"]),
              "label": np.random.default_rng(4).integers(0, 4, 6).astype(np.float32)}
    pairs = run_both(tmp_path, body, inputs, values)
    assert_same({k: v for k, v in pairs.items() if k != "diff/label"})


def test_softmax_loss_bad_label_raises_on_gpu(tmp_path):
    body = 'layer { name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" }'
    caffe.set_mode_gpu()
    net = caffe.Net(write_net(tmp_path, body, {"x": (4, 3), "label": (4,)}), caffe.TRAIN)
    net.blobs["x"].data[...] = gaussian((4, 3))
    net.blobs["label"].data[...] = np.array([0, 1, 7, 2], np.float32)
    with pytest.raises(caffe.EngineError):
        net.forward()


BODY_ACC = ('layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 3 kernel_size: 3 } } '
            'layer { name: "s" type: "Scale" bottom: "c" top: "s" scale_param { bias_term: true } } '
            'layer { name: "ip" type: "InnerProduct" bottom: "s" top: "y" inner_product_param { num_output: 4 } }')


def test_param_diffs_accumulate_over_two_backwards(tmp_path):
    inputs = {"x": (2, 2, 6, 6)}
    x = gaussian(inputs["x"])
    outs = []
    for mode in (caffe.set_mode_cpu, caffe.set_mode_gpu):
        mode()
        caffe.set_random_seed(3)
        net = caffe.Net(write_net(tmp_path, BODY_ACC, inputs), caffe.TRAIN)
        rng = np.random.default_rng(3)
        for layer in net.layers:
            for b in layer.blobs:
                b.data[...] = rng.normal(0, 0.5, size=b.data.shape)
        net.blobs["x"].data[...] = x
        net.clear_param_diffs()
        for _ in range(2):
            y = net.forward()["y"]
            net.backward(y=gaussian(np.shape(y), seed=11))
        outs.append({f"{k}/{i}": np.array(b.diff) for k, bs in net.params.items() for i, b in enumerate(bs)})
    for k in outs[0]:
        np.testing.assert_allclose(outs[1][k], outs[0][k], rtol=RTOL, atol=ATOL, err_msg=k)


@pytest.mark.parametrize("extra", ['regularization_type: "L1"', "iter_size: 2", "clip_gradients: 0.1"])
def test_solver_options_gpu_match_cpu(tmp_path, extra):
    net = tmp_path / "net.prototxt"
    net.write_text(
        'name: "small" layer { name: "data" type: "Input" top: "x" top: "label" '
        'input_param { shape { dim: 6 dim: 2 dim: 8 dim: 8 } shape { dim: 6 } } }\n'
        'layer { name: "conv" type: "Convolution" bottom: "x" top: "c" convolution_param { '
        'num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }\n'
        + ('' if "L1" in extra else  # BN zeroes the conv bias gradient: L1 on noise-signed values
           'layer { name: "bn" type: "BatchNorm" bottom: "c" top: "c" }\n') +
        'layer { name: "sc" type: "Scale" bottom: "c" top: "c" scale_param { bias_term: true } }\n'
        'layer { name: "relu" type: "ReLU" bottom: "c" top: "c" }\n'
        'layer { name: "pool" type: "Pooling" bottom: "c" top: "p" pooling_param { pool: AVE '
        'kernel_size: 2 stride: 2 } }\n'
        'layer { name: "drop" type: "AugmentedDropout" bottom: "p" top: "d" '
        'augmented_dropout_param { variant: FORWARD forward_ratio: 0.3 } }\n'
        'layer { name: "ip" type: "InnerProduct" bottom: "d" top: "ip" inner_product_param { '
        'num_output: 3 weight_filler { type: "xavier" } } }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n')
    solver = tmp_path / "solver.prototxt"
    solver.write_text(f'net: "{net}" type: "SGD" base_lr: 0.05 momentum: 0.9 '
                      f'weight_decay: 0.01 lr_policy: "fixed" max_iter: 6 random_seed: 3 {extra}\n')
    train_both_and_compare(solver, (6, 2, 8, 8), steps=6)


def test_relu_keeps_nan_as_the_cpu_does(tmp_path):
    """A diverging run must reach the non-finite-loss check: ReLU passes NaN on, on both paths."""
    body = 'layer { name: "l" type: "ReLU" bottom: "x" top: "y" relu_param { negative_slope: 0.1 } }'
    x = gaussian((2, 3, 4))
    x[0, 0, :2] = np.nan
    x[1, 2, 3] = -0.0
    pairs = run_both(tmp_path, body, {"x": (2, 3, 4)}, {"x": x})
    cpu, gpu = pairs["top/y"]
    assert np.isnan(cpu[0, 0, :2]).all() and np.isnan(gpu[0, 0, :2]).all()
    assert_same(pairs)  # NaN where the CPU has NaN, the same numbers elsewhere


def test_out_of_device_memory_is_an_error_the_caller_can_go_on_after(tmp_path):
    """A failed cudaMalloc raises EngineError and leaves no sticky error behind: the next
    launches (a small net) run."""
    caffe.set_mode_gpu()
    huge = caffe.Net(write_net(tmp_path, 'layer { name: "l" type: "ReLU" bottom: "x" top: "y" }',
                               {"x": (1024, 1024, 1024, 512)}), caffe.TEST)  # 2 TiB
    with pytest.raises(caffe.EngineError, match="cudaMalloc"):
        huge.forward()
    del huge
    assert_same(run_both(tmp_path, 'layer { name: "l" type: "ReLU" bottom: "x" top: "y" }',
                         {"x": (2, 3)}, {"x": gaussian((2, 3))}))


def test_data_layers_feed_gpu_layers(tmp_path):
    """The data layers fill host blobs (no kernels of their own): in GPU mode the layers after
    them read what SyncedMemory copies up, forward after forward, as on the CPU."""
    body = """
layer { name: "mem" type: "MemoryData" top: "m" top: "label"
        memory_data_param { batch_size: 2 channels: 3 height: 1 width: 1 } }
layer { name: "dummy" type: "DummyData" top: "d" top: "c"
        dummy_data_param { shape { dim: 2 dim: 3 dim: 1 dim: 1 }
                           shape { dim: 2 dim: 3 dim: 1 dim: 1 }
                           data_filler { type: "gaussian" std: 1 }
                           data_filler { type: "constant" value: 0.5 } } }
layer { name: "sum" type: "Eltwise" bottom: "m" bottom: "d" bottom: "c" top: "s" }
layer { name: "ip" type: "InnerProduct" bottom: "s" top: "y"
        inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 1 } } }"""
    path = tmp_path / "data.prototxt"
    path.write_text(body)
    data = gaussian((6, 3, 1, 1), seed=2)
    labels = np.arange(6, dtype=np.float32)
    outs = []
    for mode in (caffe.set_mode_cpu, caffe.set_mode_gpu):
        mode()
        caffe.set_random_seed(3)
        net = caffe.Net(str(path), caffe.TEST)
        net.set_input_arrays(data, labels)
        outs.append([np.array(net.forward()["y"]) for _ in range(4)])
    for c, g in zip(*outs):
        np.testing.assert_allclose(g, c, rtol=RTOL, atol=ATOL)
    assert not np.allclose(outs[0][0], outs[0][1])  # the gaussian top is refilled
