"""AdaGrad, RMSProp, AdaDelta and Adam against Caffe's update rules written in numpy, their
history and exact resume, and pycaffe's solver surface (param, apply_update, add_callback,
share_weights, HDF5 snapshots). Caffe's rules (src/caffe/solvers/*_solver.cpp), g the gradient
after weight decay, lr the local rate (rate * lr_mult):

    AdaGrad   h += g^2;                              w -= lr * g / (sqrt(h) + delta)
    RMSProp   h = d h + (1-d) g^2;                   w -= lr * g / (sqrt(h) + delta)
    AdaDelta  h = m h + (1-m) g^2;  u = g sqrt((h2 + delta) / (h + delta));
              h2 = m h2 + (1-m) u^2;                 w -= lr * u
    Adam      m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  t = iter + 1;
              w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + delta)
"""
import sys

import numpy as np
import pytest

import augdrop_caffe as caffe
from augdrop_caffe.caffemodel import read_solverstate
from test_solver_rules import F32, NET, DEFAULT_MULTS, gradient, make_solver, params

SETTINGS = {
    "AdaGrad": dict(delta=1e-6),
    "RMSProp": dict(delta=1e-6, rms_decay=0.9),
    "AdaDelta": dict(delta=1e-6, momentum=0.95),
    "Adam": dict(delta=1e-8, momentum=0.9, momentum2=0.999),
}
MULTS = dict(lr1w=1, dm1w=1, lr1b=2, dm1b=0, lr2w=0.5, dm2w=2, lr2b=1, dm2b=1)
LR_MULTS = [1, 2, 0.5, 1]
DECAY_MULTS = [1, 0, 2, 1]


def f(x):
    """A float field as the solver holds it (float32), in float64."""
    return float(F32(x))


class Reference:
    """One solver's rule in float64 numpy, over the four params of the tiny net."""

    def __init__(self, kind, w, base_lr, weight_decay, **s):
        self.kind, self.base_lr, self.wd = kind, f(base_lr), f(weight_decay)
        self.s = {k: f(v) for k, v in s.items()}
        self.w = [x.copy() for x in w]
        self.h = [np.zeros_like(x) for x in w]
        self.h2 = [np.zeros_like(x) for x in w]

    def step(self, grads, it):
        s, delta = self.s, self.s["delta"]
        for i, g in enumerate(grads):
            g = g + self.wd * DECAY_MULTS[i] * self.w[i]
            lr = self.base_lr * LR_MULTS[i]
            if self.kind == "AdaGrad":
                self.h[i] = self.h[i] + g * g
                step = lr * g / (np.sqrt(self.h[i]) + delta)
            elif self.kind == "RMSProp":
                d = s["rms_decay"]
                self.h[i] = d * self.h[i] + (1 - d) * g * g
                step = lr * g / (np.sqrt(self.h[i]) + delta)
            elif self.kind == "AdaDelta":
                m = s["momentum"]
                self.h[i] = m * self.h[i] + (1 - m) * g * g
                u = g * np.sqrt((self.h2[i] + delta) / (self.h[i] + delta))
                self.h2[i] = m * self.h2[i] + (1 - m) * u * u
                step = lr * u
            else:  # Adam
                b1, b2, t = s["momentum"], s["momentum2"], it + 1
                self.h[i] = b1 * self.h[i] + (1 - b1) * g
                self.h2[i] = b2 * self.h2[i] + (1 - b2) * g * g
                corr = np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                step = lr * corr * self.h[i] / (np.sqrt(self.h2[i]) + delta)
            self.w[i] = self.w[i] - step

    def history(self):
        return self.h + (self.h2 if self.kind in ("AdaDelta", "Adam") else [])


def new_solver(tmp_path, kind, cls=caffe.get_solver, **extra):
    fields = dict(type=kind, base_lr=0.05, lr_policy="fixed", weight_decay=0.01)
    fields.update(SETTINGS[kind])
    fields.update(extra)
    return make_solver(tmp_path, cls=cls, mults=MULTS, **fields), fields


@pytest.mark.parametrize("kind", sorted(SETTINGS))
def test_update_rule_over_steps(tmp_path, kind):
    solver, fields = new_solver(tmp_path, kind)
    assert solver.type == kind
    ref = Reference(kind, params(solver), fields["base_lr"], fields["weight_decay"],
                    **SETTINGS[kind])
    for it in range(4):
        ref.step(gradient(solver), it)
        solver.step(1)
        for i, (got, want) in enumerate(zip(params(solver), ref.w)):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6,
                                       err_msg=f"{kind} step {it} param {i}")
    hist = [np.array(h.data, np.float64) for h in solver.history]
    want = ref.history()
    assert len(hist) == len(want)  # two per param for AdaDelta and Adam: all first, then second
    for i, (got, w) in enumerate(zip(hist, want)):
        np.testing.assert_allclose(got, w, rtol=2e-5, atol=1e-7, err_msg=f"{kind} history {i}")
    assert all(np.any(h != 0) for h in hist)


