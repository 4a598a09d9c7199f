"""The data set readers (augdrop_caffe.data.readers / sources) on small files written here in
each data set's real format, and, where $AUGDROP_DATA holds them, on the real data sets."""
import gzip
import io
import os
import struct
import tarfile

import numpy as np
import pytest

from augdrop_caffe.data import DataError, load_source
from augdrop_caffe.data import fetch as fetch_mod
from augdrop_caffe.data.readers import (parse_datum, read_cifar, read_idx, read_lmdb,
                                        read_mnist, read_svhn)

RNG = np.random.RandomState(20190609)


# ---- writers for the real formats -------------------------------------------------------------

def idx_bytes(array):
    """An unsigned-byte IDX file: 0 0 0x08 ndim, big-endian dims, the bytes."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, a.ndim]) + struct.pack(">" + "I" * a.ndim, *a.shape) + a.tobytes()


def write_idx(path, array, gz=False):
    data = idx_bytes(array)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return str(path)


def cifar_records(images, labels, coarse=None):
    """CIFAR binary records: [coarse byte] label byte, then 3072 bytes (R, G, B planes)."""
    out = bytearray()
    for i, (img, lab) in enumerate(zip(images, labels)):
        if coarse is not None:
            out.append(int(coarse[i]))
        out.append(int(lab))
        out += np.ascontiguousarray(img, dtype=np.uint8).tobytes()
    return bytes(out)


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def datum_bytes(image, label, encoded=False):
    """Caffe's Datum: channels=1, height=2, width=3 (varints), data=4 (bytes), label=5."""
    c, h, w = image.shape
    data = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    out = (varint(1 << 3) + varint(c) + varint(2 << 3) + varint(h) + varint(3 << 3) + varint(w)
           + varint(4 << 3 | 2) + varint(len(data)) + data + varint(5 << 3) + varint(label))
    if encoded:
        out += varint(7 << 3) + varint(1)
    return out


def images(n, c, h, w):
    return RNG.randint(0, 256, size=(n, c, h, w)).astype(np.uint8)


# ---- MNIST (IDX) ----------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_read_idx_raw_and_gz(tmp_path, gz):
    a = images(4, 1, 28, 28)[:, 0]
    path = write_idx(tmp_path / ("x.gz" if gz else "x"), a, gz=gz)
    got = read_idx(path)
    assert got.dtype == np.uint8 and got.shape == (4, 28, 28)
    np.testing.assert_array_equal(got, a)


def test_read_idx_labels_one_dimensional(tmp_path):
    labels = np.array([7, 2, 1, 0, 4], dtype=np.uint8)
    got = read_idx(write_idx(tmp_path / "l", labels))
    assert got.shape == (5,)
    np.testing.assert_array_equal(got, labels)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_read_mnist(tmp_path, gz):
    imgs = images(6, 1, 28, 28)[:, 0]
    labels = np.array([5, 0, 4, 1, 9, 2], dtype=np.uint8)
    ext = ".gz" if gz else ""
    x, y = read_mnist(write_idx(tmp_path / ("i" + ext), imgs, gz),
                      write_idx(tmp_path / ("l" + ext), labels, gz))
    assert x.dtype == np.uint8 and x.shape == (6, 1, 28, 28)
    assert y.dtype == np.float32 and y.shape == (6,)
    np.testing.assert_array_equal(x[:, 0], imgs)
    np.testing.assert_array_equal(y, labels.astype(np.float32))


def test_load_source_mnist_folder_prefers_gz_then_raw(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    imgs, labels = images(3, 1, 28, 28)[:, 0], np.array([1, 2, 3], np.uint8)
    write_idx(folder / "t10k-images-idx3-ubyte", imgs)  # raw
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels, gz=True)  # gzipped
    x, y = load_source("mnist:test", str(tmp_path))
    np.testing.assert_array_equal(x[:, 0], imgs)
    np.testing.assert_array_equal(y, [1, 2, 3])


def test_idx_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "bad-magic-idx"
    data = bytearray(idx_bytes(np.zeros((2, 3), np.uint8)))
    data[2] = 0x0D  # float IDX, not unsigned byte
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="bad magic") as e:
        read_idx(str(path))
    assert str(path) in str(e.value)
    path.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match="magic"):
        read_idx(str(path))


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_idx_truncated_names_the_file(tmp_path, gz):
    path = tmp_path / ("short.gz" if gz else "short")
    data = idx_bytes(images(3, 1, 28, 28)[:, 0])[:-100]
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    with pytest.raises(DataError) as e:
        read_idx(str(path))
    assert str(path) in str(e.value)
    assert "(3, 28, 28)" in str(e.value)


