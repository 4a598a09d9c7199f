"""SGD and Nesterov update rules, lr policies, lr_mult/decay_mult, iter_size, clip_gradients and
weight decay, against Caffe's formulas computed in numpy:

    v = momentum * v + lr * lr_mult * (g + weight_decay * decay_mult * w);  w -= v      (SGD)
    w -= (1 + momentum) * v_new - momentum * v_old                                      (Nesterov)

The gradient g is obtained by running net.forward()/net.backward() on the solver's net.
"""
import math

import numpy as np
import pytest

import augdrop_caffe as caffe

F32 = np.float32

NET = """name: "tiny"
layer {{ name: "input" type: "Input" top: "x" top: "label"
        input_param {{ shape {{ dim: 4 dim: 5 }} shape {{ dim: 4 }} }} }}
layer {{ name: "ip1" type: "InnerProduct" bottom: "x" top: "h"
        param {{ lr_mult: {lr1w} decay_mult: {dm1w} }} param {{ lr_mult: {lr1b} decay_mult: {dm1b} }}
        inner_product_param {{ num_output: 6 }} }}
layer {{ name: "relu" type: "ReLU" bottom: "h" top: "h" relu_param {{ negative_slope: 0.1 }} }}
{extra}
layer {{ name: "ip2" type: "InnerProduct" bottom: "h" top: "s"
        param {{ lr_mult: {lr2w} decay_mult: {dm2w} }} param {{ lr_mult: {lr2b} decay_mult: {dm2b} }}
        inner_product_param {{ num_output: 3 }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "s" bottom: "label" top: "loss" }}
"""

DEFAULT_MULTS = dict(lr1w=1, dm1w=1, lr1b=1, dm1b=1, lr2w=1, dm2w=1, lr2b=1, dm2b=1)

POLICIES = {
    "fixed": {},
    "step": {"gamma": 0.5, "stepsize": 2},
    "multistep": {"gamma": 0.5, "stepvalue": [1, 3, 4]},
    "inv": {"gamma": 0.1, "power": 0.75},
    "exp": {"gamma": 0.9},
    "poly": {"power": 2.0, "max_iter": 10},
    "sigmoid": {"gamma": -0.5, "stepsize": 3},
}


def solver_text(net_path, **fields):
    lines = [f'net: "{net_path}"']
    fields.setdefault("max_iter", 100)
    for k, v in fields.items():
        for item in (v if isinstance(v, list) else [v]):
            lines.append(f'{k}: "{item}"' if isinstance(item, str) and k in (
                "lr_policy", "type", "regularization_type") else f"{k}: {item}")
    return "\n".join(lines) + "\n"


def make_solver(tmp_path, cls=caffe.get_solver, mults=None, extra="", **fields):
    m = dict(DEFAULT_MULTS)
    m.update(mults or {})
    net_path = tmp_path / "net.prototxt"
    net_path.write_text(NET.format(extra=extra, **m))
    solver_path = tmp_path / "solver.prototxt"
    solver_path.write_text(solver_text(net_path, **fields))
    solver = cls(str(solver_path))
    net = solver.net
    rng = np.random.default_rng(0)
    for layer in ("ip1", "ip2"):
        for b in net.params[layer]:
            b.data[...] = rng.normal(0, 0.5, size=b.data.shape)
    net.blobs["x"].data[...] = rng.normal(0, 1, size=(4, 5))
    net.blobs["label"].data[...] = [0, 2, 1, 2]
    return solver


def params(solver):
    return [np.array(b.data, np.float64) for layer in ("ip1", "ip2")
            for b in solver.net.params[layer]]


def history(solver):
    return [np.array(h.data, np.float64) for h in solver.history]


def gradient(solver, iter_size=1, seed=None):
    """The accumulated diffs of iter_size forward/backward passes (as the solver runs them)."""
    net = solver.net
    net.clear_param_diffs()
    if seed is not None:
        caffe.set_random_seed(seed)
    for _ in range(iter_size):
        net.forward()
        net.backward()
    return [np.array(b.diff, np.float64) for layer in ("ip1", "ip2") for b in net.params[layer]]


