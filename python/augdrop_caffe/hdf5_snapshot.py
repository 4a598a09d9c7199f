"""Caffe's HDF5 snapshots (snapshot_format: HDF5), through h5py (an optional dependency).

The layout of Caffe's Net::ToHDF5 / CopyTrainedLayersFromHDF5 (src/caffe/net.cpp) and
SGDSolver::SnapshotSolverStateToHDF5 / RestoreSolverStateFromHDF5 (sgd_solver.cpp):

    <prefix>_iter_N.caffemodel.h5    data/<layer>/<i>  one dataset per param the layer owns
                                     (diff/<layer>/<i> too with snapshot_diff)
    <prefix>_iter_N.solverstate.h5   iter (int, shape (1,)), learned_net (string),
                                     current_step (int, shape (1,)), history/<i> (float32)
"""
import numpy as np

_MISSING = ("snapshot_format: HDF5 and .h5 weights need the h5py package, which is not "
            "installed (pip install h5py, or pip install 'augdrop-caffe[hdf5]')")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError(_MISSING) from None
    return h5py


def _owned_params(net):
    """[(layer name, [(index, blob) of the params that layer owns])] in layer order: a blob
    sharing memory with an earlier layer's param is that layer's (Caffe's param_owners_)."""
    seen, out = [], []
    for layer in net.layers:
        owned = []
        for i, blob in enumerate(layer.blobs):
            d = blob.data
            if any(np.shares_memory(d, s) for s in seen):
                continue
            seen.append(d)
            owned.append((i, blob))
        out.append((layer.name, owned))
    return out


def save_weights(net, path, write_diff=False):
    """Write the net's params as Caffe's .caffemodel.h5."""
    h5py = _h5py()
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        diff = f.create_group("diff") if write_diff else None
        for name, owned in _owned_params(net):
            g = data.create_group(name)
            gd = diff.create_group(name) if diff is not None else None
            for i, blob in owned:
                g.create_dataset(str(i), data=np.array(blob.data, np.float32))
                if gd is not None:
                    gd.create_dataset(str(i), data=np.array(blob.diff, np.float32))


def load_weights(net, path):
    """Copy the params of a .caffemodel.h5 into the layers of the same name (others ignored),
    as Caffe's CopyTrainedLayersFromHDF5."""
    h5py = _h5py()
    with h5py.File(path, "r") as f:
        if "data" not in f:
            raise ValueError(f"{path}: no 'data' group (not a Caffe HDF5 weights file?)")
        data = f["data"]
        for layer in net.layers:
            if layer.name not in data:
                continue
            group = data[layer.name]
            for i, blob in enumerate(layer.blobs):
                if str(i) not in group:
                    continue  # a shared param: stored with the layer that owns it
                src = np.asarray(group[str(i)], np.float32)
                if src.size != blob.count:
                    raise ValueError(f"{path}: layer '{layer.name}' param {i} has shape "
                                     f"{src.shape}, the net expects {tuple(blob.shape)}")
                blob.data[...] = src.reshape(blob.shape)


def write_solverstate(path, iter, learned_net="", history=(), current_step=0):
    h5py = _h5py()
    with h5py.File(path, "w") as f:
        f.create_dataset("iter", data=np.array([iter], np.int32))
        f.create_dataset("learned_net", data=np.bytes_(learned_net.encode()))
        f.create_dataset("current_step", data=np.array([current_step], np.int32))
        g = f.create_group("history")
        for i, h in enumerate(history):
            g.create_dataset(str(i), data=np.asarray(h, np.float32))


def read_solverstate(path):
    """{'iter', 'learned_net', 'current_step', 'history': [arrays]}, as caffemodel's
    read_solverstate gives for a binary .solverstate."""
    h5py = _h5py()
    with h5py.File(path, "r") as f:
        for key in ("iter", "history"):
            if key not in f:
                raise ValueError(f"{path}: no '{key}' in this HDF5 file (not a .solverstate.h5?)")
        learned = f["learned_net"][()] if "learned_net" in f else b""
        history = f["history"]
        return {
            "iter": int(np.asarray(f["iter"]).reshape(-1)[0]),
            "learned_net": learned.decode() if isinstance(learned, bytes) else str(learned),
            "current_step": int(np.asarray(f["current_step"]).reshape(-1)[0])
            if "current_step" in f else 0,
            "history": [np.asarray(history[str(i)], np.float32) for i in range(len(history))],
        }
