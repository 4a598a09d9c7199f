"""Caffe's random stream drawn in SIMD (csrc/core/rng.cpp: Rng::Fill, Rng::FillAtMost; the
twist and tempering over the 624-word state in vectors, the words left over one at a time) is
bit for bit the scalar stream: numpy's RandomState (an independent scalar MT19937) and
tests/caffe_rng_reference.py's Boost bernoulli, for any mix of one-word and bulk draws, across
the state's 624-word blocks and the twist's runs (227 and 396 words), odd lengths and offsets;
and so are Dropout's and AugmentedDropout's masks for every variant and ratio."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import augdrop_caffe as caffe
from augdrop_caffe._loader import _core
from caffe_rng_reference import CaffeStream
from test_dropout import VARIANTS, masks, scale_of

F32 = np.float32
SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
# Lengths at the edges of the vectors (8, 16 lanes), the twist's runs and the state's blocks.
EDGES = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 226, 227, 228, 395, 396, 397, 623, 624, 625, 1247,
         1248, 1249, 1871, 1873]
LENGTHS = st.one_of(st.sampled_from(EDGES), st.integers(0, 2000))
# Dropout's probabilities: 1 - ratio for ratios the paper and Caffe's nets use, the extremes,
# and float32 ratios as the layers pass them.
PROBS = st.one_of(st.sampled_from([1.0, 0.5, 0.9, 0.1, 0.9999, 1e-4, 1e-9, 2.3e-10, 1.0 - 1e-12]),
                  st.floats(0.0, 1.0, allow_nan=False),
                  st.floats(0.0, 0.75, width=32).map(lambda r: 1.0 - float(F32(r))))
OPS = st.lists(st.tuples(st.sampled_from(["word", "fill", "bernoulli", "bernoulli_float"]),
                         LENGTHS, PROBS), min_size=1, max_size=6)


def engine_state_matches_numpy(seed, words_used):
    """The engine's state text (std::mt19937's format: 624 words, then the position) is
    numpy's MT19937 state after as many words."""
    rs = np.random.RandomState(seed)
    if words_used:
        rs.randint(0, 2 ** 32, size=words_used, dtype=np.uint32)
    _, keys, pos = rs.get_state()[:3]
    assert _core.rng_state() == " ".join(str(int(k)) for k in keys) + f" {pos}"


@SETTINGS
@given(seed=st.integers(0, 2 ** 32 - 1), ops=OPS)
def test_bulk_draws_are_the_scalar_stream(seed, ops):
    caffe.set_random_seed(seed)
    ref = CaffeStream(seed)
    used = 0
    for kind, n, p in ops:
        if kind == "word":  # one word at a time (Rng::operator())
            got, want = _core.rng_words(n), ref.words(n)
        elif kind == "fill":
            got, want = _core.rng_fill(n), ref.words(n)
        elif kind == "bernoulli":
            got, want = _core.rng_bernoulli(n, p), ref.bernoulli(n, p)
        else:
            got, want = _core.rng_bernoulli_float(n, p), ref.bernoulli_float(n, p)
        assert got.dtype == np.uint32 and got.shape == (n,)
        np.testing.assert_array_equal(got, want, err_msg=f"{kind}({n}, {p})")
        no_draw = (kind == "bernoulli" and p == 0) or (kind == "bernoulli_float" and F32(p) == 0)
        used += 0 if no_draw else n
    engine_state_matches_numpy(seed, used)


@pytest.mark.parametrize("offset", [0, 1, 5, 226, 227, 396, 620, 623])
def test_bernoulli_threshold_on_the_word_itself(offset):
    """p chosen so that p * (2^32 - 1) lands on (or next to) the very word drawn: the integer
    test u <= floor(t) must agree with Boost's double test at the boundary."""
    seed = 77
    words = CaffeStream(seed).words(offset + 40)[offset:]
    for w in words[:40:4]:
        for p in (int(w) / 4294967295.0, np.nextafter(int(w) / 4294967295.0, 0),
                  np.nextafter(int(w) / 4294967295.0, 1)):
            p = min(max(float(p), 0.0), 1.0)
            caffe.set_random_seed(seed)
            _core.rng_words(offset)
            ref = CaffeStream(seed)
            ref.words(offset)
            np.testing.assert_array_equal(_core.rng_bernoulli(40, p), ref.bernoulli(40, p))


