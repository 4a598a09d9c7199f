"""AugmentedDropout's four variants against DESIGN.md's table, with masks from Caffe's stream.

| variant   | forward output | backward mask m_b |
| STANDARD  | x*m_f          | m_f               |
| FORWARD   | x*m_f          | 1                 |
| BACKWARD  | x              | m_e (p_b)         |
| AUGMENTED | x*m_f          | m_f*m_e           |

bottom_diff = top_diff * m_b; with mask_backward_features the consumer's weight gradient uses
x*m_b (Algorithm 1), without it the forward output. Masks: CaffeStream(seed).bernoulli(n, 1-p)
(m_f first, then m_e), scaled by float32(1/(1-p)) computed in double.
"""
import numpy as np
import pytest

import augdrop_caffe as caffe
from caffe_rng_reference import CaffeStream

F32 = np.float32
SEED = 1234
VARIANTS = ["STANDARD", "FORWARD", "BACKWARD", "AUGMENTED"]
RATIOS = {"STANDARD": (0.5, 0.3), "FORWARD": (0.5, 0.3), "BACKWARD": (0.4, 0.3),
          "AUGMENTED": (0.5, 0.3)}


def scale_of(p):
    return F32(1.0 / (1.0 - float(F32(p))))


def keep(stream, n, p):
    return stream.bernoulli(n, 1.0 - float(F32(p))).astype(F32)


def masks(stream, n, variant, pf, pb):
    """(m_f, m_b) of one TRAIN forward, drawing from stream as the layer does."""
    ones = np.ones(n, F32)
    mf = keep(stream, n, pf) * scale_of(pf) if variant != "BACKWARD" else ones
    if variant in ("BACKWARD", "AUGMENTED"):
        me = keep(stream, n, pb) * scale_of(pb)
    else:
        me = ones
    mb = {"STANDARD": mf, "FORWARD": ones, "BACKWARD": me, "AUGMENTED": mf * me}[variant]
    return mf, mb


def adrop(variant, pf, pb, bottom="x", top="y", mbf=True, name="drop"):
    return (f'layer {{ name: "{name}" type: "AugmentedDropout" bottom: "{bottom}" '
            f'top: "{top}" augmented_dropout_param {{ variant: {variant} forward_ratio: {pf} '
            f"backward_ratio: {pb} mask_backward_features: {'true' if mbf else 'false'} }} }}")


def write(tmp_path, body, shape, name="net.prototxt"):
    dims = " ".join(f"dim: {d}" for d in shape)
    text = ('name: "dropnet"\nforce_backward: true\n'
            f'layer {{ name: "input" type: "Input" top: "x" input_param {{ shape {{ {dims} }} }} }}\n'
            + body + "\n")
    path = tmp_path / name
    path.write_text(text)
    return str(path)


IP = ('layer {{ name: "ip" type: "InnerProduct" bottom: "{b}" top: "z" '
      "inner_product_param {{ num_output: 3 }} }}")


def build(tmp_path, variant, pf, pb, in_place, mbf=True, phase=caffe.TRAIN, shape=(5, 8),
          layer=None):
    """Not in place: x -> drop -> y -> ip -> z.  In place (as Caffe's prototxts after a ReLU):
    x -> relu -> h, drop h -> h, ip h -> z.  Returns (net, name of the dropout top)."""
    layer = layer or (lambda b, t: adrop(variant, pf, pb, bottom=b, top=t, mbf=mbf))
    if in_place:
        body = '\n'.join(['layer { name: "relu" type: "ReLU" bottom: "x" top: "h" }',
                          layer("h", "h"), IP.format(b="h")])
        top = "h"
    else:
        body = "\n".join([layer("x", "y"), IP.format(b="y")])
        top = "y"
    net = caffe.Net(write(tmp_path, body, shape), phase)
    rng = np.random.default_rng(7)
    net.params["ip"][0].data[...] = rng.normal(0, 1, size=net.params["ip"][0].data.shape)
    net.params["ip"][1].data[...] = rng.normal(0, 1, size=3)
    return net, top


