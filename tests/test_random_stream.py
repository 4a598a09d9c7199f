"""Caffe's CPU random stream, bit for bit: raw words, Dropout masks and fillers.

The reference is tests/caffe_rng_reference.py (CaffeStream), a NumPy re-creation of BVLC
Caffe 1.0's stream: one mt19937 seeded the standard way, Boost 1.74's distributions on top.
"""
import numpy as np
import pytest

import augdrop_caffe as caffe
from augdrop_caffe import _core
from caffe_rng_reference import CaffeStream

F32 = np.float32
SEEDS = [0, 1, 1701, 2**31 + 12345]


def mt_words(seed, n):
    return np.random.RandomState(seed).randint(0, 2**32, size=n, dtype=np.uint32)


# ---- raw words ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_words_equal_numpy_mt19937(seed):
    caffe.set_random_seed(seed)
    ours = np.asarray(_core.rng_words(5000))
    assert ours.dtype == np.uint32 and ours.shape == (5000,)
    ref = mt_words(seed, 5000)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(ours, CaffeStream(seed).words(5000))


def test_words_continue_and_reseed_restarts():
    caffe.set_random_seed(42)
    a = np.concatenate([_core.rng_words(1), _core.rng_words(623), _core.rng_words(1000)])
    np.testing.assert_array_equal(a, mt_words(42, 1624))  # across the 624-word state refill
    caffe.set_random_seed(42)
    np.testing.assert_array_equal(_core.rng_words(10), mt_words(42, 10))
    caffe.set_random_seed(43)
    assert not np.array_equal(_core.rng_words(10), mt_words(42, 10))


# ---- Dropout -----------------------------------------------------------------------------------

def _dropout_net(tmp_path, shape, ratio, phase=caffe.TRAIN):
    dims = " ".join(f"dim: {d}" for d in shape)
    path = tmp_path / f"dropout_{len(list(tmp_path.iterdir()))}.prototxt"
    path.write_text(f"""name: "drop"
force_backward: true
layer {{ name: "input" type: "Input" top: "data" input_param {{ shape {{ {dims} }} }} }}
layer {{ name: "drop" type: "Dropout" bottom: "data" top: "out"
        dropout_param {{ dropout_ratio: {ratio!r} }} }}
""")
    return caffe.Net(str(path), phase)


