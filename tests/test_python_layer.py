"""Python layers (`type: "Python"`, python_param { module layer param_str }), as pycaffe's:
setup/reshape/forward/backward on bottom and top blobs, self.param_str, self.phase, self.blobs
(params the solver learns and .caffemodel keeps), TRAIN and TEST, nets from Python and from the
command line, and an exception raised inside surfacing as itself, naming the layer. The layer
classes live in this module, which the nets name as `module: "test_python_layer"`."""
import re
import threading

import numpy as np
import pytest

import augdrop_caffe as caffe
from augdrop_caffe import cli
from gradient_check import GradientChecker, write_net

SEEN_PHASES = []  # (layer name, phase) of every PhaseRecorder set up


class Times(caffe.Layer):
    """top = k * bottom, k from param_str (default 10)."""

    def setup(self, bottom, top):
        if len(bottom) != 1:
            raise ValueError("Times takes one bottom")
        self.k = float(self.param_str or 10)

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        top[0].data[...] = self.k * bottom[0].data

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            bottom[0].diff[...] = self.k * top[0].diff


class CubicScale(caffe.Layer):
    """top = w * bottom^3 + b, with learned scalars w and b (self.blobs): a gradient check target."""

    def setup(self, bottom, top):
        self.blobs.add_blob(1)
        self.blobs.add_blob(1)
        self.blobs[0].data[...] = 0.7
        self.blobs[1].data[...] = -0.2

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        w, b = self.blobs[0].data[0], self.blobs[1].data[0]
        top[0].data[...] = w * bottom[0].data ** 3 + b

    def backward(self, top, propagate_down, bottom):
        x, dy = bottom[0].data, top[0].diff
        self.blobs[0].diff[...] += np.sum(dy * x ** 3)  # param diffs accumulate
        self.blobs[1].diff[...] += np.sum(dy)
        if propagate_down[0]:
            bottom[0].diff[...] = dy * 3 * self.blobs[0].data[0] * x ** 2


class Parameter(caffe.Layer):
    """pycaffe's ParameterLayer test: one learned scalar whose diff backward sets to 1."""

    def setup(self, bottom, top):
        self.blobs.add_blob(1)
        self.blobs[0].data[0] = 0

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        top[0].data[...] = bottom[0].data

    def backward(self, top, propagate_down, bottom):
        self.blobs[0].diff[0] = 1


class PhaseRecorder(caffe.Layer):
    """No bottom; a scalar top holding self.phase."""

    def setup(self, bottom, top):
        SEEN_PHASES.append(self.phase)

    def reshape(self, bottom, top):
        top[0].reshape()

    def forward(self, bottom, top):
        top[0].data[()] = self.phase


class FailIn(caffe.Layer):
    """Raises in the method param_str names, with a plain message or other arguments."""

    def _maybe_fail(self, where):
        method, _, kind = self.param_str.partition(":")
        if method == where:
            if kind == "bare":
                raise RuntimeError
            if kind == "args":
                raise KeyError("a", 2)
            raise ZeroDivisionError(f"failed in {where}")

    def setup(self, bottom, top):
        self._maybe_fail("setup")

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        self._maybe_fail("forward")
        top[0].data[...] = bottom[0].data

    def backward(self, top, propagate_down, bottom):
        self._maybe_fail("backward")
        bottom[0].diff[...] = top[0].diff


class NotALayer:
    pass


class Batches(caffe.Layer):
    """A data layer: tops x (4, 3) and y (4, 1), y = x @ [1, -2, 0.5], a different batch per
    forward, TEST batches apart from TRAIN ones."""

    def setup(self, bottom, top):
        self.rng = np.random.default_rng(100 + self.phase)
        SEEN_PHASES.append(("batches", self.phase))

    def reshape(self, bottom, top):
        top[0].reshape(4, 3)
        top[1].reshape(4, 1)

    def forward(self, bottom, top):
        x = self.rng.normal(size=(4, 3))
        top[0].data[...] = x
        top[1].data[...] = x @ np.array([[1.0], [-2.0], [0.5]])

    def backward(self, top, propagate_down, bottom):
        pass


