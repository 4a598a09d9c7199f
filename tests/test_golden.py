"""Replays every Caffe golden case (shared/caffe-golden) through augdrop_caffe's pycaffe API.

Each case is replayed exactly as the golden README's "How the cases were made, and how to
replay one" says, and every stored array except the inputs (input/, topdiff/, batch/) is
compared with the README's rule  max|ours - A| <= atol + rtol * max|A|  (the case's own atol and
rtol); Dropout outputs in mask_blobs must have Caffe's zero pattern exactly. Split tops are
compared too: this engine inserts Caffe's Split layers under Caffe's names.

Set AUGDROP_GOLDEN_REPORT=path to get a table of the largest error per case (written by
test_golden_summary, which also asserts).
"""
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pytest

import augdrop_caffe as caffe
import golden
from golden import Comparison

try:
    CASES = golden.cases()
    MISSING = None
except golden.GoldenMissing as e:  # fail (never skip) below, with the reason
    CASES = ["golden-folder-missing"]
    MISSING = str(e)

INPUT_PREFIXES = ("input/", "topdiff/", "batch/")

# The mode a replay runs in; test_gpu.py replays every case with caffe.set_mode_gpu.
set_replay_mode = caffe.set_mode_cpu

# A convolution engine forced on every Convolution layer whose geometry takes it (None: the
# automatic choice); test_convolution_engines_on_the_golden_cases sets it.
FORCE_ENGINE = None


def _require_golden():
    if MISSING:
        pytest.fail(MISSING, pytrace=False)


# ---- replaying a case ----------------------------------------------------------------------------

@dataclass
class Replay:
    name: str
    kind: str
    comparisons: list = field(default_factory=list)
    compared_keys: set = field(default_factory=set)
    forced: list = field(default_factory=list)  # layers that took FORCE_ENGINE

    def close(self, ours, z, key, what=None):
        c = golden.compare(ours, z[key], z["atol"], z["rtol"], what or key)
        self.comparisons.append(c)
        self.compared_keys.add(key)
        return c

    def mask(self, ours, z, key):
        c = golden.compare_mask(ours, z[key], z["atol"], f"mask of {key}")
        self.comparisons.append(c)
        return c

    def check(self, condition, what, message):
        """A structural check (a blob or param that must be there), as a Comparison."""
        self.comparisons.append(
            Comparison(what, 0.0 if condition else math.inf, 1.0, 0.0,
                       "" if condition else f"{what}: {message}"))

    @property
    def failures(self):
        return [c for c in self.comparisons if not c.ok]

    def worst(self):
        """The comparison with the largest error / bound."""
        return max(self.comparisons, key=lambda c: c.ratio, default=None)

    def max_rel_error(self):
        rel = [c.rel_error for c in self.comparisons
               if c.ref_max > 0 and c.bound > 0 and math.isfinite(c.error)]
        return max(rel, default=0.0)


def _phase(z):
    phase = golden.text(z, "phase")
    assert phase in ("TRAIN", "TEST"), phase
    return caffe.TRAIN if phase == "TRAIN" else caffe.TEST


def _param_keys(z, prefix):
    """{(layer, i): key} for the keys prefix/<layer>/<i>."""
    out = {}
    for rest in golden.group(z, prefix):
        layer, i = rest.rsplit("/", 1)
        out[(layer, int(i))] = f"{prefix}/{rest}"
    return out


def _check_param_structure(r, z, params):
    """The net's learnable blobs are exactly param/'s, with the same shapes."""
    expected = _param_keys(z, "param")
    ours = {(layer, i): blob for layer, blobs in params.items() for i, blob in enumerate(blobs)}
    r.check(set(ours) == set(expected), "net.params",
            f"layers/blobs {sorted(ours)}, Caffe's are {sorted(expected)}")
    for lk, key in expected.items():
        if lk in ours:
            r.check(tuple(ours[lk].data.shape) == tuple(z[key].shape), key,
                    f"shape {tuple(ours[lk].data.shape)}, Caffe's is {tuple(z[key].shape)}")
    return expected, ours


def _compare_init(r, z, params):
    """compare_init == 1: the freshly built params equal param/ (our fillers and stream)."""
    expected = _param_keys(z, "param")
    for (layer, i), key in expected.items():
        if layer in params and i < len(params[layer]):
            r.close(params[layer][i].data, z, key, f"init {key} (fresh, before copying)")