def positive_input(shape, seed=0):
    # Positive, so the ReLU in front of the in-place dropout passes everything through.
    return (np.random.default_rng(seed).uniform(0.5, 2.0, size=shape)).astype(F32)


# --- the table, exactly --------------------------------------------------------------------------

@pytest.mark.parametrize("mbf", [True, False], ids=["mask_backward_features", "errors_only"])
@pytest.mark.parametrize("in_place", [False, True], ids=["separate", "in_place"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_forward_backward_and_consumer_weight_gradient(tmp_path, variant, in_place, mbf):
    pf, pb = RATIOS[variant]
    shape = (5, 8)
    n = int(np.prod(shape))
    net, top = build(tmp_path, variant, pf, pb, in_place, mbf)
    x = positive_input(shape)
    W = np.array(net.params["ip"][0].data, np.float64)
    b = np.array(net.params["ip"][1].data, np.float64)
    mf, mb = masks(CaffeStream(SEED), n, variant, pf, pb)
    mf, mb = mf.reshape(shape), mb.reshape(shape)
    assert np.any(mb == 0) or variant == "FORWARD"
    assert np.any(mf == 0) or variant == "BACKWARD"

    net.blobs["x"].data[...] = x
    caffe.set_random_seed(SEED)
    z = net.forward()["z"].copy()
    fwd = x * mf  # float32, as the layer: x * mask * scale with mask in {0, 1}
    np.testing.assert_array_equal(net.blobs[top].data, fwd)
    np.testing.assert_allclose(z, fwd.astype(np.float64) @ W.T + b, rtol=1e-5, atol=1e-5)

    dz = np.random.default_rng(3).normal(size=z.shape).astype(F32)
    net.clear_param_diffs()
    net.backward(z=dz)
    delta = dz.astype(np.float64) @ W  # the dropout layer's top diff
    if not in_place:
        np.testing.assert_allclose(net.blobs["y"].diff, delta, rtol=1e-5, atol=1e-6)
        # bottom diff = top diff * m_b, bit for bit
        np.testing.assert_array_equal(net.blobs["x"].diff, net.blobs["y"].diff * mb)
    np.testing.assert_allclose(net.blobs["x"].diff, delta * mb, rtol=1e-5, atol=1e-6)

    features = x * mb if (mbf or variant == "STANDARD") else fwd
    np.testing.assert_array_equal(net.blobs[top].data, features)
    np.testing.assert_allclose(net.params["ip"][0].diff,
                               dz.T.astype(np.float64) @ features.astype(np.float64),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net.params["ip"][1].diff, dz.sum(0), rtol=1e-5, atol=1e-6)
    if variant in ("FORWARD", "AUGMENTED") and mbf:
        # Algorithm 1: the consumer really saw different features than the forward pass.
        assert not np.array_equal(features, fwd)

    # A second backward pass after the same forward gives the same gradients (the rewrite
    # starts from the kept copy of x, also in place).
    dW1 = np.array(net.params["ip"][0].diff)
    dx1 = np.array(net.blobs["x"].diff)
    net.clear_param_diffs()
    net.backward(z=dz)
    np.testing.assert_array_equal(net.params["ip"][0].diff, dW1)
    np.testing.assert_array_equal(net.blobs["x"].diff, dx1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_hand_made_input(tmp_path, variant):
    """A tiny input worked through by hand from the stream's words."""
    pf, pb = 0.5, 0.25
    x = np.array([[1.0, -2.0, 3.0, -4.0, 0.5, 6.0]], F32)
    net = caffe.Net(write(tmp_path, adrop(variant, pf, pb), x.shape), caffe.TRAIN)
    s = CaffeStream(99)
    w1 = s.words(6).astype(np.float64)
    w2 = s.words(6).astype(np.float64)
    k1 = (w1 <= 0.5 * 4294967295.0).astype(F32)    # keep-probability 1 - p_f
    ke1 = (w1 <= 0.75 * 4294967295.0).astype(F32)  # keep-probability 1 - p_b, first draw
    ke2 = (w2 <= 0.75 * 4294967295.0).astype(F32)  # ... drawn right after m_f
    mf = np.ones(6, F32) if variant == "BACKWARD" else k1 * F32(2.0)
    me = {"BACKWARD": ke1 * scale_of(0.25), "AUGMENTED": ke2 * scale_of(0.25)}.get(
        variant, np.ones(6, F32))
    mb = {"STANDARD": mf, "FORWARD": np.ones(6, F32), "BACKWARD": me,
          "AUGMENTED": mf * me}[variant]
    net.blobs["x"].data[...] = x
    caffe.set_random_seed(99)
    y = net.forward()["y"]
    np.testing.assert_array_equal(y, x * mf)
    dy = np.array([[1, 2, 3, 4, 5, 6]], F32)
    net.backward(y=dy)
    np.testing.assert_array_equal(net.blobs["x"].diff, dy * mb)
    assert scale_of(0.25) == F32(4.0 / 3.0)


@pytest.mark.parametrize("variant,pf,pb", [("STANDARD", 0.5, 0.0), ("AUGMENTED", 0.5, 0.0),
                                           ("AUGMENTED", 0.3, 0.6), ("BACKWARD", 0.9, 0.2),
                                           ("FORWARD", 0.2, 0.9)])
def test_consecutive_forwards_continue_the_stream(tmp_path, variant, pf, pb):
    shape = (3, 7)
    n = 21
    net = caffe.Net(write(tmp_path, adrop(variant, pf, pb), shape), caffe.TRAIN)
    x = positive_input(shape)
    s = CaffeStream(SEED)
    caffe.set_random_seed(SEED)
    for _ in range(3):
        mf, mb = masks(s, n, variant, pf, pb)
        net.blobs["x"].data[...] = x
        net.forward()
        net.backward(y=np.ones(shape, F32))
        np.testing.assert_array_equal(net.blobs["x"].diff, mb.reshape(shape))
        # after backward the top holds the backward features x * m_b (STANDARD: m_b = m_f)
        np.testing.assert_array_equal(net.blobs["y"].data, x * mb.reshape(shape))


def test_two_dropout_layers_draw_in_forward_order(tmp_path):
    shape = (2, 5)
    body = "\n".join([adrop("AUGMENTED", 0.5, 0.4, "x", "a", name="d1"),
                      adrop("STANDARD", 0.3, 0.0, "a", "b", name="d2")])
    net = caffe.Net(write(tmp_path, body, shape), caffe.TRAIN)
    x = positive_input(shape)
    net.blobs["x"].data[...] = x
    caffe.set_random_seed(5)
    net.forward()
    s = CaffeStream(5)
    mf1, mb1 = masks(s, 10, "AUGMENTED", 0.5, 0.4)
    mf2, _ = masks(s, 10, "STANDARD", 0.3, 0.0)
    np.testing.assert_array_equal(net.blobs["b"].data, (x * mf1.reshape(shape)) * mf2.reshape(shape))


# --- STANDARD is Caffe's Dropout ---------------------------------------------------------------

@pytest.mark.parametrize("in_place", [False, True], ids=["separate", "in_place"])
@pytest.mark.parametrize("ratio", [0.5, 0.2, 0.0])
def test_standard_equals_caffe_dropout(tmp_path, ratio, in_place):
    shape = (6, 9)
    std = lambda b, t: adrop("STANDARD", ratio, 0.7, bottom=b, top=t)  # noqa: E731
    ref = lambda b, t: (f'layer {{ name: "drop" type: "Dropout" bottom: "{b}" top: "{t}" '  # noqa: E731
                        f"dropout_param {{ dropout_ratio: {ratio} }} }}")
    (tmp_path / "std").mkdir()
    (tmp_path / "ref").mkdir()
    a, top = build(tmp_path / "std", None, None, None, in_place, layer=std, shape=shape)
    d, _ = build(tmp_path / "ref", None, None, None, in_place, layer=ref, shape=shape)
    x = positive_input(shape, seed=4)
    dz = np.random.default_rng(2).normal(size=(6, 3)).astype(F32)
    outs = []
    for net in (a, d):
        net.blobs["x"].data[...] = x
        caffe.set_random_seed(77)
        net.forward()
        fwd = np.array(net.blobs[top].data)
        net.clear_param_diffs()
        net.backward(z=dz)
        outs.append((fwd, np.array(net.blobs[top].data), np.array(net.blobs["x"].diff),
                     np.array(net.params["ip"][0].diff), np.array(net.params["ip"][1].diff)))
    for u, v in zip(*outs):
        np.testing.assert_array_equal(u, v)
    mf, _ = masks(CaffeStream(77), 54, "STANDARD", ratio, 0.0)
    np.testing.assert_array_equal(outs[1][0], x * mf.reshape(shape))


# --- TEST phase: identity ----------------------------------------------------------------------

@pytest.mark.parametrize("in_place", [False, True], ids=["separate", "in_place"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_test_phase_is_identity(tmp_path, variant, in_place):
    shape = (4, 6)
    net, top = build(tmp_path, variant, 0.5, 0.5, in_place, phase=caffe.TEST, shape=shape)
    x = positive_input(shape)
    W = np.array(net.params["ip"][0].data, np.float64)
    net.blobs["x"].data[...] = x
    caffe.set_random_seed(1)
    net.forward()
    np.testing.assert_array_equal(net.blobs[top].data, x)
    dz = np.ones((4, 3), F32)
    net.clear_param_diffs()
    net.backward(z=dz)
    np.testing.assert_array_equal(net.blobs[top].data, x)  # no rewrite in TEST
    np.testing.assert_allclose(net.blobs["x"].diff, np.broadcast_to(W.sum(0), shape), rtol=1e-5)
    if not in_place:
        np.testing.assert_array_equal(net.blobs["x"].diff, net.blobs["y"].diff)
    np.testing.assert_allclose(net.params["ip"][0].diff, dz.T @ x, rtol=1e-5)


def test_test_phase_draws_nothing(tmp_path):
    shape = (3, 4)
    net = caffe.Net(write(tmp_path, adrop("AUGMENTED", 0.5, 0.5), shape), caffe.TEST)
    net2 = caffe.Net(write(tmp_path, adrop("STANDARD", 0.5, 0.5), shape, "n2.prototxt"),
                     caffe.TRAIN)
    x = positive_input(shape)
    caffe.set_random_seed(8)
    net.blobs["x"].data[...] = x
    net.forward()
    net2.blobs["x"].data[...] = x
    net2.forward()  # must see the stream as fresh after the TEST net's forward
    mf, _ = masks(CaffeStream(8), 12, "STANDARD", 0.5, 0.0)
    np.testing.assert_array_equal(net2.blobs["y"].data, x * mf.reshape(shape))


# --- bad ratios --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["1.0", "-0.1", "1.5", "nan", "inf"])
@pytest.mark.parametrize("field", ["forward_ratio", "backward_ratio"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_augmented_ratio_outside_unit_interval(tmp_path, variant, field, value):
    body = (f'layer {{ name: "mydrop" type: "AugmentedDropout" bottom: "x" top: "y" '
            f"augmented_dropout_param {{ variant: {variant} {field}: {value} }} }}")
    path = write(tmp_path, body, (2, 3))
    with pytest.raises(caffe.EngineError) as info:
        caffe.Net(path, caffe.TRAIN)
    msg = str(info.value)
    assert "mydrop" in msg and field in msg and "AugmentedDropout" in msg
    assert "net.prototxt" in msg


@pytest.mark.parametrize("value", ["1.0", "-0.1", "2"])
def test_dropout_ratio_outside_unit_interval(tmp_path, value):
    body = (f'layer {{ name: "mydrop" type: "Dropout" bottom: "x" top: "y" '
            f"dropout_param {{ dropout_ratio: {value} }} }}")
    with pytest.raises(caffe.EngineError) as info:
        caffe.Net(write(tmp_path, body, (2, 3)), caffe.TRAIN)
    assert "mydrop" in str(info.value) and "dropout_ratio" in str(info.value)


def test_unknown_variant_is_rejected(tmp_path):
    body = ('layer { name: "mydrop" type: "AugmentedDropout" bottom: "x" top: "y" '
            "augmented_dropout_param { variant: SIDEWAYS } }")
    with pytest.raises((caffe.PrototxtError, caffe.EngineError)) as info:
        caffe.Net(write(tmp_path, body, (2, 3)), caffe.TRAIN)
    assert "SIDEWAYS" in str(info.value)


def test_defaults_are_augmented_with_mask_backward_features(tmp_path):
    """variant AUGMENTED, forward_ratio 0.5, backward_ratio 0, mask_backward_features true."""
    shape = (4, 5)
    body = ('layer { name: "drop" type: "AugmentedDropout" bottom: "x" top: "y" }\n'
            + IP.format(b="y"))
    net = caffe.Net(write(tmp_path, body, shape), caffe.TRAIN)
    x = positive_input(shape)
    net.blobs["x"].data[...] = x
    caffe.set_random_seed(3)
    net.forward()
    mf, mb = masks(CaffeStream(3), 20, "AUGMENTED", 0.5, 0.0)
    np.testing.assert_array_equal(net.blobs["y"].data, x * mf.reshape(shape))
    net.backward(z=np.ones((4, 3), F32))
    np.testing.assert_array_equal(net.blobs["y"].data, x * mb.reshape(shape))


# --- statistics on large blobs -----------------------------------------------------------------

BIG = (1000, 1000)


def _within_4_sigma(dropped, n, p):
    sigma = np.sqrt(n * p * (1 - p))
    assert abs(dropped - n * p) <= 4 * sigma + 1e-9, (dropped, n * p, sigma)


@pytest.fixture(scope="module")
def big_nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    nets = {}
    for p in (0.0001, 0.005, 0.3, 0.5):
        nets[("f", p)] = caffe.Net(write(d, adrop("STANDARD", p, 0.0), BIG, f"f{p}.prototxt"),
                                   caffe.TRAIN)
        nets[("e", p)] = caffe.Net(write(d, adrop("BACKWARD", 0.5, p), BIG, f"e{p}.prototxt"),
                                   caffe.TRAIN)
    return nets


@pytest.mark.parametrize("p", [0.0001, 0.005, 0.3, 0.5])
def test_forward_mask_statistics(big_nets, p):
    net = big_nets[("f", p)]
    net.blobs["x"].data[...] = 1.0
    caffe.set_random_seed(2024)
    m = np.array(net.forward()["y"]).ravel()
    n = m.size
    kept = m != 0
    assert np.all(m[kept] == scale_of(p))
    _within_4_sigma(int(n - kept.sum()), n, p)
    np.testing.assert_array_equal(kept, keep(CaffeStream(2024), n, p).astype(bool))


@pytest.mark.parametrize("p", [0.0001, 0.005, 0.3, 0.5])
def test_extra_mask_statistics(big_nets, p):
    net = big_nets[("e", p)]
    x = np.random.default_rng(0).normal(size=BIG).astype(F32)
    net.blobs["x"].data[...] = x
    caffe.set_random_seed(4048)
    np.testing.assert_array_equal(net.forward()["y"], x)  # BACKWARD: forward is x
    net.backward(y=np.ones(BIG, F32))
    m = np.array(net.blobs["x"].diff).ravel()
    n = m.size
    kept = m != 0
    assert np.all(m[kept] == scale_of(p))
    _within_4_sigma(int(n - kept.sum()), n, p)
    np.testing.assert_array_equal(kept, keep(CaffeStream(4048), n, p).astype(bool))


def test_augmented_masks_are_independent(tmp_path):
    pf, pb = 0.3, 0.5
    net = caffe.Net(write(tmp_path, adrop("AUGMENTED", pf, pb), (500, 400)), caffe.TRAIN)
    net.blobs["x"].data[...] = 1.0
    caffe.set_random_seed(6)
    mf = np.array(net.forward()["y"]).ravel()
    net.backward(y=np.ones((500, 400), F32))
    mb = np.array(net.blobs["x"].diff).ravel()
    n = mf.size
    _within_4_sigma(int((mf == 0).sum()), n, pf)
    p_zero = 1 - (1 - pf) * (1 - pb)
    _within_4_sigma(int((mb == 0).sum()), n, p_zero)
    assert np.all(mb[mf == 0] == 0)
    both = F32(scale_of(pf) * scale_of(pb))
    assert np.all(mb[mb != 0] == both)
    # m_e given m_f kept: drop rate p_b
    me_dropped = int(((mb == 0) & (mf != 0)).sum())
    _within_4_sigma(me_dropped, int((mf != 0).sum()), pb)


def test_caffe_dropout_test_phase_is_identity(tmp_path):
    body = ('layer { name: "drop" type: "Dropout" bottom: "x" top: "y" '
            "dropout_param { dropout_ratio: 0.5 } }")
    net = caffe.Net(write(tmp_path, body, (3, 4)), caffe.TEST)
    x = positive_input((3, 4))
    net.blobs["x"].data[...] = x
    np.testing.assert_array_equal(net.forward()["y"], x)
    dy = np.arange(12, dtype=F32).reshape(3, 4)
    net.backward(y=dy)
    np.testing.assert_array_equal(net.blobs["x"].diff, dy)


@pytest.mark.parametrize("variant", VARIANTS)
def test_in_place_layer_after_rewriting_dropout(tmp_path, variant):
    """ip1 -> drop -> ReLU -> ip2, once with separate blobs and once all in place on "h".
    STANDARD needs no rewrite, so both agree. The other variants rewrite the dropout's output
    to x*m_b before the backward pass, which would destroy the ReLU's in-place output: the
    net refuses that layout with a message naming both layers."""
    pf, pb = RATIOS[variant]

    def run(in_place):
        d, r = ("h", "h") if in_place else ("d", "r")
        body = "\n".join([
            'layer { name: "ip1" type: "InnerProduct" bottom: "x" top: "h" '
            "inner_product_param { num_output: 6 } }",
            adrop(variant, pf, pb, bottom="h", top=d),
            f'layer {{ name: "relu" type: "ReLU" bottom: "{d}" top: "{r}" '
            "relu_param { negative_slope: 0.1 } }",
            f'layer {{ name: "ip2" type: "InnerProduct" bottom: "{r}" top: "z" '
            "inner_product_param { num_output: 3 } }"])
        sub = tmp_path / ("in_place" if in_place else "separate")
        sub.mkdir()
        net = caffe.Net(write(sub, body, (4, 5)), caffe.TRAIN)
        rng = np.random.default_rng(0)
        for layer in ("ip1", "ip2"):
            for b in net.params[layer]:
                b.data[...] = rng.normal(size=b.data.shape)
        net.blobs["x"].data[...] = rng.normal(size=(4, 5))
        caffe.set_random_seed(1)
        z = np.array(net.forward()["z"])
        net.clear_param_diffs()
        net.backward(z=np.random.default_rng(1).normal(size=(4, 3)).astype(F32))
        return {"z": z, "dx": np.array(net.blobs["x"].diff),
                **{f"{l}[{i}]": np.array(b.diff) for l in ("ip1", "ip2")
                   for i, b in enumerate(net.params[l])}}

    separate = run(False)
    if variant == "STANDARD":  # no rewrite: in place works as in Caffe
        in_place = run(True)
        for key in separate:
            np.testing.assert_allclose(in_place[key], separate[key], rtol=1e-5, atol=1e-6,
                                       err_msg=key)
        return
    # The rewrite to x*m_b would overwrite the ReLU's in-place output: refused, by name.
    with pytest.raises(caffe.EngineError, match=r"layer 'drop'.*modified in place by layer 'relu'"):
        run(True)
