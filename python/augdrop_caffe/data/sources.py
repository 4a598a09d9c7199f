"""What a Data layer's `data_param.source` names, and handing that data to the core.

A source is either a named data set under the data root,

    mnist:train  mnist:test          MNIST IDX files (raw or .gz) in <root>/mnist/
    cifar10:train  cifar10:test      <root>/cifar-10-batches-bin/ or <root>/cifar-10-binary.tar.gz
    cifar100:train  cifar100:test    <root>/cifar-100-binary/ or <root>/cifar-100-binary.tar.gz
    svhn:train  svhn:test            <root>/svhn/{train,test}_32x32.mat (or in <root>/)
    mnist-sample:train  mnist-sample:test   a small MNIST subset shipped with the package
    cifar10-gcn-zca:train  cifar10-gcn-zca:test   CIFAR-10 after GCN and ZCA whitening, float
                                     pixels (computed once by `augdrop-caffe data whiten
                                     cifar10` into <root>/cifar10-gcn-zca/; data/whiten.py)

or a path to a Caffe LMDB or LevelDB folder of Datum records (raw pixels, or JPEG/PNG
files with `encoded: true`); the folder's files tell which (data_param.backend is not read).
A named set is read once per process and handed to the core, which assembles the batches; a
database is streamed (data/lmdb_stream.py).
"""
import os

import numpy as np

from .._loader import _core
from ..caffemodel import read_blobproto
from . import readers
from .hdf5 import Hdf5ListReader, import_h5py, write_datasets
from .images import ImageListReader, image_list_key, open_image_list
from .lmdb_stream import LmdbReader, iterate_records, lmdb_info
from .windows import read_window_file, window_source_key
from .readers import DataError
from .root import find_data_root

SAMPLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample")
_MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_NAMED = ("mnist", "mnist-sample", "cifar10", "cifar100", "svhn", "cifar10-gcn-zca")
_loaded = {}  # core key -> (num, channels, height, width)


def _find(candidates, what):
    for c in candidates:
        if os.path.exists(c):
            return c
    raise DataError(f"{what}: not found; looked for {', '.join(candidates)} (set --data-root "
                    f"or AUGDROP_DATA, or run `augdrop-caffe data fetch`)")


def _mnist(folder, split, what):
    names = _MNIST_FILES[split]
    paths = [_find([os.path.join(folder, n + ".gz"), os.path.join(folder, n)], f"{what} {n}")
             for n in names]
    return readers.read_mnist(*paths)


def load_source(source, data_root=None):
    """(images uint8 (N, C, H, W) (float32 for a preprocessed set), labels float32 (N,))
    for a data_param.source."""
    root = find_data_root(data_root)
    name, _, split = source.partition(":")
    if split and name in _NAMED:
        if split not in ("train", "test"):
            raise DataError(f"source '{source}': the split must be train or test")
        if name == "cifar10-gcn-zca":
            from .whiten import load_whitened
            return load_whitened(root, split)
        if name == "mnist":
            return _mnist(os.path.join(root, "mnist"), split, source)
        if name == "mnist-sample":
            return _mnist(SAMPLE_DIR, split, source)
        if name == "cifar10":
            path = _find([os.path.join(root, "cifar-10-batches-bin"),
                          os.path.join(root, "cifar-10-binary.tar.gz")], source)
            return readers.read_cifar(path, split, label_bytes=1)
        if name == "cifar100":
            path = _find([os.path.join(root, "cifar-100-binary"),
                          os.path.join(root, "cifar-100-binary.tar.gz")], source)
            return readers.read_cifar(path, split, label_bytes=2)
        path = _find([os.path.join(root, "svhn", f"{split}_32x32.mat"),
                      os.path.join(root, f"{split}_32x32.mat")], source)
        return readers.read_svhn(path)
    path = source if os.path.isabs(source) else os.path.abspath(source)
    if os.path.isdir(path):
        return readers.read_lmdb(path)
    raise DataError(f"source '{source}': neither a named data set (mnist:train, cifar10:test, "
                    f"...) nor an LMDB folder")


def _lmdb_path(source):
    """The LMDB folder a source names, or None for a named data set."""
    name, _, split = source.partition(":")
    if split and name in _NAMED:
        return None
    return source if os.path.isabs(source) else os.path.abspath(source)


