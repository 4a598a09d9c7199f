"""Monte Carlo dropout evaluation of a trained sweep run (Table 6): the net the run trained,
its final weights, and `augdrop-caffe test --mc-samples T` in a child process (a crash there
cannot take the sweep down), before the run's folder is removed."""
import glob
import json
import os
import re
import subprocess
import sys
import time

from .. import textformat
from ..solver import _resolve
from .tables import MC_SAMPLES, MC_SAMPLES_QUICK, SOLVERS


def final_weights(output):
    """The .caffemodel of the highest iteration in a training's output folder, or None."""
    best, best_iter = None, -1
    for path in glob.glob(os.path.join(output, "*.caffemodel")):
        m = re.search(r"_iter_(\d+)\.caffemodel$", path)
        if m and int(m.group(1)) > best_iter:
            best, best_iter = path, int(m.group(1))
    return best


def net_of_solver(solver_path):
    param = textformat.parse_file(solver_path, "SolverParameter").to_dict()
    if "net" not in param:
        raise ValueError(f"{solver_path}: names no `net` file (MC evaluation needs one)")
    return _resolve(param["net"][-1], solver_path)


def mc_test(run, output, summary, solver_dir, data_root=None, env=None, device="cpu",
            preexec_fn=None):
    """The MC record of a finished run: mc_dropout's figures (T passes a batch over the
    run's test_iter batches, masks seeded with the run's seed) and its wall time; or
    {"status": "failed", "error": ...}. The training record stays valid either way."""
    start = time.time()
    samples = MC_SAMPLES_QUICK if run.quick else MC_SAMPLES
    weights = final_weights(output)
    if weights is None:
        return {"status": "failed", "error": f"no .caffemodel in {output}"}
    solver = os.path.join(solver_dir, SOLVERS[run.setup])
    iterations = int(summary.get("settings", {}).get("test_iter", 100))
    out = os.path.join(output, "mc_test.json")
    cmd = [sys.executable, "-m", "augdrop_caffe.cli", "test", "--model", net_of_solver(solver),
           "--weights", weights, "--mc-samples", str(samples), "--iterations", str(iterations),
           "--dropout", run.dropout, "--seed", str(run.seed), "--json", out, "--quiet",
           "--device", device]
    if data_root:
        cmd += ["--data-root", data_root]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, preexec_fn=preexec_fn)
    if proc.returncode != 0 or not os.path.isfile(out):
        error = proc.stderr.strip() or proc.stdout.strip() or f"exit code {proc.returncode}"
        return {"status": "failed", "error": error[-2000:], "samples": samples,
                "wall_time_s": time.time() - start}
    with open(out) as f:
        result = json.load(f)
    result.update(status="ok", wall_time_s=time.time() - start)
    return result