def rate(policy, it, base_lr=0.1, **p):
    """Caffe's SGDSolver::GetLearningRate (fields are floats in the SolverParameter)."""
    base = float(F32(base_lr))
    gamma = float(F32(p.get("gamma", 0)))
    power = float(F32(p.get("power", 0)))
    if policy == "fixed":
        r = base
    elif policy == "step":
        r = base * gamma ** (it // p["stepsize"])
    elif policy == "multistep":
        r = base * gamma ** sum(1 for s in p["stepvalue"] if it >= s)
    elif policy == "inv":
        r = base * (1 + gamma * it) ** (-power)
    elif policy == "exp":
        r = base * gamma ** it
    elif policy == "poly":
        r = base * (1 - it / p["max_iter"]) ** power
    elif policy == "sigmoid":
        r = base * (1 / (1 + math.exp(-gamma * (it - p["stepsize"]))))
    else:
        raise ValueError(policy)
    return float(F32(r))


def expected(w, h, g, lr, kind, momentum=0.0, weight_decay=0.0, lr_mults=None,
             decay_mults=None, iter_size=1, clip=None, regularization="L2"):
    """(new params, new history) by Caffe's ApplyUpdate: clip, normalize, regularize, update."""
    n = len(w)
    lr_mults = lr_mults or [1.0] * n
    decay_mults = decay_mults or [1.0] * n
    g = [gi.copy() for gi in g]
    if clip is not None and clip >= 0:
        norm = math.sqrt(sum(float(np.sum(gi * gi)) for gi in g))
        if norm > clip:
            g = [gi * (clip / norm) for gi in g]
    g = [gi / iter_size for gi in g]
    new_w, new_h = [], []
    for wi, hi, gi, lm, dm in zip(w, h, g, lr_mults, decay_mults):
        reg = np.sign(wi) if regularization == "L1" else wi
        gi = gi + weight_decay * dm * reg
        v = momentum * hi + lr * lm * gi
        step = v if kind == "SGD" else (1 + momentum) * v - momentum * hi
        new_w.append(wi - step)
        new_h.append(v)
    return new_w, new_h


def check_step(solver, kind, lr, tol=1e-5, **kw):
    w0, h0 = params(solver), history(solver)
    seed = kw.pop("seed", None)
    g = gradient(solver, kw.get("iter_size", 1), seed)
    w1, h1 = expected(w0, h0, g, lr, kind, **kw)
    if seed is not None:  # the solver's passes draw the same dropout masks
        caffe.set_random_seed(seed)
    solver.step(1)
    for i, (got, want) in enumerate(zip(params(solver), w1)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 1e-1, err_msg=f"param {i}")
    for i, (got, want) in enumerate(zip(history(solver), h1)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 1e-1, err_msg=f"history {i}")
    return g


# --- one update per policy and solver ----------------------------------------------------------

@pytest.mark.parametrize("kind", ["SGD", "Nesterov"])
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_one_update_per_lr_policy(tmp_path, policy, kind):
    p = POLICIES[policy]
    solver = make_solver(tmp_path, type=kind, base_lr=0.1, lr_policy=policy, momentum=0.9,
                         weight_decay=0.01, **p)
    assert solver.type == kind
    # Build up momentum first, so that v_old matters; each of these steps is checked too.
    for it in range(4):
        assert solver.iter == it
        lr = rate(policy, it, **p)
        assert solver.learning_rate() == pytest.approx(lr, rel=1e-6)
        check_step(solver, kind, lr, momentum=0.9, weight_decay=0.01)
    assert solver.iter == 4
    assert any(np.any(h != 0) for h in history(solver))


@pytest.mark.parametrize("cls,kind", [(caffe.SGDSolver, "SGD"),
                                      (caffe.NesterovSolver, "Nesterov")])
def test_solver_classes_force_their_type(tmp_path, cls, kind):
    other = "Nesterov" if kind == "SGD" else "SGD"
    solver = make_solver(tmp_path, cls=cls, type=other, base_lr=0.05, lr_policy="fixed",
                         momentum=0.8)
    assert solver.type == kind
    for _ in range(3):
        check_step(solver, kind, float(F32(0.05)), momentum=0.8)


def test_nesterov_differs_from_sgd_with_momentum(tmp_path):
    finals = []
    for kind in ("SGD", "Nesterov"):
        d = tmp_path / kind
        d.mkdir()
        s = make_solver(d, type=kind, base_lr=0.1, lr_policy="fixed", momentum=0.9)
        s.step(3)
        finals.append(params(s))
    assert not np.allclose(finals[0][0], finals[1][0])


# --- learning rate over iterations ------------------------------------------------------------

@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_learning_rate_at_several_iterations(tmp_path, policy):
    p = POLICIES[policy]
    solver = make_solver(tmp_path, base_lr=0.1, lr_policy=policy, display=1, **p)
    want = [rate(policy, it, **p) for it in range(9)]
    got, rates = [], []
    for it in range(9):
        assert solver.iter == it
        got.append(solver.learning_rate())
        solver.step(1, on_event=lambda e: rates.append(e.rate) if e.kind == "display" else None)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # the rate each iteration used, as the display events report it
    np.testing.assert_allclose(rates, want, rtol=1e-6)


@pytest.mark.parametrize("policy", ["step", "multistep", "exp", "inv", "sigmoid"])
def test_learning_rate_formula_at_larger_iterations(tmp_path, policy):
    p = dict(POLICIES[policy])
    if policy == "step":
        p["stepsize"] = 7
    if policy == "multistep":
        p["stepvalue"] = [5, 11, 12, 30]
    solver = make_solver(tmp_path, base_lr=0.01, lr_policy=policy, display=1, **p)
    rates = []
    solver.step(25, on_event=lambda e: rates.append(e.rate) if e.kind == "display" else None)
    assert solver.iter == 25
    want = [rate(policy, it, base_lr=0.01, **p) for it in range(25)]
    np.testing.assert_allclose(rates, want, rtol=1e-6)
    assert solver.learning_rate() == pytest.approx(rate(policy, 25, base_lr=0.01, **p),
                                                   rel=1e-6)


# --- lr_mult / decay_mult, weight decay, clipping, iter_size ----------------------------------

@pytest.mark.parametrize("kind", ["SGD", "Nesterov"])
def test_lr_mult_and_decay_mult_per_param(tmp_path, kind):
    mults = dict(lr1w=1, dm1w=1, lr1b=2, dm1b=0, lr2w=0.5, dm2w=3, lr2b=0, dm2b=1)
    solver = make_solver(tmp_path, mults=mults, type=kind, base_lr=0.1, lr_policy="fixed",
                         momentum=0.9, weight_decay=0.05)
    frozen = np.array(solver.net.params["ip2"][1].data)
    lr = float(F32(0.1))
    for _ in range(3):
        check_step(solver, kind, lr, momentum=0.9, weight_decay=0.05,
                   lr_mults=[1, 2, 0.5, 0], decay_mults=[1, 0, 3, 1])
    np.testing.assert_array_equal(solver.net.params["ip2"][1].data, frozen)  # lr_mult 0


@pytest.mark.parametrize("reg", ["L2", "L1"])
def test_weight_decay(tmp_path, reg):
    solver = make_solver(tmp_path, base_lr=0.2, lr_policy="fixed", weight_decay=0.1,
                         regularization_type=reg)
    for _ in range(2):
        check_step(solver, "SGD", float(F32(0.2)), weight_decay=0.1, regularization=reg)


@pytest.mark.parametrize("clip", [0.05, 1e6])
@pytest.mark.parametrize("kind", ["SGD", "Nesterov"])
def test_clip_gradients_global_l2_norm(tmp_path, kind, clip):
    solver = make_solver(tmp_path, type=kind, base_lr=0.1, lr_policy="fixed", momentum=0.9,
                         weight_decay=0.01, clip_gradients=clip)
    g = check_step(solver, kind, float(F32(0.1)), momentum=0.9, weight_decay=0.01, clip=clip)
    norm = math.sqrt(sum(float(np.sum(gi * gi)) for gi in g))
    assert (norm > clip) == (clip < 1)  # the small clip really clips, the large one does not
    check_step(solver, kind, float(F32(0.1)), momentum=0.9, weight_decay=0.01, clip=clip)


DROP = ('layer { name: "drop" type: "Dropout" bottom: "h" top: "h" '
        "dropout_param { dropout_ratio: 0.5 } }")


@pytest.mark.parametrize("kind", ["SGD", "Nesterov"])
def test_iter_size_averages_the_diffs(tmp_path, kind):
    """iter_size 2: two forward/backward passes (different dropout masks), diffs summed and
    divided by 2 before the update."""
    solver = make_solver(tmp_path, extra=DROP, type=kind, base_lr=0.1, lr_policy="fixed",
                         momentum=0.9, weight_decay=0.01, iter_size=2)
    # The two passes differ (different masks): half their sum is not one pass's gradient.
    one = gradient(solver, 1, seed=100)
    two = gradient(solver, 2, seed=100)
    assert not np.allclose(one[0], two[0] / 2)
    for k in range(3):
        check_step(solver, kind, float(F32(0.1)), momentum=0.9, weight_decay=0.01,
                   iter_size=2, seed=100 + k)


def test_iter_size_with_clip_clips_the_sum(tmp_path):
    """Caffe clips before normalizing: the accumulated sum's norm is compared to the clip."""
    solver = make_solver(tmp_path, extra=DROP, base_lr=0.1, lr_policy="fixed", iter_size=2,
                         clip_gradients=0.1)
    check_step(solver, "SGD", float(F32(0.1)), iter_size=2, clip=0.1, seed=7)


def test_iter_size_one_pass_per_sub_iteration(tmp_path):
    """Without randomness, iter_size 2 gives the same update as iter_size 1."""
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    s1 = make_solver(a, base_lr=0.1, lr_policy="fixed", momentum=0.9)
    s2 = make_solver(b, base_lr=0.1, lr_policy="fixed", momentum=0.9, iter_size=2)
    s1.step(3)
    s2.step(3)
    for u, v in zip(params(s1), params(s2)):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)


def test_momentum_zero_is_plain_sgd(tmp_path):
    solver = make_solver(tmp_path, base_lr=0.3, lr_policy="fixed")
    w0 = params(solver)
    g = gradient(solver)
    solver.step(1)
    for got, wi, gi in zip(params(solver), w0, g):
        np.testing.assert_allclose(got, wi - float(F32(0.3)) * gi, rtol=1e-5, atol=1e-7)