class EuclideanLoss(caffe.Layer):
    """pycaffe's example loss layer: 0.5/N * sum((a - b)^2) into a (1,) top."""

    def reshape(self, bottom, top):
        self.diff = np.zeros_like(bottom[0].data)
        top[0].reshape(1)

    def forward(self, bottom, top):
        self.diff[...] = bottom[0].data - bottom[1].data
        top[0].data[0] = np.sum(self.diff ** 2) / bottom[0].num / 2.0

    def backward(self, top, propagate_down, bottom):
        for i, sign in ((0, 1), (1, -1)):
            if propagate_down[i]:
                bottom[i].diff[...] = sign * self.diff * top[0].diff[0] / bottom[i].num


def py_layer(name, bottom, top, cls, param_str=None, extra=""):
    ps = f' param_str: "{param_str}"' if param_str is not None else ""
    bottoms = "".join(f' bottom: "{b}"' for b in ([bottom] if isinstance(bottom, str) else bottom))
    tops = "".join(f' top: "{t}"' for t in ([top] if isinstance(top, str) else top))
    return (f'layer {{ name: "{name}" type: "Python"{bottoms}{tops} {extra}'
            f'python_param {{ module: "test_python_layer" layer: "{cls}"{ps} }} }}')


def chain_net(tmp_path, shape=(10, 9, 8)):
    body = "\n".join([py_layer("one", "data", "one", "Times"),
                      py_layer("two", "one", "two", "Times", "2"),
                      py_layer("three", "two", "three", "Times", "0.5")])
    return write_net(tmp_path, body, {"data": shape})


def test_registered():
    assert "Python" in caffe._core.layer_types()


def test_forward_backward_and_param_str(tmp_path):
    net = caffe.Net(chain_net(tmp_path), caffe.TRAIN)
    x = np.random.default_rng(0).normal(size=(10, 9, 8)).astype(np.float32)
    out = net.forward(data=x)
    np.testing.assert_allclose(out["three"], 10 * 2 * 0.5 * x, rtol=1e-6)
    net.blobs["three"].diff[...] = 7
    net.backward()
    np.testing.assert_allclose(net.blobs["data"].diff, 70.0)


def test_reshape_follows_the_bottom(tmp_path):
    net = caffe.Net(chain_net(tmp_path), caffe.TRAIN)
    net.blobs["data"].reshape(4, 4, 4, 4)
    net.forward()
    for name in ("one", "two", "three"):
        assert net.blobs[name].data.shape == (4, 4, 4, 4)


@pytest.mark.parametrize("phase", [caffe.TRAIN, caffe.TEST])
def test_phase(tmp_path, phase):
    path = tmp_path / "phase.prototxt"
    path.write_text('name: "p"\n' + py_layer("layer", [], "phase", "PhaseRecorder") + "\n")
    net = caffe.Net(str(path), phase)
    assert float(net.forward()["phase"]) == phase


def test_gradient_of_a_python_layer_with_params(tmp_path):
    path = write_net(tmp_path, py_layer("cubic", "x", "y", "CubicScale"), {"x": (2, 3, 4)})
    net = caffe.Net(path, caffe.TRAIN)
    assert [b.shape for b in net.params["cubic"]] == [(1,), (1,)]
    x = np.random.default_rng(1).uniform(-1, 1, size=(2, 3, 4))
    results = GradientChecker(stepsize=1e-2, threshold=1e-2).check(net, {"x": x})
    assert set(results) == {("blob", "x"), ("param", "cubic", 0), ("param", "cubic", 1)}


def test_gradient_checker_catches_a_wrong_python_backward(tmp_path, monkeypatch):
    """The check above can fail: a backward off by 10% is caught."""
    from gradient_check import GradientMismatch
    orig = CubicScale.backward

    def wrong(self, top, propagate_down, bottom):
        orig(self, top, propagate_down, bottom)
        bottom[0].diff[...] *= 1.1

    monkeypatch.setattr(CubicScale, "backward", wrong)
    path = write_net(tmp_path, py_layer("cubic", "x", "y", "CubicScale"), {"x": (2, 3)})
    net = caffe.Net(path, caffe.TRAIN)
    x = np.random.default_rng(1).uniform(-1, 1, size=(2, 3))
    with pytest.raises(GradientMismatch):
        GradientChecker(stepsize=1e-2, threshold=1e-2).check(net, {"x": x})


