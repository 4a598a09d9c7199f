"""The Table 6 nets (prototxt/allconv_cifar10_*, prototxt/nin_cifar10_*): they build on the
whitened CIFAR-10 source with the papers' shapes, and a few SGD iterations of their solvers
lower the loss on a small batch."""
import os

import numpy as np
import pytest

from augdrop_caffe import TEST, TRAIN
from augdrop_caffe.data.whiten import write_cache
from augdrop_caffe.dropout_spec import apply_dropout, parse_dropout_spec
from augdrop_caffe.experiments.training import prototxt_dir
from augdrop_caffe.net import Net
from augdrop_caffe.solver import get_solver

F32 = np.float32


@pytest.fixture(scope="module")
def whitened_root(tmp_path_factory):
    """A data root whose cifar10-gcn-zca cache holds 4 training and 8 test images."""
    root = str(tmp_path_factory.mktemp("table6-data"))
    rng = np.random.RandomState(0)
    splits = {}
    for split, n in (("train", 4), ("test", 8)):
        images = rng.randn(n, 3, 32, 32).astype(F32)
        splits[split] = (n, (3, 32, 32), [images], (np.arange(n) % 10).astype(F32))
    write_cache(root, splits, {"test": "random images"}, "tests")
    return root


def net_path(name):
    return os.path.join(prototxt_dir(), f"{name}_cifar10_train_test.prototxt")


# name: (blob shapes the papers give, the dropout layers and their forward ratios)
NETS = {
    "allconv": ({"conv3": (96, 16, 16), "conv6": (192, 8, 8), "conv7": (192, 6, 6),
                 "conv9": (10, 6, 6), "pool_global": (10, 1, 1)},
                {"drop_input": 0.2, "drop3": 0.5, "drop6": 0.5}),
    "nin": ({"conv1": (192, 32, 32), "cccp2": (96, 32, 32), "pool1": (96, 16, 16),
             "pool2": (192, 8, 8), "cccp6": (10, 8, 8), "pool_global": (10, 1, 1)},
            {"drop1": 0.5, "drop2": 0.5}),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_net_builds_with_the_papers_shapes(name, whitened_root):
    shapes, dropouts = NETS[name]
    net = Net(net_path(name), TEST, data_root=whitened_root)
    assert net.blobs["data"].data.shape == (100, 3, 32, 32)
    for blob, shape in shapes.items():
        assert net.blobs[blob].data.shape[1:] == shape, blob
    train = Net(net_path(name), TRAIN, data_root=whitened_root)
    assert train.blobs["data"].data.shape[0] == 128
    layers = {l.name: l.type for l in train.layers}
    assert {n for n, t in layers.items() if t == "AugmentedDropout"} == set(dropouts)


def small_batches(param, dropout):
    for net in param["net_param"]:
        apply_dropout(net, dropout)
        for layer in net["layer"]:
            for dp in layer.get("data_param", []):
                dp["batch_size"] = [4]
    param["test_iter"] = [1]
    param["test_interval"] = [1000]
    param["display"] = [0]


@pytest.mark.parametrize("name", sorted(NETS))
def test_a_few_iterations_lower_the_loss(name, whitened_root):
    """The solver's own settings (lr, momentum, decay, fillers) on 4 images read again and
    again: the training loss falls. Standard dropout at the nets' own ratios stays on."""
    solver = get_solver(os.path.join(prototxt_dir(), f"{name}_cifar10_solver.prototxt"),
                        data_root=whitened_root,
                        edit=lambda p: small_batches(p, parse_dropout_spec("standard:net")))
    for layer in solver.net.layers:  # the ratios survived standard:net
        if layer.type == "AugmentedDropout":
            assert layer.name in NETS[name][1]
    # batches of 4 from the 4 training images: the same batch each iteration
    losses = []
    for _ in range(12):
        solver.step(1)
        losses.append(float(solver.net.blobs["loss"].data))
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses
