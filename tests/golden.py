"""Reader for the Caffe golden vectors (shared/caffe-golden, see its README.md).

    import golden
    golden.cases()            # every case name, sorted
    golden.cases("solver")    # the names of one kind: layer, filler, net, solver
    z = golden.load(name)     # the case's npz (a dict-like NpzFile)
    golden.assert_close(ours, z["data/out"], atol, rtol, "data/out")
    golden.assert_same_mask(ours, z["data/out"], atol, "mask of out")

The folder comes from the environment variable AUGDROP_GOLDEN (the caffe-golden folder, or its
cases/ folder), by default ../shared/caffe-golden beside the repository. A missing folder is an
error, never a skip: CI always has the golden vectors.

The tolerance rule is the README's: for a compared array A,

    max |ours - A|  <=  atol + rtol * max |A|

and, for a Dropout output named in mask_blobs, the zeros of ours must sit exactly where Caffe's
are (an element where one side is zero and the other is below atol does not count).
"""
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augdrop_caffe import textformat

__all__ = ["GoldenMissing", "Comparison", "folder", "cases", "catalogue_folder", "catalogue",
           "load", "compare", "compare_mask", "assert_close", "assert_same_mask", "text", "integer", "names", "group"]

KINDS = ("layer", "filler", "net", "solver")


class GoldenMissing(AssertionError):
    """The golden folder (or a case in it) is not there."""


def _default_root():
    return Path(__file__).resolve().parents[1].parent / "shared" / "caffe-golden"


def folder():
    """The folder that holds the case archives (<golden>/cases)."""
    env = os.environ.get("AUGDROP_GOLDEN")
    root = Path(env).expanduser() if env else _default_root()
    source = f"AUGDROP_GOLDEN={env}" if env else "the default location"
    if not root.is_dir():
        raise GoldenMissing(
            f"Caffe golden vectors not found at {root} ({source}). Point the environment "
            f"variable AUGDROP_GOLDEN at the caffe-golden folder (the one with README.md and "
            f"cases/); these tests never skip, CI always has the folder.")
    cases_dir = root / "cases"
    if cases_dir.is_dir():
        return cases_dir
    if any(root.glob("*.npz")):
        return root
    raise GoldenMissing(f"{root} ({source}) holds no cases/ folder and no .npz case archives")


@functools.lru_cache(maxsize=None)
def _index():
    """{name: kind} for every case archive in the folder."""
    out = {}
    for path in sorted(folder().glob("*.npz")):
        with np.load(path, allow_pickle=False) as z:
            out[path.stem] = str(z["kind"])
    if not out:
        raise GoldenMissing(f"no .npz case archives in {folder()}")
    return out


def cases(kind=None):
    """The case names (sorted), all of them or those of one kind."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown case kind {kind!r}; one of {KINDS}")
    return [name for name, k in _index().items() if kind is None or k == kind]


def kind_of(name):
    return _index()[name]


def catalogue_folder():
    """The folder of the catalogue cases (<golden>/catalogue), beside cases/."""
    return folder().parent / "catalogue"


@functools.lru_cache(maxsize=None)
def catalogue():
    """{name: sorted layer types of its prototxt} for every catalogue case archive (empty where
    the golden folder has no catalogue/)."""
    out = {}
    for path in sorted(catalogue_folder().glob("*.npz")):
        with np.load(path, allow_pickle=False) as z:
            net = textformat.parse_text(str(z["prototxt"]), "NetParameter").to_dict()
            out[path.stem] = sorted({t for layer in net.get("layer", []) for t in layer.get("type", [])})
    return out


@functools.lru_cache(maxsize=None)
def _load(name):
    """A case of cases/, or else of catalogue/ (the two hold no common names)."""
    path = folder() / f"{name}.npz"
    if not path.is_file() and (catalogue_folder() / f"{name}.npz").is_file():
        path = catalogue_folder() / f"{name}.npz"
    if not path.is_file():
        raise GoldenMissing(f"golden case {name!r} not found: {path}")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load(name):
    """The case's arrays as a dict {key: array} (a fresh dict; the arrays are shared, read-only
    by convention)."""
    return dict(_load(name))


# ---- small accessors ---------------------------------------------------------------------------

def text(z, key):
    return str(z[key])


def integer(z, key, default=None):
    return int(z[key]) if key in z else default


def names(z, key):
    return [str(s) for s in z[key]] if key in z else []


def group(z, prefix):
    """{rest of the key: array} for every key 'prefix/<rest>', in the archive's order."""
    p = prefix.rstrip("/") + "/"
    return {k[len(p):]: v for k, v in z.items() if k.startswith(p)}