def test_params_are_saved_loaded_shared_and_learned(tmp_path):
    """pycaffe's test_parameter, plus a solver step that learns the Python layer's param."""
    path = write_net(tmp_path, py_layer("layer", "data", "top", "Parameter"), {"data": (10, 9, 8)})
    net = caffe.Net(path, caffe.TRAIN)
    net.forward()
    net.backward()
    layer = net.layers[net._layer_names.index("layer")]
    assert layer.blobs[0].data[0] == 0 and layer.blobs[0].diff[0] == 1
    layer.blobs[0].data[0] += layer.blobs[0].diff[0]
    model = tmp_path / "p.caffemodel"
    net.save(str(model))
    layer.blobs[0].data[0] = -1
    net.copy_from(str(model))
    assert layer.blobs[0].data[0] == 1
    net2 = caffe.Net(path, caffe.TRAIN)
    net2.share_with(net)
    assert net2.params["layer"][0].data[0] == 1

    solver_path = tmp_path / "solver.prototxt"
    solver_path.write_text(f'net: "{path}"\nbase_lr: 0.25\nlr_policy: "fixed"\n')
    solver = caffe.SGDSolver(str(solver_path))
    solver.step(2)
    assert solver.net.params["layer"][0].data[0] == pytest.approx(-0.5)


def test_python_object_is_reachable_from_the_core_net(tmp_path):
    net = caffe.Net(chain_net(tmp_path), caffe.TRAIN)
    objs = [net._net.python_layer(i) for i in range(len(net.layers))]
    assert objs[0] is None  # the Input layer
    assert isinstance(objs[2], Times) and objs[2].k == 2 and objs[2].param_str == "2"
    # net.layers reaches the Python object's attributes, as pycaffe's net.layers does
    assert net.layers[2].k == 2 and net.layers[2].name == "two" and net.layers[2].type == "Python"
    with pytest.raises(AttributeError):
        net.layers[0].k


def test_blobs_outliving_their_net_fail_cleanly(tmp_path):
    path = write_net(tmp_path, py_layer("cubic", "x", "y", "CubicScale"), {"x": (2,)})
    net = caffe.Net(path, caffe.TRAIN)
    obj = net._net.python_layer(1)
    assert len(obj.blobs) == 2 and obj.blobs[-1].data[0] == pytest.approx(-0.2)
    with pytest.raises(IndexError):
        obj.blobs[2]
    del net
    import gc
    gc.collect()
    with pytest.raises(caffe.EngineError, match="no longer exists"):
        len(obj.blobs)


# --- exceptions ----------------------------------------------------------------------------------

def fail_net(tmp_path, where):
    return write_net(tmp_path, py_layer("failing", "data", "out", "FailIn", where), {"data": (2, 3)})


def test_exception_in_setup_is_the_layers_own(tmp_path):
    """pycaffe's test_exception: a bare RuntimeError from setup, as RuntimeError (not our
    EngineError), with the layer named in a note and as attributes."""
    with pytest.raises(RuntimeError) as e:
        caffe.Net(fail_net(tmp_path, "setup:bare"), caffe.TEST)
    assert type(e.value) is RuntimeError
    assert e.value.layer == "failing" and e.value.layer_type == "Python"
    assert any("failing" in n for n in e.value.__notes__)


@pytest.mark.parametrize("where", ["forward", "backward"])
def test_exception_in_forward_or_backward_names_the_layer(tmp_path, where):
    net = caffe.Net(fail_net(tmp_path, where), caffe.TRAIN)
    with pytest.raises(ZeroDivisionError,
                       match=rf"layer 'failing' \(Python, test_python_layer.FailIn\): failed in {where}"):
        net.forward()
        net.backward()


def test_exception_with_other_arguments_keeps_them(tmp_path):
    net = caffe.Net(fail_net(tmp_path, "forward:args"), caffe.TRAIN)
    with pytest.raises(KeyError) as e:
        net.forward()
    assert e.value.args == ("a", 2) and e.value.layer == "failing"


