"""The layers of Caffe's catalogue that pick entries by value, window or index: ArgMax, Crop,
Filter, BatchReindex, Parameter, Embed. Each: forward values against a numpy reference, the
gradient checker where the layer has a backward pass, bad parameters raising an error that names
the layer. Filter, BatchReindex and Embed take an index bottom that Caffe refuses to
back-propagate into, so their nets have no force_backward (the data comes from a Parameter
layer, which gives it a gradient) and force_backward makes their backward pass an error, as in
Caffe. Their
golden catalogue cases also need Bias and EuclideanLoss; the part of each case that is theirs is
replayed here from the case's own arrays."""
import numpy as np
import pytest

import augdrop_caffe as caffe
import golden
from gradient_check import GradientChecker, write_net

F32 = np.float32


def values(shape, seed=0):
    """Distinct values (no ties), 0.1 apart."""
    n = int(np.prod(shape))
    return ((np.random.default_rng(seed).permutation(n) - n / 2) * 0.1).astype(F32).reshape(shape)


def layer(layer_type, bottoms, tops, param="", name="n"):
    b = " ".join(f'bottom: "{x}"' for x in bottoms)
    t = " ".join(f'top: "{x}"' for x in tops)
    return f'layer {{ name: "{name}" type: "{layer_type}" {b} {t} {param} }}'


# Without force_backward, Caffe runs a layer's backward pass only under a loss: the checked
# layer's top is made one (loss_weight), and its diff is then set by hand.
LOSS = "loss_weight: 1"


def source(top, shape):
    """A Parameter layer 'src_<top>' whose top is a data blob that needs a gradient."""
    dims = " ".join(f"dim: {d}" for d in shape)
    return layer("Parameter", [], [top], f"parameter_param {{ shape {{ {dims} }} }}",
                 name=f"src_{top}")


def build(tmp_path, body, inputs, force_backward=True, phase=caffe.TRAIN, name="net.prototxt"):
    return caffe.Net(write_net(tmp_path, body, inputs, name=name, force_backward=force_backward),
                     phase)


def run(net, xs):
    for k, v in xs.items():
        net.blobs[k].data[...] = v
    net.forward()
    return net


def expect_error(layer_type, match, make):
    with pytest.raises(caffe.EngineError, match=match) as e:
        make()
    assert f"layer 'n' ({layer_type})" in str(e.value), str(e.value)


def set_source(net, top, value):
    net.params[f"src_{top}"][0].data[...] = value


# ---- ArgMax ------------------------------------------------------------------------------------

def argmax_ref(rows, k):
    """Per row: the k largest (value, index) pairs, largest first (equal values: larger index
    first, as Caffe's partial_sort with std::greater on pairs)."""
    out_i, out_v = [], []
    for r in rows:
        order = sorted(range(len(r)), key=lambda j: (r[j], j), reverse=True)[:k]
        out_i.append([float(j) for j in order])
        out_v.append([r[j] for j in order])
    return np.array(out_i, F32), np.array(out_v, F32)


@pytest.mark.parametrize("top_k,out_max_val", [(1, False), (3, False), (1, True), (2, True)])
def test_argmax_without_axis(tmp_path, top_k, out_max_val):
    x = values((3, 2, 2, 3))
    param = f"argmax_param {{ top_k: {top_k} out_max_val: {str(out_max_val).lower()} }}"
    net = run(build(tmp_path, layer("ArgMax", ["x"], ["y"], param), {"x": x.shape}), {"x": x})
    idx, val = argmax_ref(x.reshape(3, -1), top_k)
    y = net.blobs["y"].data
    if out_max_val:
        assert y.shape == (3, 2, top_k, 1)
        np.testing.assert_array_equal(y[:, 0, :, 0], idx)
        np.testing.assert_array_equal(y[:, 1, :, 0], val)
    else:
        assert y.shape == (3, 1, top_k, 1)
        np.testing.assert_array_equal(y[:, 0, :, 0], idx)


def test_argmax_pads_to_three_axes(tmp_path):
    x = values((4, 6))
    net = run(build(tmp_path, layer("ArgMax", ["x"], ["y"]), {"x": x.shape}), {"x": x})
    assert net.blobs["y"].data.shape == (4, 1, 1)
    np.testing.assert_array_equal(net.blobs["y"].data[:, 0, 0], np.argmax(x, 1))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("out_max_val", [False, True])
def test_argmax_along_an_axis(tmp_path, axis, out_max_val):
    x = values((3, 4, 5))
    param = f"argmax_param {{ axis: {axis} top_k: 2 out_max_val: {str(out_max_val).lower()} }}"
    net = run(build(tmp_path, layer("ArgMax", ["x"], ["y"], param), {"x": x.shape}), {"x": x})
    moved = np.moveaxis(x, axis, -1)
    idx, val = argmax_ref(moved.reshape(-1, moved.shape[-1]), 2)
    ref = (val if out_max_val else idx).reshape(moved.shape[:-1] + (2,))
    np.testing.assert_array_equal(net.blobs["y"].data, np.moveaxis(ref, -1, axis))


def test_argmax_ties_take_the_larger_index_first(tmp_path):
    x = np.array([[1, 3, 3, 0, 3], [2, 2, 2, 2, 2]], F32)
    net = run(build(tmp_path, layer("ArgMax", ["x"], ["y"], "argmax_param { top_k: 3 }"),
                    {"x": x.shape}), {"x": x})
    np.testing.assert_array_equal(net.blobs["y"].data[:, 0, :], [[4, 2, 1], [4, 3, 2]])


def test_argmax_has_no_backward_even_with_force_backward(tmp_path):
    x = values((2, 5))
    net = run(build(tmp_path, layer("ArgMax", ["x"], ["y"]), {"x": x.shape}), {"x": x})
    net.backward(y=np.ones((2, 1, 1), F32))
    np.testing.assert_array_equal(net.blobs["x"].diff, 0)


@pytest.mark.parametrize("param,match", [
    ("argmax_param { top_k: 0 }", "top k must not be less than 1"),
    ("argmax_param { top_k: 7 }", "flattened bottom blob per instance"),
    ("argmax_param { axis: 1 top_k: 4 }", "dimension of the axis"),
    ("argmax_param { axis: 2 }", "out of range"),
])
def test_argmax_bad_parameters_name_the_layer(tmp_path, param, match):
    expect_error("ArgMax", match, lambda: build(
        tmp_path, layer("ArgMax", ["x"], ["y"], param), {"x": (2, 3)}))


# ---- Crop --------------------------------------------------------------------------------------

@pytest.mark.parametrize("param,ref_shape,window", [
    ("crop_param { axis: 2 offset: 1 offset: 2 }", (2, 4, 3, 4), np.s_[:, :, 1:4, 2:6]),
    ("", (9, 9, 3, 4), np.s_[:, :, 0:3, 0:4]),           # axis 2, offsets 0; axes 0, 1 kept
    ("crop_param { axis: 1 offset: 1 }", (2, 2, 3, 4), np.s_[:, 1:3, 1:4, 1:5]),  # one for all
    ("crop_param { axis: -1 offset: 3 }", (2, 4, 6, 4), np.s_[:, :, :, 3:7]),
    ("crop_param { axis: 0 offset: 0 offset: 1 offset: 2 offset: 0 }", (2, 2, 3, 4),
     np.s_[:, 1:3, 2:5, 0:4]),
])
def test_crop_forward_and_backward(tmp_path, param, ref_shape, window):
    x = values((2, 4, 6, 7))
    net = build(tmp_path, layer("Crop", ["x", "r"], ["y"], param), {"x": x.shape, "r": ref_shape})
    run(net, {"x": x})
    y = x[window]
    np.testing.assert_array_equal(net.blobs["y"].data, y)
    dy = values(y.shape, seed=1)
    net.blobs["x"].diff[...] = 5
    net.backward(y=dy)
    dx = np.zeros_like(x)
    dx[window] = dy
    np.testing.assert_array_equal(net.blobs["x"].diff, dx)
    np.testing.assert_array_equal(net.blobs["r"].diff, 0)  # the shape bottom gets nothing


def test_crop_gradient(tmp_path):
    net = build(tmp_path, layer("Crop", ["x", "r"], ["y"], "crop_param { axis: 1 offset: 1 }"),
                {"x": (2, 3, 4), "r": (2, 2, 2)})
    GradientChecker().check(net, {"x": values((2, 3, 4)), "r": np.zeros((2, 2, 2), F32)},
                            check_blobs=["x"])


@pytest.mark.parametrize("param,ref,match", [
    ("crop_param { axis: 2 offset: 1 offset: 1 offset: 1 }", (2, 3, 2, 2), "number of offset values"),
    ("crop_param { axis: 2 offset: 3 }", (2, 3, 2, 2), "out-of-bounds"),
    ("crop_param { axis: 1 }", (2, 4, 2, 2), "out-of-bounds"),
    ("crop_param { axis: 4 }", (2, 3, 2, 2), "out of range"),
    ("", (3, 2, 2), "at least as many axes"),
])
def test_crop_bad_parameters_name_the_layer(tmp_path, param, ref, match):
    expect_error("Crop", match, lambda: build(
        tmp_path, layer("Crop", ["x", "r"], ["y"], param), {"x": (2, 3, 4, 4), "r": ref}))


# ---- Filter ------------------------------------------------------------------------------------

def test_filter_keeps_the_selected_items(tmp_path):
    x, z = values((5, 3, 2)), values((5, 4), seed=1)
    body = layer("Filter", ["x", "z", "s"], ["y", "w"])
    net = build(tmp_path, body, {"x": x.shape, "z": z.shape, "s": (5, 1, 1)}, force_backward=False)
    assert net.blobs["y"].data.shape == (5, 3, 2)  # at set-up: every item, as in Caffe
    for sel in ([0, 1, 1, 0, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]):
        s = np.array(sel, F32).reshape(5, 1, 1)
        run(net, {"x": x, "z": z, "s": s})
        keep = np.flatnonzero(sel)
        np.testing.assert_array_equal(net.blobs["y"].data, x[keep])
        np.testing.assert_array_equal(net.blobs["w"].data, z[keep])


def test_filter_gradient(tmp_path):
    body = source("x", (5, 3, 2)) + layer("Filter", ["x", "s"], ["y"], LOSS)
    net = build(tmp_path, body, {"s": (5,)}, force_backward=False)
    set_source(net, "x", values((5, 3, 2)))
    s = np.array([1, 0, 2.5, 0, -1], F32)  # nonzero selects, whatever its sign
    results = GradientChecker().check(net, {"s": s}, check_blobs=[])
    comp, _ = results[("param", "src_x", 0)]
    assert np.all(comp[[1, 3]] == 0) and np.all(comp[[0, 2, 4]] != 0)


def test_filter_backward_zeroes_the_dropped_items(tmp_path):
    body = source("x", (4, 3)) + layer("Filter", ["x", "s"], ["y"], LOSS)
    net = build(tmp_path, body, {"s": (4,)}, force_backward=False)
    set_source(net, "x", values((4, 3)))
    run(net, {"s": np.array([0, 1, 0, 1], F32)})
    net.blobs["x"].diff[...] = 9
    dy = values((2, 3), seed=4)
    net.backward(y=dy)
    np.testing.assert_array_equal(net.blobs["x"].diff, [[0, 0, 0], dy[0], [0, 0, 0], dy[1]])


def test_filter_refuses_a_gradient_for_the_selector(tmp_path):
    net = build(tmp_path, layer("Filter", ["x", "s"], ["y"]), {"x": (4, 3), "s": (4,)})
    run(net, {"x": values((4, 3)), "s": np.array([0, 1, 0, 1], F32)})
    expect_error("Filter", "cannot backpropagate to filter index inputs",
                 lambda: net.backward(y=np.ones((2, 3), F32)))


@pytest.mark.parametrize("bottoms,tops,inputs,match", [
    (["x", "s"], ["y", "w"], {"x": (4, 3), "s": (4,)}, "one top per filtered bottom"),
    (["x", "s"], ["y"], {"x": (4, 3), "s": (4, 2)}, "singletons"),
    (["x", "s"], ["y"], {"x": (4, 3), "s": (5,)}, "same 0th dimension"),
    (["x"], ["y"], {"x": (4, 3)}, "at least 2 bottom"),
])
def test_filter_bad_shapes_name_the_layer(tmp_path, bottoms, tops, inputs, match):
    expect_error("Filter", match, lambda: build(
        tmp_path, layer("Filter", bottoms, tops), inputs, force_backward=False))


def test_filter_golden_case_without_its_bias(tmp_path):
    """The catalogue case 'filter' from the Bias's output on: Filter, then Reduction SUMSQ as
    the loss; every array that does not need Bias compared with Caffe's."""
    z = golden.load("filter")
    body = (source("x", z["data/x"].shape) + layer("Filter", ["x", "sel"], ["out"], name="filter")
            + layer("Reduction", ["out"], ["loss"],
                    "reduction_param { operation: SUMSQ coeff: 0.5 } loss_weight: 1", name="loss"))
    net = build(tmp_path, body, {"sel": z["data/sel"].shape}, force_backward=False)
    set_source(net, "x", z["data/x"])
    run(net, {"sel": z["data/sel"]})
    net.backward()
    for key in ("data/out", "data/loss", "diff/x", "diff/out", "diff/loss"):
        blob = net.blobs[key.split("/")[1]]
        golden.assert_close(blob.data if key.startswith("data") else blob.diff, z[key],
                            z["atol"], z["rtol"], key)


