"""Net as pycaffe's: the behaviours of BVLC Caffe's python/caffe/test/test_net.py (names,
forward/backward from start to end and what they return, weights I/O, levels and stages),
plus reshape, forward_all, forward_backward_all and the module-level helpers."""
import gc
from collections import OrderedDict

import numpy as np
import pytest

import augdrop_caffe as caffe

NUM_OUTPUT = 13


def net_text(num_output=NUM_OUTPUT):
    # test_net.py's simple net, fed by an Input layer instead of DummyData
    return f"""name: 'testnet' force_backward: true
    layer {{ type: 'Input' name: 'data' top: 'data' top: 'label'
      input_param {{ shape {{ dim: 5 dim: 2 dim: 3 dim: 4 }} shape {{ dim: 5 }} }} }}
    layer {{ type: 'Convolution' name: 'conv' bottom: 'data' top: 'conv'
      convolution_param {{ num_output: 11 kernel_size: 2 pad: 3
        weight_filler {{ type: 'gaussian' std: 1 }}
        bias_filler {{ type: 'constant' value: 2 }} }}
      param {{ decay_mult: 1 }} param {{ decay_mult: 0 }} }}
    layer {{ type: 'InnerProduct' name: 'ip' bottom: 'conv' top: 'ip_blob'
      inner_product_param {{ num_output: {num_output}
        weight_filler {{ type: 'gaussian' std: 2.5 }}
        bias_filler {{ type: 'constant' value: -3 }} }} }}
    layer {{ type: 'SoftmaxWithLoss' name: 'loss' bottom: 'ip_blob' bottom: 'label'
      top: 'loss' }}"""


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(net_text())
    return str(path)


@pytest.fixture
def net(net_file):
    caffe.set_random_seed(1701)
    n = caffe.Net(net_file, caffe.TRAIN)
    rng = np.random.default_rng(0)
    n.blobs["data"].data[...] = rng.normal(size=n.blobs["data"].data.shape)
    n.blobs["label"].data[...] = rng.integers(NUM_OUTPUT, size=5)
    return n


def test_blobs_and_params_outlive_the_net(net):
    params = [p for ps in net.params.values() for p in ps]
    blobs = list(net.blobs.values())
    del net
    gc.collect()
    total = sum(float(p.data.sum() + p.diff.sum()) for p in params + blobs)
    assert np.isfinite(total)


def test_names(net):
    assert list(net.layer_dict) == net._layer_names == ["data", "conv", "ip", "loss"]
    for i, name in enumerate(net._layer_names):
        assert net.layer_dict[name].type == net.layers[i].type
    assert net._blob_names == list(net.blobs) == ["data", "label", "conv", "ip_blob", "loss"]
    assert net.inputs == ["data", "label"] and net.outputs == ["loss"]
    assert [net._blob_names[i] for i in net._inputs] == net.inputs
    assert net.top_names == OrderedDict([("data", ["data", "label"]), ("conv", ["conv"]),
                                         ("ip", ["ip_blob"]), ("loss", ["loss"])])
    assert net.bottom_names == OrderedDict([("data", []), ("conv", ["data"]),
                                            ("ip", ["conv"]), ("loss", ["ip_blob", "label"])])
    assert net._top_ids(3) == [4] and net._bottom_ids(3) == [3, 1]


def test_forward_returns_outputs_and_extra_blobs(net):
    out = net.forward()
    assert list(out) == ["loss"] and out["loss"].shape == ()
    out = net.forward(blobs=["conv", "loss"])
    assert list(out) == ["loss", "conv"]
    assert np.shares_memory(out["conv"], net.blobs["conv"].data)


def test_forward_start_end_returns_the_tops_of_end(net):
    conv = net.blobs["conv"]
    x = np.random.default_rng(1).uniform(size=conv.data.shape).astype(np.float32)
    conv.data[...] = x
    out = net.forward(start="ip", end="ip")
    assert list(out) == ["ip_blob"]
    w, b = net.params["ip"][0].data, net.params["ip"][1].data
    expected = x.reshape(5, -1) @ w.T + b
    np.testing.assert_allclose(out["ip_blob"], expected, rtol=1e-4, atol=1e-4)
    # the common pycaffe idiom: run up to a layer and read its top
    assert net.forward(end="conv")["conv"].shape == conv.data.shape


def test_backward_start_end_returns_the_bottoms_of_end(net):
    ip = net.blobs["ip_blob"]
    dy = np.random.default_rng(2).uniform(size=ip.data.shape).astype(np.float32)
    net.forward()
    ip.diff[...] = dy
    out = net.backward(start="ip", end="ip")
    assert list(out) == ["conv"]
    expected = (dy @ net.params["ip"][0].data).reshape(net.blobs["conv"].data.shape)
    np.testing.assert_allclose(out["conv"], expected, rtol=1e-4, atol=1e-4)
    out = net.backward(diffs=["ip_blob"])
    assert list(out) == ["data", "label", "ip_blob"]