def test_bernoulli_with_p_zero_draws_nothing_and_p_one_keeps_all():
    caffe.set_random_seed(3)
    assert not _core.rng_bernoulli(1000, 0.0).any()
    assert _core.rng_bernoulli(700, 1.0).all()
    np.testing.assert_array_equal(_core.rng_words(5), CaffeStream(3).words(705)[700:])


def test_state_round_trip_and_bad_state():
    caffe.set_random_seed(9)
    _core.rng_fill(1000)
    saved = _core.rng_state()
    a = _core.rng_fill(900)
    _core.set_rng_state(saved)
    np.testing.assert_array_equal(_core.rng_fill(900), a)
    for bad in ("", "1 2 3", saved.rsplit(" ", 1)[0] + " 625", "x" + saved):
        with pytest.raises(caffe.EngineError, match="not a random stream state"):
            _core.set_rng_state(bad)


NET = ('name: "d"\nforce_backward: true\n'
       'layer {{ name: "input" type: "Input" top: "x" input_param {{ shape {{ dim: {n} }} }} }}\n'
       '{layer}\n')


def layer_masks(tmp_path, layer, n, seed):
    """(forward output / x, bottom diff for a top diff of ones) of one TRAIN pass, and the next
    stream words."""
    path = tmp_path / "d.prototxt"
    path.write_text(NET.format(n=n, layer=layer))
    net = caffe.Net(str(path), caffe.TRAIN)
    x = np.random.default_rng(n).uniform(0.5, 2.0, size=n).astype(F32)
    net.blobs["x"].data[...] = x
    caffe.set_random_seed(seed)
    y = np.array(net.forward(blobs=["y"])["y"])
    next_words = _core.rng_words(3)
    dx = np.array(net.backward(diffs=["x"], y=np.ones(n, F32))["x"])
    return x, y, dx, next_words


@SETTINGS
@given(variant=st.sampled_from(VARIANTS), n=LENGTHS.filter(lambda n: n > 0),
       pf=st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.9, 0.9999]),
       pb=st.sampled_from([0.0, 0.0001, 0.2, 0.5, 0.95]), seed=st.integers(0, 2 ** 32 - 1))
def test_augmented_dropout_masks_for_every_variant_and_ratio(tmp_path_factory, variant, n, pf,
                                                             pb, seed):
    layer = ('layer { name: "drop" type: "AugmentedDropout" bottom: "x" top: "y" '
             f'augmented_dropout_param {{ variant: {variant} forward_ratio: {pf} '
             f'backward_ratio: {pb} }} }}')
    x, y, dx, next_words = layer_masks(tmp_path_factory.mktemp("ad"), layer, n, seed)
    ref = CaffeStream(seed)
    mf, mb = masks(ref, n, variant, pf, pb)
    np.testing.assert_array_equal(y, x * mf if variant != "BACKWARD" else x)
    np.testing.assert_array_equal(dx, mb)
    np.testing.assert_array_equal(next_words, ref.words(3))  # exactly the words Caffe uses


@SETTINGS
@given(n=LENGTHS.filter(lambda n: n > 0), ratio=st.sampled_from([0.0, 0.1, 0.5, 0.7, 0.9999]),
       seed=st.integers(0, 2 ** 32 - 1))
def test_dropout_mask_for_every_ratio(tmp_path_factory, n, ratio, seed):
    layer = ('layer { name: "drop" type: "Dropout" bottom: "x" top: "y" '
             f'dropout_param {{ dropout_ratio: {ratio} }} }}')
    x, y, dx, next_words = layer_masks(tmp_path_factory.mktemp("d"), layer, n, seed)
    ref = CaffeStream(seed)
    keep = ref.bernoulli(n, 1.0 - float(F32(ratio))).astype(F32)
    np.testing.assert_array_equal(y, x * keep * scale_of(ratio))
    np.testing.assert_array_equal(dx, F32(1) * keep * scale_of(ratio))
    np.testing.assert_array_equal(next_words, ref.words(3))
