"""--schedule: the length of a training and where its learning rate steps fall.

    paper   the solver as written: for ResNet-20 the paper's printed 640,000 iterations, lr
            times 0.1 at 320,000 and 480,000
    64k     the usual ResNet-20 schedule (He et al. 2016: 64,000 iterations, steps at 32,000 and
            48,000): max_iter becomes 64,000 and every iteration count of the solver (lr
            steps, test_interval, snapshot) is scaled by the same factor, 64,000 / max_iter

The schedule is named in the training's log, its summary.json (settings.schedule) and the
sweep's store records, and a 64k run is its own run (tables.py: setups "...-64k").
"""

SCHEDULES = ("paper", "64k")
TARGET_ITERATIONS = {"64k": 64000}
# Solver fields that count iterations: scaled with max_iter (the lr steps above all).
SCALED_FIELDS = ("stepvalue", "stepsize", "test_interval", "snapshot")


class ScheduleError(ValueError):
    pass


def apply_schedule(param, schedule):
    """Rescale a SolverParameter dict in place; returns a line that says what was done."""
    if schedule in (None, "paper"):
        return None
    if schedule not in TARGET_ITERATIONS:
        raise ScheduleError(f"--schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    max_iter = int(param.get("max_iter", [0])[-1])
    if max_iter <= 0:
        raise ScheduleError(f"--schedule {schedule}: the solver sets no max_iter to scale")
    target = TARGET_ITERATIONS[schedule]
    factor = target / max_iter
    param["max_iter"] = [target]
    for field in SCALED_FIELDS:
        if field in param:
            param[field] = [max(1, int(round(int(v) * factor))) if int(v) > 0 else int(v)
                            for v in param[field]]
    steps = param.get("stepvalue") or param.get("stepsize") or []
    return (f"SCHEDULE {schedule}: {target:,} iterations instead of the solver's {max_iter:,} "
            f"(x{factor:g}); lr steps at {', '.join(f'{int(s):,}' for s in steps) or 'none'}")