def test_forward_and_backward_keyword_arrays(net):
    x = np.ones(net.blobs["data"].data.shape, np.float32)
    net.forward(data=x)
    np.testing.assert_array_equal(net.blobs["data"].data, 1)
    with pytest.raises(KeyError, match="not an input"):
        net.forward(conv=x)
    with pytest.raises(ValueError, match="batch size"):
        net.forward(data=x[:2])
    net.backward(loss=np.float32(2))
    assert float(net.blobs["loss"].diff) == 2
    with pytest.raises(KeyError, match="not an output"):
        net.backward(conv=x)
    with pytest.raises(ValueError, match="no layer named"):
        net.forward(end="nope")


def test_clear_param_diffs(net):
    net.forward()
    net.backward()
    diff = net.params["conv"][0].diff
    assert np.abs(diff).max() > 0
    net.clear_param_diffs()
    assert (diff == 0).all()


def test_reshape_propagates_shapes_without_forward(net):
    net.blobs["data"].reshape(2, 2, 3, 4)
    net.blobs["label"].reshape(2)
    net.reshape()
    assert net.blobs["conv"].data.shape == (2, 11, 8, 9)
    assert net.blobs["ip_blob"].data.shape == (2, NUM_OUTPUT)
    # a shape the weights cannot take fails in reshape(), naming the layer
    net.blobs["data"].reshape(2, 2, 5, 5)
    with pytest.raises(caffe.EngineError, match="layer 'ip'"):
        net.reshape()


def test_save_and_read(net, net_file, tmp_path):
    path = str(tmp_path / "w.caffemodel")
    net.save(path)
    legacy = caffe.Net(net_file, path, caffe.TRAIN)
    named = caffe.Net(net_file, caffe.TRAIN, weights=path)
    for other in (legacy, named):
        for name, blobs in net.params.items():
            for a, b in zip(blobs, other.params[name]):
                np.testing.assert_array_equal(a.data, b.data)


def test_save_and_load_hdf5(net, net_file, tmp_path):
    h5py = pytest.importorskip("h5py")
    path = str(tmp_path / "w.h5")
    net.save_hdf5(path)
    with h5py.File(path, "r") as f:  # Caffe's layout: /data/<layer>/<index>
        assert sorted(f["data"]) == ["conv", "data", "ip", "loss"]
        assert f["data/ip/0"].shape == (NUM_OUTPUT, 11 * 8 * 9)
    caffe.set_random_seed(99)
    other = caffe.Net(net_file, caffe.TRAIN)
    assert not np.array_equal(other.params["ip"][0].data, net.params["ip"][0].data)
    other.load_hdf5(path)
    for name, blobs in net.params.items():
        for a, b in zip(blobs, other.params[name]):
            np.testing.assert_array_equal(a.data, b.data)
    third = caffe.Net(net_file, caffe.TRAIN, weights=path)  # copy_from reads .h5 as HDF5
    np.testing.assert_array_equal(third.params["conv"][0].data, net.params["conv"][0].data)


DEPLOY = """name: 'deploy'
layer { type: 'Input' name: 'data' top: 'data' input_param { shape { dim: 4 dim: 3 } } }
layer { type: 'InnerProduct' name: 'ip' bottom: 'data' top: 'y'
  inner_product_param { num_output: 2 weight_filler { type: 'gaussian' std: 1 }
                        bias_filler { type: 'constant' value: 0.5 } } }
layer { type: 'Sigmoid' name: 'sig' bottom: 'y' top: 'p' }
"""


@pytest.fixture
def deploy(tmp_path):
    path = tmp_path / "deploy.prototxt"
    path.write_text(DEPLOY.replace("name: 'deploy'", "name: 'deploy' force_backward: true"))
    caffe.set_random_seed(3)
    return caffe.Net(str(path), caffe.TEST)


def _reference(net, x):
    y = x @ net.params["ip"][0].data.T + net.params["ip"][1].data
    return y, 1 / (1 + np.exp(-y))


def test_forward_all_batches_and_drops_the_padding(deploy):
    x = np.random.default_rng(4).normal(size=(10, 3)).astype(np.float32)  # 2 batches + 2
    out = deploy.forward_all(blobs=["y"], data=x)
    assert set(out) == {"p", "y"} and out["p"].shape == (10, 2)
    y, p = _reference(deploy, x)
    np.testing.assert_allclose(out["y"], y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["p"], p, rtol=1e-5, atol=1e-6)


