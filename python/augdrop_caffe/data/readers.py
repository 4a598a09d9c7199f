"""Readers for the data sets' own file formats, each returning (images, labels):
images uint8 (N, C, H, W), labels float32 (N,). Errors name the file and what was expected.
"""
import gzip
import io
import os
import struct
import tarfile

import numpy as np


class DataError(ValueError):
    """Missing or malformed data: the message names the file and what was expected."""


def _open_maybe_gz(path):
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as f:
        head = f.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")


def read_idx(path):
    """An IDX file (MNIST's format), raw or gzipped, as a numpy array."""
    try:
        with _open_maybe_gz(path) as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * ndim, data[4:header])
    expected = int(np.prod(dims)) if dims else 0
    if len(data) - header != expected:
        raise DataError(f"{path}: {len(data) - header} data bytes, the header says {expected} "
                        f"for shape {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_mnist(images_path, labels_path):
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{images_path}: expected (N, 28, 28) images and (N,) labels in "
                        f"{labels_path}, got {images.shape} and {labels.shape}")
    return images[:, None, :, :].copy(), labels.astype(np.float32)


def _cifar_records(blob, path, label_bytes):
    record = label_bytes + 3072
    if len(blob) % record:
        raise DataError(f"{path}: {len(blob)} bytes is not a whole number of {record}-byte "
                        f"CIFAR records")
    rows = np.frombuffer(blob, dtype=np.uint8).reshape(-1, record)
    labels = rows[:, label_bytes - 1].astype(np.float32)  # CIFAR-100: the fine label
    return rows[:, label_bytes:].reshape(-1, 3, 32, 32).copy(), labels


def read_cifar(path, split, label_bytes=1):
    """CIFAR-10 (label_bytes=1) or CIFAR-100 (2) binary version: a folder, or the .tar.gz."""
    if label_bytes == 1:
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
    else:
        names = ["train.bin"] if split == "train" else ["test.bin"]
    blobs = {}
    if os.path.isdir(path):
        for name in names:
            p = os.path.join(path, name)
            if not os.path.isfile(p):
                raise DataError(f"{p}: file not found (CIFAR binary version)")
            with open(p, "rb") as f:
                blobs[name] = f.read()
    elif os.path.isfile(path):
        try:
            with tarfile.open(path, "r:*") as tar:
                for member in tar.getmembers():
                    base = os.path.basename(member.name)
                    if base in names:
                        blobs[base] = tar.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{path}: not a readable tar archive ({e})") from None
        missing = [n for n in names if n not in blobs]
        if missing:
            raise DataError(f"{path}: archive lacks {', '.join(missing)}")
    else:
        raise DataError(f"{path}: not found (CIFAR binary version folder or .tar.gz)")
    parts = [_cifar_records(blobs[n], f"{path}/{n}", label_bytes) for n in names]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def read_svhn(path):
    """SVHN format 2 (.mat): X (32, 32, 3, N) uint8, y (N, 1) with 10 standing for digit 0."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DataError(f"{path}: reading SVHN .mat files needs scipy (pip install scipy)") from None
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found (SVHN format 2 .mat)")
    try:
        mat = loadmat(path)
    except Exception as e:  # scipy raises several types for a bad file
        raise DataError(f"{path}: not a readable MATLAB file ({e})") from None
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: expected variables X and y")
    x, y = mat["X"], mat["y"].reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise DataError(f"{path}: X has shape {x.shape}, expected (32, 32, 3, {len(y)})")
    labels = y.astype(np.float32)
    labels[labels == 10] = 0
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)).astype(np.uint8), labels


def _varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def parse_datum(buf):
    """Caffe's Datum record: (channels, height, width, uint8 data or float data, label)."""
    fields = {"channels": 0, "height": 0, "width": 0, "label": 0, "data": b"", "float": []}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            name = {1: "channels", 2: "height", 3: "width", 5: "label", 7: "encoded"}.get(num)
            if name:
                fields[name] = value
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if num == 4:
                fields["data"] = bytes(buf[pos:pos + n])
            elif num == 6:
                fields["float"] = list(np.frombuffer(bytes(buf[pos:pos + n]), dtype="<f4"))
            pos += n
        elif wire == 5:
            if num == 6:
                fields["float"].append(struct.unpack("<f", bytes(buf[pos:pos + 4]))[0])
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return fields


def read_lmdb(path):
    """A whole Caffe LMDB of Datum records (uint8 pixels) in memory, in key order as Caffe
    reads it (a Data layer streams it instead: lmdb_stream.py, whose decoder this uses)."""
    from .lmdb_stream import iterate_records, lmdb_info

    num, shape = lmdb_info(path)
    images = np.empty((num,) + tuple(shape), dtype=np.uint8)
    labels = np.empty(num, dtype=np.float32)
    for i, (image, label) in enumerate(iterate_records(path, shape=shape)):
        images[i], labels[i] = image, label
    return images, labels
