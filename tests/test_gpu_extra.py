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
# The loss layers on LossLayer (tests/test_loss_layers.py) and LRN, MVN, PReLU, Bias, Scale by a
# second bottom (tests/test_normalization_layers.py, tests/test_affine_layers.py), over several
# blocks where a kernel loops.
L = 'layer {{ name: "l" type: "{t}" {b} top: "{top}" {p} }}'
for _name, _t, _bottoms, _p, _inputs in [
        ("euclidean", "EuclideanLoss", "xz", "", {"x": (7, 300), "z": (7, 300)}),
        ("sigmoid_xent", "SigmoidCrossEntropyLoss", "xz", "", {"x": (5, 400), "z": (5, 400)}),
        ("sigmoid_xent_ignore_valid", "SigmoidCrossEntropyLoss", "xz",
         "loss_weight: 2 loss_param { ignore_label: -1 normalization: VALID }",
         {"x": (4, 30), "z": (4, 30)}),
        ("lrn_across", "LRN", "x", "", {"x": (2, 7, 9, 11)}),
        ("lrn_across_n3_k2", "LRN", "x", "lrn_param { local_size: 3 alpha: 0.5 k: 2 }",
         {"x": (2, 4, 3, 5)}),
        ("lrn_within", "LRN", "x", "lrn_param { norm_region: WITHIN_CHANNEL local_size: 3 alpha: 0.5 }",
         {"x": (2, 3, 17, 19)}),
        ("mvn", "MVN", "x", "", {"x": (2, 3, 20, 30)}),
        ("mvn_across", "MVN", "x", "mvn_param { across_channels: true }", {"x": (2, 3, 4, 5)}),
        ("mvn_nonorm", "MVN", "x", "mvn_param { normalize_variance: false }", {"x": (2, 3, 4, 5)}),
        ("prelu", "PReLU", "x", "", {"x": (2, 3, 20, 30)}),
        ("prelu_shared", "PReLU", "x", "prelu_param { channel_shared: true }", {"x": (2, 3, 40)}),
        ("bias_learned", "Bias", "x", "bias_param { axis: 1 num_axes: 2 }", {"x": (2, 3, 4, 50)}),
        ("bias_two_bottoms", "Bias", "xz", "", {"x": (2, 3, 4, 50), "z": (3, 4)}),
        ("bias_scalar", "Bias", "x", "bias_param { num_axes: 0 }", {"x": (3, 700)}),
        ("scale_two_bottoms", "Scale", "xz", "scale_param { axis: 0 }", {"x": (2, 3, 4, 40), "z": (2, 3)}),
        ("scale_two_bottoms_bias", "Scale", "xz", "scale_param { bias_term: true }",
         {"x": (2, 3, 4, 4), "z": (3, 4)})]:
    _b = " ".join(f'bottom: "{n}"' for n in _bottoms)
    _top = "loss" if "Loss" in _t else "y"
    CASES[_name] = (L.format(t=_t, b=_b, top=_top, p=_p), _inputs)
    if _t in ("MVN", "PReLU", "Bias", "Scale"):
        CASES[f"{_name}_inplace"] = (L.format(t=_t, b=_b, top="x", p=_p), _inputs)
