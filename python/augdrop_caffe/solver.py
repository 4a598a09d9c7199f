"""Solvers: pycaffe's SGDSolver / NesterovSolver / get_solver over the compiled core."""
import json
import os

import numpy as np

from . import textformat
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
    """Parse a solver prototxt and inline the nets it names: (dict, train message, tests)."""
    message = textformat.parse_file(path, "SolverParameter", upgrade=True)
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


class _Solver:
    _forced_type = None

    def __init__(self, solver_file, data_root=None, edit=None):
        """edit(param), if given, may change the parsed SolverParameter dict (its nets inlined)
        before the nets are built: the driver's --dropout, --seed and --iterations."""
        if not os.path.isfile(solver_file):
            raise FileNotFoundError(f"solver prototxt not found: {solver_file}")
        param, sources = load_solver_param(solver_file)
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
        self.param = param
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
            self._solver.step(int(iters), on_event, action)
        except EngineError as e:
            raise locate_error(e, *self._train_source) from None

    def solve(self, resume_file=None, on_event=None, action=None):
        """Step to max_iter, then the final test (reported to on_event), as Caffe's Solve."""
        if resume_file:
            self.restore(resume_file)
        try:
            self._solver.solve(on_event, action)
        except EngineError as e:
            raise locate_error(e, *self._train_source) from None

    def test_all(self):
        """Run every test net for its test_iter batches: a list of {name: mean value}."""
        return [dict(zip(r.names, r.values)) for r in self._solver.test_all()]

    def learning_rate(self):
        return self._solver.learning_rate()

    @property
    def history(self):
        return self._solver.history

    def snapshot(self, prefix=None):
        """Write <prefix>_iter_<N>.caffemodel and .solverstate, as Caffe; returns both paths."""
        prefix = prefix or self.param.get("snapshot_prefix", [""])[0]
        base = f"{prefix}_iter_{self.iter}"
        model, state = base + ".caffemodel", base + ".solverstate"
        self.net.save(model)
        write_solverstate(state, iter=self.iter, learned_net=model,
                          current_step=self._solver.current_step,
                          history=[np.array(h.data) for h in self.history])
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
        """Resume from a .solverstate (and the .caffemodel it names)."""
        state = read_solverstate(state_file)
        learned = state.get("learned_net")
        if learned:
            if not os.path.isfile(learned):
                learned = os.path.join(os.path.dirname(os.path.abspath(state_file)),
                                       os.path.basename(learned))
            self.net.copy_from(learned)
        history = state.get("history", [])
        if len(history) != len(self.history):
            raise EngineError(f"{state_file}: {len(history)} history blobs, the solver has "
                              f"{len(self.history)}")
        for src, dst in zip(history, self.history):
            dst.data[...] = np.asarray(src, dtype=np.float32).reshape(dst.shape)
        self._solver.iter = int(state.get("iter", 0))
        self._solver.current_step = int(state.get("current_step", 0))
        extra_file = os.path.splitext(state_file)[0] + ".augdrop_state"
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


def get_solver(solver_file, data_root=None, edit=None):
    """The solver the file's `type` names (SGD by default)."""
    return _Solver(solver_file, data_root, edit)