def _copy_params(r, z, params):
    """Copy param/ in (param/ is then the starting point the rest is compared from)."""
    for (layer, i), key in _param_keys(z, "param").items():
        if layer in params and i < len(params[layer]):
            dst = params[layer][i].data
            if dst.shape == z[key].shape:
                dst[...] = z[key]
                r.compared_keys.add(key)


def _force_engine(net):
    """FORCE_ENGINE on each Convolution layer that takes it; the names of those layers."""
    forced = []
    for layer in net.layers if FORCE_ENGINE else []:
        if layer.type != "Convolution":
            continue
        try:
            layer.engine = FORCE_ENGINE
            forced.append(layer.name)
        except caffe.EngineError:  # the geometry does not fit: the layer keeps its engine
            pass
    return forced


def replay_net(name, z, tmp):
    """Layer, filler and net cases (README steps 1-5)."""
    r = Replay(name, golden.text(z, "kind"))
    path = tmp / f"{name}.prototxt"
    path.write_text(golden.text(z, "prototxt"))
    set_replay_mode()
    caffe.set_random_seed(int(z["seed"]))
    net = caffe.Net(str(path), _phase(z))
    r.forced = _force_engine(net)

    data = golden.group(z, "data")
    for b in golden.names(z, "split_blobs"):
        r.check(b in net.blobs, f"split blob {b}", "missing from net.blobs")
    if data:
        r.check(list(net.blobs) == list(data), "net.blobs",
                f"names {list(net.blobs)}, Caffe's are {list(data)}")

    _check_param_structure(r, z, net.params)
    if golden.integer(z, "compare_init", 0) == 1:
        _compare_init(r, z, net.params)
    _copy_params(r, z, net.params)

    for b, arr in golden.group(z, "input").items():
        net.blobs[b].data[...] = arr

    if golden.integer(z, "forward", 0):
        if "forward_seed" in z:
            caffe.set_random_seed(int(z["forward_seed"]))
        net.forward()
        for b in data:
            if b in net.blobs:
                r.close(net.blobs[b].data, z, f"data/{b}")
        for b in golden.names(z, "mask_blobs"):
            r.mask(net.blobs[b].data, z, f"data/{b}")
        after = _param_keys(z, "param_after_forward")
        for (layer, i), key in after.items():
            r.close(net.params[layer][i].data, z, key)
        # Params the forward pass must not move (all but BatchNorm's TRAIN statistics).
        for (layer, i), key in _param_keys(z, "param").items():
            if (layer, i) not in after and layer in net.params and i < len(net.params[layer]):
                r.close(net.params[layer][i].data, z, key, f"{key} after forward (unchanged)")

    if golden.integer(z, "backward", 0):
        topdiff = golden.group(z, "topdiff")
        if topdiff:
            net.backward(**{b: np.array(a) for b, a in topdiff.items()})
        else:
            net.backward()
        for b in golden.group(z, "diff"):
            r.check(b in net.blobs, f"diff/{b}", "blob missing from net.blobs")
            if b in net.blobs:
                r.close(net.blobs[b].diff, z, f"diff/{b}")
        for (layer, i), key in _param_keys(z, "paramdiff").items():
            if layer in net.params and i < len(net.params[layer]):
                r.close(net.params[layer][i].diff, z, key)
            else:
                r.check(False, key, "no such param in net.params")
    return r


def _history_index(params):
    """{(layer, i): index into solver.history}, walking net.params in order and leaving out
    blobs that share memory with an earlier one (shared params have no history of their own)."""
    seen, out = [], {}
    for layer, blobs in params.items():
        for i, blob in enumerate(blobs):
            d = blob.data
            if any(np.shares_memory(d, s) for s in seen):
                continue
            seen.append(d)
            out[(layer, i)] = len(out)
    return out


