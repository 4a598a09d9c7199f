"""The Data layer and its transformer (csrc/layers/data_layer.cpp, csrc/data/data_transformer.cpp)
against a NumPy re-creation of BVLC Caffe 1.0's DataLayer + DataTransformer:

- records are read sequentially, wrapping around, no shuffling;
- out = (x - mean) * scale, the mean a per-pixel mean_file (indexed at the input pixel, i.e.
  before the crop) or mean_value (once, or once per channel);
- per image: do_mirror = mirror && Rand(2) (in both phases), then, with crop_size, h_off and
  w_off = Rand(H - crop + 1), Rand(W - crop + 1) in TRAIN, the centre in TEST;
- Rand(n) = word % n of the transformer's own boost::mt19937, seeded at layer setup from the
  Caffe stream (caffe_rng_rand()) -- twice, as Caffe 1.0 calls InitRand() in both
  BaseDataLayer::LayerSetUp and BasePrefetchingDataLayer::LayerSetUp, so the second word is
  the seed -- and the prefetch thread's start draws one more word.
"""
import os

import numpy as np
import pytest

import augdrop_caffe as caffe
from augdrop_caffe import TEST, TRAIN, _core, cli
from augdrop_caffe.caffemodel import read_blobproto, write_blobproto
from augdrop_caffe.data import load_source
from augdrop_caffe.textformat import parse_text

from test_data_readers import datum_bytes

F32 = np.float32


def mt_words(seed, n):
    """The first n words of mt19937 seeded with `seed` (Caffe's stream, or a transformer's)."""
    return np.random.RandomState(seed).randint(0, 2**32, size=n, dtype=np.uint32)


class CaffeTransformer:
    """DataTransformer<float>::Transform(const Datum&, Blob*) of BVLC Caffe 1.0, in NumPy."""

    def __init__(self, phase, seed=None, scale=1.0, mirror=False, crop_size=0, mean=None,
                 mean_values=()):
        self.phase, self.scale, self.mirror, self.crop = phase, F32(scale), mirror, crop_size
        self.mean = None if mean is None else np.asarray(mean, F32)
        self.mean_values = [F32(v) for v in mean_values]
        self.words = iter(mt_words(seed, 100000)) if seed is not None else None

    def rand(self, n):
        return int(next(self.words)) % n

    def __call__(self, image):
        c, h, w = image.shape
        do_mirror = self.mirror and self.rand(2)
        h_off = w_off = 0
        oh, ow = h, w
        if self.crop:
            oh = ow = self.crop
            if self.phase == TRAIN:
                h_off = self.rand(h - self.crop + 1)
                w_off = self.rand(w - self.crop + 1)
            else:
                h_off, w_off = (h - self.crop) // 2, (w - self.crop) // 2
        x = image.astype(F32)
        if self.mean is not None:
            x = x - self.mean
        elif self.mean_values:
            mv = np.array(self.mean_values if len(self.mean_values) == c
                          else self.mean_values * c, F32)
            x = x - mv[:, None, None]
        x = (x[:, h_off:h_off + oh, w_off:w_off + ow] * self.scale).astype(F32)
        return x[:, :, ::-1] if do_mirror else x

    def batch(self, images, start, size):
        idx = [(start + i) % len(images) for i in range(size)]
        return np.stack([self(images[i]) for i in idx]), idx


_counter = [0]


def register(images, labels=None):
    """A synthetic data set handed straight to the core; returns its key."""
    _counter[0] += 1
    key = f"test-transform-{os.getpid()}-{_counter[0]}"
    if labels is None:
        labels = np.arange(len(images), dtype=F32)
    _core.register_dataset(key, np.ascontiguousarray(images, np.uint8), np.asarray(labels, F32))
    return key


def data_net(source, phase, batch_size, transform="", labels=True):
    """A net of one Data layer, built by the core directly (prepare_net_data only knows named
    data sets and LMDB folders, not keys registered by hand)."""
    tops = 'top: "data" top: "label"' if labels else 'top: "data"'
    text = (f'name: "d" layer {{ name: "data" type: "Data" {tops} '
            f'transform_param {{ {transform} }} '
            f'data_param {{ source: "{source}" batch_size: {batch_size} }} }}')
    return _core.Net(parse_text(text, "NetParameter").to_dict(), int(phase), 0, [])


