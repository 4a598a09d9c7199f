"""`augdrop-caffe time` (timing.layer_times) measures what a training iteration does: the
layer-by-layer backward walk runs the dropout rewrite to the backward features
(PrepareBackward) once per backward pass, as Net::Backward does, not once per layer."""
import numpy as np

import augdrop_caffe as caffe
from augdrop_caffe.timing import layer_times

NET = """name: "timed"
force_backward: true
layer { name: "input" type: "Input" top: "x" top: "label"
        input_param { shape { dim: 6 dim: 10 } shape { dim: 6 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "x" top: "h"
        inner_product_param { num_output: 12 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "relu" type: "ReLU" bottom: "h" top: "h" }
layer { name: "drop1" type: "AugmentedDropout" bottom: "h" top: "d1"
        augmented_dropout_param { variant: AUGMENTED forward_ratio: 0.4 backward_ratio: 0.3 } }
layer { name: "ip2" type: "InnerProduct" bottom: "d1" top: "h2"
        inner_product_param { num_output: 8 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "drop2" type: "AugmentedDropout" bottom: "h2" top: "d2"
        augmented_dropout_param { variant: BACKWARD forward_ratio: 0.2 backward_ratio: 0.5 } }
layer { name: "ip3" type: "InnerProduct" bottom: "d2" top: "z"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "z" bottom: "label" top: "loss" }
"""


def make_net(tmp_path):
    path = tmp_path / "timed.prototxt"
    path.write_text(NET)
    caffe.set_random_seed(5)
    net = caffe.Net(str(path), caffe.TRAIN)
    rng = np.random.default_rng(3)
    net.blobs["x"].data[...] = rng.normal(size=(6, 10))
    net.blobs["label"].data[...] = rng.integers(0, 3, size=6)
    return net


def grads(net):
    return {name: [b.diff.copy() for b in blobs] for name, blobs in net.params.items()}


def test_layer_by_layer_backward_prepares_once_and_matches_whole_backward(tmp_path):
    whole, walked = make_net(tmp_path), make_net(tmp_path)
    n = len(whole.layers)
    caffe.set_random_seed(11)
    whole._net.forward()
    before = whole._net.backward_preparations
    whole._net.backward()
    assert whole._net.backward_preparations == before + 1

    caffe.set_random_seed(11)  # the same masks
    for i in range(n):
        walked._net.forward_from_to(i, i)
    before = walked._net.backward_preparations
    for i in reversed(range(n)):
        walked._net.backward_from_to(i, i)
    # One rewrite for the whole walk, as for the whole backward pass (was one per layer).
    assert walked._net.backward_preparations == before + 1
    for name, diffs in grads(whole).items():
        for a, b in zip(diffs, grads(walked)[name]):
            np.testing.assert_array_equal(a, b)
    # The rewritten features are what the consumers' weight gradients used.
    for top in ("d1", "d2"):
        np.testing.assert_array_equal(whole.blobs[top].data, walked.blobs[top].data)


def test_a_forward_call_makes_the_next_backward_rewrite_again(tmp_path):
    net = make_net(tmp_path)
    raw = net._net
    raw.forward()
    raw.backward()
    count = raw.backward_preparations
    raw.backward_from_to(len(net.layers) - 1, 0)  # no forward since: nothing to rewrite
    assert raw.backward_preparations == count
    raw.forward_from_to(0, 0)
    raw.backward()
    assert raw.backward_preparations == count + 1


def test_time_runs_one_rewrite_per_iteration(tmp_path):
    net = make_net(tmp_path)
    before = net._net.backward_preparations
    rows, total_ms = layer_times(net, iterations=3)
    # the warm-up forward-backward, then one per timed iteration (not one per layer each)
    assert net._net.backward_preparations == before + 1 + 3
    assert [r[0] for r in rows] == [l.name for l in net.layers]
    assert total_ms > 0 and all(r[2] >= 0 and r[3] >= 0 for r in rows)


FLOP_NET = """name: "flops"
layer { name: "input" type: "Input" top: "x" top: "label"
        input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } shape { dim: 2 } } }
layer { name: "conv" type: "Convolution" bottom: "x" top: "c"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 stride: 2 } }
layer { name: "relu" type: "ReLU" bottom: "c" top: "c" }
layer { name: "ip" type: "InnerProduct" bottom: "c" top: "z"
        inner_product_param { num_output: 5 transpose: true } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "z" bottom: "label" top: "loss" }
"""


def test_layer_flops_and_type_breakdown(tmp_path):
    from augdrop_caffe.timing import format_type_breakdown, layer_flops, type_breakdown
    path = tmp_path / "flops.prototxt"
    path.write_text(FLOP_NET)
    net = caffe.Net(str(path), caffe.TRAIN)
    flops = dict(zip([l.name for l in net.layers], layer_flops(net)))
    conv = 2.0 * (2 * 4 * 4 * 4) * (3 * 3 * 3)  # |top| * C_in k_h k_w multiply-adds
    ip = 2.0 * 2 * 5 * 64                        # N * M * K
    assert flops["conv"] == (conv, conv)  # its bottom is the input: no data gradient
    assert flops["ip"] == (ip, 2 * ip)    # weight and bottom gradients
    assert flops["relu"] == flops["loss"] == flops["input"] == (0.0, 0.0)

    rows = [(l.name, l.type, 1.0, 2.0) for l in net.layers]
    rows[1] = ("conv", "Convolution[IMPLICIT]", 40.0, 60.0)
    rows[3] = ("ip", "InnerProduct", 0.001, 0.002)
    table = type_breakdown(rows, layer_flops(net))
    assert table[0] == ("Convolution[IMPLICIT]", 1, 40.0, 60.0, 2 * conv / 1e9)
    assert {r[0]: r[1] for r in table}["InnerProduct"] == 1
    assert sum(r[2] + r[3] for r in table) == 3 + 100 + 0.003 + 3 + 3  # every layer's time
    text = format_type_breakdown(table, peak_gflops=1.0)
    assert text.splitlines()[0].split()[:2] == ["type", "layers"]
    ip_line = next(l for l in text.splitlines() if l.startswith("InnerProduct"))
    rate = 3 * ip / 1e9 / 3e-6  # 2.56 GFLOP/s, 256% of a 1 GFLOP/s "peak"
    assert f" {rate:.1f} " in ip_line and ip_line.endswith(f"{100 * rate:.0f}%")