def replay_solver(name, z, tmp):
    """Solver cases: get_solver, [compare_init], copy param/, then step by step."""
    r = Replay(name, golden.text(z, "kind"))
    path = tmp / f"{name}_solver.prototxt"
    path.write_text(golden.text(z, "solver_prototxt"))
    set_replay_mode()
    solver = caffe.get_solver(str(path))
    net = solver.net

    for b in golden.names(z, "split_blobs"):
        r.check(b in net.blobs, f"split blob {b}", "missing from solver.net.blobs")
    _check_param_structure(r, z, net.params)
    if golden.integer(z, "compare_init", 0) == 1:
        _compare_init(r, z, net.params)
    _copy_params(r, z, net.params)

    steps = int(z["steps"])
    loss_blob = golden.text(z, "loss_blob")
    for k in range(steps):
        for b, arr in golden.group(z, f"batch/{k}").items():
            net.blobs[b].data[...] = arr
        solver.step(1)
        r.close(net.blobs[loss_blob].data, z, f"loss/{k}")
        for (layer, i), key in _param_keys(z, f"param_after/{k}").items():
            r.close(net.params[layer][i].data, z, key)
    r.check(solver.iter == steps, "solver.iter", f"{solver.iter} after {steps} steps")

    # Caffe's history list: one blob per unshared learnable param, then for AdaDelta and Adam
    # a second one per param (history2/ in the case).
    index = _history_index(net.params)
    history = solver.history
    second = _param_keys(z, "history2")
    expected = len(index) * (2 if second else 1)
    r.check(len(history) == expected, "solver.history",
            f"{len(history)} blobs, expected {expected} for {len(index)} unshared learnable params")
    for prefix, offset in (("history", 0), ("history2", len(index))):
        for (layer, i), key in _param_keys(z, prefix).items():
            j = index.get((layer, i))
            if j is None or offset + j >= len(history):
                r.check(False, key, "no history blob for this param")
            else:
                r.close(history[offset + j].data, z, key)
    return r


def replay(name, tmp):
    z = golden.load(name)
    r = replay_solver(name, z, tmp) if golden.text(z, "kind") == "solver" else \
        replay_net(name, z, tmp)
    # Every stored array but the inputs was compared.
    left = [k for k in z if "/" in k and not k.startswith(INPUT_PREFIXES)
            and k not in r.compared_keys]
    r.check(not left, "coverage", f"stored arrays not compared: {left}")
    r.check(bool(r.compared_keys), "coverage", "nothing was compared")
    return r


@pytest.fixture(scope="session")
def replayer(tmp_path_factory):
    """replayer(name) -> Replay, each case replayed once per session."""
    done = {}

    def get(name):
        if name not in done:
            tmp = tmp_path_factory.mktemp(name.replace(".", "_"))
            try:
                done[name] = replay(name, tmp)
            except Exception as e:  # noqa: BLE001 - recorded, re-raised for this case's test
                done[name] = e
        result = done[name]
        if isinstance(result, Exception):
            raise result
        return result

    return get


# ---- the tests -----------------------------------------------------------------------------------

def test_golden_folder_is_complete():
    _require_golden()
    names = golden.cases()
    assert len(names) >= 52, f"{len(names)} golden cases in {golden.folder()}, expected 52"
    kinds = {golden.kind_of(n) for n in names}
    assert kinds == {"layer", "filler", "net", "solver"}, kinds
    assert len(golden.cases("solver")) == 8 and len(golden.cases("net")) == 4


@pytest.mark.parametrize("name", CASES)
def test_golden_case(name, replayer):
    _require_golden()
    r = replayer(name)
    assert r.comparisons
    failures = r.failures
    assert not failures, (f"{name}: {len(failures)} of {len(r.comparisons)} checks fail:\n  "
                          + "\n  ".join(c.message for c in failures))


CONV_CASES = [n for n in CASES if not MISSING and golden.kind_of(n) != "solver"
              and "Convolution" in golden.text(golden.load(n), "prototxt")]


# Where a forced engine's rounding leaves a golden case's tolerance: (engine, case) -> the one
# array that may fail, and the largest fraction of its elements over the bound. F(2x2,5x5) on
# cifar10_quick's conv1 (3 input channels, error ~4e-6 of max|y|) flips near-ties of the MAX
# pooling after it, which sends those elements' gradient to a neighbour (ours 0, Caffe's
# nonzero). The automatic rule keeps layers of fewer than 20 input channels on IMPLICIT.
FORCED_ENGINE_LIMITS = {("WINOGRAD", "cifar10_quick"): ("diff/conv1", 1e-3),
                        ("WINOGRAD", "cifar10_quick_dropout"): ("diff/conv1", 1e-3)}


