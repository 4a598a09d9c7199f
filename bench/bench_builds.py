"""A change's effect on training speed: the same nets on two installs of augdrop-caffe (a
baseline and this one), alternating in one run.

    python bench/bench_builds.py --baseline /path/to/baseline-venv/bin/python
                                 [--candidate PYTHON] [--nets lenet cifar10_quick resnet20]
                                 [--rounds 5] [--steps 10] [--threads N]

Timings on a shared machine drift by up to 20% between minutes, so two separate runs do not
compare; alternating the builds round by round does. Each round trains each net for --steps
solver steps on each install, each in a fresh process (bench_train.py's solver: the paper's
net, synthetic inputs), and keeps the fastest step. Printed: per net the median over rounds of
each build's fastest step, and baseline / candidate (above 1: the candidate is faster).

A baseline install: `git worktree add ../baseline REV`, a venv there, and
`pip install --no-build-isolation ../baseline`. Both must import `augdrop_caffe`; the nets and
solvers come from this checkout's prototxt/.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NETS = ("lenet", "cifar10_quick", "resnet20")


def child(name, steps, threads):
    """In the install under test: the fastest of `steps` timed solver steps, in ms, as JSON."""
    sys.path.insert(0, HERE)
    import augdrop_caffe as caffe
    from bench_train import our_solver

    caffe.set_num_threads(threads)
    solver = our_solver(name)
    solver.step(2)  # first-touch allocations
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        solver.step(1)
        times.append(time.perf_counter() - start)
    print(json.dumps({"ms": 1e3 * min(times)}))


def run_child(python, name, steps, threads):
    done = subprocess.run([python, __file__, "--child", name, "--steps", str(steps),
                           "--threads", str(threads)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{python} could not train {name} (status {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", help="the baseline install's python")
    p.add_argument("--candidate", default=sys.executable,
                   help="the candidate install's python (default: this one)")
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--child", choices=NETS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.child, args.steps, args.threads)
    if not args.baseline:
        p.error("--baseline PYTHON is required (the baseline install's interpreter)")

    builds = {"baseline": args.baseline, "candidate": args.candidate}
    for build, python in builds.items():
        found = subprocess.run([python, "-c", "import augdrop_caffe; print(augdrop_caffe.__file__)"],
                               capture_output=True, text=True)
        if found.returncode != 0:
            sys.exit(f"{build} {python}: no augdrop_caffe to import:\n{found.stderr}")
        print(f"{build}: {python} -> {found.stdout.strip()}")
    for net in args.nets:
        best = {build: [] for build in builds}
        for _ in range(args.rounds):
            for build, python in builds.items():
                result = run_child(python, net, args.steps, args.threads)
                best[build].append(result["ms"])
        base, cand = (statistics.median(best[b]) for b in builds)
        print(f"{net:<14} baseline {base:8.2f} ms  candidate {cand:8.2f} ms  "
              f"baseline / candidate {base / cand:5.3f}  "
              f"(rounds: {' '.join(f'{b:.1f}/{c:.1f}' for b, c in zip(*best.values()))})",
              flush=True)


if __name__ == "__main__":
    main()
