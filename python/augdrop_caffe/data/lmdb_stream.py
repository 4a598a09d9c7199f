"""A Caffe LMDB of Datum records (or a LevelDB, read with plyvel) read record by record, as
Caffe's Data layer reads it: in key order from the first record, wrapping around at the end,
a few batches ahead in a prefetch thread (Caffe's BasePrefetchingDataLayer). The core's Data layer pulls each batch
(csrc/data/record_stream.hpp); the random transformations stay in the core, so the batches
are exactly those of reading the whole database into memory.

Memory is bounded by the prefetch depth, not the database: besides the queued batches, the
reader tells the kernel every RELEASE_BYTES it reads that the process no longer needs the
pages of the database it has mapped (an LMDB is read through mmap, and pages once read would
otherwise stay counted in the process's resident memory, up to the whole database).
"""
import ctypes
import math
import os
import queue
import threading
from contextlib import contextmanager

import numpy as np

from .images import decode_image
from .readers import DataError, parse_datum

PREFETCH_BATCHES = 4  # as Caffe's PREFETCH_COUNT
RELEASE_BYTES = 64 << 20

# One Environment per database and process (LMDB allows no more), shared by its readers.
_environments = {}  # real path -> [Environment, users]
_environments_lock = threading.Lock()


@contextmanager
def _environment(path):
    try:
        import lmdb
    except ImportError:
        raise DataError(f"{path}: reading LMDB needs the lmdb package (pip install lmdb)") from None
    if not os.path.isdir(path):
        raise DataError(f"{path}: not an LMDB folder")
    real = os.path.realpath(path)
    with _environments_lock:
        if real not in _environments:
            try:
                env = lmdb.open(real, readonly=True, lock=False, readahead=False, max_readers=512)
            except lmdb.Error as e:
                raise DataError(f"{path}: cannot open LMDB ({e})") from None
            _environments[real] = [env, 0]
        entry = _environments[real]
        entry[1] += 1
    try:
        yield entry[0]
    finally:
        with _environments_lock:
            entry[1] -= 1
            if entry[1] == 0:
                del _environments[real]
                entry[0].close()


_MADV_DONTNEED = 4


def _release_pages(path):
    """Drops the pages of the database's map from this process's resident set (Linux; the
    data stay in the page cache, and a later read faults them back in)."""
    data = os.path.join(os.path.realpath(path), "data.mdb")
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        with open("/proc/self/maps") as f:
            for line in f:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].strip() == data:
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start),
                                 _MADV_DONTNEED)
    except (OSError, AttributeError):
        pass


def decode_record(path, key, value, shape=None, color=None):
    """(uint8 image (C, H, W), label) of one Datum record; shape: what earlier records had;
    color: how an encoded record decodes (None: its own channels; True: BGR, transform_param
    force_color; False: gray, force_gray)."""
    try:
        d = parse_datum(value)
    except (IndexError, ValueError) as e:
        raise DataError(f"{path}: record {bytes(key)!r} is not a Caffe Datum ({e})") from None
    if d.get("encoded"):
        # JPEG/PNG bytes (convert_imageset --encoded): decoded in their own channels, as
        # Caffe's DecodeDatumToCVMatNative (data/images.py)
        image = decode_image(d["data"], f"{path}: record {bytes(key)!r}", color)
        if shape is not None and image.shape != tuple(shape):
            raise DataError(f"{path}: record {bytes(key)!r} decodes to shape {image.shape}, "
                            f"earlier records to {tuple(shape)}")
        return image, d["label"]
    s = (d["channels"], d["height"], d["width"])
    if min(s) <= 0:
        raise DataError(f"{path}: record {bytes(key)!r} has shape {s}; a Datum's channels, "
                        f"height and width must be positive")
    if shape is not None and s != tuple(shape):
        raise DataError(f"{path}: record {bytes(key)!r} has shape {s}, earlier records {tuple(shape)}")
    if len(d["data"]) != math.prod(s):
        raise DataError(f"{path}: record {bytes(key)!r} has {len(d['data'])} pixel bytes for shape "
                        f"{s} (float Datum data is not supported)")
    return np.frombuffer(d["data"], dtype=np.uint8).reshape(s), d["label"]


def is_leveldb(path):
    """A LevelDB folder (CURRENT, *.ldb) rather than an LMDB one (data.mdb)."""
    return (os.path.isfile(os.path.join(path, "CURRENT"))
            and not os.path.isfile(os.path.join(path, "data.mdb")))


# LevelDB allows one open handle per database and process: shared, as LMDB environments are.
_leveldbs = {}  # real path -> [DB, users]


