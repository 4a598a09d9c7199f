"""The CUDA backend against the CPU path, where a GPU is usable (skipped otherwise, with the
reason): every layer's forward and backward on the same inputs, solver steps, every Caffe
golden case replayed in GPU mode, and the dropout masks' statistics on the device.

With set_gpu_dropout_masks('caffe') the GPU draws Caffe's stream on the host exactly as the
CPU path does, so dropout layers compare exactly; the default device masks are checked
statistically."""
import numpy as np
import pytest

import augdrop_caffe as caffe
import test_golden
from gradient_check import write_net
from test_gradients import CONV_CASES, distinct, gaussian

BACKENDS = caffe.backends()
NO_GPU_REASON = ("this build has no CUDA backend (nvcc or cuBLAS missing at build time)"
                 if not BACKENDS["cuda_compiled"] else
                 "no usable CUDA device on this machine")
pytestmark = pytest.mark.skipif(not BACKENDS["gpu_usable"], reason=NO_GPU_REASON)

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(autouse=True)
def cpu_mode_after():
    yield
    caffe.set_mode_cpu()
    caffe.set_gpu_dropout_masks("device")


def run_both(tmp_path, body, inputs, values, phase=caffe.TRAIN, seed=5, force_backward=True):
    """Forward and backward once on the CPU and once on the GPU, from the same params, inputs,
    top diffs and random stream; returns {name: (cpu array, gpu array)}."""
    caffe.set_gpu_dropout_masks("caffe")
    results = []
    for mode in (caffe.set_mode_cpu, caffe.set_mode_gpu):
        mode()
        caffe.set_random_seed(seed)
        net = caffe.Net(write_net(tmp_path, body, inputs, force_backward=force_backward), phase)
        rng = np.random.default_rng(seed)
        for layer in net.layers:
            if layer.type in ("BatchNorm",):
                continue
            for b in layer.blobs:
                b.data[...] = rng.normal(0, 0.5, size=b.data.shape)
        for name, v in values.items():
            net.blobs[name].data[...] = v
        caffe.set_random_seed(seed + 1)
        outs = net.forward()
        out = {f"top/{k}": np.array(v) for k, v in outs.items()}
        diffs = {k: gaussian(np.shape(v), seed=11) for k, v in outs.items()
                 if np.ndim(v) > 0 and np.size(v) > 1}
        net.clear_param_diffs()
        net.backward(**diffs)
        for name in values:
            out[f"diff/{name}"] = np.array(net.blobs[name].diff)
        for lname, blobs in net.params.items():
            for i, b in enumerate(blobs):
                out[f"param/{lname}/{i}"] = np.array(b.data)
                out[f"paramdiff/{lname}/{i}"] = np.array(b.diff)
        results.append(out)
    cpu, gpu = results
    assert cpu.keys() == gpu.keys()
    return {k: (cpu[k], gpu[k]) for k in cpu}


def assert_same(pairs):
    for key, (c, g) in pairs.items():
        np.testing.assert_allclose(g, c, rtol=RTOL, atol=ATOL, err_msg=key)


