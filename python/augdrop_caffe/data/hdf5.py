"""HDF5 files for the HDF5Data and HDF5Output layers, read and written with h5py (an
optional dependency: pip install 'augdrop-caffe[hdf5]').

An HDF5Data layer's hdf5_data_param.source is a text file listing .h5 files (whitespace
separated, as Caffe reads it); each top of the layer reads the dataset of its own name from
every file, as float32, all tops of a file with the same number of rows. A listed name is
opened as given (relative to the working directory, as in Caffe), else beside the list
file. HDF5Output writes the datasets "data" and "label" (csrc/layers/hdf5_output_layer.hpp).
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


def read_hdf5_list(list_path, tops):
    """[(file name, [float32 array per top])] of the files an HDF5Data source lists."""
    h5py = import_h5py(f"{list_path}: HDF5Data")
    try:
        with open(list_path) as f:
            names = f.read().split()
    except OSError as e:
        raise DataError(f"{list_path}: cannot read the HDF5 file list ({e.strerror or e})") from None
    if not names:
        raise DataError(f"{list_path}: lists no HDF5 file")
    files, trailing = [], None
    for name in names:
        path = _listed_path(name, list_path)
        try:
            with h5py.File(path, "r") as h5:
                arrays = []
                for top in tops:
                    if top not in h5:
                        raise DataError(f"{path}: no dataset '{top}' (the HDF5Data layer's tops "
                                        f"name the datasets it reads; the file has "
                                        f"{', '.join(sorted(h5.keys())) or 'none'})")
                    a = np.asarray(h5[top][()], dtype=np.float32)
                    if a.ndim < 1 or a.shape[0] == 0:
                        raise DataError(f"{path}: dataset '{top}' has shape {a.shape}; it needs "
                                        f"at least one axis and one row")
                    arrays.append(np.ascontiguousarray(a))
        except OSError as e:
            raise DataError(f"{path} (listed in {list_path}): cannot read HDF5 ({e})") from None
        rows = {a.shape[0] for a in arrays}
        if len(rows) != 1:
            raise DataError(f"{path}: the datasets {', '.join(tops)} have different numbers of "
                            f"rows ({', '.join(str(a.shape[0]) for a in arrays)})")
        shapes = [a.shape[1:] for a in arrays]
        if trailing is not None and shapes != trailing:
            raise DataError(f"{path}: dataset shapes {shapes} (after the rows) differ from those "
                            f"of the files before it, {trailing}")
        trailing = shapes
        files.append((path, arrays))
    return files


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