@pytest.mark.parametrize("engine", ["IMPLICIT", "WINOGRAD"])
def test_convolution_engines_on_the_golden_cases(engine, monkeypatch, tmp_path, capsys):
    """Every layer and net case with a convolution, replayed with `engine` forced on each
    Convolution layer whose geometry takes it (many golden shapes are too small for whole
    vectors of output pixels and keep CAFFE): within each case's tolerance but for
    FORCED_ENGINE_LIMITS, the largest error / bound printed per case."""
    _require_golden()
    monkeypatch.setattr(__import__(__name__), "FORCE_ENGINE", engine)
    taken, outside = {}, []
    for name in CONV_CASES:
        r = replay(name, tmp_path)
        failures = r.failures
        allowed = FORCED_ENGINE_LIMITS.get((engine, name))
        for c in failures:
            counts = re.search(r"(\d+) of (\d+) elements over", c.message)
            if allowed and c.what == allowed[0] and counts and \
                    int(counts[1]) <= allowed[1] * int(counts[2]):
                outside.append(f"{name}: {c.message}")
                continue
            pytest.fail(f"{name} on {engine}: {c.message}")
        if r.forced:
            taken[name] = r.worst().ratio
    with capsys.disabled():
        print(f"\n{engine} on golden cases (largest error / bound): "
              + ", ".join(f"{n} {ratio:.3f}" for n, ratio in sorted(taken.items()))
              + "".join(f"\n  outside the tolerance (known): {o}" for o in outside))
    assert taken, f"no golden case's convolution takes {engine}"


def test_golden_summary(replayer):
    """The largest error per case, as a table (to AUGDROP_GOLDEN_REPORT if set); asserts."""
    _require_golden()
    rows, bad = [], []
    for name in CASES:
        try:
            r = replayer(name)
        except Exception as e:  # noqa: BLE001
            rows.append((name, golden.kind_of(name), "error", "error", f"{type(e).__name__}: {e}"))
            bad.append(name)
            continue
        w = r.worst()
        rows.append((name, r.kind, f"{r.max_rel_error():.3g}", f"{w.ratio:.3g}",
                     w.what if w.ratio > 0 else "(all exact)"))
        if r.failures:
            bad.append(name)
    head = ("case", "kind", "max rel error", "ratio to bound", "worst array")
    widths = [max(len(str(row[i])) for row in rows + [head]) for i in range(len(head))]
    fmt = lambda row: "| " + " | ".join(str(v).ljust(w) for v, w in zip(row, widths)) + " |"  # noqa: E731
    lines = [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt(row) for row in rows]
    table = "\n".join(lines) + "\n"
    report = os.environ.get("AUGDROP_GOLDEN_REPORT")
    if report:
        with open(report, "w") as f:
            f.write("max rel error = max|ours - A| / max|A| over the compared arrays with "
                    "max|A| > 0; ratio to bound = max|ours - A| / (atol + rtol * max|A|) "
                    "(<= 1 passes; masks and structural checks count 0 when they pass)\n\n")
            f.write(table)
    assert len(rows) == len(CASES)
    assert not bad, f"golden cases failing: {bad}\n{table}"


# ---- the catalogue (catalogue/): replayed as each layer type lands --------------------------------

try:
    CATALOGUE = golden.catalogue()
except golden.GoldenMissing:  # test_golden_case fails with the reason
    CATALOGUE = {}
REGISTERED = set(caffe._core.layer_types())
SOLVER_TYPES = {"SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"}
# Catalogue cases of registered layer types that use a form of the layer not supported yet.
UNSUPPORTED_FORMS = {}


def catalogue_skip_reason(name):
    """Why a catalogue case cannot be replayed yet (a layer or solver type not registered, a
    form not supported), or None."""
    missing = [t for t in CATALOGUE[name] if t not in REGISTERED]
    z = golden.load(name)
    if golden.text(z, "kind") == "solver":
        solver_type = re.search(r'^type:\s*"([^"]+)"', golden.text(z, "solver_prototxt"), re.M)
        if solver_type and solver_type.group(1) not in SOLVER_TYPES:
            missing.append(f"solver {solver_type.group(1)}")
    if missing:
        return f"not registered yet: {', '.join(missing)}"
    if name in UNSUPPORTED_FORMS:
        return f"not supported yet: {UNSUPPORTED_FORMS[name]}"
    return None


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_catalogue_case(name, replayer):
    """A catalogue case whose layer types are all registered replays within its tolerance; the
    others are skipped, naming the types still missing (all must pass once issue 11 is done)."""
    reason = catalogue_skip_reason(name)
    if reason:
        pytest.skip(reason)
    r = replayer(name)
    assert r.comparisons
    failures = r.failures
    assert not failures, (f"{name}: {len(failures)} of {len(r.comparisons)} checks fail:\n  "
                          + "\n  ".join(c.message for c in failures))


# ---- the reader itself can fail -----------------------------------------------------------------