# The convolution family (tests/test_conv_catalogue.py): Deconvolution, Im2col, SPP, N-d
# Convolution and Deconvolution, and Pooling STOCHASTIC (its uniforms from Caffe's stream on the host in both modes).
LAYER = 'layer {{ name: "l" type: "{t}" bottom: "x" top: "y" {p} }}'
for _name, _t, _p, _shape in [
        ("deconv_k3_s1", "Deconvolution", "convolution_param { num_output: 4 kernel_size: 3 }", (2, 3, 4, 4)),
        ("deconv_k4_s2_p1", "Deconvolution", "convolution_param { num_output: 2 kernel_size: 4 stride: 2 pad: 1 }",
         (2, 3, 4, 4)),
        ("deconv_group2_s2_p1", "Deconvolution",
         "convolution_param { num_output: 6 kernel_size: 3 stride: 2 pad: 1 group: 2 }", (2, 4, 3, 3)),
        ("deconv_dilation_nobias", "Deconvolution",
         "convolution_param { num_output: 3 kernel_h: 3 kernel_w: 2 dilation: 2 bias_term: false }", (2, 2, 3, 4)),
        ("im2col_k3_p1", "Im2col", "convolution_param { kernel_size: 3 pad: 1 }", (2, 2, 5, 5)),
        ("im2col_k2_s2_dilated", "Im2col", "convolution_param { kernel_size: 2 stride: 2 dilation: 2 }",
         (2, 3, 7, 6)),
        ("spp_max_h3", "SPP", "spp_param { pyramid_height: 3 pool: MAX }", (2, 2, 9, 11)),
        ("spp_ave_h2", "SPP", "spp_param { pyramid_height: 2 pool: AVE }", (2, 3, 6, 7)),
        ("spp_max_h1", "SPP", "spp_param { pyramid_height: 1 }", (2, 2, 5, 5)),
        ("im2col_3d", "Im2col", "convolution_param { kernel_size: 2 kernel_size: 2 kernel_size: 3 stride: 2 "
         "pad: 1 dilation: 1 dilation: 1 dilation: 2 }", (2, 2, 4, 3, 5)),
        ("conv3d_per_axis", "Convolution", "convolution_param { num_output: 3 kernel_size: 3 kernel_size: 2 "
         "kernel_size: 2 stride: 1 stride: 2 stride: 1 pad: 1 pad: 0 pad: 1 }", (2, 2, 4, 5, 3)),
        ("conv1d_group", "Convolution", "convolution_param { num_output: 6 kernel_size: 3 stride: 2 pad: 1 "
         "group: 3 }", (2, 3, 9)),
        ("deconv3d_dilated", "Deconvolution", "convolution_param { num_output: 2 kernel_size: 2 stride: 2 "
         "dilation: 2 }", (2, 3, 2, 3, 2)),
        ("positive_pool_stochastic", "Pooling", "pooling_param { pool: STOCHASTIC kernel_size: 3 stride: 2 }",
         (2, 3, 9, 8))]:
    CASES[_name] = (LAYER.format(t=_t, p=_p), {"x": _shape})
CASES["deconv_two_bottoms"] = (
    'layer { name: "l" type: "Deconvolution" bottom: "x" bottom: "z" top: "y" top: "yz" '
    'convolution_param { num_output: 3 kernel_size: 3 stride: 2 } }', {"x": (2, 2, 3, 3), "z": (2, 2, 3, 3)})
# The recurrent layers (tests/test_recurrent.py): the same sequence code on the device.
REC = ('layer {{ name: "l" type: "{t}" bottom: "x" bottom: "cont" {extra_b} top: "y" {extra_t} '
       'recurrent_param {{ num_output: 3 {e} }} }}')
for _t in ("LSTM", "RNN"):
    CASES[_t.lower()] = (REC.format(t=_t, extra_b="", extra_t="", e=""), {"x": (4, 3, 5), "cont": (4, 3)})
    _hb = 'bottom: "h0"' + (' bottom: "c0"' if _t == "LSTM" else "")
    _ht = 'top: "hT"' + (' top: "cT"' if _t == "LSTM" else "")
    _in = {"x": (4, 3, 5), "cont": (4, 3), "xs": (3, 2), "h0": (1, 3, 3)}
    if _t == "LSTM":
        _in["c0"] = (1, 3, 3)
    CASES[f"{_t.lower()}_static_exposed"] = (
        REC.format(t=_t, extra_b='bottom: "xs" ' + _hb, extra_t=_ht, e="expose_hidden: true"), _in)
