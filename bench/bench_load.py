"""Training speed with and without a competing CPU load, by thread count and OpenMP wait policy.

    python bench/bench_load.py [--net lenet] [--iterations 100] [--rounds 3] [--load 2]
                               [--policies default passive]

Each measurement is a fresh process (OpenMP reads its wait policy once, at start) that times
`solver.step(iterations)` of bench_train.py's net on random data, with the core's default
threads (all cores) and with 1 thread; "loaded" runs `--load` busy processes beside it for the
measurement's duration. Policies: "default" is the package's own setting (what users get);
"stock" is libgomp's own default (GOMP_SPINCOUNT=300000: a waiting thread spins ~0.3 ms
before it sleeps), "spin" spins for ever (OMP_WAIT_POLICY=ACTIVE), "spin10k" spins 10,000
times, "passive" sleeps at once (OMP_WAIT_POLICY=PASSIVE). The median of the rounds is shown.
Run it alone on the machine: the "quiet" figures need idle cores.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
POLICIES = {"default": {}, "spin": {"OMP_WAIT_POLICY": "ACTIVE"},
            "stock": {"GOMP_SPINCOUNT": "300000"}, "spin10k": {"GOMP_SPINCOUNT": "10000"},
            "passive": {"OMP_WAIT_POLICY": "PASSIVE"}}

CHILD = r"""
import sys, time
sys.path.insert(0, {here!r})
import augdrop_caffe as caffe
from bench_train import our_solver
threads = {threads}
if threads:
    caffe.set_num_threads(threads)
solver = our_solver({net!r}, 100, 0.5)
solver.step(3)
t = time.perf_counter()
solver.step({iterations})
print(time.perf_counter() - t)
"""


def spinners(count, seconds):
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def measure(net, iterations, threads, policy, load):
    env = dict(os.environ)
    for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS"):
        env.pop(key, None)
    env.update(POLICIES[policy])
    busy = spinners(load, 600) if load else []
    try:
        time.sleep(0.2 if load else 0)
        out = subprocess.run([sys.executable, "-c", CHILD.format(
            here=HERE, threads=threads, net=net, iterations=iterations)],
            env=env, capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        for p in busy:
            p.kill()
            p.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--net", default="lenet", choices=["lenet", "cifar10_quick"])
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--load", type=int, default=os.cpu_count(),
                   help="busy processes in the loaded runs (default: one per core)")
    p.add_argument("--loads", type=int, nargs="+",
                   help="busy-process counts to measure (default: 0 and --load)")
    p.add_argument("--policies", nargs="+", default=["default", "stock"], choices=list(POLICIES))
    args = p.parse_args()
    print(f"{args.net}, {args.iterations} iterations, median of {args.rounds} rounds; "
          f"{os.cpu_count()} cores; loaded = {args.load} busy processes")
    for load in args.loads or (0, args.load):
        for policy in args.policies:
            for threads in (0, 1):
                times = [measure(args.net, args.iterations, threads, policy, load)
                         for _ in range(args.rounds)]
                label = f"{'loaded' if load else 'quiet':<6} {policy:<8} " \
                        f"{'threads ' + (str(threads) if threads else 'default'):<16}"
                print(f"{label} {statistics.median(times):7.2f} s "
                      f"(rounds {', '.join(f'{t:.2f}' for t in times)})", flush=True)


if __name__ == "__main__":
    main()