LAYER_CASES = {
    "relu": ('layer { name: "l" type: "ReLU" bottom: "x" top: "y" relu_param { negative_slope: 0.1 } }',
             {"x": (2, 3, 4, 5)}),
    "pool_max": ('layer { name: "l" type: "Pooling" bottom: "x" top: "y" '
                 'pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }', {"x": (2, 3, 9, 8)}),
    "pool_ave": ('layer { name: "l" type: "Pooling" bottom: "x" top: "y" '
                 'pooling_param { pool: AVE kernel_size: 3 stride: 2 } }', {"x": (2, 3, 15, 15)}),
    "pool_global": ('layer { name: "l" type: "Pooling" bottom: "x" top: "y" '
                    'pooling_param { pool: AVE global_pooling: true } }', {"x": (2, 3, 5, 5)}),
    "ip": ('layer { name: "l" type: "InnerProduct" bottom: "x" top: "y" '
           'inner_product_param { num_output: 7 } }', {"x": (4, 3, 2, 2)}),
    "ip_transpose": ('layer { name: "l" type: "InnerProduct" bottom: "x" top: "y" '
                     'inner_product_param { num_output: 5 transpose: true } }', {"x": (3, 6)}),
    "softmax": ('layer { name: "l" type: "Softmax" bottom: "x" top: "y" }', {"x": (2, 5, 3, 2)}),
    "eltwise_sum": ('layer { name: "l" type: "Eltwise" bottom: "x" bottom: "z" top: "y" '
                    'eltwise_param { operation: SUM coeff: 0.5 coeff: -2 } }',
                    {"x": (2, 3, 4), "z": (2, 3, 4)}),
    "eltwise_prod": ('layer { name: "l" type: "Eltwise" bottom: "x" bottom: "z" top: "y" '
                     'eltwise_param { operation: PROD } }', {"x": (2, 3, 4), "z": (2, 3, 4)}),
    "eltwise_max": ('layer { name: "l" type: "Eltwise" bottom: "x" bottom: "z" top: "y" '
                    'eltwise_param { operation: MAX } }', {"x": (2, 3, 4), "z": (2, 3, 4)}),
    "batchnorm": ('layer { name: "l" type: "BatchNorm" bottom: "x" top: "y" }', {"x": (4, 3, 2, 2)}),
    "scale_bias": ('layer { name: "l" type: "Scale" bottom: "x" top: "y" '
                   'scale_param { bias_term: true } }', {"x": (2, 3, 4, 2)}),
    "dropout": ('layer { name: "l" type: "Dropout" bottom: "x" top: "y" '
                'dropout_param { dropout_ratio: 0.3 } }', {"x": (4, 50)}),
}
LAYER_CASES["split"] = (  # x feeds two layers: an inserted Split sums their diffs
    'layer { name: "a" type: "ReLU" bottom: "x" top: "y1" } '
    'layer { name: "b" type: "Scale" bottom: "x" top: "y2" scale_param { bias_term: true } }',
    {"x": (2, 3, 4)})
for _variant in ("STANDARD", "FORWARD", "BACKWARD", "AUGMENTED"):
    LAYER_CASES[f"augmented_dropout_{_variant.lower()}"] = (
        'layer { name: "l" type: "AugmentedDropout" bottom: "x" top: "y" '
        f'augmented_dropout_param {{ variant: {_variant} forward_ratio: 0.3 backward_ratio: 0.2 }} }} '
        'layer { name: "ip" type: "InnerProduct" bottom: "y" top: "z" '
        'inner_product_param { num_output: 3 } }', {"x": (4, 40)})
for _name, (_shape, _param) in CONV_CASES.items():
    LAYER_CASES[f"conv_{_name}"] = (
        f'layer {{ name: "l" type: "Convolution" bottom: "x" top: "y" convolution_param {{ {_param} }} }}',
        {"x": _shape})


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer_gpu_matches_cpu(tmp_path, case):
    body, inputs = LAYER_CASES[case]
    maker = distinct if ("max" in case) else gaussian
    values = {name: maker(shape, seed=i) for i, (name, shape) in enumerate(inputs.items())}
    assert_same(run_both(tmp_path, body, inputs, values))


@pytest.mark.parametrize("shape, param", [
    ((2, 24, 8, 8), "num_output: 20 kernel_size: 3 pad: 1"),
    ((2, 20, 8, 8), "num_output: 24 kernel_size: 5 pad: 2"),
])
def test_winograd_convolution_gpu_matches_cpu(tmp_path, shape, param):
    """Layers the CPU runs on WINOGRAD (>= 20 channels on both sides: forward, data and weight
    gradients) against the GPU's im2col + GEMM, by the golden cases' rule for layers
    (max|gpu - cpu| <= 1e-6 + 1e-4 max|cpu|): Winograd rounds its transformed sums, so an
    output near zero can be off by more than assert_same's per-element atol."""
    body = (f'layer {{ name: "l" type: "Convolution" bottom: "x" top: "y" '
            f"convolution_param {{ {param} }} }}")
    cpu = caffe.Net(write_net(tmp_path, body, {"x": shape}, name="engine.prototxt"), caffe.TRAIN)
    assert next(layer for layer in cpu.layers if layer.name == "l").engine == "WINOGRAD"
    pairs = run_both(tmp_path, body, {"x": shape}, {"x": gaussian(shape)})
    for key, (c, g) in pairs.items():
        assert np.abs(g - c).max() <= 1e-6 + 1e-4 * np.abs(c).max(), key