def test_exception_inside_solver_step(tmp_path):
    path = fail_net(tmp_path, "backward")
    solver_path = tmp_path / "solver.prototxt"
    solver_path.write_text(f'net: "{path}"\nbase_lr: 0.1\nlr_policy: "fixed"\ntype: "Adam"\n')
    solver = caffe.get_solver(str(solver_path))
    with pytest.raises(ZeroDivisionError, match="layer 'failing'"):
        solver.step(3)
    assert solver.iter == 0


@pytest.mark.parametrize("module,cls,error,text", [
    ("no_such_module_xyz", "X", ModuleNotFoundError, "cannot import module 'no_such_module_xyz'"),
    ("test_python_layer", "Missing", AttributeError, "has no class 'Missing'"),
    ("test_python_layer", "NotALayer", TypeError, "subclass of augdrop_caffe.Layer"),
])
def test_bad_python_param(tmp_path, module, cls, error, text):
    body = (f'layer {{ name: "odd" type: "Python" bottom: "data" top: "out" '
            f'python_param {{ module: "{module}" layer: "{cls}" }} }}')
    with pytest.raises(error, match=text) as e:
        caffe.Net(write_net(tmp_path, body, {"data": (2,)}), caffe.TRAIN)
    assert "layer 'odd'" in str(e.value)


def test_missing_python_param_is_an_engine_error(tmp_path):
    body = 'layer { name: "odd" type: "Python" bottom: "data" top: "out" }'
    with pytest.raises(caffe.EngineError, match="layer 'odd' \\(Python\\).*module and layer"):
        caffe.Net(write_net(tmp_path, body, {"data": (2,)}), caffe.TRAIN)


def test_runs_from_another_thread(tmp_path):
    """The core releases the GIL in forward; the layer takes it back on whatever thread runs."""
    net = caffe.Net(chain_net(tmp_path, (3, 4)), caffe.TRAIN)
    net.blobs["data"].data[...] = 1
    errors = []

    def run():
        try:
            for _ in range(20):
                net.forward()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and not errors and np.all(net.blobs["three"].data == 10)


# --- training: from Python and from the command line ---------------------------------------------

TRAIN_NET = """name: "pyreg"
{data}
layer {{ name: "ip" type: "InnerProduct" bottom: "x" top: "pred"
        inner_product_param {{ num_output: 1 weight_filler {{ type: "constant" value: 0 }} }} }}
{loss}
"""


def regression_files(tmp_path, iters=60):
    net = tmp_path / "net.prototxt"
    net.write_text(TRAIN_NET.format(
        data=py_layer("data", [], ["x", "y"], "Batches"),
        loss=py_layer("loss", ["pred", "y"], "loss", "EuclideanLoss", extra="loss_weight: 1 ")))
    solver = tmp_path / "solver.prototxt"
    solver.write_text(f'net: "{net}"\ntype: "Adam"\nbase_lr: 0.1\nmomentum: 0.9\n'
                      f'lr_policy: "fixed"\nmax_iter: {iters}\ntest_iter: 2\ntest_interval: {iters}\n'
                      f'display: 0\nsnapshot_prefix: "{tmp_path / "snap"}"\nrandom_seed: 1\n')
    return net, solver


def test_a_python_data_and_loss_layer_train_in_train_and_test(tmp_path):
    SEEN_PHASES.clear()
    _, solver_path = regression_files(tmp_path)
    solver = caffe.get_solver(str(solver_path))
    assert ("batches", caffe.TRAIN) in SEEN_PHASES and ("batches", caffe.TEST) in SEEN_PHASES
    first = solver.test_all()[0]["loss"]
    solver.step(60)
    last = solver.test_all()[0]["loss"]
    assert last < 0.05 * first
    np.testing.assert_allclose(solver.net.params["ip"][0].data, [[1, -2, 0.5]], atol=0.1)


def test_python_layers_from_the_command_line(tmp_path, capsys):
    _, solver_path = regression_files(tmp_path, iters=20)
    code = cli.main(["train", "--solver", str(solver_path), "--output", str(tmp_path / "run"),
                     "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    log = (tmp_path / "run" / "train.log").read_text()
    losses = [float(v) for v in re.findall(r"Test net output #0: loss = ([0-9.e+-]+)", log)]
    assert len(losses) == 2 and losses[1] < 0.5 * losses[0], log
