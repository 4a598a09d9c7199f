"""Monte Carlo dropout evaluation (mc_dropout.py): the mean softmax of T stochastic passes
equals T plain forward passes drawing from the same random stream; the dropout layers of a
TEST net work as in TRAIN when their own phase says so (Caffe's layer phase rule)."""
import numpy as np
import pytest

from augdrop_caffe import TEST, _core, cli, mc_dropout
from augdrop_caffe.dropout_spec import parse_dropout_args
from augdrop_caffe.net import Net

NET = """name: "mc"
layer { name: "input" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 6 dim: 5 } shape { dim: 6 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
        inner_product_param { num_output: 8 weight_filler { type: "gaussian" std: 1 }
                              bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "drop1" type: "AugmentedDropout" bottom: "ip1" top: "ip1"
        augmented_dropout_param { variant: STANDARD forward_ratio: 0.5 } }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "drop2" type: "Dropout" bottom: "ip2" top: "ip2" dropout_param { dropout_ratio: 0.3 } }
layer { name: "accuracy" type: "Accuracy" bottom: "ip2" bottom: "label" top: "accuracy" }
"""


def softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "mc.prototxt"
    path.write_text(NET)
    return str(path)


def fill_inputs(net):
    rng = np.random.RandomState(4)
    net.blobs["data"].data[...] = rng.randn(6, 5)
    net.blobs["label"].data[...] = [0, 1, 2, 0, 1, 2]


def test_mc_equals_the_mean_of_t_forward_passes_from_the_same_stream(model):
    _core.set_random_seed(3)
    net = mc_dropout.build_net(model)
    fill_inputs(net)
    T = 7
    _core.set_random_seed(99)
    got = mc_dropout.mc_evaluate(net, T, 1, keep_probabilities=True)
    # by hand: the same net, the same stream, T whole forward passes
    _core.set_random_seed(99)
    passes = []
    for _ in range(T):
        net.forward()
        passes.append(softmax(net.blobs["ip2"].data))
    passes = np.stack(passes)
    np.testing.assert_allclose(got["probabilities"], passes.mean(axis=0), rtol=1e-12)
    labels = np.array([0, 1, 2, 0, 1, 2])
    mc_correct = np.argmax(passes.mean(axis=0), axis=1) == labels
    assert got["accuracy"] == pytest.approx(mc_correct.mean())
    pass_errors = [np.mean(np.argmax(p, axis=1) != labels) for p in passes]
    assert got["pass_error_mean"] == pytest.approx(np.mean(pass_errors))
    assert got["pass_error_se"] == pytest.approx(np.std(pass_errors, ddof=1) / np.sqrt(T))
    assert got["samples"] == T and got["images"] == 6
    # the passes differ: dropout is on
    assert not np.allclose(passes[0], passes[1])


def test_two_batches_and_the_jackknife_standard_error(model):
    _core.set_random_seed(3)
    net = mc_dropout.build_net(model)
    fill_inputs(net)
    _core.set_random_seed(5)
    got = mc_dropout.mc_evaluate(net, 4, 2, keep_probabilities=True)
    _core.set_random_seed(5)
    per_batch = []
    for _ in range(2):
        batch = []
        for _ in range(4):
            net.forward()
            batch.append(softmax(net.blobs["ip2"].data))
        per_batch.append(np.stack(batch))
    probs = np.concatenate(per_batch, axis=1)  # (T, 12, 3)
    np.testing.assert_allclose(got["probabilities"], probs.mean(axis=0), rtol=1e-12)
    labels = np.tile([0, 1, 2, 0, 1, 2], 2)
    loo = [np.mean(np.argmax(probs.sum(axis=0) - probs[t], axis=1) != labels) for t in range(4)]
    want = np.sqrt(3 / 4 * np.sum((np.array(loo) - np.mean(loo)) ** 2))
    assert got["error_se"] == pytest.approx(want)


def test_layer_phase_overrides_the_net_phase(model):
    """Dropout with `phase: TRAIN` in a TEST net drops; the deterministic net does not."""
    _core.set_random_seed(3)
    stochastic = mc_dropout.build_net(model)
    deterministic = mc_dropout.build_net(model, stochastic=False)
    deterministic.share_with(stochastic)
    for net in (stochastic, deterministic):
        fill_inputs(net)
    deterministic.forward()
    plain = np.array(deterministic.blobs["ip2"].data)
    deterministic.forward()
    np.testing.assert_array_equal(deterministic.blobs["ip2"].data, plain)
    stochastic.forward()
    assert not np.array_equal(stochastic.blobs["ip2"].data, plain)
    # a plain TEST Net of the same prototxt is the deterministic one
    reference = Net(model, TEST)
    reference.share_with(stochastic)
    fill_inputs(reference)
    reference.forward()
    np.testing.assert_array_equal(reference.blobs["ip2"].data, plain)


def test_dropout_spec_applies_before_mc(model):
    """--dropout edits the net first (here: drop1 removed); a net left without any dropout
    layer is refused, since its MC evaluation would be the deterministic one."""
    net = mc_dropout.build_net(model, dropout=parse_dropout_args(["drop1=none"]))
    assert [l.name for l in net.layers if l.type in mc_dropout.DROPOUT_TYPES] == ["drop2"]
    no_dropout = model.replace("mc.prototxt", "plain.prototxt")
    with open(no_dropout, "w") as f:
        f.write("\n".join(line for line in NET.splitlines() if "drop2" not in line))
    with pytest.raises(ValueError, match="no Dropout or AugmentedDropout"):
        mc_dropout.build_net(no_dropout, dropout=parse_dropout_args(["none"]))


def test_cli_test_mc_samples(model, tmp_path, capsys):
    """`augdrop-caffe test --mc-samples T` on a saved net: the same figures as the function."""
    import json

    _core.set_random_seed(3)
    net = mc_dropout.build_net(model, stochastic=False)
    weights = str(tmp_path / "w.caffemodel")
    net.save(weights)
    out = str(tmp_path / "mc.json")
    # the Input layer's data is zeros in a fresh net: every image alike, still a valid run
    assert cli.main(["test", "--model", model, "--weights", weights, "--mc-samples", "3",
                     "--iterations", "2", "--seed", "8", "--json", out]) == 0
    printed = capsys.readouterr().out
    assert "MC dropout, T = 3 passes, 12 images" in printed
    assert "standard evaluation" in printed
    with open(out) as f:
        got = json.load(f)
    want = mc_dropout.evaluate(model, weights, 3, 2, seed=8)
    assert got == pytest.approx(want, nan_ok=True)
