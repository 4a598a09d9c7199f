"""GCN and ZCA whitening (data/whiten.py) against NumPy written here from pylearn2's formulas,
the cached whitened set (checksums), and float images through the Data layer (transformed as
Caffe transforms a Datum's float_data)."""
import os

import numpy as np
import pytest

from augdrop_caffe import TRAIN, TEST, _core
from augdrop_caffe.data import DataError, load_source
from augdrop_caffe.data import sources, whiten
from augdrop_caffe.textformat import parse_text

from test_transform import CaffeTransformer

F32 = np.float32


def correlated_rows(n, d, seed=0):
    """n rows of d features with a non-diagonal covariance and a non-zero mean."""
    rng = np.random.RandomState(seed)
    mix = rng.randn(d, d) + 2 * np.eye(d)
    return rng.randn(n, d) @ mix + rng.uniform(0, 255, size=d)


def test_gcn_is_pylearn2s_formula():
    X = correlated_rows(50, 12)
    got = whiten.global_contrast_normalize(X, scale=55.0)
    centred = X - X.mean(axis=1, keepdims=True)
    want = 55.0 * centred / np.linalg.norm(centred, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 55.0, rtol=1e-12)
    np.testing.assert_allclose(got.mean(axis=1), 0.0, atol=1e-12)


def test_gcn_use_std_and_the_min_divisor():
    X = correlated_rows(20, 8)
    X[3] = 7.0  # a constant row: its norm is 0 < min_divisor, so pylearn2 divides by 1
    got = whiten.global_contrast_normalize(X, scale=2.0, use_std=True, sqrt_bias=10.0)
    centred = X - X.mean(axis=1, keepdims=True)
    norm = np.sqrt(10.0 + centred.var(axis=1, ddof=1)) / 2.0
    np.testing.assert_allclose(got, centred / norm[:, None], rtol=1e-12)
    plain = whiten.global_contrast_normalize(X)
    np.testing.assert_array_equal(plain[3], np.zeros(8))


