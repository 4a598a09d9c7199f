"""Global contrast normalization and ZCA whitening of CIFAR-10, as pylearn2 made the data that
NiN (Lin et al. 2014), ALL-Conv (Springenberg et al. 2015) and the maxout networks were
trained on; the Demystifying Dropout paper's Table 6 uses the same preprocessing.

The recipe, restated from pylearn2 (pylearn2/expr/preprocessing.py global_contrast_normalize;
pylearn2/datasets/preprocessing.py ZCA), each image a row x of 3,072 values (C, H, W order):

    GCN:  x <- x - mean(x);  x <- scale * x / max(sqrt(sqrt_bias + sum(x^2)), ...)
          with scale 55, sqrt_bias 0, and a norm below min_divisor 1e-8 replaced by 1
          (use_std=False: the L2 norm, not the standard deviation)
    ZCA:  fitted on the GCN'd training set X (N rows):
          mu = mean of the rows;  C = (X - mu)^T (X - mu) / N + filter_bias * I
          C = V diag(e) V^T;  P = V diag(1/sqrt(e)) V^T
          whiten(x) = (x - mu) P,  with filter_bias 0.1 (pylearn2's default regularizer)
          and the inverse x = whiten(x) V diag(sqrt(e)) V^T + mu.

`augdrop-caffe data whiten cifar10` computes it once (float64 arithmetic, stored as float32)
into <data root>/cifar10-gcn-zca/: train.npy and test.npy (N, 3, 32, 32) float32, their
labels, and manifest.json with the recipe and a SHA-256 of every file; a Data layer reads it
as the source `cifar10-gcn-zca:train` or `cifar10-gcn-zca:test` (data/sources.py), and every
load checks the checksums.
"""
import hashlib
import json
import os
import time

import numpy as np

from .readers import DataError

FOLDER = "cifar10-gcn-zca"
GCN_DEFAULTS = {"scale": 55.0, "subtract_mean": True, "use_std": False, "sqrt_bias": 0.0,
                "min_divisor": 1e-8}
ZCA_DEFAULTS = {"filter_bias": 0.1}
FORMAT = 1  # the manifest's format; a change of the recipe's code bumps it


