"""ResNet-20 (Tables 2 and 5): the generated prototxts build and learn, and the pad-4-and-crop
augmentation (transform_param.pad, an extension) matches a NumPy reference."""
import os

import numpy as np
import pytest

import augdrop_caffe as caffe
from augdrop_caffe import _core, textformat
from augdrop_caffe.dropout_spec import DropoutSpec, apply_dropout

from test_transform import data_net, forward, mt_words, register

F32 = np.float32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTOTXT = os.path.join(ROOT, "prototxt")


def resnet_with_input(tmp_path, dataset, batch, dropout=None):
    """The generated net with its Data layers replaced by an Input layer of `batch` images."""
    path = os.path.join(PROTOTXT, f"resnet20_{dataset}_train_test.prototxt")
    net = textformat.parse_file(path, "NetParameter").to_dict()
    layers = [l for l in net["layer"] if l["type"][-1] not in ("Data", "Accuracy")]
    net["layer"] = [{"name": ["input"], "type": ["Input"], "top": ["data", "label"],
                     "input_param": [{"shape": [{"dim": [batch, 3, 32, 32]}, {"dim": [batch]}]}]}] + layers
    if dropout:
        apply_dropout(net, dropout)
    out = tmp_path / f"resnet20_{dataset}.prototxt"
    out.write_text(textformat.format_message(textformat.message_from_dict(net, "NetParameter")))
    return str(out)


@pytest.mark.parametrize("dataset,classes", [("cifar10", 10), ("cifar100", 100), ("svhn", 10)])
def test_generated_nets_build_with_the_papers_structure(tmp_path, dataset, classes):
    net = caffe.Net(resnet_with_input(tmp_path, dataset, 2), caffe.TRAIN)
    types = [l.type for l in net.layers]
    assert types.count("Convolution") == 1 + 9 * 2 + 2  # stem, two per unit, two projections
    assert types.count("AugmentedDropout") == 9         # one per residual unit
    assert types.count("Eltwise") == 9
    assert net.blobs["fc"].data.shape == (2, classes)
    assert net.blobs["res3_3"].data.shape == (2, 64, 8, 8)


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "svhn"])
def test_generated_nets_need_no_upgrade(dataset):
    """Current Caffe format: no BatchNorm param specs for Caffe to upgrade (and log)."""
    from augdrop_caffe.upgrade import upgrade_net

    path = os.path.join(PROTOTXT, f"resnet20_{dataset}_train_test.prototxt")
    assert upgrade_net(textformat.parse_file(path, "NetParameter"), path) == []


def test_resnet20_forward_backward_is_finite_and_learns(tmp_path):
    solver_path = tmp_path / "solver.prototxt"
    net_path = resnet_with_input(tmp_path, "cifar10", 4, DropoutSpec("STANDARD", 0.1, 0.0))
    solver_path.write_text(f'net: "{net_path}"\nbase_lr: 0.05\nmomentum: 0.9\ntype: "Nesterov"\n'
                           f'weight_decay: 0.001\nlr_policy: "fixed"\nmax_iter: 100\nrandom_seed: 3\n')
    solver = caffe.get_solver(str(solver_path))
    rng = np.random.default_rng(0)
    solver.net.blobs["data"].data[...] = rng.standard_normal((4, 3, 32, 32)).astype(F32)
    solver.net.blobs["label"].data[...] = np.array([0, 1, 2, 3], F32)
    solver.step(1)
    first = float(solver.net.blobs["loss"].data)
    solver.step(24)
    last = float(solver.net.blobs["loss"].data)
    assert np.isfinite(first) and np.isfinite(last)
    assert last < 0.5 * first  # four fixed images are memorised


def reference_pad_crop(image, pad, crop, h_off, w_off, mirror):
    c, h, w = image.shape
    padded = np.zeros((c, h + 2 * pad, w + 2 * pad), F32)
    padded[:, pad:pad + h, pad:pad + w] = image.astype(F32)
    out = padded[:, h_off:h_off + crop, w_off:w_off + crop]
    return out[:, :, ::-1] if mirror else out


def test_pad_then_random_crop_and_mirror_match_numpy():
    rng = np.random.default_rng(1)
    images = rng.integers(1, 256, size=(6, 3, 8, 8), dtype=np.uint8)
    key = register(images)
    caffe.set_random_seed(11)
    net = data_net(key, caffe.TRAIN, 6, "pad: 4 crop_size: 8 mirror: true")
    # The transformer's stream: seeded with the Caffe stream's second word (Caffe seeds it twice).
    words = iter(mt_words(int(mt_words(11, 2)[1]), 100))
    got, _ = forward(net)
    for i in range(6):
        mirror = int(next(words)) % 2
        h_off = int(next(words)) % (8 + 8 - 8 + 1)
        w_off = int(next(words)) % (8 + 8 - 8 + 1)
        np.testing.assert_array_equal(got[i], reference_pad_crop(images[i], 4, 8, h_off, w_off, mirror))


def test_pad_in_test_phase_is_the_centre_crop_of_the_padded_image():
    images = np.arange(2 * 1 * 6 * 6, dtype=np.uint8).reshape(2, 1, 6, 6)
    key = register(images)
    got, _ = forward(data_net(key, caffe.TEST, 2, "pad: 2 crop_size: 6"))
    np.testing.assert_array_equal(got, images.astype(F32))  # centre of 10x10 is the image


def test_pad_without_crop_is_refused():
    key = register(np.zeros((2, 1, 4, 4), np.uint8))
    with pytest.raises(caffe.EngineError, match="pad needs crop_size"):
        data_net(key, caffe.TRAIN, 2, "pad: 4")