def test_gpu_run_names_the_engine_it_runs(tmp_path):
    """On the GPU every convolution is im2col + GEMM, so a GPU run's provenance says CAFFE
    where the CPU would take WINOGRAD, and the CPU's choice comes back in CPU mode."""
    from augdrop_caffe.provenance import layer_engines

    body = ('layer { name: "l" type: "Convolution" bottom: "x" top: "y" '
            "convolution_param { num_output: 24 kernel_size: 3 pad: 1 } }")
    net = caffe.Net(write_net(tmp_path, body, {"x": (2, 24, 8, 8)}), caffe.TRAIN)
    assert layer_engines(net) == {"l": "WINOGRAD"}
    caffe.set_mode_gpu()
    assert layer_engines(net) == {"l": "CAFFE"}
    caffe.set_mode_cpu()
    assert layer_engines(net) == {"l": "WINOGRAD"}


def test_softmax_loss_gpu_matches_cpu(tmp_path):
    body = ('layer { name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" '
            'loss_param { ignore_label: 2 normalization: VALID } }')
    inputs = {"x": (3, 4, 2, 2), "label": (3, 1, 2, 2)}
    values = {"x": gaussian(inputs["x"]),
              "label": np.random.default_rng(1).integers(0, 4, inputs["label"]).astype(np.float32)}
    pairs = run_both(tmp_path, body, inputs, values)
    assert_same({k: v for k, v in pairs.items() if k != "diff/label"})


def test_accuracy_gpu_matches_cpu(tmp_path):
    body = ('layer { name: "l" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" '
            'accuracy_param { top_k: 2 } }')
    inputs = {"x": (6, 5), "label": (6,)}
    values = {"x": gaussian(inputs["x"]),
              "label": np.random.default_rng(2).integers(0, 5, 6).astype(np.float32)}
    pairs = run_both(tmp_path, body, inputs, values, phase=caffe.TEST)
    assert_same({k: v for k, v in pairs.items() if k.startswith("top/")})


@pytest.mark.parametrize("solver_type", ["SGD", "Nesterov"])
def test_solver_steps_gpu_match_cpu(tmp_path, solver_type):
    """Ten LeNet-shaped steps with dropout, momentum, weight decay and a step policy."""
    net = tmp_path / "net.prototxt"
    net.write_text(
        'name: "small" layer { name: "data" type: "Input" top: "x" top: "label" '
        'input_param { shape { dim: 8 dim: 1 dim: 12 dim: 12 } shape { dim: 8 } } }\n'
        'layer { name: "conv" type: "Convolution" bottom: "x" top: "c" convolution_param { '
        'num_output: 4 kernel_size: 5 weight_filler { type: "xavier" } } }\n'
        'layer { name: "pool" type: "Pooling" bottom: "c" top: "p" pooling_param { pool: MAX '
        'kernel_size: 2 stride: 2 } }\n'
        'layer { name: "drop" type: "AugmentedDropout" bottom: "p" top: "d" '
        'augmented_dropout_param { forward_ratio: 0.3 backward_ratio: 0.1 } }\n'
        'layer { name: "ip" type: "InnerProduct" bottom: "d" top: "ip" inner_product_param { '
        'num_output: 3 weight_filler { type: "xavier" } } }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n')
    solver = tmp_path / "solver.prototxt"
    solver.write_text(f'net: "{net}" type: "{solver_type}" base_lr: 0.05 momentum: 0.9 '
                      'weight_decay: 0.001 lr_policy: "step" gamma: 0.5 stepsize: 4 '
                      'max_iter: 10 random_seed: 3\n')
    train_both_and_compare(solver, (8, 1, 12, 12), steps=10)


