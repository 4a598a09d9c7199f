"""The training driver behind `augdrop-caffe train`: Caffe's log, a progress line, snapshots,
resume, and a JSON summary. The iterations themselves run in the core (Solver.step)."""
import json
import math
import os
import platform
import sys
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


class Log:
    """Writes Caffe-style lines to stdout and to <output>/train.log."""

    def __init__(self, path, quiet=False):
        # Opened per line, not held: a run that fails (bad data, bad prototxt) leaves no
        # open file behind.
        self.path = path
        open(path, "a", encoding="utf-8").close()
        self.quiet = quiet

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

    def update(self, done, rate):
        if not self.enabled:
            return
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


def train(solver_path, weights=None, snapshot=None, dropout=(None, {}), seed=None,
          iterations=None, data_root=None, output=None, sample_fallback=False, quiet=False,
          quick=False, device=None, schedule=None):
    """Train as `caffe train` does; returns the summary dict (also written as JSON).
    device: 'cpu', 'cuda' or 'cuda:N'; by default the solver's solver_mode and device_id.
    schedule: 'paper' (the solver as written) or '64k' (schedules.py)."""
    if data_root:
        os.environ["AUGDROP_DATA"] = os.path.abspath(data_root)
    output = output or os.path.join(
        "runs", os.path.splitext(os.path.basename(solver_path))[0] + time.strftime("-%Y%m%d-%H%M%S"))
    os.makedirs(output, exist_ok=True)
    log = Log(os.path.join(output, "train.log"), quiet)
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
    for n in notes:
        log(n)
    if weights:
        for w in weights.split(","):
            solver.net.copy_from(w)
            log(f"Finetuning from {w}")
    if snapshot:
        solver.restore(snapshot)
        log(f"Resuming from {snapshot} at iteration {solver.iter}")

    p = solver.param
    max_iter = int(p.get("max_iter", [0])[-1])
    display = int(p.get("display", [0])[-1])
    test_interval = int(p.get("test_interval", [0])[-1])
    snapshot_every = int(p.get("snapshot", [0])[-1])
    average_loss = int(p.get("average_loss", [1])[-1])
    log(f"Solving {solver.net.name} ({solver.type}), {max_iter} iterations, seed "
        f"{p.get('random_seed', ['unset'])[-1]}, data root {find_data_root()}")

    losses, test_curve, train_curve = [], [], []
    progress = Progress(max_iter, not quiet)
    start, last_time, last_iter = time.time(), time.time(), solver.iter

    def report_tests():
        for r in solver.take_test_results():
            log(f"Iteration {r.iter}, Testing net (#{r.test_net})")
            entry = {"iter": r.iter}
            for i, (name, value, weight) in enumerate(zip(r.names, r.values, r.loss_weights)):
                extra = f" (* {weight:g} = {value * weight:g} loss)" if weight else ""
                log(f"    Test net output #{i}: {name} = {value:g}{extra}")
                entry[name] = value
            test_curve.append(entry)

    while solver.iter < max_iter:
        boundaries = [max_iter]
        for every in (display, test_interval, snapshot_every):
            if every > 0:
                boundaries.append((solver.iter // every + 1) * every)
        first = solver.iter
        solver.step(min(boundaries) - solver.iter)
        batch_losses, rates = solver.take_iteration_log()
        report_tests()
        for k, (loss, rate) in enumerate(zip(batch_losses, rates)):
            it = first + k
            losses.append(float(loss))
            smoothed = sum(losses[-average_loss:]) / len(losses[-average_loss:])
            if display and it % display == 0:
                now = time.time()
                speed = (solver.iter - last_iter) / max(now - last_time, 1e-9)
                log(f"Iteration {it} ({speed:.2f} iter/s), loss = {smoothed:g}, lr = {rate:g}")
                train_curve.append({"iter": it, "loss": smoothed, "lr": float(rate)})
                last_time, last_iter = now, solver.iter
        if not math.isfinite(losses[-1]):
            break
        progress.update(solver.iter, len(losses) / max(time.time() - start, 1e-9))
        if snapshot_every and solver.iter % snapshot_every == 0:
            model, state = solver.snapshot()
            log(f"Snapshotting to {model} and {state}")
    final = _final_test(solver, log, test_curve)
    if p.get("snapshot_after_train", [True])[-1] and not (snapshot_every and
                                                          solver.iter % snapshot_every == 0):
        model, state = solver.snapshot()
        log(f"Snapshotting to {model} and {state}")
    wall = time.time() - start
    log(f"Optimization Done in {wall:.1f} s.")
    summary = {
        "version": __version__, "solver": os.path.abspath(solver_path), "net": solver.net.name,
        "provenance": provenance(solver.net, settings.get("device", "cpu")),
        "weights_sha256": weights_digest(solver.net),
        "iterations": solver.iter, "seed": p.get("random_seed", [None])[-1],
        "dropout": {"default": str(dropout[0]) if dropout[0] else None,
                    "per_layer": {k: str(v) for k, v in dropout[1].items()}},
        "settings": settings, "notes": notes, "quick": bool(quick), "wall_time_s": wall,
        "schedule": settings.get("schedule", "paper"),
        "iterations_per_s": len(losses) / max(wall, 1e-9),
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