def test_assert_close_rule():
    ref = np.array([1.0, -2.0, 0.5], np.float32)
    # bound = 1e-6 + 1e-4 * 2
    golden.assert_close(ref + np.float32(1.5e-4), ref, 1e-6, 1e-4, "inside")
    with pytest.raises(AssertionError, match=r"outside: max\|ours - caffe\| = 0.0003 > bound"):
        golden.assert_close(ref + np.float32(3e-4), ref, 1e-6, 1e-4, "outside")
    with pytest.raises(AssertionError, match="outside-shape"):
        golden.assert_close(ref[:2], ref, 1e-6, 1e-4, "outside-shape")
    with pytest.raises(AssertionError, match="not finite"):
        golden.assert_close(np.array([np.nan, -2, 0.5], np.float32), ref, 1e-6, 1e-4, "nan")
    zero = np.zeros(4, np.float32)
    golden.assert_close(zero + np.float32(9e-7), zero, 1e-6, 1e-3, "zeros within atol")
    with pytest.raises(AssertionError, match="zeros"):
        golden.assert_close(zero + np.float32(2e-6), zero, 1e-6, 1e-3, "zeros")


def test_assert_same_mask_rule():
    ref = np.array([0.0, 2.0, 0.0, 3.0], np.float32)
    golden.assert_same_mask(ref * np.float32(1.00001), ref, 1e-6, "same")
    # one side zero, the other below atol: does not count
    golden.assert_same_mask(np.array([0.0, 2.0, 5e-7, 3.0], np.float32), ref, 1e-6, "tiny")
    with pytest.raises(AssertionError, match="differs from Caffe's at 2 of 4"):
        golden.assert_same_mask(np.array([1.0, 2.0, 0.0, 0.0], np.float32), ref, 1e-6, "flip")


def _perturbed(monkeypatch, name, change):
    """Make golden.load(name) return the case with change(z) applied."""
    real = golden.load

    def fake(n):
        z = real(n)
        if n == name:
            change(z)
        return z

    monkeypatch.setattr(golden, "load", fake)


@pytest.mark.parametrize("name,change,expect", [
    ("conv_k3_s1_p0", lambda z: z.__setitem__("data/out", z["data/out"] * np.float32(1.001)),
     "data/out"),
    ("conv_k3_s1_p0", lambda z: z.__setitem__(
        "paramdiff/conv/1", z["paramdiff/conv/1"] + np.float32(0.01)), "paramdiff/conv/1"),
    ("dropout_train_r0.5", lambda z: z.__setitem__("forward_seed", np.int64(int(z["forward_seed"]) + 1)),
     "mask of data/out"),
    ("fillers", lambda z: z.__setitem__("seed", np.int64(int(z["seed"]) + 1)), "init param/"),
    ("batchnorm_train", lambda z: z.__setitem__(
        "param_after_forward/bn/2", z["param_after_forward/bn/2"] * np.float32(1.01)),
     "param_after_forward/bn/2"),
    ("solver_small_inv", lambda z: z.__setitem__("loss/3", z["loss/3"] * np.float32(1.01)),
     "loss/3"),
    ("solver_small_multistep", lambda z: z.__setitem__(
        "history/ip/1", z["history/ip/1"] * np.float32(1.01)), "history/ip/1"),
    ("solver_small_gaussian_dropout", lambda z: z.__setitem__(
        "solver_prototxt", golden.text(z, "solver_prototxt").replace(
            "random_seed: 15", "random_seed: 16")), "init param/conv/0"),
    ("sigmoid", lambda z: z.__setitem__("diff/data", z["diff/data"] * np.float32(1.001)),
     "diff/data"),
], ids=["data", "paramdiff", "mask", "fillers", "batchnorm", "loss", "history", "solver-init",
        "catalogue"])
def test_replay_detects_a_wrong_reference(name, change, expect, monkeypatch, tmp_path):
    """The replay can fail: a perturbed reference (or seed) is caught, on the right array."""
    _require_golden()
    _perturbed(monkeypatch, name, change)
    r = replay(name, tmp_path)
    assert r.failures, f"{name}: the perturbation went unnoticed"
    assert any(c.what.startswith(expect) for c in r.failures), [c.what for c in r.failures]


def test_missing_golden_folder_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("AUGDROP_GOLDEN", str(tmp_path / "nowhere"))
    with pytest.raises(golden.GoldenMissing, match="AUGDROP_GOLDEN"):
        golden.folder()
    assert issubclass(golden.GoldenMissing, AssertionError)  # a failure, not a skip
