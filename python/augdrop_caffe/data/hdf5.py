"""HDF5 files for the HDF5Data and HDF5Output layers, read and written with h5py (an
optional dependency: pip install 'augdrop-caffe[hdf5]').

An HDF5Data layer's hdf5_data_param.source is a text file listing .h5 files (whitespace
separated, as Caffe reads it); each top of the layer reads the dataset of its own name from
every file, as float32, all tops of a file with the same number of rows. The files are read
one at a time, as the layer reaches them. A listed name is opened as given (relative to the
working directory, as in Caffe), else beside the list file. HDF5Output writes the datasets
"data" and "label" (csrc/layers/hdf5_output_layer.hpp).
"""
import os

import numpy as np

from .readers import DataError


def import_h5py(what):
    try:
        import h5py
    except ImportError:
        raise DataError(f"{what} needs the h5py package (pip install h5py, or "
                        f"pip install 'augdrop-caffe[hdf5]')") from None
    return h5py


def _listed_path(name, list_path):
    if os.path.exists(name) or os.path.isabs(name):
        return name
    beside = os.path.join(os.path.dirname(os.path.abspath(list_path)), name)
    return beside if os.path.exists(beside) else name


class Hdf5ListReader:
    """An HDF5Data source for the core (csrc/data/hdf5_registry.hpp): num_files, and
    load(index) -> (file name, [float32 array per top]), a file read when the layer reaches
    it. Opening checks, from the files' headers only, that every listed file holds every
    top's dataset, all with one number of rows per file and the same dims after the rows in
    every file, so that a bad file is named before the first batch."""

    def __init__(self, list_path, tops):
        self.h5py = import_h5py(f"{list_path}: HDF5Data")
        self.list_path, self.tops = list_path, list(tops)
        try:
            with open(list_path) as f:
                names = f.read().split()
        except OSError as e:
            raise DataError(f"{list_path}: cannot read the HDF5 file list "
                            f"({e.strerror or e})") from None
        if not names:
            raise DataError(f"{list_path}: lists no HDF5 file")
        self.paths = [_listed_path(name, list_path) for name in names]
        self.num_files = len(self.paths)
        trailing = None
        for path in self.paths:
            shapes = self._shapes(path)
            if trailing is not None and [s[1:] for s in shapes] != trailing:
                raise DataError(f"{path}: dataset shapes {[s[1:] for s in shapes]} (after the "
                                f"rows) differ from those of the files before it, {trailing}")
            trailing = [s[1:] for s in shapes]

    def _open(self, path):
        try:
            return self.h5py.File(path, "r")
        except OSError as e:
            raise DataError(f"{path} (listed in {self.list_path}): cannot read HDF5 "
                            f"({e})") from None

    def _shapes(self, path):
        with self._open(path) as h5:
            shapes = []
            for top in self.tops:
                if top not in h5:
                    raise DataError(f"{path}: no dataset '{top}' (the HDF5Data layer's tops "
                                    f"name the datasets it reads; the file has "
                                    f"{', '.join(sorted(h5.keys())) or 'none'})")
                shape = tuple(h5[top].shape)
                if len(shape) < 1 or shape[0] == 0:
                    raise DataError(f"{path}: dataset '{top}' has shape {shape}; it needs at "
                                    f"least one axis and one row")
                shapes.append(shape)
        if len({s[0] for s in shapes}) != 1:
            raise DataError(f"{path}: the datasets {', '.join(self.tops)} have different "
                            f"numbers of rows ({', '.join(str(s[0]) for s in shapes)})")
        return shapes

    def load(self, index):
        path = self.paths[index]
        with self._open(path) as h5:
            return path, [np.ascontiguousarray(h5[top][()], dtype=np.float32)
                          for top in self.tops]


def write_datasets(file_name, items):
    """HDF5Output's writer: an empty `items` creates (truncates) the file; otherwise each
    (name, array) replaces the dataset of that name."""
    h5py = import_h5py(f"{file_name}: HDF5Output")
    try:
        with h5py.File(file_name, "w" if not items else "a") as h5:
            for name, array in items:
                if name in h5:
                    del h5[name]
                h5.create_dataset(name, data=np.asarray(array, dtype=np.float32))
    except OSError as e:
        raise DataError(f"{file_name}: cannot write HDF5 ({e})") from None
