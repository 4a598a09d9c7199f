"""Reading a large Caffe LMDB through a Data layer: throughput and peak resident memory.

    python bench/bench_lmdb.py [--gigabytes 2.1] [--shape 3 256 256] [--batch 64]
                               [--path DIR] [--keep]

Writes an LMDB of raw Datum records of the given shape (unless --path already holds one),
then builds a TRAIN net whose Data layer reads it with CaffeNet's transformation (crop 227,
mirror, mean values) and runs forward passes over the whole database once. Prints records/s,
MB/s and the process's peak resident memory (VmHWM), which the streaming reader bounds by its
prefetch depth, not by the database. Also reads a CIFAR-shaped database (3x32x32) the same
way, to set its rate beside the training speed of cifar10_quick (bench_train.py).
"""
import argparse
import os
import shutil
import tempfile
import time

import numpy as np


def datum(image, label):
    def varint(v):
        out = bytearray()
        while True:
            b = v & 0x7F
            v >>= 7
            out.append(b | (0x80 if v else 0))
            if not v:
                return bytes(out)
    c, h, w = image.shape
    data = image.tobytes()
    return (b"\x08" + varint(c) + b"\x10" + varint(h) + b"\x18" + varint(w)
            + b"\x22" + varint(len(data)) + data + b"\x28" + varint(label))


def write_db(path, count, shape):
    import lmdb

    record = int(np.prod(shape))
    base = np.random.default_rng(0).integers(0, 256, record + 4096, dtype=np.uint8)
    env = lmdb.open(path, map_size=int(count * (record + 256) * 1.2) + (1 << 24))
    done = 0
    while done < count:
        with env.begin(write=True) as txn:
            for i in range(done, min(count, done + 1000)):
                offset = (i * 7919) % 4096  # distinct records without drawing each one anew
                image = base[offset:offset + record].reshape(shape)
                txn.put(b"%08d" % i, datum(image, i % 1000))
        done = min(count, done + 1000)
    env.close()


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def read_once(path, batch, crop):
    import augdrop_caffe as caffe
    from augdrop_caffe.data.lmdb_stream import lmdb_info

    num, shape = lmdb_info(path)
    transform = (f"crop_size: {crop} mirror: true mean_value: 104 mean_value: 117 mean_value: 123"
                 if crop else "scale: 0.00390625")
    caffe.set_random_seed(1)
    with tempfile.TemporaryDirectory(prefix="augdrop-bench-") as folder:  # read by caffe.Net
        net_file = os.path.join(folder, "data.prototxt")
        with open(net_file, "w") as f:
            f.write(f'layer {{ name: "data" type: "Data" top: "data" top: "label" '
                    f'transform_param {{ {transform} }} '
                    f'data_param {{ source: "{path}" batch_size: {batch} }} }}\n')
        net = caffe.Net(net_file, caffe.TRAIN)
    steps = num // batch
    start = time.perf_counter()
    for _ in range(steps):
        net.forward()
    seconds = time.perf_counter() - start
    records = steps * batch
    mb = records * int(np.prod(shape)) / 2 ** 20
    return records, seconds, mb


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gigabytes", type=float, default=2.1)
    p.add_argument("--shape", type=int, nargs=3, default=[3, 256, 256])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--path", help="the LMDB folder (written if absent); default a temporary one")
    p.add_argument("--keep", action="store_true", help="keep a written temporary database")
    args = p.parse_args()

    shape = tuple(args.shape)
    path = args.path or os.path.join(tempfile.gettempdir(), "augdrop-bench-lmdb")
    written = False
    if not os.path.exists(os.path.join(path, "data.mdb")):
        count = int(args.gigabytes * 2 ** 30 / np.prod(shape)) + 1
        print(f"writing {count} records of {shape} ({count * np.prod(shape) / 2 ** 30:.2f} GiB) to {path}")
        start = time.perf_counter()
        write_db(path, count, shape)
        written = True
        print(f"  written in {time.perf_counter() - start:.0f} s")
    size_gb = os.path.getsize(os.path.join(path, "data.mdb")) / 2 ** 30
    crop = 227 if shape[1] >= 227 and shape[2] >= 227 else 0
    records, seconds, mb = read_once(path, args.batch, crop)
    print(f"large: {records} records of {shape} ({size_gb:.2f} GiB file) in {seconds:.1f} s: "
          f"{records / seconds:.0f} records/s, {mb / seconds:.0f} MB/s; "
          f"peak resident memory {peak_rss_mb():.0f} MB")

    small = os.path.join(tempfile.gettempdir(), "augdrop-bench-lmdb-cifar")
    if not os.path.exists(os.path.join(small, "data.mdb")):
        write_db(small, 50000, (3, 32, 32))
    records, seconds, mb = read_once(small, 100, 0)
    print(f"cifar-shaped: {records} records of (3, 32, 32) in {seconds:.1f} s: "
          f"{records / seconds:.0f} records/s (cifar10_quick trains at ~1,500 images/s here)")
    shutil.rmtree(small, ignore_errors=True)
    if written and not args.keep and not args.path:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