# ---- BatchReindex ------------------------------------------------------------------------------

def test_batch_reindex_forward_and_backward(tmp_path):
    x = values((4, 3, 2))
    p = np.array([2, 0, 3, 3, 1, 2], F32)
    body = source("x", x.shape) + layer("BatchReindex", ["x", "p"], ["y"], LOSS)
    net = build(tmp_path, body, {"p": p.shape}, force_backward=False)
    set_source(net, "x", x)
    run(net, {"p": p})
    np.testing.assert_array_equal(net.blobs["y"].data, x[p.astype(int)])
    dy = values((6, 3, 2), seed=1)
    net.blobs["x"].diff[...] = 9
    net.backward(y=dy)
    dx = np.zeros_like(x)
    np.add.at(dx, p.astype(int), dy)
    np.testing.assert_allclose(net.blobs["x"].diff, dx, rtol=1e-6)  # item 0's row: 0 + one


def test_batch_reindex_gradient(tmp_path):
    body = source("x", (3, 2, 2)) + layer("BatchReindex", ["x", "p"], ["y"], LOSS)
    net = build(tmp_path, body, {"p": (5,)}, force_backward=False)
    set_source(net, "x", values((3, 2, 2)))
    results = GradientChecker().check(net, {"p": np.array([2, 0, 2, 2, 1], F32)}, check_blobs=[])
    assert ("param", "src_x", 0) in results


@pytest.mark.parametrize("p,match", [([0, -1, 2], "negative"), ([0, 4, 2], "greater than batch size")])
def test_batch_reindex_bad_index_names_the_layer(tmp_path, p, match):
    net = build(tmp_path, layer("BatchReindex", ["x", "p"], ["y"]), {"x": (4, 2), "p": (3,)},
                force_backward=False)
    expect_error("BatchReindex", match, lambda: run(net, {"x": values((4, 2)), "p": np.array(p, F32)}))


def test_batch_reindex_index_bottom_has_one_axis(tmp_path):
    expect_error("BatchReindex", "one axis", lambda: build(
        tmp_path, layer("BatchReindex", ["x", "p"], ["y"]), {"x": (4, 2), "p": (3, 1)},
        force_backward=False))


def test_batch_reindex_refuses_a_gradient_for_the_index(tmp_path):
    net = build(tmp_path, layer("BatchReindex", ["x", "p"], ["y"]), {"x": (4, 2), "p": (3,)})
    run(net, {"x": values((4, 2)), "p": np.array([0, 1, 1], F32)})
    expect_error("BatchReindex", "Cannot backprop to index",
                 lambda: net.backward(y=np.ones((3, 2), F32)))


def test_batch_reindex_golden_case_without_bias_and_loss(tmp_path):
    """The catalogue case 'batch_reindex' between its Bias and its EuclideanLoss."""
    z = golden.load("batch_reindex")
    body = source("x", z["data/x"].shape) + layer("BatchReindex", ["x", "permut"], ["out"],
                                                  LOSS, name="reindex")
    net = build(tmp_path, body, {"permut": z["data/permut"].shape}, force_backward=False)
    set_source(net, "x", z["data/x"])
    run(net, {"permut": z["data/permut"]})
    golden.assert_close(net.blobs["out"].data, z["data/out"], z["atol"], z["rtol"], "data/out")
    net.backward(out=np.array(z["diff/out"]))
    golden.assert_close(net.blobs["x"].diff, z["diff/x"], z["atol"], z["rtol"], "diff/x")


# ---- Parameter ---------------------------------------------------------------------------------

def test_parameter_top_is_the_param(tmp_path):
    net = build(tmp_path, layer("Parameter", [], ["y"], "parameter_param { shape { dim: 2 dim: 3 } }"),
                {}, force_backward=False)
    w = net.params["n"][0]
    assert w.data.shape == (2, 3)
    np.testing.assert_array_equal(w.data, 0)  # no filler: zeros, as in Caffe
    w.data[...] = values((2, 3))
    net.forward()
    assert np.shares_memory(net.blobs["y"].data, w.data)
    np.testing.assert_array_equal(net.blobs["y"].data, values((2, 3)))
    net.backward(y=values((2, 3), seed=1))
    np.testing.assert_array_equal(w.diff, values((2, 3), seed=1))