# ---- comparisons -------------------------------------------------------------------------------

@dataclass
class Comparison:
    """One compared array: the error against the README's bound."""

    what: str
    error: float        # max |ours - A| (inf for a shape mismatch or a non-finite value)
    bound: float        # atol + rtol * max |A|
    ref_max: float      # max |A|
    message: str = ""   # why it failed ('' when it passed)
    mismatches: int = 0  # mask comparisons: elements whose zero pattern differs

    @property
    def ok(self):
        return not self.message

    @property
    def ratio(self):
        """error / bound (<= 1 passes)."""
        return self.error / self.bound if self.bound > 0 else (0.0 if self.error == 0 else np.inf)

    @property
    def rel_error(self):
        """max |ours - A| / max |A| (the error itself where A is all zeros)."""
        return self.error / self.ref_max if self.ref_max > 0 else self.error


def _as_arrays(ours, ref):
    ours = np.asarray(ours)
    ref = np.asarray(ref)
    return ours, ref


def compare(ours, ref, atol, rtol, what):
    """The README's rule, as a Comparison (does not raise)."""
    ours, ref = _as_arrays(ours, ref)
    atol, rtol = float(atol), float(rtol)
    ref64 = ref.astype(np.float64)
    ref_max = float(np.max(np.abs(ref64))) if ref.size else 0.0
    bound = atol + rtol * ref_max
    if ours.shape != ref.shape:
        return Comparison(what, np.inf, bound, ref_max,
                          f"{what}: shape {ours.shape}, Caffe's is {ref.shape}")
    if ref.size == 0:
        return Comparison(what, 0.0, bound, ref_max)
    ours64 = ours.astype(np.float64)
    if not np.all(np.isfinite(ours64)):
        bad = int(np.count_nonzero(~np.isfinite(ours64)))
        return Comparison(what, np.inf, bound, ref_max,
                          f"{what}: {bad} of {ours.size} values are not finite")
    diff = np.abs(ours64 - ref64)
    error = float(np.max(diff))
    if error <= bound:
        return Comparison(what, error, bound, ref_max)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    over = int(np.count_nonzero(diff > bound))
    return Comparison(
        what, error, bound, ref_max,
        f"{what}: max|ours - caffe| = {error:.4g} > bound {bound:.4g} "
        f"(atol {atol:g} + rtol {rtol:g} * max|caffe| {ref_max:.4g}; {error / bound:.3g}x the "
        f"bound); {over} of {ref.size} elements over, worst at {tuple(int(i) for i in worst)}: "
        f"ours {float(ours64[worst]):.8g}, caffe {float(ref64[worst]):.8g}")


def compare_mask(ours, ref, atol, what):
    """Dropout's mask: the zeros of ours sit exactly where Caffe's are (a Comparison whose
    error is the number of mismatching elements and whose bound is 0)."""
    ours, ref = _as_arrays(ours, ref)
    if ours.shape != ref.shape:
        return Comparison(what, np.inf, 0.0, 0.0,
                          f"{what}: shape {ours.shape}, Caffe's is {ref.shape}")
    o = ours.astype(np.float64)
    r = ref.astype(np.float64)
    differs = (o == 0) != (r == 0)
    # one side zero, the other below atol (a ReLU before the dropout can leave such values)
    differs &= np.maximum(np.abs(o), np.abs(r)) >= float(atol)
    n = int(np.count_nonzero(differs))
    if n == 0:
        return Comparison(what, 0.0, 0.0, 0.0)
    first = np.unravel_index(int(np.flatnonzero(differs)[0]), differs.shape)
    return Comparison(
        what, float(n), 0.0, 0.0,
        f"{what}: the dropout mask differs from Caffe's at {n} of {ref.size} elements "
        f"(Caffe zeros {int(np.count_nonzero(r == 0))}, ours {int(np.count_nonzero(o == 0))}); "
        f"first at {tuple(int(i) for i in first)}: ours {float(o[first]):.8g}, "
        f"caffe {float(r[first]):.8g}", mismatches=n)


def assert_close(ours, ref, atol, rtol, what):
    """Assert max|ours - ref| <= atol + rtol * max|ref| (and equal shapes); returns the
    Comparison."""
    c = compare(ours, ref, atol, rtol, what)
    assert c.ok, c.message
    return c


def assert_same_mask(ours, ref, atol, what):
    """Assert the zero pattern of ours equals Caffe's (see compare_mask)."""
    c = compare_mask(ours, ref, atol, what)
    assert c.ok, c.message
    return c
