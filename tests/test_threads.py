"""The OpenMP wait policy the package sets for itself (a short spin, so that waiting threads
give their cores away on a busy machine; bench/bench_load.py measures it), and that the
user's own setting wins."""
import os
import subprocess
import sys

PROBE = ("import os, augdrop_caffe as c; c.set_num_threads(2); "
         "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))")


def probe(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    clean.update(env)
    out = subprocess.run([sys.executable, "-c", PROBE], env=clean, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


def test_a_short_spin_by_default():
    assert probe() == ["10000", "None"]


def test_the_users_policy_wins():
    assert probe(OMP_WAIT_POLICY="PASSIVE") == ["None", "PASSIVE"]
    assert probe(GOMP_SPINCOUNT="42") == ["42", "None"]