def train_both_and_compare(solver, input_shape, steps):
    """`steps` solver steps on the CPU, then on the GPU, from the same file, inputs and masks
    (Caffe's stream); the parameters must end close."""
    caffe.set_gpu_dropout_masks("caffe")
    rng = np.random.default_rng(0)
    x = rng.normal(size=input_shape).astype(np.float32)
    label = rng.integers(0, 3, input_shape[0]).astype(np.float32)
    params = []
    for mode in (caffe.set_mode_cpu, caffe.set_mode_gpu):
        mode()
        s = caffe.get_solver(str(solver))
        for _ in range(steps):
            s.net.blobs["x"].data[...] = x
            s.net.blobs["label"].data[...] = label
            s.step(1)
        params.append({f"{k}/{i}": np.array(b.data) for k, bs in s.net.params.items()
                       for i, b in enumerate(bs)})
    for key in params[0]:
        np.testing.assert_allclose(params[1][key], params[0][key], rtol=1e-3, atol=1e-5,
                                   err_msg=key)


@pytest.mark.parametrize("name", test_golden.CASES)
def test_golden_case_on_gpu(name, tmp_path, monkeypatch):
    test_golden._require_golden()
    monkeypatch.setattr(test_golden, "set_replay_mode", caffe.set_mode_gpu)
    caffe.set_gpu_dropout_masks("caffe")  # the golden dropout masks are Caffe's CPU stream's
    r = test_golden.replay(name, tmp_path)
    failures = r.failures
    assert not failures, (f"{name} on the GPU: {len(failures)} of {len(r.comparisons)} checks "
                          "fail:\n  " + "\n  ".join(c.message for c in failures))


@pytest.mark.parametrize("name", sorted(test_golden.CATALOGUE))
def test_catalogue_case_on_gpu(name, tmp_path, monkeypatch):
    reason = test_golden.catalogue_skip_reason(name)
    if reason:
        pytest.skip(reason)
    monkeypatch.setattr(test_golden, "set_replay_mode", caffe.set_mode_gpu)
    r = test_golden.replay(name, tmp_path)
    failures = r.failures
    assert not failures, (f"{name} on the GPU: {len(failures)} of {len(r.comparisons)} checks "
                          "fail:\n  " + "\n  ".join(c.message for c in failures))


@pytest.mark.parametrize("ratio", [0.005, 0.3, 0.5])
def test_device_masks_drop_rate_and_scale(tmp_path, ratio):
    """The default (Philox) masks: drop rate within 4 sigma, kept values scaled exactly."""
    n = 1 << 20
    body = (f'layer {{ name: "l" type: "Dropout" bottom: "x" top: "y" '
            f'dropout_param {{ dropout_ratio: {ratio} }} }}')
    caffe.set_mode_gpu()
    caffe.set_random_seed(7)
    net = caffe.Net(write_net(tmp_path, body, {"x": (n,)}), caffe.TRAIN)
    net.blobs["x"].data[...] = 1
    first = np.array(net.forward()["y"])
    dropped = np.mean(first == 0)
    sigma = np.sqrt(ratio * (1 - ratio) / n)
    assert abs(dropped - ratio) < 4 * sigma, (dropped, ratio)
    scale = np.float32(1.0 / (1.0 - ratio))
    assert np.all((first == 0) | (first == scale))
    second = np.array(net.forward()["y"])
    assert not np.array_equal(first, second)  # a new mask per pass
    caffe.set_random_seed(7)
    np.testing.assert_array_equal(np.array(net.forward()["y"]), first)  # the seed decides


def test_caffe_masks_equal_the_cpu_masks(tmp_path):
    body = ('layer { name: "l" type: "AugmentedDropout" bottom: "x" top: "y" '
            'augmented_dropout_param { forward_ratio: 0.4 backward_ratio: 0.3 } }')
    outs = []
    for mode in (caffe.set_mode_cpu, caffe.set_mode_gpu):
        mode()
        caffe.set_gpu_dropout_masks("caffe")
        caffe.set_random_seed(9)
        net = caffe.Net(write_net(tmp_path, body, {"x": (1000,)}), caffe.TRAIN)
        net.blobs["x"].data[...] = 1
        y = np.array(net.forward()["y"])
        net.backward(y=np.ones(1000, np.float32))
        outs.append((y, np.array(net.blobs["x"].diff)))
    np.testing.assert_array_equal(outs[1][0], outs[0][0])
    np.testing.assert_array_equal(outs[1][1], outs[0][1])