@pytest.mark.parametrize("cls,kind", [(caffe.AdaGradSolver, "AdaGrad"),
                                      (caffe.RMSPropSolver, "RMSProp"),
                                      (caffe.AdaDeltaSolver, "AdaDelta"),
                                      (caffe.AdamSolver, "Adam")])
def test_solver_classes_force_their_type(tmp_path, cls, kind):
    solver, _ = new_solver(tmp_path, kind, cls=cls, type="SGD")
    assert solver.type == kind and solver.param.type == kind


@pytest.mark.parametrize("legacy,kind", [("ADAGRAD", "AdaGrad"), ("RMSPROP", "RMSProp"),
                                         ("ADADELTA", "AdaDelta"), ("ADAM", "Adam"),
                                         ("NESTEROV", "Nesterov")])
def test_legacy_solver_type_enum(tmp_path, legacy, kind):
    net = tmp_path / "net.prototxt"
    net.write_text(NET.format(extra="", **DEFAULT_MULTS))
    path = tmp_path / "solver.prototxt"
    path.write_text(f'net: "{net}"\nbase_lr: 0.1\nlr_policy: "fixed"\nsolver_type: {legacy}\n')
    assert caffe.get_solver(str(path)).type == kind


@pytest.mark.parametrize("kind,field", [("AdaGrad", "momentum: 0.9"),
                                        ("RMSProp", "momentum: 0.9"),
                                        ("RMSProp", "rms_decay: 1.0")])
def test_bad_settings_are_refused(tmp_path, kind, field):
    net = tmp_path / "net.prototxt"
    net.write_text(NET.format(extra="", **DEFAULT_MULTS))
    path = tmp_path / "solver.prototxt"
    path.write_text(f'net: "{net}"\nbase_lr: 0.1\nlr_policy: "fixed"\ntype: "{kind}"\n{field}\n')
    with pytest.raises(caffe.EngineError, match=field.split(":")[0]) as e:
        caffe.get_solver(str(path))
    assert str(path) in str(e.value)


def _snapshot_state(solver):
    return params(solver), [np.array(h.data) for h in solver.history]