def forward(net):
    net.forward()
    blobs = dict(zip(net.blob_names, net.blobs))
    return (np.array(blobs["data"].data),
            np.array(blobs["label"].data) if "label" in blobs else None)


def random_images(n, c, h, w, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(n, c, h, w)).astype(np.uint8)


# ---- order, labels, shapes ---------------------------------------------------------------------

@pytest.mark.parametrize("phase", [TRAIN, TEST])
def test_sequential_order_wraps_around(phase):
    imgs = random_images(5, 2, 3, 4)
    labels = np.array([10, 11, 12, 13, 14], F32)
    net = data_net(register(imgs, labels), phase, batch_size=3)
    assert [tuple(b.shape) for b in net.blobs] == [(3, 2, 3, 4), (3,)]
    # 4 batches of 3 over 5 records: 0 1 2 | 3 4 0 | 1 2 3 | 4 0 1
    for want in ([0, 1, 2], [3, 4, 0], [1, 2, 3], [4, 0, 1]):
        data, label = forward(net)
        np.testing.assert_array_equal(data, imgs[want].astype(F32))
        np.testing.assert_array_equal(label, labels[want])


def test_batch_larger_than_data_set_wraps_within_the_batch():
    imgs = random_images(2, 1, 2, 2)
    net = data_net(register(imgs), TEST, batch_size=5)
    data, label = forward(net)
    np.testing.assert_array_equal(label, [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(data, imgs[[0, 1, 0, 1, 0]].astype(F32))


def test_data_only_top():
    imgs = random_images(3, 1, 2, 2)
    net = data_net(register(imgs), TEST, batch_size=2, labels=False)
    data, _ = forward(net)
    np.testing.assert_array_equal(data, imgs[:2].astype(F32))


# ---- scale and means ---------------------------------------------------------------------------

def test_scale():
    imgs = random_images(4, 1, 5, 5, seed=1)
    net = data_net(register(imgs), TRAIN, 4, "scale: 0.00390625")
    data, _ = forward(net)
    np.testing.assert_array_equal(data, imgs.astype(F32) * F32(0.00390625))
    net = data_net(register(imgs), TEST, 4, "scale: 0.017")  # not a power of two
    data, _ = forward(net)
    np.testing.assert_array_equal(data, imgs.astype(F32) * F32(0.017))


def test_mean_value_once_for_all_channels():
    imgs = random_images(3, 3, 4, 4, seed=2)
    net = data_net(register(imgs), TEST, 3, "mean_value: 127.5 scale: 0.5")
    data, _ = forward(net)
    np.testing.assert_array_equal(data, (imgs.astype(F32) - F32(127.5)) * F32(0.5))


def test_mean_value_per_channel():
    imgs = random_images(3, 3, 4, 4, seed=3)
    net = data_net(register(imgs), TEST, 3,
                   "mean_value: 125.31 mean_value: 122.95 mean_value: 113.87 scale: 0.0125")
    data, _ = forward(net)
    want = CaffeTransformer(TEST, scale=0.0125, mean_values=(125.31, 122.95, 113.87))
    np.testing.assert_array_equal(data, want.batch(imgs, 0, 3)[0])
    np.testing.assert_array_equal(
        data[:, 1], (imgs[:, 1].astype(F32) - F32(122.95)) * F32(0.0125))


def test_mean_value_count_must_match_channels():
    imgs = random_images(2, 3, 4, 4)
    with pytest.raises(caffe.EngineError, match="mean_value"):
        net = data_net(register(imgs), TEST, 2, "mean_value: 1 mean_value: 2")
        net.forward()


def test_mean_file_registered_mean_with_centre_crop():
    """The mean is indexed at the input pixel (before the crop), as Caffe's transformer."""
    imgs = random_images(4, 2, 7, 6, seed=4)
    mean = np.random.RandomState(5).uniform(0, 255, size=(2, 7, 6)).astype(F32)
    _core.register_mean("test-transform-mean-76", mean)
    net = data_net(register(imgs), TEST, 4,
                   'mean_file: "test-transform-mean-76" crop_size: 3 scale: 0.25')
    data, _ = forward(net)
    assert data.shape == (4, 2, 3, 3)
    want = CaffeTransformer(TEST, scale=0.25, crop_size=3, mean=mean).batch(imgs, 0, 4)[0]
    np.testing.assert_array_equal(data, want)
    # centre: h_off = (7 - 3) // 2 = 2, w_off = (6 - 3) // 2 = 1
    np.testing.assert_array_equal(
        data[0], (imgs[0, :, 2:5, 1:4].astype(F32) - mean[:, 2:5, 1:4]) * F32(0.25))


def write_prototxt(path, source, transform, batch_size, phase_include=False):
    path.write_text(
        'name: "m"\nlayer {\n  name: "data"\n  type: "Data"\n  top: "data"\n  top: "label"\n'
        f'  transform_param {{ {transform} }}\n'
        f'  data_param {{ source: "{source}" batch_size: {batch_size} }}\n}}\n')
    return str(path)


def test_mean_file_binaryproto_through_net(tmp_path):
    """A .binaryproto mean (as compute_image_mean writes it: 1 x C x H x W), via caffe.Net."""
    imgs, _ = load_source("mnist-sample:test")
    mean = np.random.RandomState(6).uniform(0, 255, size=(1, 28, 28)).astype(F32)
    mean_path = tmp_path / "mean.binaryproto"
    write_blobproto(str(mean_path), mean[None])
    model = write_prototxt(tmp_path / "m.prototxt", "mnist-sample:test",
                           f'mean_file: "{mean_path}" scale: 0.00390625', 5)
    net = caffe.Net(model, TEST)
    net.forward()
    want = (imgs[:5].astype(F32) - mean) * F32(0.00390625)
    np.testing.assert_array_equal(net.blobs["data"].data, want)
    net.forward()
    np.testing.assert_array_equal(net.blobs["data"].data,
                                  (imgs[5:10].astype(F32) - mean) * F32(0.00390625))


def numpy_image_mean(images):
    """compute_image_mean: float sums of the pixels divided in float by the count."""
    sums = images.astype(np.float64).sum(axis=0)
    assert sums.max() < 2**24  # exact in float
    return sums.astype(F32) / F32(len(images))


def test_mean_file_named_source_through_net(tmp_path):
    """mean_file: "mnist-sample:train" -- the per-pixel mean computed from that source."""
    train, _ = load_source("mnist-sample:train")
    test, test_labels = load_source("mnist-sample:test")
    mean = numpy_image_mean(train)
    model = write_prototxt(tmp_path / "m.prototxt", "mnist-sample:test",
                           'mean_file: "mnist-sample:train" crop_size: 24', 4)
    net = caffe.Net(model, TEST)
    net.forward()
    want = CaffeTransformer(TEST, crop_size=24, mean=mean).batch(test, 0, 4)[0]
    np.testing.assert_array_equal(net.blobs["data"].data, want)
    np.testing.assert_array_equal(net.blobs["label"].data, test_labels[:4])


def test_data_layer_over_lmdb(tmp_path):
    """A Caffe LMDB as the source: records in key order, through caffe.Net."""
    lmdb = pytest.importorskip("lmdb")
    imgs = random_images(3, 1, 2, 3, seed=7)
    db = tmp_path / "db"
    env = lmdb.open(str(db), map_size=1 << 20)
    with env.begin(write=True) as txn:
        for i in (2, 0, 1):
            txn.put(b"%08d" % i, datum_bytes(imgs[i], 20 + i))
    env.close()
    model = write_prototxt(tmp_path / "m.prototxt", str(db), "scale: 2", 4)
    net = caffe.Net(model, TEST)
    net.forward()
    np.testing.assert_array_equal(net.blobs["data"].data, imgs[[0, 1, 2, 0]].astype(F32) * 2)
    np.testing.assert_array_equal(net.blobs["label"].data, [20, 21, 22, 20])


# ---- crop and mirror, with Caffe's random numbers ---------------------------------------------

SEED = 1701


def outputs(net, n_batches):
    return [forward(net)[0] for _ in range(n_batches)]


def seed_index(got, phase, imgs, batch_size, n_candidates=4, **kw):
    """Which word of the Caffe stream (after set_random_seed(SEED)) seeds the transformer's
    mt19937 such that the NumPy transformer reproduces every batch exactly; None if none."""
    words = mt_words(SEED, n_candidates)
    for k, seed in enumerate(words):
        t = CaffeTransformer(phase, seed=int(seed), **kw)
        start, ok = 0, True
        for batch in got:
            want, _ = t.batch(imgs, start, batch_size)
            start += batch_size
            if want.shape != batch.shape or not np.array_equal(want, batch):
                ok = False
                break
        if ok:
            return k
    return None


CASES = {
    # name: (phase, image shape, transform_param text, CaffeTransformer arguments)
    "train_crop_mirror": (TRAIN, (3, 8, 7), "crop_size: 5 mirror: true scale: 0.5",
                          dict(crop_size=5, mirror=True, scale=0.5)),
    "train_crop": (TRAIN, (1, 9, 9), "crop_size: 4", dict(crop_size=4)),
    "train_mirror": (TRAIN, (2, 4, 5), "mirror: true", dict(mirror=True)),
    "test_mirror_centre_crop": (TEST, (3, 8, 8), "crop_size: 6 mirror: true mean_value: 100",
                                dict(crop_size=6, mirror=True, mean_values=(100,))),
}


def run_case(name, n_images=5, batch_size=3, n_batches=4):
    phase, shape, text, kw = CASES[name]
    imgs = random_images(n_images, *shape, seed=len(name))
    key = register(imgs)
    caffe.set_random_seed(SEED)
    net = data_net(key, phase, batch_size, text)
    after_setup = int(_core.rng_words(1)[0])
    got = outputs(net, n_batches)
    return got, imgs, phase, batch_size, kw, after_setup


@pytest.mark.parametrize("name", sorted(CASES))
def test_crop_mirror_reproduced_exactly(name):
    """Mirror and crop offsets follow Caffe's order and Rand(n) = word % n exactly, for a
    transformer seeded with one word of the Caffe stream (batches wrap around the data)."""
    got, imgs, phase, batch_size, kw, _ = run_case(name)
    assert seed_index(got, phase, imgs, batch_size, **kw) is not None, (
        "no transformer seed drawn from the Caffe stream reproduces the batches")


def test_mirror_is_random_per_image_and_crop_offsets_vary():
    got, imgs, phase, batch_size, kw, _ = run_case("train_crop_mirror", n_images=40,
                                                   batch_size=40, n_batches=1)
    flips = offsets = 0
    for i, out in enumerate(got[0]):
        x = imgs[i].astype(F32) * F32(0.5)
        windows = {(h, w): x[:, h:h + 5, w:w + 5] for h in range(4) for w in range(3)}
        plain = [hw for hw, v in windows.items() if np.array_equal(v, out)]
        flipped = [hw for hw, v in windows.items() if np.array_equal(v[:, :, ::-1], out)]
        assert plain or flipped, "each output is a (mirrored) crop of its image"
        flips += bool(flipped)
        offsets |= 1 << (4 * (plain or flipped)[0][0] + (plain or flipped)[0][1])
    assert 5 < flips < 35
    assert bin(offsets).count("1") >= 6


def test_test_phase_crop_is_centred_and_draws_nothing():
    imgs = random_images(3, 1, 9, 8, seed=8)
    caffe.set_random_seed(SEED)
    net = data_net(register(imgs), TEST, 3, "crop_size: 4")
    data, _ = forward(net)
    np.testing.assert_array_equal(data, imgs[:, :, 2:6, 2:6].astype(F32))
    # no random transform: the layer's setup draws only the prefetch thread's seed
    assert int(_core.rng_words(1)[0]) == int(mt_words(SEED, 2)[1])


def test_main_stream_untouched_by_forward():
    """The transformer draws from its own mt19937, not from the Caffe stream."""
    imgs = random_images(4, 1, 6, 6, seed=9)
    caffe.set_random_seed(SEED)
    net = data_net(register(imgs), TRAIN, 4, "crop_size: 3 mirror: true")
    state = _core.rng_state()
    for _ in range(3):
        net.forward()
    assert _core.rng_state() == state


# Caffe 1.0 (src/caffe/layers/base_data_layer.cpp) calls DataTransformer::InitRand() twice
# for a Data layer: in BaseDataLayer::LayerSetUp (right after creating the transformer) and
# again in BasePrefetchingDataLayer::LayerSetUp ("Initializing prefetch", just before
# StartInternalThread, whose thread seed is one more caffe_rng_rand()). With a random
# transform (mirror, or crop in TRAIN) the transformer therefore ends up seeded with the
# SECOND word of the stream and setup consumes THREE words; without one, InitRand draws
# nothing and setup consumes one word.

@pytest.mark.parametrize("name", ["train_crop_mirror", "test_mirror_centre_crop"])
def test_transformer_seed_is_caffes_second_word(name):
    got, imgs, phase, batch_size, kw, _ = run_case(name)
    k = seed_index(got, phase, imgs, batch_size, **kw)
    assert k == 1, (f"the transformer is seeded with word #{k} of the Caffe stream; BVLC "
                    f"Caffe 1.0 reseeds it in BasePrefetchingDataLayer::LayerSetUp, so it "
                    f"uses word #1 (InitRand runs twice)")


@pytest.mark.parametrize("name", ["train_crop_mirror", "test_mirror_centre_crop"])
def test_stream_position_after_data_layer_setup(name):
    *_, after_setup = run_case(name, n_batches=1)
    words = mt_words(SEED, 5)
    position = [int(w) for w in words].index(after_setup) if after_setup in words else None
    assert position == 3, (f"a Data layer with a random transform consumed {position} words "
                           f"of the Caffe stream at setup; BVLC Caffe 1.0 consumes 3 "
                           f"(InitRand twice, then the prefetch thread's seed)")


def test_stream_position_without_random_transform():
    imgs = random_images(3, 1, 4, 4)
    caffe.set_random_seed(SEED)
    data_net(register(imgs), TRAIN, 2, "scale: 0.5 mean_value: 3")
    assert int(_core.rng_words(1)[0]) == int(mt_words(SEED, 2)[1])


def test_layer_state_restores_cursor_and_transformer_stream():
    imgs = random_images(5, 1, 6, 6, seed=10)
    key = register(imgs)
    caffe.set_random_seed(SEED)
    net = data_net(key, TRAIN, 3, "crop_size: 4 mirror: true")
    net.forward()
    state = net.layer_state(0)
    expected = outputs(net, 3)
    caffe.set_random_seed(SEED + 1)
    other = data_net(key, TRAIN, 3, "crop_size: 4 mirror: true")
    other.set_layer_state(0, bytes(state).decode())
    for want, got in zip(expected, outputs(other, 3)):
        np.testing.assert_array_equal(got, want)


def test_crop_larger_than_image_is_an_error():
    imgs = random_images(2, 1, 4, 4)
    with pytest.raises(caffe.EngineError, match="crop_size"):
        data_net(register(imgs), TEST, 2, "crop_size: 5")


def test_unknown_source_is_an_error():
    with pytest.raises(caffe.EngineError, match="not loaded"):
        data_net("test-transform-never-registered", TEST, 2)


# ---- the mean file, round trip -------------------------------------------------------------

def test_data_mean_cli_equals_numpy(tmp_path, capsys):
    out = tmp_path / "mean.binaryproto"
    assert cli.main(["data", "mean", "mnist-sample:train", str(out)]) == 0
    assert "channel means" in capsys.readouterr().out
    mean = read_blobproto(str(out))
    assert mean.dtype == np.float32 and mean.shape == (1, 1, 28, 28)
    train, _ = load_source("mnist-sample:train")
    np.testing.assert_array_equal(mean[0], numpy_image_mean(train))
    # and a Data layer using the file subtracts exactly that
    model = write_prototxt(tmp_path / "m.prototxt", "mnist-sample:train",
                           f'mean_file: "{out}"', 2)
    net = caffe.Net(model, TRAIN)
    net.forward()
    np.testing.assert_array_equal(net.blobs["data"].data,
                                  train[:2].astype(F32) - mean[0])