def test_zca_whitens_the_training_set_to_identity_covariance():
    """With a negligible regularizer the whitened training set has covariance I."""
    X = correlated_rows(400, 12)
    zca = whiten.ZCA(filter_bias=1e-10).fit(X)
    Z = zca.apply(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(Z.T @ Z / len(Z), np.eye(12), atol=1e-7)


def test_zca_with_its_regularizer_against_numpy():
    """filter_bias b: P = (C + bI)^(-1/2) with C the covariance over N (not N - 1); ZCA's P is
    symmetric (the whitening closest to the identity); the whitened covariance is
    C (C + bI)^(-1), near I along the directions whose variance is large against b."""
    X = whiten.global_contrast_normalize(correlated_rows(300, 10, seed=3), scale=55.0)
    b = 0.1
    zca = whiten.ZCA(filter_bias=b).fit(X)
    mean = X.mean(axis=0)
    C = (X - mean).T @ (X - mean) / len(X)
    # an independent inverse square root: from the SVD of the (symmetric) regularized covariance
    u, s, _ = np.linalg.svd(C + b * np.eye(10))
    P = u @ np.diag(s ** -0.5) @ u.T
    np.testing.assert_allclose(zca.P_, P, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(zca.P_, zca.P_.T, atol=1e-12)
    Z = zca.apply(X)
    np.testing.assert_allclose(Z, (X - mean) @ P, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(Z.T @ Z / len(Z), C @ np.linalg.inv(C + b * np.eye(10)),
                               atol=1e-9)
    # GCN leaves each row with zero mean: C has a zero eigenvalue there, which b keeps finite
    assert zca.eigenvalues_.min() == pytest.approx(b, rel=1e-6)


def test_zca_is_invertible():
    X = correlated_rows(100, 9, seed=5)
    zca = whiten.ZCA(filter_bias=0.1).fit(X)
    np.testing.assert_allclose(zca.inverse(zca.apply(X)), X, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(zca.P_ @ zca.inv_P_, np.eye(9), atol=1e-9)


def fake_cifar(monkeypatch, n_train=60, n_test=20, shape=(3, 4, 4)):
    """load_source of cifar10:train/test returns small random uint8 sets."""
    rng = np.random.RandomState(11)
    sets = {split: (rng.randint(0, 256, size=(n,) + shape).astype(np.uint8),
                    (np.arange(n) % 10).astype(F32))
            for split, n in (("train", n_train), ("test", n_test))}
    real = sources.load_source

    def load(source, data_root=None):
        if source.startswith("cifar10:"):
            return sets[source.split(":")[1]]
        return real(source, data_root)

    monkeypatch.setattr(sources, "load_source", load)
    return sets


def test_whiten_command_writes_a_checksummed_cache(tmp_path, monkeypatch):
    sets = fake_cifar(monkeypatch)
    root = str(tmp_path)
    manifest = whiten.whiten_cifar10(root, log=lambda line: None, chunk=7)
    assert manifest["recipe"]["gcn"]["scale"] == 55.0
    assert manifest["recipe"]["zca"]["filter_bias"] == 0.1
    # the same numbers from NumPy, GCN then ZCA fitted on the training set
    flat = {s: whiten.global_contrast_normalize(im.reshape(len(im), -1)) for s, (im, _) in sets.items()}
    mean = flat["train"].mean(axis=0)
    C = (flat["train"] - mean).T @ (flat["train"] - mean) / len(flat["train"]) + 0.1 * np.eye(48)
    e, v = np.linalg.eigh(C)
    P = v @ np.diag(e ** -0.5) @ v.T
    for split, (images, labels) in sets.items():
        got, got_labels = load_source(f"cifar10-gcn-zca:{split}", root)
        assert got.dtype == F32 and got.shape == images.shape
        np.testing.assert_allclose(got.reshape(len(got), -1), (flat[split] - mean) @ P,
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(got_labels, labels)
    # a changed byte is caught by the checksum, with the file named
    path = os.path.join(root, "cifar10-gcn-zca", "test.npy")
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(DataError, match="test.npy: SHA-256 does not match"):
        load_source("cifar10-gcn-zca:test", root)


def test_missing_cache_says_how_to_make_it(tmp_path):
    with pytest.raises(DataError, match="augdrop-caffe data whiten cifar10"):
        load_source("cifar10-gcn-zca:train", str(tmp_path))


_keys = [0]


def float_data_net(images, phase, batch, transform):
    _keys[0] += 1
    key = f"test-whiten-float-{os.getpid()}-{_keys[0]}"
    _core.register_dataset(key, np.ascontiguousarray(images, F32), np.arange(len(images), dtype=F32))
    text = (f'name: "d" layer {{ name: "data" type: "Data" top: "data" top: "label" '
            f'transform_param {{ {transform} }} data_param {{ source: "{key}" batch_size: {batch} }} }}')
    return _core.Net(parse_text(text, "NetParameter").to_dict(), int(phase), 0, [])


@pytest.mark.parametrize("phase", [TRAIN, TEST])
def test_float_images_are_transformed_as_caffes_float_data(phase):
    """Crop, mirror, mean and scale applied to float pixels, the random draws in Caffe's order,
    exactly as for uint8 pixels (the float values are not rounded to bytes)."""
    rng = np.random.RandomState(2)
    images = (rng.randn(7, 3, 6, 6) * 40).astype(F32)
    _core.set_random_seed(1701)
    net = float_data_net(images, phase, 4, "crop_size: 4 mirror: true scale: 0.5 "
                                            "mean_value: 1.5 mean_value: -2 mean_value: 0.25")
    seed = int(np.random.RandomState(1701).randint(0, 2**32, size=2, dtype=np.uint32)[1])
    ref = CaffeTransformer(phase, seed=seed, scale=0.5, mirror=True, crop_size=4,
                           mean_values=(1.5, -2, 0.25))
    blobs = dict(zip(net.blob_names, net.blobs))
    for start in (0, 4, 1):  # the third batch wraps around
        net.forward()
        want, idx = ref.batch(images, start, 4)
        np.testing.assert_array_equal(blobs["data"].data, want)
        np.testing.assert_array_equal(blobs["label"].data, np.array(idx, F32))