@pytest.mark.parametrize("kind", sorted(SETTINGS))
def test_resume_is_exact(tmp_path, kind):
    """Two steps, snapshot, a new solver restored from it, two more steps: the same bits as
    four steps straight (Adam's bias correction follows the restored iter)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight, _ = new_solver(tmp_path / "a", kind)
    straight.step(4)
    first, _ = new_solver(tmp_path / "b", kind)
    first.step(2)
    model, state = first.snapshot(str(tmp_path / "snap"))
    saved = read_solverstate(state)
    assert saved["iter"] == 2 and len(saved["history"]) == len(first.history)
    for got, h in zip(saved["history"], first.history):
        np.testing.assert_array_equal(got.reshape(h.shape), h.data)
    resumed, _ = new_solver(tmp_path / "b", kind)
    resumed.restore(state)
    assert resumed.iter == 2
    resumed.step(2)
    for a, b in zip(_snapshot_state(straight), _snapshot_state(resumed)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_restore_refuses_a_state_of_another_solver(tmp_path):
    sgd, _ = new_solver(tmp_path, "AdaGrad")
    _, state = sgd.snapshot(str(tmp_path / "s"))
    adam, _ = new_solver(tmp_path, "Adam")
    with pytest.raises(caffe.EngineError, match="4 history blobs, the Adam solver has 8"):
        adam.restore(state)


def test_hdf5_snapshot_resumes_exactly(tmp_path):
    pytest.importorskip("h5py")
    (tmp_path / "a").mkdir()
    straight, _ = new_solver(tmp_path / "a", "Adam")
    straight.step(3)
    first, _ = new_solver(tmp_path, "Adam", snapshot_format="HDF5")
    assert first.param.snapshot_format == 0  # SolverParameter.HDF5
    first.step(1)
    model, state = first.snapshot(str(tmp_path / "snap"))
    assert model.endswith("_iter_1.caffemodel.h5") and state.endswith("_iter_1.solverstate.h5")
    import h5py
    with h5py.File(state) as f:
        assert int(f["iter"][0]) == 1 and len(f["history"]) == 8
    with h5py.File(model) as f:
        assert sorted(f["data"]) == sorted(first.net._layer_names)
        np.testing.assert_array_equal(f["data/ip1/0"], first.net.params["ip1"][0].data)
    resumed, _ = new_solver(tmp_path, "Adam", snapshot_format="HDF5")
    resumed.restore(state)
    resumed.step(2)
    for x, y in zip(params(straight), params(resumed)):
        np.testing.assert_array_equal(x, y)


def test_hdf5_without_h5py_says_what_to_install(tmp_path, monkeypatch):
    solver, _ = new_solver(tmp_path, "Adam", snapshot_format="HDF5")
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now fails
    with pytest.raises(ImportError, match="pip install h5py"):
        solver.snapshot(str(tmp_path / "snap"))


# --- pycaffe's solver surface -------------------------------------------------------------------

def test_param_reads_as_a_message(tmp_path):
    solver, _ = new_solver(tmp_path, "Adam", display=5, max_iter=7)
    p = solver.param
    assert p.base_lr == pytest.approx(0.05) and p.max_iter == 7 and p.display == 5
    assert p.type == "Adam" and p.lr_policy == "fixed"
    assert p.momentum2 == pytest.approx(0.999) and p.delta == pytest.approx(1e-8)
    assert p.rms_decay == pytest.approx(0.99)          # unset: the schema's default
    assert p.snapshot_format == 1                      # BINARYPROTO, as a number
    assert p.test_iter == [] and p.net_param.name == "tiny"
    assert p.net_param.layer[1].name == "ip1"
    assert p.HasField("momentum2") and not p.HasField("rms_decay")
    with pytest.raises(AttributeError, match="no field 'learning_rate'"):
        p.learning_rate


def test_setting_base_lr_changes_the_solver(tmp_path):
    solver, _ = new_solver(tmp_path, "AdaGrad")
    assert solver.lr == pytest.approx(0.05)
    solver.param.base_lr = 0.2
    assert solver.param.base_lr == pytest.approx(0.2)
    assert solver.lr == pytest.approx(0.2)
    with pytest.raises(AttributeError, match="repeated"):
        solver.param.test_iter = [1]
    solver.param.snapshot_format = 0  # an enum by number, as protobuf takes it
    assert solver.param.snapshot_format == 0 and solver.param.HasField("snapshot_format")
    with pytest.raises(TypeError, match="expected a number"):
        solver.param.base_lr = "fast"


def test_apply_update(tmp_path):
    """pycaffe's test: weights 0, diffs 1, one update; here for Adam at t = 1, where the
    corrected step is lr * (1 - b1) / sqrt(1 - b2) * 1 / (sqrt(1 - b2) + delta) ~ lr."""
    solver, _ = new_solver(tmp_path, "Adam", weight_decay=0)
    w = solver.net.params["ip2"][0]
    w.data[...] = 0
    solver.net.clear_param_diffs()
    w.diff[...] = 1
    solver.apply_update()
    b1, b2, d, lr = f(0.9), f(0.999), f(1e-8), f(0.05) * f(0.5)
    step = lr * np.sqrt(1 - b2) / (1 - b1) * (1 - b1) / (np.sqrt(1 - b2) + d)
    np.testing.assert_allclose(w.data, -step, rtol=1e-5)
    assert solver.iter == 0


def test_callbacks_at_caffes_points(tmp_path):
    solver, _ = new_solver(tmp_path, "RMSProp", test_iter=1, test_interval=2)
    net, log = solver.net, []
    w = net.params["ip1"][0]

    def on_start():
        log.append(("start", solver.iter, np.array(w.data)))

    def on_gradients_ready():
        # the gradients of this iteration are there, the update is not yet applied
        assert np.any(w.diff != 0)
        log.append(("gradients", solver.iter, np.array(w.data)))

    def on_event(event):
        log.append((event.kind, event.iter, None))

    solver.add_callback(on_start, on_gradients_ready)
    solver.step(3, on_event=on_event)
    kinds = [(k, it) for k, it, _ in log]
    assert kinds == [("test", 0), ("start", 0), ("gradients", 0),
                     ("start", 1), ("gradients", 1),
                     ("test", 2), ("start", 2), ("gradients", 2)]
    by_point = {(k, it): d for k, it, d in log if d is not None}
    # params change between gradients-ready and the next start only (the update)
    np.testing.assert_array_equal(by_point[("start", 0)], by_point[("gradients", 0)])
    assert not np.array_equal(by_point[("gradients", 0)], by_point[("start", 1)])


def test_a_failing_callback_stops_step_at_once(tmp_path):
    solver, _ = new_solver(tmp_path, "Adam")
    calls = []

    def on_gradients_ready():
        calls.append(solver.iter)
        if solver.iter == 1:
            raise KeyError("stop here")

    solver.add_callback(lambda: None, on_gradients_ready)
    before = None
    solver.step(1)
    before = params(solver)
    with pytest.raises(KeyError, match="stop here"):
        solver.step(5)
    assert calls == [0, 1] and solver.iter == 1
    for x, y in zip(before, params(solver)):  # the failed iteration did not update
        np.testing.assert_array_equal(x, y)
    with pytest.raises(TypeError):
        solver.add_callback(None, None)


def test_share_weights(tmp_path):
    solver, _ = new_solver(tmp_path, "AdaDelta")
    net = caffe.Net(str(tmp_path / "net.prototxt"), caffe.TEST)
    solver.share_weights(net)
    solver.step(2)
    for layer in ("ip1", "ip2"):
        for a, b in zip(net.params[layer], solver.net.params[layer]):
            np.testing.assert_array_equal(a.data, b.data)
            assert np.shares_memory(a.data, b.data)