def test_parameter_gradient_through_a_layer(tmp_path):
    body = (layer("Parameter", [], ["p"], "parameter_param { shape { dim: 3 dim: 4 } }", name="param")
            + layer("InnerProduct", ["p"], ["y"], "inner_product_param { num_output: 2 } " + LOSS, name="ip"))
    net = build(tmp_path, body, {}, force_backward=False)
    net.params["param"][0].data[...] = values((3, 4))
    net.params["ip"][0].data[...] = values((2, 4), seed=1)
    results = GradientChecker().check(net, {}, tops=["y"])
    assert ("param", "param", 0) in results


def test_parameter_takes_no_bottom(tmp_path):
    expect_error("Parameter", "takes 0 bottom", lambda: build(
        tmp_path, layer("Parameter", ["x"], ["y"], "parameter_param { shape { dim: 2 } }"),
        {"x": (2,)}))


# ---- Embed -------------------------------------------------------------------------------------

EMBED = "embed_param { num_output: 3 input_dim: 5 %s weight_filler { type: \"gaussian\" } }"


@pytest.mark.parametrize("bias", [True, False])
def test_embed_forward(tmp_path, bias):
    idx = np.array([[4, 0, 2], [2, 2, 1]], F32)
    net = build(tmp_path, layer("Embed", ["x"], ["y"], EMBED % f"bias_term: {str(bias).lower()}"),
                {"x": idx.shape}, force_backward=False)
    w = values((5, 3))
    net.params["n"][0].data[...] = w
    if bias:
        net.params["n"][1].data[...] = values((3,), seed=1)
    run(net, {"x": idx})
    ref = w[idx.astype(int)] + (values((3,), seed=1) if bias else 0)
    assert net.blobs["y"].data.shape == (2, 3, 3)
    np.testing.assert_array_equal(net.blobs["y"].data, ref)


def test_embed_gradient_with_repeated_indices(tmp_path):
    net = build(tmp_path, layer("Embed", ["x"], ["y"], EMBED % "" + LOSS), {"x": (4,)},
                force_backward=False)
    results = GradientChecker().check(net, {"x": np.array([3, 0, 3, 3], F32)}, check_blobs=[])
    comp, _ = results[("param", "n", 0)]
    assert np.all(comp[[1, 2, 4]] == 0) and np.all(comp[3] != 0)


@pytest.mark.parametrize("param,match", [
    ("embed_param { num_output: 0 input_dim: 5 }", "num_output must be positive"),
    ("embed_param { num_output: 3 }", "input_dim must be positive"),
])
def test_embed_bad_parameters_name_the_layer(tmp_path, param, match):
    expect_error("Embed", match, lambda: build(
        tmp_path, layer("Embed", ["x"], ["y"], param), {"x": (4,)}, force_backward=False))


@pytest.mark.parametrize("bad", [5, -1, 1.5])
def test_embed_bad_index_names_the_layer(tmp_path, bad):
    net = build(tmp_path, layer("Embed", ["x"], ["y"], EMBED % ""), {"x": (3,)},
                force_backward=False)
    expect_error("Embed", "not an integer in \\[0, input_dim = 5\\)",
                 lambda: run(net, {"x": np.array([0, bad, 1], F32)}))


def test_embed_refuses_a_gradient_for_its_input(tmp_path):
    net = build(tmp_path, layer("Embed", ["x"], ["y"], EMBED % ""), {"x": (3,)})
    run(net, {"x": np.array([0, 4, 1], F32)})
    expect_error("Embed", "Can't backpropagate to EmbedLayer input",
                 lambda: net.backward(y=np.ones((3, 3), F32)))


def test_embed_golden_case_without_its_loss(tmp_path):
    """The catalogue case 'embed' up to its EuclideanLoss: the lookup and the param diffs from
    Caffe's diff of the embedding."""
    z = golden.load("embed")
    prototxt = golden.text(z, "prototxt")
    start = prototxt.index('layer {\n  name: "embed"')
    end = prototxt.index('layer {\n  name: "loss"')
    body = prototxt[start:end].replace('top: "emb"', 'top: "emb" ' + LOSS)
    net = build(tmp_path, body, {"data": z["data/data"].shape}, force_backward=False)
    for i in range(2):
        net.params["embed"][i].data[...] = z[f"param/embed/{i}"]
    run(net, {"data": z["data/data"]})
    golden.assert_close(net.blobs["emb"].data, z["data/emb"], z["atol"], z["rtol"], "data/emb")
    net.backward(emb=np.array(z["diff/emb"]))
    for i in range(2):
        key = f"paramdiff/embed/{i}"
        golden.assert_close(net.params["embed"][i].diff, z[key], z["atol"], z["rtol"], key)
    np.testing.assert_array_equal(net.blobs["data"].diff, 0)
