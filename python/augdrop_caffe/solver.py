"""Solvers: pycaffe's SGDSolver, NesterovSolver, AdaGradSolver, RMSPropSolver, AdaDeltaSolver,
AdamSolver and get_solver over the compiled core."""
import json
import os

import numpy as np

from . import hdf5_snapshot, schema, textformat
from ._loader import EngineError, _core, engine_error
from .caffemodel import read_solverstate, write_solverstate
from .data import prepare_net_data
from .net import Net, layers_in_state, locate_error

_NET_FILE_FIELDS = (("net", "net_param"), ("train_net", "train_net_param"),
                    ("test_net", "test_net_param"))


def _resolve(path, solver_path):
    """A net file named in a solver: as given (Caffe's rule), else beside the solver."""
    if os.path.isfile(path):
        return path
    beside = os.path.join(os.path.dirname(os.path.abspath(solver_path)), path)
    if os.path.isfile(beside):
        return beside
    raise FileNotFoundError(f"{solver_path}: net file '{path}' not found (looked in the "
                            f"working directory and beside the solver)")


def load_solver_param(path):
    """Parse a solver prototxt (or caffe_pb2.SolverParameter) and inline the nets it names:
    (dict, train message, tests)."""
    message, path = textformat.parse_source(path, "SolverParameter", upgrade=True)
    param = message.to_dict()
    # Each net with the parsed message and file it came from, for error locations.
    sources = {}
    for file_field, inline_field in _NET_FILE_FIELDS:
        entries = [(m, path) for m in message.getlist(inline_field)]
        for name in param.pop(file_field, []):
            net_path = _resolve(name, path)
            entries.append((textformat.parse_file(net_path, "NetParameter", upgrade=True), net_path))
        if entries:
            param[inline_field] = [m.to_dict() for m, _ in entries]
            sources[inline_field] = entries
    return param, sources


def _nets_to_build(param):
    """[(net dict, [(phase, level, stages) it is built in])] for a SolverParameter dict whose
    nets are inlined: the training net in TRAIN (train_state), then the test nets in TEST (one
    per test_iter: the test_net_params first, then the training net for the rest, each with
    its test_state), as the core's solver builds them (Caffe's Solver::InitTrainNet and
    InitTestNets)."""
    def state(field, i, phase):
        entries = param.get(field, [])
        s = entries[i] if i < len(entries) else {}
        return (phase, s.get("level", [0])[-1], tuple(s.get("stage", [])))

    builds = []  # (net dict, state) for each net the solver builds
    train_field = "net_param" if "net_param" in param else "train_net_param"
    train = param.get(train_field, [None])[-1]
    if train is not None:
        builds.append((train, state("train_state", 0, 0)))
    tests = list(param.get("test_net_param", []))
    if train_field == "net_param" and train is not None:
        tests += [train] * max(0, len(param.get("test_iter", [])) - len(tests))
    builds += [(net_dict, state("test_state", i, 1)) for i, net_dict in enumerate(tests)]
    nets = {}  # one entry per net dict (the training net is often a test net too)
    for net_dict, st in builds:
        nets.setdefault(id(net_dict), (net_dict, []))[1].append(st)
    return list(nets.values())


class MessageView:
    """A parsed message ({field: [values]}) read as a protobuf message: attribute access gives
    the field's value (the last one given, else the schema's default; enums as numbers, as
    protobuf gives them; repeated fields as lists; messages as views).

    pycaffe's solver.param is the SolverParameter message itself; this is that surface over
    the parsed fields until the project serves caffe_pb2 messages. Setting a scalar field
    (solver.param.base_lr = 0.1) changes the running solver, as in pycaffe, through on_set.
    """

    __slots__ = ("_type", "_fields", "_on_set")

    def __init__(self, type_name, fields, on_set=None):
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_fields", fields)
        object.__setattr__(self, "_on_set", on_set)

    def _field(self, name):
        fd = schema.field(self._type, name)
        if fd is None:
            raise AttributeError(f"{self._type} has no field '{name}'")
        return fd

    def _value(self, fd, v):
        if schema.is_message_type(fd.type):
            return MessageView(fd.type, v if v is not None else {})
        if schema.is_enum_type(fd.type) and isinstance(v, str):
            return schema.enum_values(fd.type)[v]
        return v

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        fd = self._field(name)
        values = self._fields.get(name, [])
        if fd.repeated:
            return [self._value(fd, v) for v in values]
        return self._value(fd, values[-1] if values else fd.default)

    def __setattr__(self, name, value):
        fd = self._field(name)
        if fd.repeated or schema.is_message_type(fd.type):
            raise AttributeError(f"only singular scalar fields of {self._type} can be set here "
                                 f"('{name}' is {'repeated' if fd.repeated else 'a message'})")
        msg = textformat.Message(self._type)
        msg.set(name, value)  # checked and converted as the parser would (enum numbers to names)
        value = msg.get(name)
        if self._on_set is not None:
            self._on_set(name, value)
        self._fields[name] = [value]

    def HasField(self, name):
        self._field(name)
        return bool(self._fields.get(name))

    def __dir__(self):
        return list(schema.fields(self._type))

    def __repr__(self):
        return f"<{self._type} view: {sorted(self._fields)}>"


