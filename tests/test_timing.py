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