def test_forward_backward_all(deploy):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 3)).astype(np.float32)
    dp = rng.normal(size=(6, 2)).astype(np.float32)
    outs, diffs = deploy.forward_backward_all(data=x, p=dp)
    assert outs["p"].shape == (6, 2) and diffs["data"].shape == (6, 3)
    _, p = _reference(deploy, x)
    expected = (dp * p * (1 - p)) @ deploy.params["ip"][0].data
    np.testing.assert_allclose(diffs["data"], expected, rtol=1e-4, atol=1e-5)


STAGED = """
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 1 dim: 10 dim: 10 } } }
layer { name: "NoLevel" type: "InnerProduct" bottom: "data" top: "NoLevel"
        inner_product_param { num_output: 1 } }
layer { name: "Level1Only" type: "InnerProduct" bottom: "data" top: "Level1Only"
        include { min_level: 1 max_level: 1 } inner_product_param { num_output: 1 } }
layer { name: "A" type: "InnerProduct" bottom: "data" top: "A"
        include { stage: "A" } inner_product_param { num_output: 1 } }
layer { name: "AandB" type: "InnerProduct" bottom: "data" top: "AandB"
        include { stage: "A" stage: "B" } inner_product_param { num_output: 1 } }
"""


@pytest.mark.parametrize("kwargs, expected", [
    ({}, ["NoLevel"]),
    ({"stages": None}, ["NoLevel"]),  # pycaffe's default
    ({"level": 1}, ["NoLevel", "Level1Only"]),
    ({"stages": ["A"]}, ["NoLevel", "A"]),
    ({"stages": ["A", "B"]}, ["NoLevel", "A", "AandB"]),
])
def test_levels_and_stages(tmp_path, kwargs, expected):
    path = tmp_path / "staged.prototxt"
    path.write_text(STAGED)
    net = caffe.Net(str(path), caffe.TEST, **kwargs)
    assert [b for b in net.blobs if "data" not in b] == expected


def test_module_helpers(tmp_path):
    types = caffe.layer_type_list()
    for name in ("Data", "Convolution", "InnerProduct"):
        assert name in types
    assert caffe.has_nccl() is False
    timer = caffe.Timer()
    assert timer.ms == 0
    timer.start()
    timer.stop()
    assert timer.ms >= 0


def test_get_solver_from_string(tmp_path, monkeypatch):
    pytest.importorskip("google.protobuf")
    (tmp_path / "deploy.prototxt").write_text(
        DEPLOY + "layer { type: 'Reduction' name: 'r' bottom: 'p' top: 'loss' }"
        if "Reduction" in caffe.layer_type_list() else DEPLOY)
    monkeypatch.chdir(tmp_path)
    solver = caffe.get_solver_from_string(
        "net: 'deploy.prototxt' base_lr: 0.01 lr_policy: 'fixed' max_iter: 1")
    assert solver.net.name == "deploy"
    with pytest.raises(caffe.PrototxtError, match="<string>:1"):
        caffe.get_solver_from_string("base_lr: 'x'")


SHARED = """
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "a" type: "InnerProduct" bottom: "x" top: "a" param { name: "w" }
        param { name: "bias" } inner_product_param { num_output: 4 } }
layer { name: "b" type: "InnerProduct" bottom: "x" top: "b" param { name: "w" }
        param { name: "bias" } inner_product_param { num_output: 4 } }
"""


def test_params_of_shared_layers_are_one_memory(tmp_path):
    path = tmp_path / "shared.prototxt"
    path.write_text(SHARED)
    net = caffe.Net(str(path), caffe.TRAIN)
    assert list(net.params) == ["a", "b"]
    net.params["a"][0].data[...] = 3
    np.testing.assert_array_equal(net.params["b"][0].data, 3)


def test_hdf5_of_shared_layers_loads(tmp_path):
    pytest.importorskip("h5py")
    path = tmp_path / "shared.prototxt"
    path.write_text(SHARED)
    net = caffe.Net(str(path), caffe.TRAIN)
    net.params["a"][0].data[...] = 3
    net.save_hdf5(str(tmp_path / "w.h5"))
    other = caffe.Net(str(path), caffe.TRAIN, weights=str(tmp_path / "w.h5"))
    np.testing.assert_array_equal(other.params["b"][0].data, 3)


def test_import_does_not_load_protobuf():
    import subprocess
    import sys
    code = ("import sys, augdrop_caffe; assert 'google.protobuf' not in sys.modules; "
            "augdrop_caffe.io; assert 'google.protobuf' not in sys.modules; "
            "augdrop_caffe.layers; assert 'google.protobuf' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