CASES["lstm_unit"] = ('layer { name: "l" type: "LSTMUnit" bottom: "c" bottom: "X" bottom: "cont" '
                      'top: "c1" top: "h1" }', {"c": (1, 5, 3), "X": (1, 5, 12), "cont": (1, 5)})
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
# The layers that move, cut, join and reduce blobs (tests/test_struct_layers.py), over several
# blocks where a kernel loops over elements or rows.
STRUCT = 'layer {{ name: "l" type: "{t}" {b} {tops} {p} }}'
for _name, _t, _b, _tops, _p, _inputs in [
        ("concat_axis1", "Concat", ["x", "z", "w"], ["y"], "", {"x": (3, 200, 2), "z": (3, 1, 2), "w": (3, 50, 2)}),
        ("concat_axis0", "Concat", ["x", "z"], ["y"], "concat_param { axis: 0 }", {"x": (2, 700), "z": (1, 700)}),
        ("concat_one_bottom", "Concat", ["x"], ["y"], "", {"x": (2, 3)}),
        ("slice_points", "Slice", ["x"], ["y0", "y1", "y2"], "slice_param { axis: -1 slice_point: 100 slice_point: 101 }",
         {"x": (3, 2, 700)}),
        ("slice_even_axis0", "Slice", ["x"], ["y0", "y1"], "slice_param { axis: 0 }", {"x": (4, 600)}),
        ("flatten", "Flatten", ["x"], ["y"], "", {"x": (3, 4, 5, 6)}),
        ("reshape", "Reshape", ["x"], ["y"], "reshape_param { shape { dim: 0 dim: -1 } }", {"x": (3, 4, 5, 6)}),
        ("silence", "Silence", ["x", "z"], [], "", {"x": (3, 700), "z": (2,)}),
        ("tile_axis1", "Tile", ["x"], ["y"], "tile_param { axis: 1 tiles: 3 }", {"x": (3, 200, 2)}),
        ("tile_axis0", "Tile", ["x"], ["y"], "tile_param { axis: 0 tiles: 5 }", {"x": (2, 300)}),
        ("argmax_top5_maxval", "ArgMax", ["x"], ["y"], "argmax_param { top_k: 5 out_max_val: true }",
         {"x": (700, 2, 3)}),
        ("argmax_axis1", "ArgMax", ["x"], ["y"], "argmax_param { axis: 1 top_k: 2 }", {"x": (300, 4, 3)}),
        ("argmax_axis0_maxval", "ArgMax", ["x"], ["y"], "argmax_param { axis: 0 out_max_val: true }",
         {"x": (3, 700)}),
        ("crop_axis2", "Crop", ["x", "r"], ["y"], "crop_param { axis: 2 offset: 3 offset: 1 }",
         {"x": (2, 3, 30, 31), "r": (1, 1, 20, 21)}),
        ("crop_axis1_one_offset", "Crop", ["x", "r"], ["y"], "crop_param { axis: 1 offset: 2 }",
         {"x": (2, 5, 30, 31), "r": (2, 3, 20, 21)}),
        ("parameter", "Parameter", [], ["y"], "parameter_param { shape { dim: 3 dim: 700 } }", {})]:
    CASES[_name] = (STRUCT.format(t=_t, b=" ".join(f'bottom: "{x}"' for x in _b),
                                  tops=" ".join(f'top: "{x}"' for x in _tops), p=_p), _inputs)
for _op in ("SUM", "ASUM", "SUMSQ", "MEAN"):
    # many short rows; a few rows longer than a block; one row of everything, as a loss
    CASES[f"reduction_{_op.lower()}_rows"] = (STRUCT.format(
        t="Reduction", b='bottom: "x"', tops='top: "y"',
        p=f"reduction_param {{ operation: {_op} axis: 1 coeff: -0.5 }}"), {"x": (700, 3)})
    CASES[f"reduction_{_op.lower()}_long_rows"] = (STRUCT.format(
        t="Reduction", b='bottom: "x"', tops='top: "y"',
        p=f"reduction_param {{ operation: {_op} axis: 1 }}"), {"x": (3, 2, 500)})
    CASES[f"reduction_{_op.lower()}_scalar_loss"] = (STRUCT.format(
        t="Reduction", b='bottom: "x"', tops='top: "y"',
        p=f"reduction_param {{ operation: {_op} coeff: 2 }} loss_weight: 1.5"), {"x": (4, 300)})
for _v in ("STANDARD", "FORWARD", "BACKWARD", "AUGMENTED"):
    CASES[f"ad_{_v.lower()}_inplace"] = (AD.format(top="x", v=_v, extra=""), {"x": (4, 40)})
    CASES[f"ad_{_v.lower()}_no_mbf"] = (AD.format(top="y", v=_v, extra="mask_backward_features: false"),
                                        {"x": (4, 40)})
    CASES[f"ad_{_v.lower()}_big"] = (AD.format(top="y", v=_v, extra=""), {"x": (3, 1500)})


