"""LMDB sources streamed record by record (data/lmdb_stream.py, a Data layer's RecordStream):
the same batches as reading the whole database into memory, in key order, wrapping around,
resumable from a layer's saved cursor, with memory bounded by the prefetch depth."""
import gc
import threading

import numpy as np
import pytest

import augdrop_caffe as caffe
from augdrop_caffe.data import lmdb_stream
from augdrop_caffe.data.readers import DataError, read_lmdb
from test_data_readers import datum_bytes

lmdb = pytest.importorskip("lmdb")


def write_db(path, images, labels, keys=None, map_size=1 << 26):
    env = lmdb.open(str(path), map_size=map_size)
    keys = keys if keys is not None else [b"%08d" % i for i in range(len(images))]
    with env.begin(write=True) as txn:
        for k, image, label in zip(keys, images, labels):
            txn.put(k, datum_bytes(image, int(label)))
    env.close()
    return str(path)


def data_net(tmp_path, source, batch, extra=""):
    path = tmp_path / f"net_{batch}.prototxt"
    path.write_text(f"""
    layer {{ name: "data" type: "Data" top: "data" top: "label"
             data_param {{ source: "{source}" batch_size: {batch} {extra} }} }}
    """)
    return caffe.Net(str(path), caffe.TEST)


@pytest.fixture
def db(tmp_path, monkeypatch):
    """37 records of (2, 3, 4), written out of key order; pages released every 4 records."""
    monkeypatch.setattr(lmdb_stream, "RELEASE_BYTES", 4 * 24)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (37, 2, 3, 4), dtype=np.uint8)
    labels = np.arange(37) * 3 % 10
    order = rng.permutation(37)
    write_db(tmp_path / "db", images[order], labels[order], [b"%08d" % i for i in order])
    return str(tmp_path / "db"), images, labels


def test_batches_are_the_records_in_key_order_wrapping_around(tmp_path, db):
    path, images, labels = db
    net = data_net(tmp_path, path, 5)
    for step in range(20):  # 100 records: the database 2.7 times
        net.forward()
        index = np.arange(step * 5, step * 5 + 5) % 37
        np.testing.assert_array_equal(net.blobs["data"].data, images[index].astype(np.float32))
        np.testing.assert_array_equal(net.blobs["label"].data, labels[index])


def test_streamed_equals_read_whole(tmp_path, db):
    path, images, labels = db
    whole_x, whole_y = read_lmdb(path)
    np.testing.assert_array_equal(whole_x, images)
    np.testing.assert_array_equal(whole_y, labels)


def test_a_saved_cursor_resumes_the_stream(tmp_path, db):
    path, images, _ = db
    first = data_net(tmp_path, path, 6)
    for _ in range(7):  # 42 records: past the end once
        first.forward()
    state = first._net.layer_state(0)
    first.forward()
    want = first.blobs["data"].data.copy()
    second = data_net(tmp_path, path, 6)
    second.forward()  # somewhere else first
    second._net.set_layer_state(0, state)
    second.forward()
    np.testing.assert_array_equal(second.blobs["data"].data, want)
    np.testing.assert_array_equal(want, images[np.arange(42, 48) % 37].astype(np.float32))


def test_each_layer_has_its_own_cursor(tmp_path, db):
    path, images, _ = db
    a, b = data_net(tmp_path, path, 4), data_net(tmp_path, path, 4)
    a.forward()
    a.forward()
    b.forward()
    np.testing.assert_array_equal(b.blobs["data"].data, images[:4].astype(np.float32))


def test_the_prefetch_thread_ends_with_its_net(tmp_path, db):
    path, _, _ = db
    before = {t.name for t in threading.enumerate()}
    net = data_net(tmp_path, path, 5)
    net.forward()
    assert any(t.name.startswith("lmdb-prefetch") for t in threading.enumerate())
    del net
    gc.collect()
    for t in threading.enumerate():
        if t.name.startswith("lmdb-prefetch") and t.name not in before:
            t.join(timeout=5)
            assert not t.is_alive()


def test_a_corrupt_record_mid_stream_is_a_clear_error(tmp_path):
    images = np.zeros((6, 1, 2, 2), np.uint8)
    path = write_db(tmp_path / "bad", images, range(6))
    env = lmdb.open(path, map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(b"%08d" % 4, b"\x08\x01\x10")  # cut short
    env.close()
    net = data_net(tmp_path, path, 3)
    net.forward()  # records 0-2 are fine
    with pytest.raises(caffe.EngineError, match=r"record b'00000004' is not a Caffe Datum") as e:
        net.forward()
    assert path in str(e.value)


def test_shuffle_needs_an_in_memory_source(tmp_path, db):
    with pytest.raises(caffe.EngineError, match="shuffle needs a named, in-memory data set"):
        data_net(tmp_path, db[0], 4, "shuffle: true")


def test_an_empty_or_missing_database_is_named(tmp_path):
    empty = write_db(tmp_path / "empty", [], [])
    with pytest.raises(DataError, match="no records"):
        data_net(tmp_path, empty, 2)


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    pytest.skip("no /proc/self/status")


def test_memory_is_bounded_by_the_prefetch_not_the_database(tmp_path, monkeypatch):
    # 48 MB of records read twice; the pages read are released every 2 MB: the resident
    # memory grows by the prefetched batches and 2 MB of pages, not by the database.
    monkeypatch.setattr(lmdb_stream, "RELEASE_BYTES", 2 << 20)
    record = (3, 128, 128)  # 48 KiB
    n = 1024
    env = lmdb.open(str(tmp_path / "big"), map_size=1 << 27)
    image = np.arange(np.prod(record), dtype=np.uint32).astype(np.uint8).reshape(record)
    with env.begin(write=True) as txn:
        for i in range(n):
            txn.put(b"%08d" % i, datum_bytes(image, i % 10))
    env.close()
    net = data_net(tmp_path, str(tmp_path / "big"), 16)
    net.forward()
    start = rss_kb()
    for _ in range(2 * n // 16):
        net.forward()
    grown_mb = (rss_kb() - start) / 1024
    assert grown_mb < 20, f"resident memory grew by {grown_mb:.1f} MB reading a 48 MB database twice"
    np.testing.assert_array_equal(net.blobs["label"].data, np.arange(16) % 10)


def test_data_info_and_mean_stream_an_lmdb(tmp_path, db, capsys):
    from augdrop_caffe import cli
    from augdrop_caffe.caffemodel import read_blobproto
    from augdrop_caffe.data.sources import image_mean

    path, images, labels = db
    assert cli.main(["data", "info", path]) == 0
    counts = np.bincount(labels).tolist()
    assert f"37 images of shape (2, 3, 4) (uint8), 10 classes, per class: {counts}" in capsys.readouterr().out
    assert cli.main(["data", "mean", path, str(tmp_path / "mean.binaryproto")]) == 0
    mean = np.asarray(read_blobproto(str(tmp_path / "mean.binaryproto"))).reshape(2, 3, 4)
    np.testing.assert_array_equal(mean, image_mean(images))