@contextmanager
def _leveldb(path):
    try:
        import plyvel
    except ImportError:
        raise DataError(f"{path}: reading LevelDB needs the plyvel package (pip install plyvel, "
                        f"or pip install 'augdrop-caffe[leveldb]')") from None
    real = os.path.realpath(path)
    with _environments_lock:
        if real not in _leveldbs:
            try:
                _leveldbs[real] = [plyvel.DB(real, create_if_missing=False), 0]
            except (plyvel.Error, OSError) as e:
                raise DataError(f"{path}: cannot open LevelDB ({e})") from None
        entry = _leveldbs[real]
        entry[1] += 1
    try:
        yield entry[0]
    finally:
        with _environments_lock:
            entry[1] -= 1
            if entry[1] == 0:
                del _leveldbs[real]
                entry[0].close()


def _leveldb_records(path, start, wrap, shape, color):
    """iterate_records over a LevelDB: in key order, as Caffe's LevelDBCursor."""
    with _leveldb(path) as db:
        while True:
            found = False
            with db.iterator() as it:
                for key, value in it:
                    found = True
                    if start > 0:
                        start -= 1
                        continue
                    image, label = decode_record(path, key, value, shape, color)
                    shape = image.shape
                    yield image, label
            if not found:
                raise DataError(f"{path}: the LevelDB holds no records")
            if not wrap and start == 0:
                return


def _leveldb_info(path, color):
    with _leveldb(path) as db:
        num, first = 0, None
        with db.iterator() as it:
            for key, value in it:
                if first is None:
                    first = (key, value)
                num += 1
        if not num:
            raise DataError(f"{path}: the LevelDB holds no records")
        image, _ = decode_record(path, *first, color=color)
        return num, image.shape


def lmdb_info(path, color=None):
    """(number of records, (C, H, W) of the first record) of an LMDB (or a LevelDB)."""
    if is_leveldb(path):
        return _leveldb_info(path, color)
    with _environment(path) as env, env.begin() as txn:
        num = txn.stat()["entries"]
        cursor = txn.cursor()
        if not num or not cursor.first():
            raise DataError(f"{path}: the LMDB holds no records")
        image, _ = decode_record(path, cursor.key(), cursor.value(), color=color)
        return num, image.shape


def iterate_records(path, start=0, wrap=False, shape=None, color=None):
    """(image, label) of the records in key order from record `start` on: once to the end,
    or, with wrap, around and around (close the generator to stop)."""
    if is_leveldb(path):
        yield from _leveldb_records(path, start, wrap, shape, color)
        return
    with _environment(path) as env, env.begin() as txn:
        cursor = txn.cursor()
        if not cursor.first():
            raise DataError(f"{path}: the LMDB holds no records")
        for _ in range(start):
            if not cursor.next():
                cursor.first()
        read = 0
        while True:
            image, label = decode_record(path, cursor.key(), cursor.value(), shape, color)
            shape = image.shape
            yield image, label
            read += image.nbytes
            if read >= RELEASE_BYTES:
                _release_pages(path)
                read = 0
            if not cursor.next():
                if not wrap:
                    return
                cursor.first()


def _prefetch(path, batch, shape, start, batches, stop, color):
    """The prefetch thread: batches of `batch` records from `start` into `batches` until
    `stop`; an error is queued for the reader to raise."""
    def put(item):
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    records = iterate_records(path, start, wrap=True, shape=shape, color=color)
    try:
        while not stop.is_set():
            images = np.empty((batch,) + tuple(shape), dtype=np.uint8)
            labels = np.empty(batch, dtype=np.float32)
            for i in range(batch):
                images[i], labels[i] = next(records)
            if not put((images, labels)):
                return
    except Exception as e:  # noqa: BLE001 - handed to the reader, raised there
        put(e)
    finally:
        records.close()


class LmdbReader:
    """One Data layer's cursor over an LMDB: num, shape, read_into(images, labels), seek."""

    def __init__(self, path, batch, info=None, color=None):
        self.path, self.batch = path, int(batch)
        self.color = color
        self.num, self.shape = info or lmdb_info(path, color)
        self._thread = None
        self.seek(0)

    def seek(self, position):
        """The next read_into starts at record `position`."""
        self.close()
        self._stop = threading.Event()
        self._batches = queue.Queue(maxsize=PREFETCH_BATCHES)
        # The thread holds no reference to the reader, so that dropping the reader stops it.
        self._thread = threading.Thread(
            target=_prefetch, name=f"lmdb-prefetch {os.path.basename(self.path)}", daemon=True,
            args=(self.path, self.batch, self.shape, int(position) % self.num, self._batches,
                  self._stop, self.color))
        self._thread.start()

    def read_into(self, images, labels):
        if len(images) != self.batch:
            raise DataError(f"{self.path}: a reader of {self.batch}-record batches was asked "
                            f"for {len(images)}")
        item = self._batches.get()
        if isinstance(item, Exception):
            self._batches.put(item)  # every later read fails the same way
            raise item
        images[...], labels[...] = item

    def close(self):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __del__(self):
        if getattr(self, "_thread", None) is not None:
            self._stop.set()