class _Solver:
    _forced_type = None

    def __init__(self, solver_file, data_root=None, edit=None):
        """edit(param), if given, may change the parsed SolverParameter dict (its nets inlined)
        before the nets are built: the driver's --dropout, --seed and --iterations."""
        if isinstance(solver_file, (str, bytes, os.PathLike)) and not os.path.isfile(
                solver_file):
            raise FileNotFoundError(f"solver prototxt not found: {solver_file}")
        param, sources = load_solver_param(solver_file)
        if textformat.is_protobuf_message(solver_file, "SolverParameter"):
            solver_file = "<SolverParameter message>"
        if edit is not None:
            edit(param)
        for net_dict, states in _nets_to_build(param):
            # Each net's data: the sources of the layers that one of its phases keeps.
            kept = set()
            for phase, level, stages in states:
                kept.update(layers_in_state(net_dict, phase, level, stages))
            prepare_net_data(net_dict, data_root, kept)
        if self._forced_type:
            param["type"] = [self._forced_type]
        if not param.get("snapshot_prefix"):
            # Caffe's UpgradeSnapshotPrefixProperty: the solver file's path without extension.
            param["snapshot_prefix"] = [os.path.splitext(solver_file)[0]]
        self._param = param
        self._callbacks = []
        self._source = solver_file
        train_key = "net_param" if "net_param" in param else "train_net_param"
        train_msg, train_src = sources.get(train_key, [(None, solver_file)])[0]
        try:
            self._solver = _core.Solver(param)
        except EngineError as e:
            if e.layer is None:  # a solver setting, not a layer: blame the solver file
                raise engine_error(f"{solver_file}: {e}", filename=solver_file) from None
            raise locate_error(e, train_msg, train_src) from None
        self._train_source = (train_msg, train_src)
        self.net = Net._wrap(self._solver.net, train_msg, train_src)
        test_sources = sources.get("test_net_param", []) + [(train_msg, train_src)] * len(
            self._solver.test_nets)
        self.test_nets = [Net._wrap(n, *test_sources[i])
                          for i, n in enumerate(self._solver.test_nets)]

    @property
    def type(self):
        return self._solver.type

    @property
    def param(self):
        """The SolverParameter, read as a message (solver.param.base_lr); setting a scalar
        field changes this solver, as in pycaffe."""
        return MessageView("SolverParameter", self._param, self._solver.set_param_field)

    @property
    def lr(self):
        """The learning rate of the current iteration (pycaffe's SGDSolver.lr)."""
        return self._solver.learning_rate()

    @property
    def iter(self):
        return self._solver.iter

    @property
    def requested_early_exit(self):
        """Whether the last step or solve ended early because a callback asked it to stop."""
        return self._solver.requested_early_exit

    def step(self, iters, on_event=None, action=None):
        """Run iters training iterations in the core, with the GIL released.

        Between iterations the core runs Python's pending signal handlers: Ctrl-C raises
        KeyboardInterrupt once the current iteration is whole, so `iter` counts only complete
        iterations and stepping on gives what an uninterrupted run gives.
        on_event(event), if given, is called at Caffe's display, test and snapshot points
        (event.kind 'display' with event.iter, .smoothed_loss, .rate; 'test' with .tests, one
        result per test net; 'snapshot' when the solver's `snapshot` interval or an action asks
        for one: the callback writes it). action(), if given, is asked after each iteration and
        returns None, 'stop' or 'snapshot' (Caffe's SolverAction). Either may return 'stop'; an
        exception raised by either also stops the loop after the iteration and is raised here.
        """
        try:
            self._solver.step(int(iters), on_event, action, self._callbacks)
        except EngineError as e:
            raise locate_error(e, *self._train_source) from None

    def solve(self, resume_file=None, on_event=None, action=None):
        """Step to max_iter, then the final test (reported to on_event), as Caffe's Solve."""
        if resume_file:
            self.restore(resume_file)
        try:
            self._solver.solve(on_event, action, self._callbacks)
        except EngineError as e:
            raise locate_error(e, *self._train_source) from None

    def add_callback(self, on_start, on_gradients_ready):
        """Call on_start() at the start of each iteration (after its test, before its forward
        passes) and on_gradients_ready() once its gradients are ready (before the update), as
        Caffe's Solver::Callback. An exception raised by either ends step/solve at once, the
        rest of that iteration not run, and is raised there."""
        if not (callable(on_start) and callable(on_gradients_ready)):
            raise TypeError("add_callback(on_start, on_gradients_ready) takes two callables")
        self._callbacks.append((on_start, on_gradients_ready))

    def apply_update(self):
        """Update the params from their current diffs at the current learning rate (Caffe's
        ApplyUpdate: clip, normalize, regularize, the solver's rule); iter is unchanged."""
        try:
            return self._solver.apply_update()
        except EngineError as e:
            raise locate_error(e, *self._train_source) from None

    def share_weights(self, net):
        """Make `net` use this solver's training weights (Caffe's ShareTrainedLayersWith):
        the layers of the same name then read the weights as they train."""
        net.share_with(self.net)

    def test_all(self):
        """Run every test net for its test_iter batches: a list of {name: mean value}."""
        return [dict(zip(r.names, r.values)) for r in self._solver.test_all()]

    def learning_rate(self):
        return self._solver.learning_rate()

    @property
    def history(self):
        return self._solver.history

    def snapshot(self, prefix=None):
        """Write <prefix>_iter_<N>.caffemodel and .solverstate as Caffe (.caffemodel.h5 and
        .solverstate.h5 with snapshot_format: HDF5, which needs h5py); returns both paths."""
        p = self.param
        prefix = prefix or p.snapshot_prefix
        base = f"{prefix}_iter_{self.iter}"
        history = [np.array(h.data) for h in self.history]
        if p.snapshot_format == schema.enum_values("SolverParameter.SnapshotFormat")["HDF5"]:
            model, state = base + ".caffemodel.h5", base + ".solverstate.h5"
            hdf5_snapshot.save_weights(self.net, model, write_diff=p.snapshot_diff)
            hdf5_snapshot.write_solverstate(state, iter=self.iter, learned_net=model,
                                            current_step=self._solver.current_step,
                                            history=history)
        else:
            model, state = base + ".caffemodel", base + ".solverstate"
            self.net.save(model)
            write_solverstate(state, iter=self.iter, learned_net=model,
                              current_step=self._solver.current_step, history=history)
        # What Caffe's solverstate lacks for an exact resume: the random stream and the data
        # layers' cursors and private streams.
        extra = {"rng": _core.rng_state(),
                 "nets": [[n._net.layer_state(i).hex() for i in range(len(n.layers))]
                          for n in [self.net] + self.test_nets]}
        tmp = base + ".augdrop_state.tmp"
        with open(tmp, "w") as f:
            json.dump(extra, f)
        os.replace(tmp, base + ".augdrop_state")
        return model, state

    def restore(self, state_file):
        """Resume from a .solverstate or .solverstate.h5 (and the weights file it names)."""
        hdf5 = state_file.endswith(".h5")
        state = (hdf5_snapshot.read_solverstate if hdf5 else read_solverstate)(state_file)
        learned = state.get("learned_net")
        if learned:
            if not os.path.isfile(learned):
                learned = os.path.join(os.path.dirname(os.path.abspath(state_file)),
                                       os.path.basename(learned))
            if learned.endswith(".h5"):
                hdf5_snapshot.load_weights(self.net, learned)
            else:
                self.net.copy_from(learned)
        history = state.get("history", [])
        if len(history) != len(self.history):
            raise EngineError(f"{state_file}: {len(history)} history blobs, the {self.type} "
                              f"solver has {len(self.history)}")
        for src, dst in zip(history, self.history):
            dst.data[...] = np.asarray(src, dtype=np.float32).reshape(dst.shape)
        self._solver.iter = int(state.get("iter", 0))
        self._solver.current_step = int(state.get("current_step", 0))
        base = state_file[:-len(".h5")] if hdf5 else state_file
        extra_file = os.path.splitext(base)[0] + ".augdrop_state"
        if os.path.isfile(extra_file):
            with open(extra_file) as f:
                extra = json.load(f)
            _core.set_rng_state(extra["rng"])
            for net, states in zip([self.net] + self.test_nets, extra["nets"]):
                for i, hex_state in enumerate(states):
                    if hex_state:
                        net._net.set_layer_state(i, bytes.fromhex(hex_state).decode())


class SGDSolver(_Solver):
    _forced_type = "SGD"


class NesterovSolver(_Solver):
    _forced_type = "Nesterov"


class AdaGradSolver(_Solver):
    _forced_type = "AdaGrad"


class RMSPropSolver(_Solver):
    _forced_type = "RMSProp"


class AdaDeltaSolver(_Solver):
    _forced_type = "AdaDelta"


class AdamSolver(_Solver):
    _forced_type = "Adam"


def get_solver(solver_file, data_root=None, edit=None):
    """The solver the file's `type` names (SGD by default; the legacy solver_type enum when
    type is unset): SGD, Nesterov, AdaGrad, RMSProp, AdaDelta or Adam."""
    return _Solver(solver_file, data_root, edit)
