"""The training driver behind `augdrop-caffe train`: Caffe's log, a progress line, snapshots,
resume, signals, and a JSON summary. The training loop is the core's (Solver.step): it calls
back at each display, test and snapshot point, and this driver only logs and snapshots there."""
import itertools
import json
import os
import platform
import signal
import sys
import threading
import time

from . import __version__
from .data import DataError, find_data_root
from .data.sources import register_source
from .dropout_spec import apply_dropout
from .device import solver_device, use_device
from .provenance import provenance, weights_digest
from .schedules import apply_schedule
from .solver import get_solver

NET_FIELDS = ("net_param", "train_net_param", "test_net_param")


class RunFolderError(Exception):
    """An --output folder that already holds another run's files."""


class Log:
    """Writes Caffe-style lines to stdout and to <output>/train.log."""

    def __init__(self, path, quiet=False, mode="a"):
        # Opened per line, not held: a run that fails (bad data, bad prototxt) leaves no
        # open file behind. mode: "a" to go on with a log, "w" to start it afresh, "x" to
        # claim a folder (FileExistsError when another run has just claimed it).
        self.path = path
        open(path, mode, encoding="utf-8").close()
        self.quiet = quiet

    def to_file(self, line):
        """A line for train.log only (an error the command line prints itself)."""
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def __call__(self, line):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        if not self.quiet:
            Progress.clear()
            print(line, flush=True)

    def close(self):
        pass