def test_idx_truncated_gzip_stream_names_the_file(tmp_path):
    path = tmp_path / "cut.gz"
    whole = gzip.compress(idx_bytes(images(5, 1, 28, 28)[:, 0]))
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError) as e:
        read_idx(str(path))
    assert str(path) in str(e.value)


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "header"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">I", 5))
    with pytest.raises(DataError, match="header") as e:
        read_idx(str(path))
    assert str(path) in str(e.value)


def test_idx_missing_file(tmp_path):
    path = tmp_path / "nope-idx3-ubyte"
    with pytest.raises(DataError, match="not found") as e:
        read_idx(str(path))
    assert str(path) in str(e.value)


def test_mnist_count_mismatch_names_the_files(tmp_path):
    ipath = write_idx(tmp_path / "imgs", images(3, 1, 28, 28)[:, 0])
    lpath = write_idx(tmp_path / "labs", np.array([1, 2], np.uint8))
    with pytest.raises(DataError) as e:
        read_mnist(ipath, lpath)
    assert ipath in str(e.value) and lpath in str(e.value)


def test_mnist_files_swapped(tmp_path):
    ipath = write_idx(tmp_path / "imgs", images(3, 1, 28, 28)[:, 0])
    lpath = write_idx(tmp_path / "labs", np.array([1, 2, 3], np.uint8))
    with pytest.raises(DataError) as e:
        read_mnist(lpath, ipath)
    assert ipath in str(e.value)


def test_load_source_missing_mnist_names_what_was_looked_for(tmp_path):
    with pytest.raises(DataError) as e:
        load_source("mnist:train", str(tmp_path))
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and str(tmp_path / "mnist") in msg


def test_load_source_bad_split_and_bad_name(tmp_path):
    with pytest.raises(DataError, match="split"):
        load_source("mnist:validation", str(tmp_path))
    with pytest.raises(DataError, match="neither a named data set"):
        load_source("imagenet-that-is-not-here", str(tmp_path))


def test_mnist_sample_is_shipped():
    x, y = load_source("mnist-sample:train")
    assert x.shape == (2000, 1, 28, 28) and x.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10))
    xt, yt = load_source("mnist-sample:test")
    assert xt.shape == (1000, 1, 28, 28) and yt.shape == (1000,)


# ---- CIFAR-10 / CIFAR-100 (binary version) -------------------------------------------------