def register_source(source, data_root=None, color=None):
    """Hand a source to the core once; returns the key the core knows it by. Named data sets
    are loaded into memory; an LMDB is read record by record (data/lmdb_stream.py), each
    Data layer with its own cursor and prefetch thread; color: how its encoded records
    decode (None: in their own channels; True/False: transform_param force_color/force_gray)."""
    lmdb_path = _lmdb_path(source)
    if lmdb_path is not None and os.path.isdir(lmdb_path):
        key = f"lmdb:{lmdb_path}" + ("" if color is None else f"|color={color}")
        if key not in _loaded:
            info = lmdb_info(lmdb_path, color)  # a clear error now, not at the first batch
            _core.register_stream(key, lambda batch: LmdbReader(lmdb_path, batch, info, color))
            _loaded[key] = (info[0],) + tuple(info[1])
        return key
    key = f"{source}@{find_data_root(data_root)}"
    if key not in _loaded:
        images, labels = load_source(source, data_root)
        _core.register_dataset(key, images, labels)
        _loaded[key] = images.shape
    return key


def source_images(source, data_root=None):
    """(number of images, image shape (C, H, W), an iterator of (image, label)): an LMDB
    streamed record by record, a named set from memory."""
    lmdb_path = _lmdb_path(source)
    if lmdb_path is not None and os.path.isdir(lmdb_path):
        num, shape = lmdb_info(lmdb_path)
        return num, tuple(shape), iterate_records(lmdb_path, shape=shape)
    images, labels = load_source(source, data_root)
    return len(images), images.shape[1:], zip(images, labels)


def streamed_image_mean(count, shape, records):
    """image_mean over an iterator of (image, label), as Caffe's compute_image_mean sums:
    image by image into a float accumulator."""
    acc = np.zeros(shape, dtype=np.float32)
    for image, _ in records:
        acc += image.astype(np.float32)
    return (acc / np.float32(count)).astype(np.float32)


def image_mean(images):
    """The per-pixel mean (C, H, W) exactly as Caffe's compute_image_mean computes it: float
    sums of the uint8 pixels (exact below 2^24), divided in float by the image count."""
    sums = np.add.reduce(images, axis=0, dtype=np.int64)  # no int64 copy of the whole set
    if len(images) * 255 >= 2 ** 24:
        # Caffe's float accumulator rounds past 2^24; reproduce it image by image.
        acc = np.zeros(images.shape[1:], dtype=np.float32)
        for image in images:
            acc += image.astype(np.float32)
        sums = acc
    return (sums.astype(np.float32) / np.float32(len(images))).astype(np.float32)


def _register_mean(mean_file, data_root):
    """A mean_file is a .binaryproto path, or a source ("cifar10:train") to compute it from."""
    name, _, split = mean_file.partition(":")
    if split and not os.path.exists(mean_file):
        key = f"mean({mean_file})@{find_data_root(data_root)}"
        if key not in _loaded:
            images, _ = load_source(mean_file, data_root)
            mean = image_mean(images)
            _core.register_mean(key, mean)
            _loaded[key] = mean.shape
        return key
    key = os.path.abspath(mean_file)
    if key not in _loaded:
        if not os.path.isfile(mean_file):
            raise DataError(f"{mean_file}: mean file not found")
        mean = np.asarray(read_blobproto(mean_file), dtype=np.float32)
        mean = mean.reshape(mean.shape[-3:])
        _core.register_mean(key, mean)
        _loaded[key] = mean.shape
    return key


def _register_infogain(source):
    """An InfogainLoss matrix H from a BlobProto file, registered with the core under its
    absolute path (the core's array registry, shared with the mean images: H is kept flat,
    as (1, 1, K*K), the layer checks K*K against its bottom)."""
    key = os.path.abspath(source)
    if key not in _loaded:
        if not os.path.isfile(source):
            raise DataError(f"{source}: infogain matrix file not found")
        h = np.asarray(read_blobproto(source), dtype=np.float32).reshape(1, 1, -1)
        _core.register_mean(key, h)
        _loaded[key] = h.shape
    return key