def _nonzero_input(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.25, 4.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return x.astype(F32)


def _keep_probability(ratio):
    """Caffe: caffe_rng_bernoulli(count, 1. - threshold_), threshold_ the ratio as a float."""
    return 1.0 - float(F32(ratio))


def _scale(ratio):
    """Caffe: scale_ = 1. / (1. - threshold_), stored as a float."""
    return F32(1.0 / (1.0 - float(F32(ratio))))


@pytest.mark.parametrize("seed", [3, 2718, 9017])
@pytest.mark.parametrize("ratio,shape", [(0.5, (4, 3, 5, 5)), (0.3, (3, 7, 11)),
                                         (0.1, (2, 50, 9)), (0.9, (1000,))])
def test_dropout_mask_follows_caffe_stream(tmp_path, seed, ratio, shape):
    net = _dropout_net(tmp_path, shape, ratio)
    x = _nonzero_input(shape, seed)
    net.blobs["data"].data[...] = x
    ref = CaffeStream(seed)
    caffe.set_random_seed(seed)
    scale = _scale(ratio)
    for _ in range(2):  # the second pass draws the next words
        net.forward()
        out = np.array(net.blobs["out"].data)
        keep = ref.bernoulli(x.size, _keep_probability(ratio)).reshape(shape).astype(bool)
        np.testing.assert_array_equal(out != 0, keep, err_msg=f"mask, ratio {ratio}, seed {seed}")
        np.testing.assert_array_equal(out, np.where(keep, x * scale, F32(0)))
        # backward: the same mask and scale
        top = _nonzero_input(shape, seed + 1)
        net.backward(out=top)
        np.testing.assert_array_equal(net.blobs["data"].diff, np.where(keep, top * scale, F32(0)))
    # the stream stands exactly where Caffe's would
    np.testing.assert_array_equal(_core.rng_words(16), ref.words(16))


def test_dropout_test_phase_copies_and_draws_nothing(tmp_path):
    shape = (3, 4, 5)
    net = _dropout_net(tmp_path, shape, 0.5, caffe.TEST)
    x = _nonzero_input(shape, 5)
    net.blobs["data"].data[...] = x
    caffe.set_random_seed(77)
    net.forward()
    np.testing.assert_array_equal(net.blobs["out"].data, x)
    np.testing.assert_array_equal(_core.rng_words(8), mt_words(77, 8))


@pytest.mark.parametrize("ratio,count", [(0.0001, 2_000_000), (0.005, 1_000_000),
                                         (0.3, 1_000_000), (0.5, 1_000_000)])
def test_dropout_keep_rate_and_scale(tmp_path, ratio, count):
    shape = (count // 1000, 1000)
    net = _dropout_net(tmp_path, shape, ratio)
    x = _nonzero_input(shape, 11)
    net.blobs["data"].data[...] = x
    caffe.set_random_seed(20190609)
    net.forward()
    out = net.blobs["out"].data
    keep = out != 0
    kept = int(np.count_nonzero(keep))
    q = 1.0 - ratio
    sigma = np.sqrt(count * q * (1.0 - q))
    assert abs(kept - count * q) <= 4 * sigma, \
        f"ratio {ratio}: kept {kept} of {count}, expected {count * q:.0f} +- 4 * {sigma:.1f}"
    assert kept < count  # something was dropped, even at ratio 1e-4
    scale = F32(1.0 / (1.0 - float(F32(ratio))))
    np.testing.assert_array_equal(out[keep], x[keep] * scale)
    assert out[keep].dtype == np.float32


# ---- fillers -----------------------------------------------------------------------------------

def _filler_text(f):
    parts = []
    for k, v in f.items():
        if k == "type":
            parts.append(f'type: "{v}"')
        elif k == "variance_norm":
            parts.append(f"variance_norm: {v}")
        else:
            parts.append(f"{k}: {v!r}")
    return "{ " + " ".join(parts) + " }"


# (name, layer type, layer param text, weight shape, weight filler, bias filler)
FILLER_LAYERS = [
    ("c_gauss", "Convolution", "num_output: 4 kernel_size: 3", (4, 3, 3, 3),
     {"type": "gaussian", "std": 0.5, "mean": 0.25}, {"type": "gaussian", "std": 2.0}),
    ("c_uniform", "Convolution", "num_output: 3 kernel_size: 2", (3, 3, 2, 2),
     {"type": "uniform", "min": -0.3, "max": 0.7}, {"type": "uniform", "min": 1.0, "max": 2.0}),
    ("c_xavier", "Convolution", "num_output: 5 kernel_size: 3", (5, 3, 3, 3),
     {"type": "xavier"}, {"type": "constant", "value": 0.2}),
    ("c_xavier_avg", "Convolution", "num_output: 2 kernel_size: 1", (2, 3, 1, 1),
     {"type": "xavier", "variance_norm": "AVERAGE"}, {"type": "xavier"}),
    ("c_msra", "Convolution", "num_output: 6 kernel_size: 3 group: 3", (6, 1, 3, 3),
     {"type": "msra"}, {"type": "msra", "variance_norm": "FAN_OUT"}),
    ("i_xavier_out", "InnerProduct", "num_output: 7", (7, 192),
     {"type": "xavier", "variance_norm": "FAN_OUT"}, {"type": "gaussian", "std": 0.01}),
    ("i_msra_avg", "InnerProduct", "num_output: 9 transpose: true", (192, 9),
     {"type": "msra", "variance_norm": "AVERAGE"}, {"type": "uniform", "min": -1.0, "max": 1.0}),
]


def _filler_net(tmp_path, layers, input_shape=(2, 3, 8, 8), name="fillers"):
    dims = " ".join(f"dim: {d}" for d in input_shape)
    text = [f'name: "{name}"',
            f'layer {{ name: "input" type: "Input" top: "data" '
            f'input_param {{ shape {{ {dims} }} }} }}']
    for lname, ltype, ptext, _shape, wf, bf in layers:
        key = "convolution_param" if ltype == "Convolution" else "inner_product_param"
        text.append(f'layer {{ name: "{lname}" type: "{ltype}" bottom: "data" top: "{lname}" '
                    f'{key} {{ {ptext} weight_filler {_filler_text(wf)} '
                    f'bias_filler {_filler_text(bf)} }} }}')
    path = tmp_path / f"{name}.prototxt"
    path.write_text("\n".join(text) + "\n")
    return caffe.Net(str(path), caffe.TRAIN)


@pytest.mark.parametrize("seed", [1, 4242, 2**32 - 1])
def test_fillers_follow_caffe_stream(tmp_path, seed):
    caffe.set_random_seed(seed)
    net = _filler_net(tmp_path, FILLER_LAYERS)
    ref = CaffeStream(seed)
    for lname, _t, _p, wshape, wf, bf in FILLER_LAYERS:  # layer order, weights before bias
        w, b = net.params[lname]
        assert w.data.shape == wshape, lname
        np.testing.assert_array_equal(w.data, ref.fill(wf, wshape), err_msg=f"{lname} weights")
        bshape = (wshape[1] if "transpose" in _p else wshape[0],)
        np.testing.assert_array_equal(b.data, ref.fill(bf, bshape), err_msg=f"{lname} bias")
    # the fillers consumed exactly Caffe's number of words
    np.testing.assert_array_equal(_core.rng_words(16), ref.words(16))


@pytest.mark.parametrize("seed", [7, 1701])
def test_large_gaussian_filler_tail(tmp_path, seed):
    """1e5 N(0, 1) draws: the ziggurat's slow layers and its tail (|x| > 3.44) are hit."""
    layers = [("big", "InnerProduct", "num_output: 1000", (1000, 100),
               {"type": "gaussian", "std": 1.0}, {"type": "gaussian", "std": 3.0, "mean": -1.0})]
    caffe.set_random_seed(seed)
    net = _filler_net(tmp_path, layers, input_shape=(2, 100), name="big")
    ref = CaffeStream(seed)
    w = ref.fill(layers[0][4], (1000, 100))
    b = ref.fill(layers[0][5], (1000,))
    assert np.count_nonzero(np.abs(w) > 3.4426198558966521214) >= 10  # the tail is exercised
    assert ref.consumed > w.size + b.size  # so are the rejection paths (extra words)
    np.testing.assert_array_equal(net.params["big"][0].data, w)
    np.testing.assert_array_equal(net.params["big"][1].data, b)
    np.testing.assert_array_equal(_core.rng_words(16), ref.words(16))


def test_constant_filler_draws_nothing(tmp_path):
    layers = [("c", "InnerProduct", "num_output: 4", (4, 6),
               {"type": "constant", "value": 0.5}, {"type": "constant", "value": -1.0})]
    caffe.set_random_seed(99)
    net = _filler_net(tmp_path, layers, input_shape=(2, 6), name="const")
    np.testing.assert_array_equal(net.params["c"][0].data, np.full((4, 6), F32(0.5)))
    np.testing.assert_array_equal(net.params["c"][1].data, np.full((4,), F32(-1.0)))
    np.testing.assert_array_equal(_core.rng_words(8), mt_words(99, 8))