# Filter, BatchReindex and Embed take an index bottom that takes no gradient: no force_backward,
# the data from a Parameter layer ("src"), the layer's top made a loss so that backward runs.
SRC = 'layer {{ name: "src" type: "Parameter" top: "x" parameter_param {{ shape {{ {dims} }} }} }} '
INDEX_CASES = {
    "filter": (SRC.format(dims="dim: 6 dim: 300") + 'layer { name: "l" type: "Filter" bottom: "x" '
               'bottom: "s" top: "y" loss_weight: 1 }',
               {"s": np.array([0, 1, 1, 0, -2, 1], np.float32)}),
    "filter_none": (SRC.format(dims="dim: 3 dim: 4") + 'layer { name: "l" type: "Filter" bottom: "x" '
                    'bottom: "s" top: "y" loss_weight: 1 }', {"s": np.zeros(3, np.float32)}),
    "batch_reindex": (SRC.format(dims="dim: 5 dim: 3 dim: 100") + 'layer { name: "l" type: "BatchReindex" '
                      'bottom: "x" bottom: "p" top: "y" loss_weight: 1 }',
                      {"p": np.random.default_rng(1).integers(0, 4, 9).astype(np.float32)}),  # item 4 unused
    "embed": ('layer { name: "l" type: "Embed" bottom: "p" top: "y" loss_weight: 1 '
              'embed_param { num_output: 600 input_dim: 7 } }',
              {"p": np.random.default_rng(2).integers(0, 7, (4, 10)).astype(np.float32)}),
    "embed_nobias": ('layer { name: "l" type: "Embed" bottom: "p" top: "y" loss_weight: 1 '
                     'embed_param { num_output: 5 input_dim: 3 bias_term: false } }',
                     {"p": np.random.default_rng(3).integers(0, 3, 700).astype(np.float32)}),
}


@pytest.mark.parametrize("case", sorted(INDEX_CASES))
def test_index_layer(tmp_path, case):
    body, values = INDEX_CASES[case]
    pairs = run_both(tmp_path, body, {k: v.shape for k, v in values.items()}, values,
                     force_backward=False)
    assert any(k.startswith("paramdiff/") for k in pairs)
    assert_same(pairs)


def test_argmax_ties_gpu_matches_cpu(tmp_path):
    """Equal values: the larger index first, on the device as in the host's partial_sort."""
    x = np.round(gaussian((600, 12), seed=4)).astype(np.float32)  # many ties
    body = 'layer { name: "l" type: "ArgMax" bottom: "x" top: "y" argmax_param { top_k: 4 } }'
    pairs = run_both(tmp_path, body, {"x": x.shape}, {"x": x})
    assert_same(pairs)
    order = np.lexsort((-np.arange(12)[None, :].repeat(600, 0), -x), axis=1)[:, :4]
    np.testing.assert_array_equal(pairs["top/y"][1][:, 0, :], order)


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


def test_stochastic_pooling_test_phase_gpu_matches_cpu(tmp_path):
    """STOCHASTIC pooling in TEST (the weighted average; no backward pass): forward only."""
    x = np.abs(gaussian((2, 3, 9, 8), seed=4))
    x[0, 0, :3, :3] = 0
    body = ('layer { name: "l" type: "Pooling" bottom: "x" top: "y" '
            'pooling_param { pool: STOCHASTIC kernel_size: 3 stride: 2 } }')
    outs = []
    for mode in (caffe.set_mode_cpu, caffe.set_mode_gpu):
        mode()
        net = caffe.Net(write_net(tmp_path, body, {"x": x.shape}, force_backward=False), caffe.TEST)
        net.blobs["x"].data[...] = x
        outs.append(np.array(net.forward()["y"]))
    np.testing.assert_allclose(outs[1], outs[0], rtol=RTOL, atol=ATOL)


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


def _labels(n, k, seed):
    return np.random.default_rng(seed).integers(0, k, n).astype(np.float32)


@pytest.mark.parametrize("case", ["hinge_l1", "hinge_l2", "multinomial", "contrastive",
                                  "contrastive_legacy", "infogain_source_ignore",
                                  "infogain_spatial"])
