"""`augdrop-caffe replicate --verify KEY`: train one stored run again and say whether today's
code reproduces its record bit for bit (weights digest, final test scores and both curves)."""
import math

from .store import ResultStore
from .training import train_one
from .tables import Run
from ..provenance import REPRODUCIBILITY_KEYS, provenance

# The record fields that a bit-for-bit rerun must give again, in the order they are compared.
COMPARED = ("weights_sha256", "final_test", "test_curve", "train_curve", "iterations")


def first_difference(old, new, path=""):
    """A description of the first place where two JSON values differ, or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            if k not in old or k not in new:
                return f"{path}{k}: only in the {'new' if k in new else 'stored'} record"
            diff = first_difference(old[k], new[k], f"{path}{k}.")
            if diff:
                return diff
        return None
    if isinstance(old, list) and isinstance(new, list):
        for i, (a, b) in enumerate(zip(old, new)):
            diff = first_difference(a, b, f"{path}[{i}].")
            if diff:
                return diff
        if len(old) != len(new):
            return f"{path.rstrip('.')}: {len(old)} entries stored, {len(new)} now"
        return None
    if old != new and not (_is_nan(old) and _is_nan(new)):  # NaN is NaN's reproduction
        return f"{path.rstrip('.')}: stored {old!r}, now {new!r}"
    return None


def _is_nan(value):
    return isinstance(value, float) and math.isnan(value)


def verify(key, store_dir, data_root=None, threads=None, sample_fallback=False, log=print):
    """Reruns the stored run `key`; returns (reproduced: bool, the new record)."""
    store = ResultStore(store_dir)
    record = store.get(key)
    if record is None:
        raise KeyError(f"{store_dir}: no record named {key!r}")
    if record.get("status") != "ok":
        raise KeyError(f"{store_dir}: {key} is a {record.get('status')} run; only finished "
                       f"runs can be verified")
    run = Run(record["setup"], record["dropout"], int(record["seed"]), bool(record["quick"]),
              int(record.get("iterations_override") or 0))
    stored = record.get("provenance") or {}
    slots = stored.get("reduction_slots", 2)
    log(f"{key}: training again (reduction slots {slots}"
        + (f", stored from commit {stored['commit'][:12]}" if stored.get("commit") else
           ", stored without provenance") + ")")
    # The engines the record names: the automatic choice may have changed since (a new
    # engine, a new rule), and a replay must take the stored run's code paths.
    engines = stored.get("engines") or None
    new = train_one(run, data_root, sample_fallback, threads=threads, reduction_slots=slots,
                    device=stored.get("device", "cpu"), engines=engines)
    if new["status"] != "ok":
        log(f"{key}: the rerun failed: {new['error'].splitlines()[-1]}")
        return False, new
    compared = [f for f in COMPARED if f in record]
    diff = None
    for field in compared:
        diff = first_difference(record[field], new[field], field + ".")
        if diff:
            break
    if diff is None:
        log(f"{key}: reproduced bit for bit ({', '.join(compared)}; "
            f"{new['wall_time_s']:.0f} s on {new['provenance']['threads']} thread(s))")
        return True, new
    log(f"{key}: NOT reproduced: first difference at {diff}")
    now = new.get("provenance") or provenance()
    for k in REPRODUCIBILITY_KEYS + ("commit", "simd"):
        if stored.get(k) != now.get(k):
            log(f"    provenance {k}: stored {stored.get(k, 'not recorded')!r}, now {now.get(k)!r}")
    return False, new