def _register_image_list(param):
    """An ImageData layer's list, read image by image by each layer that names it
    (data/images.py); the core's key for it."""
    source = param["source"][-1]
    options = (param.get("root_folder", [""])[-1], param.get("new_height", [0])[-1],
               param.get("new_width", [0])[-1], param.get("is_color", [True])[-1])
    key = image_list_key(source, *options)
    if key not in _loaded:
        first = open_image_list(source, *options)  # the list read and checked once
        _core.register_image_source(key, lambda: ImageListReader(first.source, first.entries,
                                                                 *options))
        _loaded[key] = first.num
    return key


def _register_hdf5_list(source, tops):
    """An HDF5Data layer's file list for these tops, its files read as layers reach them
    (data/hdf5.py)."""
    key = f"hdf5:{os.path.abspath(source)}|tops={','.join(tops)}"
    if key not in _loaded:
        reader = Hdf5ListReader(source, tops)  # checks every file's datasets now
        _core.register_hdf5_source(key, reader)
        _loaded[key] = reader.num_files
    return key


def _register_window_file(param):
    """A WindowData layer's window file, its images decoded once (data/windows.py)."""
    source, root_folder = param["source"][-1], param.get("root_folder", [""])[-1]
    key = window_source_key(source, root_folder)
    if key not in _loaded:
        images, windows, channels = read_window_file(source, root_folder)
        _core.register_window_source(key, images, windows, channels)
        _loaded[key] = len(images)
    return key


def _install_hdf5_writer(layer_name):
    if "hdf5-writer" not in _loaded:
        import_h5py(f"layer '{layer_name}' (HDF5Output)")
        _core.set_hdf5_writer(write_datasets)
        _loaded["hdf5-writer"] = True


def _forced_color(layer, name):
    """transform_param's force_color (True) / force_gray (False) for encoded Datums, or None."""
    tp = (layer.get("transform_param") or [{}])[-1]
    force_color = tp.get("force_color", [False])[-1]
    force_gray = tp.get("force_gray", [False])[-1]
    if force_color and force_gray:
        raise DataError(f"layer '{name}': transform_param cannot set both force_color and "
                        f"force_gray")
    return True if force_color else False if force_gray else None


def prepare_net_data(net_dict, data_root=None, layers=None):
    """Load the data layers' sources (and mean files) and point the layers at the core's copy:
    Data (a named set, an LMDB or a LevelDB), ImageData (a list of images), HDF5Data (a
    list of .h5 files), WindowData (an R-CNN window file); HDF5Output gets h5py's writer;
    InfogainLoss gets its matrix H from infogain_loss_param.source.

    net_dict is a NetParameter as plain dicts (textformat's to_dict); it is changed in place.
    layers: the indices of the layers to prepare, those the nets to be built keep (the net's
    layers_in_state); None for every layer. The others' sources are left alone, never read.
    """
    all_layers = net_dict.get("layer", [])
    for index in sorted(set(range(len(all_layers)) if layers is None else layers)):
        layer = all_layers[index]
        kind = layer.get("type", [""])[-1]
        name = layer.get("name", ["?"])[-1]
        if kind == "InfogainLoss":
            for ip in layer.get("infogain_loss_param", []):
                if "source" in ip:
                    ip["source"] = [_register_infogain(ip["source"][-1])]
            continue
        if kind == "Data":
            color = _forced_color(layer, name)
            for dp in layer.get("data_param", []):
                if "source" not in dp:
                    raise DataError(f"layer '{name}': data_param.source is required")
                dp["source"] = [register_source(dp["source"][-1], data_root, color)]
        elif kind == "ImageData":
            for ip in layer.get("image_data_param", []):
                if "source" in ip:
                    ip["source"] = [_register_image_list(ip)]
        elif kind == "HDF5Data":
            for hp in layer.get("hdf5_data_param", []):
                if "source" in hp:
                    hp["source"] = [_register_hdf5_list(hp["source"][-1], layer.get("top", []))]
        elif kind == "WindowData":
            for wp in layer.get("window_data_param", []):
                if "source" in wp:
                    wp["source"] = [_register_window_file(wp)]
        elif kind == "HDF5Output":
            _install_hdf5_writer(name)
        elif kind != "MemoryData":  # (MemoryData: only its transformer's mean file, below)
            continue
        for tp in layer.get("transform_param", []):
            if "mean_file" in tp:
                tp["mean_file"] = [_register_mean(tp["mean_file"][-1], data_root)]
    return net_dict
