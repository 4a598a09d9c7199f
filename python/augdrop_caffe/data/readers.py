"""Readers for the data sets' own file formats, each returning (images, labels):
images uint8 (N, C, H, W), labels float32 (N,). Errors name the file and what was expected.
"""
import gzip
import io
import math
import os
import struct
import tarfile
import zlib

import numpy as np


class DataError(ValueError):
    """Missing or malformed data: the message names the file and what was expected."""


def _open_maybe_gz(path):
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as f:
        head = f.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")


_CHUNK = 1 << 24


def _read_exactly(f, n):
    """Up to n bytes, read in chunks: memory follows the data the file holds, not what its
    header claims (a corrupt header may claim terabytes)."""
    parts, left = [], n
    while left > 0:
        part = f.read(min(left, _CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_idx(path):
    """An IDX file (MNIST's format), raw or gzipped, as a numpy array."""
    try:
        with _open_maybe_gz(path) as f:
            head = _read_exactly(f, 4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08:
                raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
            ndim = head[3]
            if ndim == 0:
                raise DataError(f"{path}: the IDX header gives no dimensions")
            header = _read_exactly(f, 4 * ndim)
            if len(header) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            dims = struct.unpack(">" + "I" * ndim, header)
            expected = math.prod(dims)
            data = _read_exactly(f, expected + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if len(data) != expected:
        size = f"{len(data)}" if len(data) <= expected else "more"
        raise DataError(f"{path}: {size} data bytes, the header says {expected} for shape {dims}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


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
    start = pos
    while True:
        if pos >= len(buf):
            raise DataError(f"truncated varint at byte {start}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DataError(f"varint longer than 10 bytes at byte {start}")


def _datum_fields():
    """{field number: (name, type)} of Caffe's Datum, from the one schema (schema.py)."""
    from .. import schema

    return {n: (f.name, f.type) for n, f in schema.FIELDS_BY_NUMBER["Datum"].items()}


_DATUM_FIELDS = None
# parse_datum's keys for Datum's fields (float_data keeps its short name "float").
_DATUM_KEYS = {"float_data": "float"}


def parse_datum(buf):
    """Caffe's Datum record: {channels, height, width, label, encoded, data (bytes), float
    (list)}. Field numbers and types come from schema.py's Datum, as caffe_pb2's do; this
    reader walks the wire format itself so that a record that is not a well-formed Datum
    raises DataError saying at which byte it breaks (protobuf only says that it does)."""
    global _DATUM_FIELDS
    if _DATUM_FIELDS is None:
        _DATUM_FIELDS = _datum_fields()
    fields = {"channels": 0, "height": 0, "width": 0, "label": 0, "encoded": 0, "data": b"",
              "float": []}
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        name, ftype = _DATUM_FIELDS.get(num, (None, None))
        name = _DATUM_KEYS.get(name, name)
        if wire == 0:
            value, pos = _varint(buf, pos)
            if ftype in ("int32", "bool"):
                fields[name] = value
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if n > len(buf) - pos:
                raise DataError(f"field {num} of {n} bytes at byte {start} runs past the end of "
                                f"the {len(buf)}-byte record")
            if ftype == "bytes":
                fields[name] = bytes(buf[pos:pos + n])
            elif ftype == "float":  # packed
                if n % 4:
                    raise DataError(f"packed {name}_data of {n} bytes at byte {start} is not a "
                                    f"whole number of floats")
                fields[name] = list(np.frombuffer(bytes(buf[pos:pos + n]), dtype="<f4"))
            pos += n
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if size > len(buf) - pos:
                raise DataError(f"truncated {size}-byte field {num} at byte {start}")
            if ftype == "float" and wire == 5:
                fields[name].append(struct.unpack("<f", bytes(buf[pos:pos + 4]))[0])
            pos += size
        else:
            raise DataError(f"unsupported wire type {wire} (field {num}) at byte {start}")
    # Caffe's Datum fields are int32: a varint past 32 bits keeps its low bits, as protobuf does.
    for name in ("channels", "height", "width", "label"):
        value = fields[name] & 0xFFFFFFFF
        fields[name] = value - (1 << 32) if value >> 31 else value
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