def global_contrast_normalize(X, scale=55.0, subtract_mean=True, use_std=False, sqrt_bias=0.0,
                              min_divisor=1e-8):
    """pylearn2's global_contrast_normalize on the rows of X (float64 copy returned)."""
    X = np.array(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError("global_contrast_normalize: X must be (examples, features)")
    if subtract_mean:
        X -= X.mean(axis=1)[:, None]
    if use_std:  # pylearn2: the sample standard deviation (ddof=1)
        normalizers = np.sqrt(sqrt_bias + X.var(axis=1, ddof=1)) / scale
    else:
        normalizers = np.sqrt(sqrt_bias + (X ** 2).sum(axis=1)) / scale
    normalizers[normalizers < min_divisor] = 1.0
    X /= normalizers[:, None]
    return X


class ZCA:
    """pylearn2's ZCA (no dropped components): fit on the training rows, then apply."""

    def __init__(self, filter_bias=0.1):
        self.filter_bias = float(filter_bias)
        self.mean_ = self.P_ = self.inv_P_ = self.eigenvalues_ = None

    def fit(self, X):
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        centred = X - self.mean_
        cov = centred.T @ centred / X.shape[0]
        cov[np.diag_indices_from(cov)] += self.filter_bias
        eigenvalues, eigenvectors = np.linalg.eigh(cov)
        if eigenvalues.min() <= 0:
            raise ValueError(f"ZCA: the regularized covariance is not positive definite "
                             f"(smallest eigenvalue {eigenvalues.min():g}); raise filter_bias")
        self.eigenvalues_ = eigenvalues
        self.P_ = (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T
        self.inv_P_ = (eigenvectors * np.sqrt(eigenvalues)) @ eigenvectors.T
        return self

    def apply(self, X):
        return (np.asarray(X, dtype=np.float64) - self.mean_) @ self.P_

    def inverse(self, Z):
        return np.asarray(Z, dtype=np.float64) @ self.inv_P_ + self.mean_


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def whitened_folder(root):
    return os.path.join(root, FOLDER)


def whiten_cifar10(root, log=print, scale=GCN_DEFAULTS["scale"],
                   filter_bias=ZCA_DEFAULTS["filter_bias"], chunk=5000):
    """Compute GCN + ZCA of CIFAR-10 (read from the data root) into <root>/cifar10-gcn-zca/.
    Returns the manifest. The training set fits the ZCA; both sets are transformed by it."""
    from .sources import load_source

    start = time.time()
    folder = whitened_folder(root)
    gcn = dict(GCN_DEFAULTS, scale=float(scale))
    sets = {}
    for split in ("train", "test"):
        images, labels = load_source("cifar10:" + split, root)
        sets[split] = (global_contrast_normalize(images.reshape(len(images), -1), **gcn),
                       np.asarray(labels, dtype=np.float32), images.shape[1:])
        log(f"GCN of cifar10:{split}: {len(images)} images (scale {scale:g})")
    zca = ZCA(filter_bias).fit(sets["train"][0])
    e = zca.eigenvalues_
    log(f"ZCA fitted on the training set: eigenvalues of the regularized covariance "
        f"{e.min():.4g}..{e.max():.4g} (filter_bias {filter_bias:g})")

    def images(X, shape):  # row blocks: the float64 products stay small
        for lo in range(0, len(X), chunk):
            yield zca.apply(X[lo:lo + chunk]).astype(np.float32).reshape((-1,) + tuple(shape))

    splits = {split: (len(X), shape, images(X, shape), labels)
              for split, (X, labels, shape) in sets.items()}
    recipe = {"gcn": gcn, "zca": {"filter_bias": float(filter_bias), "fitted_on": "cifar10:train"},
              "arithmetic": "float64, stored as float32"}
    manifest = write_cache(root, splits, recipe, "cifar10 (binary version) from " + root,
                           started=start)
    log(f"Wrote {folder} ({', '.join(sorted(manifest['sha256']))} and manifest.json) in "
        f"{manifest['seconds']:.0f} s")
    return manifest


def write_cache(root, splits, recipe, source, started=None):
    """Write <root>/cifar10-gcn-zca/: per split {name: (count, (C, H, W), blocks of float32
    images in order, labels)}, then manifest.json with their SHA-256 (written last: a cache
    without a manifest is no cache)."""
    folder = whitened_folder(root)
    os.makedirs(folder, exist_ok=True)
    manifest_path = os.path.join(folder, "manifest.json")
    if os.path.exists(manifest_path):  # the old cache is void from here on
        os.remove(manifest_path)
    files = {}
    for split, (count, shape, blocks, labels) in splits.items():
        tmp = os.path.join(folder, f"{split}.npy.tmp")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                        shape=(count,) + tuple(shape))
        at = 0
        for block in blocks:
            out[at:at + len(block)] = block
            at += len(block)
        if at != count:
            raise ValueError(f"write_cache: {split} has {at} images, {count} announced")
        out.flush()
        del out
        os.replace(tmp, os.path.join(folder, f"{split}.npy"))
        np.save(os.path.join(folder, f"{split}-labels.npy"), np.asarray(labels, np.float32))
        for name in (f"{split}.npy", f"{split}-labels.npy"):
            files[name] = _sha256(os.path.join(folder, name))
    manifest = {"format": FORMAT, "source": source, "recipe": recipe, "sha256": files,
                "seconds": round(time.time() - started, 1) if started else None}
    tmp = manifest_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, manifest_path)
    return manifest


def load_whitened(root, split):
    """(images float32 (N, 3, 32, 32), labels float32 (N,)) of the cached whitened set; the
    files' checksums are checked against the manifest."""
    folder = whitened_folder(root)
    manifest_path = os.path.join(folder, "manifest.json")
    if not os.path.isfile(manifest_path):
        raise DataError(f"cifar10-gcn-zca:{split}: {manifest_path} not found; compute it once "
                        f"with `augdrop-caffe data whiten cifar10` (data root {root})")
    with open(manifest_path) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise DataError(f"{manifest_path}: made by another version of the recipe (format "
                        f"{manifest.get('format')}, expected {FORMAT}); run `augdrop-caffe "
                        f"data whiten cifar10` again")
    arrays = []
    for name in (f"{split}.npy", f"{split}-labels.npy"):
        path = os.path.join(folder, name)
        expected = manifest.get("sha256", {}).get(name)
        if not os.path.isfile(path) or expected is None:
            raise DataError(f"{path}: missing; run `augdrop-caffe data whiten cifar10` again")
        if _sha256(path) != expected:
            raise DataError(f"{path}: SHA-256 does not match {manifest_path} (a damaged or "
                            f"changed file); run `augdrop-caffe data whiten cifar10` again")
        arrays.append(np.load(path))
    images, labels = arrays
    if images.dtype != np.float32 or images.ndim != 4 or len(labels) != len(images):
        raise DataError(f"{folder}: {split}.npy is not (N, C, H, W) float32 with N labels")
    return images, labels