def test_label_losses_gpu_match_cpu(tmp_path, case):
    """The loss layers whose second bottom is a label (integers in range), over several
    blocks where a kernel loops."""
    from augdrop_caffe.caffemodel import write_blobproto
    H = np.random.default_rng(1).uniform(0, 1, (5, 5)).astype(np.float32)
    write_blobproto(str(tmp_path / "H.binaryproto"), H.reshape(1, 1, 5, 5))
    x = gaussian((40, 5), seed=2)
    bottoms, param, values = ["x", "label"], "", {"x": x, "label": _labels(40, 5, 3)}
    if case.startswith("hinge"):
        layer_type = "HingeLoss"
        param = "hinge_loss_param { norm: L2 }" if case == "hinge_l2" else ""
    elif case == "multinomial":
        layer_type = "MultinomialLogisticLoss"
        values["x"] = np.abs(x) / np.abs(x).sum(1, keepdims=True)
    elif case.startswith("contrastive"):
        layer_type = "ContrastiveLoss"
        bottoms = ["x", "z", "label"]
        values = {"x": x * 0.3, "z": gaussian((40, 5), seed=4) * 0.3, "label": _labels(40, 2, 5)}
        param = "contrastive_loss_param { margin: 0.6 %s }" % (
            "legacy_version: true" if case.endswith("legacy") else "")
    else:
        layer_type = "InfogainLoss"
        param = f'infogain_loss_param {{ source: "{tmp_path / "H.binaryproto"}" }}'
        if case.endswith("ignore"):
            param += " loss_param { ignore_label: 2 normalization: FULL } loss_weight: 3"
        else:
            values = {"x": gaussian((3, 5, 7, 11), seed=6),
                      "label": _labels(3 * 7 * 11, 5, 7).reshape(3, 7, 11)}
    b = " ".join(f'bottom: "{n}"' for n in bottoms)
    body = f'layer {{ name: "l" type: "{layer_type}" {b} top: "loss" {param} }}'
    shapes = {n: np.shape(v) for n, v in values.items()}
    assert_same(run_both(tmp_path, body, shapes, values))
# Layer state stored once (issue #11): the state a forward pass leaves for the backward pass
# (BatchNorm's statistics, dropout masks, Eltwise's argmax) lives in one SyncedMemory-backed
# buffer per piece, so a forward in one mode and the backward in the other read the same state.
STATE_CASES = {
    "batchnorm": ('layer { name: "l" type: "BatchNorm" bottom: "x" top: "y" }', {"x": (4, 3, 5, 2)}),
    "batchnorm_inplace": CASES["batchnorm_inplace"],
    "dropout": ('layer { name: "l" type: "Dropout" bottom: "x" top: "y" '
                'dropout_param { dropout_ratio: 0.4 } }', {"x": (3, 700)}),
    "eltwise_max3": CASES["eltwise_max3"],
}
for _v in ("STANDARD", "FORWARD", "BACKWARD", "AUGMENTED"):
    STATE_CASES[f"ad_{_v.lower()}"] = (AD.format(top="y", v=_v, extra=""), {"x": (4, 40)})
    STATE_CASES[f"ad_{_v.lower()}_inplace"] = CASES[f"ad_{_v.lower()}_inplace"]


def forward_then_backward(tmp_path, body, inputs, values, forward_mode, backward_mode):
    caffe.set_gpu_dropout_masks("caffe")  # the CPU path's masks in both modes
    forward_mode()
    caffe.set_random_seed(5)
    net = caffe.Net(write_net(tmp_path, body, inputs), caffe.TRAIN)
    rng = np.random.default_rng(5)
    for layer in net.layers:
        if layer.type != "BatchNorm":
            for b in layer.blobs:
                b.data[...] = rng.normal(0, 0.5, size=b.data.shape)
    for name, v in values.items():
        net.blobs[name].data[...] = v
    caffe.set_random_seed(6)
    outs = net.forward()
    out = {f"top/{k}": np.array(v) for k, v in outs.items()}
    diffs = {k: gaussian(np.shape(v), seed=11) for k, v in outs.items()
             if np.ndim(v) > 0 and np.size(v) > 1}
    net.clear_param_diffs()
    backward_mode()
    net.backward(**diffs)
    out.update({f"diff/{n}": np.array(net.blobs[n].diff) for n in values})
    out.update({f"param/{k}/{i}": np.array(b.diff) for k, bs in net.params.items()
                for i, b in enumerate(bs)})
    return out


@pytest.mark.parametrize("order", ["cpu_then_gpu", "gpu_then_cpu"])
@pytest.mark.parametrize("case", sorted(STATE_CASES))
def test_forward_state_is_read_by_the_other_mode(tmp_path, case, order):
    body, inputs = STATE_CASES[case]
    values = values_for(case, inputs)
    reference = forward_then_backward(tmp_path, body, inputs, values,
                                      caffe.set_mode_cpu, caffe.set_mode_cpu)
    modes = (caffe.set_mode_cpu, caffe.set_mode_gpu)
    mixed = forward_then_backward(tmp_path, body, inputs, values,
                                  *(modes if order == "cpu_then_gpu" else modes[::-1]))
    assert set(mixed) == set(reference)
    for key in reference:
        np.testing.assert_allclose(mixed[key], reference[key], rtol=RTOL, atol=ATOL,
                                   err_msg=key)
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
