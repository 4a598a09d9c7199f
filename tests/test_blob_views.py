"""Blob data and diff as zero-copy numpy views, and what happens to a view across a reshape."""
import gc

import numpy as np

import augdrop_caffe as caffe
from augdrop_caffe import _core


def test_views_are_zero_copy():
    blob = _core.Blob([2, 3])
    blob.data[...] = 7
    view = blob.data
    view[0, 0] = 1
    assert blob.data[0, 0] == 1 and blob.data[1, 2] == 7
    blob.diff[...] = 3
    assert np.shares_memory(blob.diff, blob.diff) and blob.diff.sum() == 18
    assert not np.shares_memory(blob.data, blob.diff)


def test_view_taken_before_a_growing_reshape_stays_valid_memory():
    blob = _core.Blob([4])
    old = blob.data
    old[...] = [1, 2, 3, 4]
    blob.reshape(1000, 1000)  # reallocates
    blob.data[...] = 5
    del blob
    gc.collect()
    # The old view still owns the old memory: stale values, no crash.
    np.testing.assert_array_equal(old, [1, 2, 3, 4])
    old[...] = 9
    assert old.sum() == 36


def test_view_outlives_its_net(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text('layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 3 } } }\n'
                    'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n')
    net = caffe.Net(str(path), caffe.TEST)
    net.blobs["x"].data[...] = [-1, 0, 2]
    y = net.forward()["y"]
    del net
    gc.collect()
    np.testing.assert_array_equal(y, [0, 0, 2])