class Progress:
    """One self-overwriting line on a terminal: iteration, iterations per second."""

    active = False

    def __init__(self, total, enabled):
        self.total, self.enabled = total, enabled and sys.stderr.isatty()
        self.shown = 0.0

    def update(self, done, rate):
        # asked after every iteration: redrawn at most five times a second
        if not self.enabled or (time.time() - self.shown < 0.2 and done < self.total):
            return
        self.shown = time.time()
        width = 30
        filled = int(width * done / max(self.total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                         f"{rate:.1f} it/s")
        sys.stderr.flush()
        Progress.active = True

    @staticmethod
    def clear():
        if Progress.active:
            sys.stderr.write("\r\033[K")
            Progress.active = False


def _use_sample_mnist(param, log_lines):
    """Point MNIST sources at the package's sample when the full MNIST is not there."""
    switched = False
    for field in NET_FIELDS:
        for net in param.get(field, []):
            for layer in net.get("layer", []):
                for dp in layer.get("data_param", []):
                    source = dp.get("source", [""])[-1]
                    if not source.startswith("mnist:"):
                        continue
                    try:
                        register_source(source)
                    except DataError as e:
                        dp["source"] = ["mnist-sample:" + source.split(":", 1)[1]]
                        if not switched:
                            log_lines.append(f"NOTE: full MNIST not found ({e}); training on "
                                             f"the package's MNIST sample (2,000 training, "
                                             f"1,000 test images) for a short run instead")
                        switched = True
    return switched


QUICK_ITERATIONS, QUICK_TEST_ITER, QUICK_TEST_INTERVAL = 300, 10, 100

# What a signal does to a run, as Caffe's -sigint_effect / -sighup_effect.
SIGNAL_EFFECTS = ("stop", "snapshot", "none")


class _Signals:
    """Caffe's SignalHandler (util/signal_handler.cpp): the handlers only note what arrived, and
    the training loop acts on it between iterations. SIGTERM has SIGINT's effect. Installed
    only from the main thread (Python's rule); elsewhere the signals keep their handlers."""

    def __init__(self, sigint_effect, sighup_effect):
        for name, effect in (("sigint", sigint_effect), ("sighup", sighup_effect)):
            if effect not in SIGNAL_EFFECTS:
                raise ValueError(f"{name}_effect must be one of {', '.join(SIGNAL_EFFECTS)}, "
                                 f"not {effect!r}")
        self.effects = {signal.SIGINT: sigint_effect, signal.SIGTERM: sigint_effect}
        if hasattr(signal, "SIGHUP"):
            self.effects[signal.SIGHUP] = sighup_effect
        self.stop_signal = None  # the first signal whose effect is stop
        self.snapshot_wanted = False
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.effects:
                self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def _note(self, signum, frame):
        effect = self.effects[signum]
        if effect == "stop" and self.stop_signal is None:
            self.stop_signal = signum
        elif effect == "snapshot":
            self.snapshot_wanted = True

    def action(self):
        """The solver's action after an iteration (Caffe's GetRequestedAction)."""
        if self.stop_signal is not None:
            return "stop"
        if self.snapshot_wanted:
            self.snapshot_wanted = False
            return "snapshot"
        return None


def _new_run_folder(solver_path):
    """runs/<solver>-<timestamp>, made here with an exclusive mkdir: runs started in the same
    second get <timestamp>-2, -3, ... rather than one shared folder."""
    base = os.path.join("runs", os.path.splitext(os.path.basename(solver_path))[0]
                        + time.strftime("-%Y%m%d-%H%M%S"))
    os.makedirs("runs", exist_ok=True)
    for n in itertools.count(1):
        candidate = base if n == 1 else f"{base}-{n}"
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            continue


def _open_run_folder(solver_path, output, snapshot, overwrite):
    """The run's folder and how this run uses it: "made" (here), "empty" (found so),
    "resume" or "overwrite".

    An --output that holds files is another run's: refused unless the user resumes from a
    snapshot inside it (the run goes on in its own folder, train.log continues) or asks
    --overwrite (train.log starts afresh, summary.json and same-named snapshots are replaced,
    other files stay)."""
    if output is None:
        return _new_run_folder(solver_path), "made"
    if os.path.exists(output) and not os.path.isdir(output):
        raise RunFolderError(f"--output {output} is a file, not a folder")
    if not os.path.isdir(output):
        os.makedirs(output, exist_ok=True)
        return output, "made"
    held = sorted(os.listdir(output))
    if not held:
        return output, "empty"
    snapshot_dir = os.path.dirname(os.path.abspath(snapshot)) if snapshot else None
    resuming_here = snapshot_dir and os.path.isdir(snapshot_dir) and os.path.samefile(
        snapshot_dir, output)
    if not (overwrite or resuming_here):
        shown = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        raise RunFolderError(
            f"--output {output} already holds files ({shown}): give a new folder, resume the "
            f"run there with --snapshot {os.path.join(output, '<prefix>_iter_N.solverstate')}, "
            f"or add --overwrite to write into it anyway")
    return output, "resume" if resuming_here else "overwrite"


def _discard_run_folder(output, how, log, error):
    """A run that fails before its first iteration leaves no folder behind: one made for it is
    removed (if it holds nothing else), one found empty is left empty; the error is on stderr.
    A resumed or overwritten run's folder stays, and its train.log gets the error."""
    if how in ("resume", "overwrite"):
        log.to_file(f"ERROR: {error or type(error).__name__}")
        return
    try:
        os.remove(log.path)
        if how == "made" and not os.listdir(output):
            os.rmdir(output)
    except OSError:
        pass


def train(solver_path, weights=None, snapshot=None, dropout=(None, {}), seed=None,
          iterations=None, data_root=None, output=None, sample_fallback=False, quiet=False,
          quick=False, device=None, overwrite=False, sigint_effect="stop",
          sighup_effect="snapshot", schedule=None, engines=None):
    """Train as `caffe train` does; returns the summary dict (also written as JSON).
    device: 'cpu', 'cuda' or 'cuda:N'; by default the solver's solver_mode and device_id.
    sigint_effect (also SIGTERM's) and sighup_effect: 'stop' (after the current iteration,
    then the final snapshot; the summary says "interrupted"), 'snapshot' (and go on) or
    'none', as Caffe's -sigint_effect / -sighup_effect; Caffe's defaults.
    schedule: 'paper' (the solver as written) or '64k' (schedules.py).
    engines: {layer name: engine} forced on those Convolution layers of every net (a stored
    run replayed on the engines its record names; see Layer.engine)."""
    signals = _Signals(sigint_effect, sighup_effect)
    if data_root:
        os.environ["AUGDROP_DATA"] = os.path.abspath(data_root)
    output, how = _open_run_folder(solver_path, output, snapshot, overwrite)
    try:
        log = Log(os.path.join(output, "train.log"), quiet,
                  mode={"resume": "a", "overwrite": "w"}.get(how, "x"))
    except FileExistsError:
        raise RunFolderError(f"--output {output} was taken by another run as this one "
                             f"started: give each run its own folder") from None
    try:
        solver, settings, notes = _set_up(solver_path, weights, snapshot, dropout, seed,
                                          iterations, output, sample_fallback, quick, device,
                                          schedule, engines, log)
    except BaseException as e:
        _discard_run_folder(output, how, log, e)
        raise
    try:
        with signals:
            return _run(solver, solver_path, settings, notes, dropout, quick, output, log,
                        quiet, signals)
    except BaseException as e:
        log.to_file(f"ERROR: {e or type(e).__name__}")
        raise


def force_engines(solver, engines):
    """Forces engines[name] on the Convolution layer `name` of the train and test nets; an
    unknown layer or engine is an error (a replay on other engines would not be one)."""
    nets = [solver.net] + list(solver.test_nets)
    known = {layer.name for net in nets for layer in net.layers if layer.type == "Convolution"}
    missing = sorted(set(engines) - known)
    if missing:
        raise ValueError(f"--engine names {', '.join(missing)}, not Convolution layers of "
                         f"this net ({', '.join(sorted(known)) or 'it has none'})")
    for net in nets:
        for layer in net.layers:
            if layer.name in engines and layer.type == "Convolution":
                layer.engine = engines[layer.name]


def _set_up(solver_path, weights, snapshot, dropout, seed, iterations, output,
            sample_fallback, quick, device, schedule, engines, log):
    """The solver, its nets and data, weights or snapshot: (solver, settings, notes)."""
    notes = []
    settings = {}

    def edit(param):
        default, per_layer = dropout
        changed = []
        for field in NET_FIELDS:
            for net in param.get(field, []):
                changed += apply_dropout(net, default, per_layer)
        if (default or per_layer) and not changed:
            notes.append("NOTE: --dropout given, but the net has no AugmentedDropout layer")
        if seed is not None:
            param["random_seed"] = [int(seed)]
        scheduled = apply_schedule(param, schedule)  # before --quick and --iterations
        if scheduled:
            notes.append(scheduled)
        if sample_fallback and _use_sample_mnist(param, notes):
            param["max_iter"] = [min(param.get("max_iter", [500])[-1], 500)]
            param["test_iter"] = [10 for _ in param.get("test_iter", [])]
            param["test_interval"] = [min(param.get("test_interval", [100])[-1], 100)]
        if quick:  # a smoke run: few iterations, short tests; it says so in the summary
            param["max_iter"] = [min(param.get("max_iter", [QUICK_ITERATIONS])[-1], QUICK_ITERATIONS)]
            param["test_iter"] = [min(t, QUICK_TEST_ITER) for t in param.get("test_iter", [])]
            param["test_interval"] = [QUICK_TEST_INTERVAL]
            notes.append(f"QUICK: a smoke run of at most {QUICK_ITERATIONS} iterations with "
                         f"{QUICK_TEST_ITER}-batch tests, not the paper's setting")
        if iterations is not None:
            param["max_iter"] = [int(iterations)]
        prefix = os.path.basename(param.get("snapshot_prefix", ["snapshot"])[-1]) or "snapshot"
        param["snapshot_prefix"] = [os.path.join(output, prefix)]
        settings.update({k: v[-1] for k, v in param.items()
                         if k not in NET_FIELDS and len(v) == 1 and not isinstance(v[-1], dict)})
        settings["schedule"] = schedule or "paper"
        # Before the nets are built, as `caffe train` sets Caffe's mode.
        settings["device"] = use_device(device or solver_device(param))

    solver = get_solver(solver_path, edit=edit)
    if engines:
        force_engines(solver, engines)
        notes.append("ENGINES: " + ", ".join(f"{k}={v}" for k, v in sorted(engines.items())))
    for n in notes:
        log(n)
    if weights:
        for w in weights.split(","):
            solver.net.copy_from(w)
            log(f"Finetuning from {w}")
    if snapshot:
        solver.restore(snapshot)
        log(f"Resuming from {snapshot} at iteration {solver.iter}")
    return solver, settings, notes


def _run(solver, solver_path, settings, notes, dropout, quick, output, log, quiet, signals):
    """The training loop (the core's) with this driver's log, snapshots and summary."""
    p = solver.param
    max_iter = int(p.max_iter)
    snapshot_every = int(p.snapshot)
    seed = p.random_seed if p.HasField("random_seed") else "unset"
    log(f"Solving {solver.net.name} ({solver.type}), {max_iter} iterations, seed "
        f"{seed}, data root {find_data_root()}")

    test_curve, train_curve = [], []
    progress = Progress(max_iter, not quiet)
    start, first_iter = time.time(), solver.iter
    # the time and iteration of the last display line, and the iteration of the last snapshot
    last = {"time": start, "iter": first_iter, "snapshot": None, "state": None}

    def take_snapshot():
        model, state = solver.snapshot()
        log(f"Snapshotting to {model} and {state}")
        last["snapshot"], last["state"] = solver.iter, state

    def on_event(event):
        if event.kind == "test":
            for r in event.tests:
                log(f"Iteration {r.iter}, Testing net (#{r.test_net})")
                entry = {"iter": r.iter}
                for i, (name, value, weight) in enumerate(zip(r.names, r.values, r.loss_weights)):
                    extra = f" (* {weight:g} = {value * weight:g} loss)" if weight else ""
                    log(f"    Test net output #{i}: {name} = {value:g}{extra}")
                    entry[name] = value
                test_curve.append(entry)
        elif event.kind == "display":
            now, done = time.time(), event.iter + 1
            speed = (done - last["iter"]) / max(now - last["time"], 1e-9)
            log(f"Iteration {event.iter} ({speed:.2f} iter/s), loss = {event.smoothed_loss:g}, "
                f"lr = {event.rate:g}")
            train_curve.append({"iter": event.iter, "loss": event.smoothed_loss,
                                "lr": float(event.rate)})
            last["time"], last["iter"] = now, done
        else:  # the solver's snapshot interval, or a signal whose effect is snapshot
            take_snapshot()

    def action():  # after every iteration: the progress line, then what the signals ask
        progress.update(solver.iter, (solver.iter - first_iter) / max(time.time() - start, 1e-9))
        return signals.action()

    interrupted = False
    if solver.iter < max_iter:
        solver.step(max_iter - solver.iter, on_event=on_event, action=action)
        interrupted = solver.requested_early_exit
    if interrupted:
        # DEVIATION: Caffe takes this snapshot only under snapshot_after_train; a stopped run
        # always keeps one here, so that it can be resumed.
        if last["snapshot"] != solver.iter:
            take_snapshot()
        name = signal.Signals(signals.stop_signal).name if signals.stop_signal else None
        log(f"Optimization stopped early at iteration {solver.iter}"
            + (f" by {name}" if name else "")
            + f"; resume with --snapshot {last['state']} --output {output}")
        final = {}
    else:
        final = _final_test(solver, log, test_curve)
        if (p.snapshot_after_train and last["snapshot"] != solver.iter
                and not (snapshot_every and solver.iter % snapshot_every == 0)):
            take_snapshot()
    wall = time.time() - start
    if not interrupted:
        log(f"Optimization Done in {wall:.1f} s.")
    summary = {
        "version": __version__, "solver": os.path.abspath(solver_path), "net": solver.net.name,
        "provenance": provenance(solver.net, settings.get("device", "cpu")),
        "weights_sha256": weights_digest(solver.net),
        "iterations": solver.iter, "seed": p.random_seed if p.HasField("random_seed") else None,
        "interrupted": bool(interrupted),
        "signal": signal.Signals(signals.stop_signal).name if interrupted and
        signals.stop_signal else None,
        "dropout": {"default": str(dropout[0]) if dropout[0] else None,
                    "per_layer": {k: str(v) for k, v in dropout[1].items()}},
        "settings": settings, "notes": notes, "quick": bool(quick), "wall_time_s": wall,
        "schedule": settings.get("schedule", "paper"),
        "iterations_per_s": (solver.iter - first_iter) / max(wall, 1e-9),
        "final_test": final, "test_curve": test_curve, "train_curve": train_curve,
        "hardware": {"machine": platform.machine(), "processor": platform.processor(),
                     "cpus": os.cpu_count(), "python": platform.python_version(),
                     "device": settings.get("device", "cpu")},
    }
    tmp = os.path.join(output, "summary.json.tmp")
    with open(tmp, "w") as f:
        json.dump(summary, f, indent=2)
    os.replace(tmp, os.path.join(output, "summary.json"))
    log.close()
    return summary


def _final_test(solver, log, test_curve):
    """The test after the last iteration, as Caffe's Solve runs it (here always, so that the
    summary has the final model's test scores)."""
    if test_curve and test_curve[-1]["iter"] == solver.iter:
        return {k: v for k, v in test_curve[-1].items() if k != "iter"}
    if not solver.test_nets:
        return {}
    entry = {"iter": solver.iter}
    for net_id, results in enumerate(solver.test_all()):
        log(f"Iteration {solver.iter}, Testing net (#{net_id})")
        for i, (name, value) in enumerate(results.items()):
            log(f"    Test net output #{i}: {name} = {value:g}")
            entry.setdefault(name, value)  # the first test net's scores are the summary's
    test_curve.append(entry)
    return {k: v for k, v in entry.items() if k != "iter"}