def make_cifar10(tmp_path, per_batch=3):
    """A cifar-10-batches-bin folder and the same as a .tar.gz; returns both and the data."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    data = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        x = images(per_batch, 3, 32, 32)
        y = RNG.randint(0, 10, size=per_batch)
        data[name] = (x, y)
        (folder / name).write_bytes(cifar_records(x, y))
    (folder / "batches.meta.txt").write_text("airplane\nautomobile\n")
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-bin")
    return folder, archive, data


def test_cifar10_folder_and_tar_gz(tmp_path):
    folder, archive, data = make_cifar10(tmp_path)
    train_names = [f"data_batch_{i}.bin" for i in range(1, 6)]
    want_x = np.concatenate([data[n][0] for n in train_names])
    want_y = np.concatenate([data[n][1] for n in train_names]).astype(np.float32)
    for path in (str(folder), str(archive)):
        x, y = read_cifar(path, "train")
        assert x.dtype == np.uint8 and x.shape == (15, 3, 32, 32)
        assert y.dtype == np.float32
        np.testing.assert_array_equal(x, want_x)  # batches 1..5 in order, records in order
        np.testing.assert_array_equal(y, want_y)
        xt, yt = read_cifar(path, "test")
        np.testing.assert_array_equal(xt, data["test_batch.bin"][0])
        np.testing.assert_array_equal(yt, data["test_batch.bin"][1])


def test_cifar10_pixel_layout_is_rgb_planes(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    record = bytes([3]) + bytes([10]) * 1024 + bytes([20]) * 1024 + bytes([30]) * 1024
    (folder / "test_batch.bin").write_bytes(record)
    x, y = read_cifar(str(folder), "test")
    assert y.tolist() == [3.0]
    assert [int(x[0, c, 5, 7]) for c in range(3)] == [10, 20, 30]


def test_cifar10_load_source_prefers_folder_then_archive(tmp_path):
    _, archive, data = make_cifar10(tmp_path)
    x, _ = load_source("cifar10:test", str(tmp_path))
    np.testing.assert_array_equal(x, data["test_batch.bin"][0])
    other = tmp_path / "only-archive"
    other.mkdir()
    os.replace(archive, other / "cifar-10-binary.tar.gz")
    x, _ = load_source("cifar10:test", str(other))
    np.testing.assert_array_equal(x, data["test_batch.bin"][0])


def test_cifar100_fine_label(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    x = images(4, 3, 32, 32)
    coarse = np.array([19, 0, 7, 3])
    fine = np.array([99, 42, 0, 63])
    (folder / "train.bin").write_bytes(cifar_records(x, fine, coarse=coarse))
    (folder / "test.bin").write_bytes(cifar_records(x[:2], fine[:2], coarse=coarse[:2]))
    got_x, got_y = read_cifar(str(folder), "train", label_bytes=2)
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, fine.astype(np.float32))
    archive = tmp_path / "cifar-100-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-100-binary")
    os.replace(folder, tmp_path / "moved-away")
    tx, ty = load_source("cifar100:test", str(tmp_path))
    np.testing.assert_array_equal(tx, x[:2])
    np.testing.assert_array_equal(ty, [99.0, 42.0])


def test_cifar_partial_record_names_the_file(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "test_batch.bin").write_bytes(b"\x01" * (3073 + 10))
    with pytest.raises(DataError, match="3073-byte") as e:
        read_cifar(str(folder), "test")
    assert "test_batch.bin" in str(e.value)


def test_cifar_missing_batch_file_and_archive_member(tmp_path):
    folder, archive, _ = make_cifar10(tmp_path)
    os.remove(folder / "data_batch_3.bin")
    with pytest.raises(DataError, match="data_batch_3.bin"):
        read_cifar(str(folder), "train")
    small = tmp_path / "small.tar.gz"
    with tarfile.open(small, "w:gz") as tar:
        tar.add(folder / "test_batch.bin", arcname="cifar-10-batches-bin/test_batch.bin")
    read_cifar(str(small), "test")
    with pytest.raises(DataError, match="data_batch_1.bin") as e:
        read_cifar(str(small), "train")
    assert str(small) in str(e.value)


def test_cifar_corrupt_archive_names_the_file(tmp_path):
    path = tmp_path / "cifar-10-binary.tar.gz"
    whole = io.BytesIO()
    with tarfile.open(fileobj=whole, mode="w:gz") as tar:
        payload = cifar_records(images(2, 3, 32, 32), [1, 2])
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    path.write_bytes(whole.getvalue()[:200])
    with pytest.raises(DataError) as e:
        read_cifar(str(path), "test")
    assert str(path) in str(e.value)


# ---- SVHN (format 2 .mat) --------------------------------------------------------------------

def write_svhn(path, x_nchw, y):
    scipy_io = pytest.importorskip("scipy.io")
    x = np.ascontiguousarray(x_nchw.transpose(2, 3, 1, 0))  # (32, 32, 3, N): H, W, C, N
    scipy_io.savemat(str(path), {"X": x, "y": np.asarray(y, np.uint8).reshape(-1, 1)})


def test_svhn_mat(tmp_path):
    x = images(5, 3, 32, 32)
    y = [10, 1, 2, 9, 10]  # 10 stands for the digit 0
    path = tmp_path / "train_32x32.mat"
    write_svhn(path, x, y)
    got_x, got_y = read_svhn(str(path))
    assert got_x.dtype == np.uint8 and got_x.shape == (5, 3, 32, 32)
    assert got_x.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(got_x, x)
    assert got_y.dtype == np.float32
    np.testing.assert_array_equal(got_y, [0, 1, 2, 9, 0])


def test_svhn_through_load_source(tmp_path):
    (tmp_path / "svhn").mkdir()
    x = images(3, 3, 32, 32)
    write_svhn(tmp_path / "svhn" / "test_32x32.mat", x, [3, 10, 7])
    got_x, got_y = load_source("svhn:test", str(tmp_path))
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, [3, 0, 7])


def test_svhn_bad_files(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    missing = tmp_path / "absent.mat"
    with pytest.raises(DataError, match="not found") as e:
        read_svhn(str(missing))
    assert str(missing) in str(e.value)
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"this is not a MATLAB file at all" * 10)
    with pytest.raises(DataError) as e:
        read_svhn(str(garbage))
    assert str(garbage) in str(e.value)
    no_y = tmp_path / "no_y.mat"
    scipy_io.savemat(str(no_y), {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(DataError, match="X and y"):
        read_svhn(str(no_y))
    mismatch = tmp_path / "mismatch.mat"
    scipy_io.savemat(str(mismatch), {"X": np.zeros((32, 32, 3, 2), np.uint8),
                                     "y": np.ones((3, 1), np.uint8)})
    with pytest.raises(DataError, match=r"\(32, 32, 3, 3\)") as e:
        read_svhn(str(mismatch))
    assert str(mismatch) in str(e.value)


# ---- Caffe LMDB of Datum records ---------------------------------------------------------------

def write_lmdb(path, records):
    lmdb = pytest.importorskip("lmdb")
    env = lmdb.open(str(path), map_size=1 << 22)
    with env.begin(write=True) as txn:
        for key, value in records:
            txn.put(key, value)
    env.close()
    return str(path)


def test_parse_datum_by_hand():
    img = images(1, 3, 2, 4)[0]
    d = parse_datum(datum_bytes(img, 7))
    assert (d["channels"], d["height"], d["width"], d["label"]) == (3, 2, 4, 7)
    assert d["data"] == img.tobytes()


def test_lmdb_read_in_key_order(tmp_path):
    x = images(6, 3, 4, 5)
    keys = [b"00000003", b"00000000", b"00000005", b"00000001", b"00000004", b"00000002"]
    labels = [30, 0, 50, 10, 40, 20]
    # written out of order: Caffe reads an LMDB with a cursor, i.e. in key order
    path = write_lmdb(tmp_path / "db",
                      [(k, datum_bytes(x[int(k)], lab)) for k, lab in zip(keys, labels)])
    got_x, got_y = read_lmdb(path)
    assert got_x.dtype == np.uint8 and got_x.shape == (6, 3, 4, 5)
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, [0, 10, 20, 30, 40, 50])
    lx, ly = load_source(path)  # a source that is an LMDB folder
    np.testing.assert_array_equal(lx, x)
    np.testing.assert_array_equal(ly, got_y)


def test_lmdb_large_label_and_image(tmp_path):
    x = images(2, 1, 28, 28)
    path = write_lmdb(tmp_path / "db", [(b"a", datum_bytes(x[0], 999)), (b"b", datum_bytes(x[1], 3))])
    got_x, got_y = read_lmdb(path)
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, [999, 3])


def test_lmdb_errors_name_the_folder(tmp_path):
    x = images(2, 1, 2, 3)
    shapes = write_lmdb(tmp_path / "shapes", [(b"0", datum_bytes(x[0], 0)),
                                              (b"1", datum_bytes(images(1, 1, 3, 2)[0], 1))])
    with pytest.raises(DataError, match="shape") as e:
        read_lmdb(shapes)
    assert shapes in str(e.value)
    # encoded: true with bytes that are no image file
    encoded = write_lmdb(tmp_path / "encoded", [(b"0", datum_bytes(x[0], 0, encoded=True))])
    with pytest.raises(DataError, match="cannot decode the image"):
        read_lmdb(encoded)
    empty = write_lmdb(tmp_path / "empty", [])
    with pytest.raises(DataError, match="no records"):
        read_lmdb(empty)
    short = write_lmdb(tmp_path / "short", [(b"0", datum_bytes(x[0], 0)[:-8])])
    with pytest.raises(DataError) as e:
        read_lmdb(short)
    assert short in str(e.value)
    with pytest.raises(DataError, match="not an LMDB folder"):
        read_lmdb(str(tmp_path / "nothing-here"))


# ---- the real data sets, where $AUGDROP_DATA has them ---------------------------------------

DATA_ROOT = os.environ.get("AUGDROP_DATA", "")


def real(*parts):
    path = os.path.join(DATA_ROOT, *parts)
    if not DATA_ROOT or not os.path.exists(path):
        pytest.skip(f"real data not available: {path or ', '.join(parts)} "
                    f"(set AUGDROP_DATA to the data folder)")
    return path


def test_real_mnist():
    real("mnist", "train-images-idx3-ubyte.gz")
    real("mnist", "t10k-images-idx3-ubyte.gz")
    x, y = load_source("mnist:train", DATA_ROOT)
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.uint8
    assert y.shape == (60000,) and set(np.unique(y)) == set(range(10))
    xt, yt = load_source("mnist:test", DATA_ROOT)
    assert xt.shape == (10000, 1, 28, 28) and yt.shape == (10000,)
    # the first training label of MNIST is a 5, the first test label a 7
    assert (y[0], yt[0]) == (5.0, 7.0)


def test_real_mnist_checksums_match_fetch_table():
    """The fetcher's MD5s (of the uncompressed files) are those of the real files."""
    for _url, rel, md5, gunzip in fetch_mod.DATASETS["mnist"]:
        if "labels" not in rel:
            continue  # the image files take longer; the labels suffice to check the table
        assert fetch_mod.md5_of(real(rel), gunzip) == md5


@pytest.fixture(scope="module")
def real_cifar10():
    path = real("cifar-10-binary.tar.gz")
    return read_cifar(path, "train"), read_cifar(path, "test")


def test_real_cifar10_shapes_and_classes(real_cifar10):
    (x, y), (xt, yt) = real_cifar10
    assert x.shape == (50000, 3, 32, 32) and x.dtype == np.uint8
    assert xt.shape == (10000, 3, 32, 32)
    assert np.bincount(y.astype(np.int64)).tolist() == [5000] * 10
    assert np.bincount(yt.astype(np.int64)).tolist() == [1000] * 10


def test_real_cifar10_channel_means(real_cifar10):
    (x, _), _ = real_cifar10
    means = x.mean(axis=(0, 2, 3), dtype=np.float64)
    np.testing.assert_allclose(means, [125.31, 122.95, 113.87], atol=0.01)
