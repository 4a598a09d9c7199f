"""The report's tests of the paper's claims (experiments/stats.py) and the code paths of each
cell (experiments/recipes.py), on hand-made stores, against numbers computed here from the
textbook formulas: numpy for the moments, and Student's t tail from the regularized incomplete
beta function written out below (Numerical Recipes' continued fraction), not from scipy."""
import math

import numpy as np
import pytest
import scipy.stats

from augdrop_caffe.experiments import report as report_mod
from augdrop_caffe.experiments import stats
from augdrop_caffe.experiments.recipes import CodePaths, commit_of, describe, recipe
from augdrop_caffe.experiments.store import ResultStore
from augdrop_caffe.experiments.tables import Run

TOL = 1e-9


# --- Student's t by hand ---------------------------------------------------------------------

def _beta_fraction(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        for aa in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                   -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            return h
    raise AssertionError("continued fraction did not converge")


def _betainc(a, b, x):
    """I_x(a, b), the regularized incomplete beta function."""
    if x in (0.0, 1.0):
        return x
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _two_sided_p(t, df):
    """P(|T_df| > |t|) = I_{df/(df+t^2)}(df/2, 1/2)."""
    return _betainc(df / 2, 0.5, df / (df + t * t))


def test_the_hand_written_t_tail():
    # closed forms: df 1 (Cauchy) and df 2
    for t in (0.3, 1.0, 2.5):
        assert math.isclose(_two_sided_p(t, 1), 1 - 2 / math.pi * math.atan(t), abs_tol=1e-13)
        assert math.isclose(_two_sided_p(t, 2), 1 - t / math.sqrt(2 + t * t), abs_tol=1e-13)
    assert math.isclose(_two_sided_p(2.228138851986274, 10), 0.05, abs_tol=1e-12)


# --- a hand-made store --------------------------------------------------------------------------

def _provenance(engine="IMPLICIT", slots=2, simd="AVX-512", device="cpu", commit="a" * 40,
                build=None, layers=("conv1", "conv2")):
    engines = engine if isinstance(engine, dict) else {layer: engine for layer in layers}
    return {"version": "0.1.0", "commit": commit, "build_commit": build or commit,
            "compiler": "GNU 12.2.0", "simd": simd, "threads": 2, "reduction_slots": slots,
            "blas": "scipy-openblas32 0.3.27 (1 thread)", "cpu": "Some CPU", "cpus": 2,
            "python": "3.11.7", "device": device, "engines": engines}


def _put(store, setup, dropout, seed, accuracy, provenance=None):
    run = Run(setup, dropout, seed)
    record = {"key": run.key, "setup": setup, "dropout": dropout, "seed": seed, "quick": False,
              "iterations_override": 0, "version": "0.1.0", "status": "ok",
              "wall_time_s": 10.0, "final_test": {"accuracy": accuracy, "loss": 0.1},
              "test_curve": [], "train_curve": [], "iterations": 100}
    if provenance is not None:
        record.update(provenance=provenance, weights_sha256="0" * 64)
    store.put(run.key, record)


def _fill(store, setup, dropout, accuracies, provenance=None):
    for seed, accuracy in enumerate(accuracies, 1):
        _put(store, setup, dropout, seed, accuracy, provenance)


STANDARD_1, AUGMENTED_1 = [0.70, 0.72, 0.71], [0.73, 0.74, 0.72]
STANDARD_2, AUGMENTED_2 = [0.80, 0.83, 0.81, 0.825], [0.84, 0.805]  # unequal seeds and spread


@pytest.fixture
def store(tmp_path):
    store = ResultStore(str(tmp_path / "store"))
    _fill(store, "lenet-mnist", "standard:0.1", STANDARD_1)
    _fill(store, "lenet-mnist", "augmented:0.1/0.0001", AUGMENTED_1)
    _fill(store, "lenet-mnist", "standard:0.2", STANDARD_2)
    _fill(store, "lenet-mnist", "augmented:0.2/0.0001", AUGMENTED_2)
    _fill(store, "lenet-mnist", "standard:0.3", [0.75, 0.76, 0.77])  # one seed against three:
    _fill(store, "lenet-mnist", "augmented:0.3/0.0001", [0.9])      # no test, not pooled
    return store


def _by_hand(standard, variant):
    """diff, SE, df, t, p of Welch's t-test from the textbook formulas."""
    a, b = np.array(standard), np.array(variant)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = b.mean() - a.mean()
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    t = diff / se
    return diff, se, df, t, _two_sided_p(t, df)


def _check(test, diff, se, df, t, p):
    for got, want in ((test.diff, diff), (test.se, se), (test.df, df), (test.t, t),
                      (test.p, p)):
        assert math.isclose(got, want, rel_tol=0, abs_tol=TOL), (got, want)
    # the 95% interval's ends are where the two-sided p is 0.05
    low, high = test.ci
    assert math.isclose(high - diff, diff - low, abs_tol=1e-12)
    assert math.isclose(_two_sided_p((high - diff) / se, df), 0.05, abs_tol=TOL)


# --- per cell ----------------------------------------------------------------------------------

def test_welch_per_cell_by_hand():
    diff, se, df, t, p = _by_hand(STANDARD_1, AUGMENTED_1)
    # both cells: variance 1e-4 over 3 seeds, so SE^2 = 2e-4/3, df = 4
    assert math.isclose(diff, 0.02, abs_tol=1e-12) and math.isclose(df, 4, abs_tol=1e-9)
    assert math.isclose(se, math.sqrt(2e-4 / 3), abs_tol=1e-12)
    _check(stats.welch(STANDARD_1, AUGMENTED_1), diff, se, df, t, p)
    _check(stats.welch(STANDARD_2, AUGMENTED_2), *_by_hand(STANDARD_2, AUGMENTED_2))
    # the same test as scipy's Welch t-test
    for standard, variant in ((STANDARD_1, AUGMENTED_1), (STANDARD_2, AUGMENTED_2)):
        ours, theirs = stats.welch(standard, variant), scipy.stats.ttest_ind(
            variant, standard, equal_var=False)
        assert math.isclose(ours.t, theirs.statistic, abs_tol=TOL)
        assert math.isclose(ours.p, theirs.pvalue, abs_tol=TOL)
        assert math.isclose(ours.df, theirs.df, abs_tol=TOL)


def test_fewer_than_two_seeds_is_no_test():
    assert stats.welch([0.7], [0.71, 0.72]) is None
    assert stats.welch([0.7, 0.71], [0.72]) is None
    assert stats.welch([], [0.72, 0.73]) is None
    assert stats.pooled([]) is None


def test_no_spread_is_no_test():
    test = stats.welch([0.7, 0.7], [0.71, 0.71])
    assert math.isclose(test.diff, 0.01) and test.se == 0
    assert math.isnan(test.t) and math.isnan(test.df) and math.isnan(test.p)


def test_pooled_by_hand():
    tests = [stats.welch(STANDARD_1, AUGMENTED_1), stats.welch(STANDARD_2, AUGMENTED_2)]
    cells = [np.array(x) for x in (STANDARD_1, AUGMENTED_1, STANDARD_2, AUGMENTED_2)]
    v = np.array([x.var(ddof=1) / x.size for x in cells])
    n = np.array([x.size for x in cells])
    d1, se1 = _by_hand(STANDARD_1, AUGMENTED_1)[:2]
    d2, se2 = _by_hand(STANDARD_2, AUGMENTED_2)[:2]
    diff = (d1 + d2) / 2
    se = math.sqrt(se1 ** 2 + se2 ** 2) / 2
    df = v.sum() ** 2 / (v ** 2 / (n - 1)).sum()
    t = diff / se
    _check(stats.pooled(tests), diff, se, df, t, _two_sided_p(t, df))
    # one comparison pooled is that comparison
    _check(stats.pooled(tests[:1]), *_by_hand(STANDARD_1, AUGMENTED_1))


def _row(md, label):
    lines = [l for l in md.splitlines() if l.startswith(f"| {label} |")]
    assert len(lines) == 1, md
    return [c.strip() for c in lines[0].strip("|").split("|")][1:]


def _columns(diff, se, df, t, p, ci):
    return [f"{diff:+.4f} ± {se:.4f}", f"[{ci[0]:+.4f}, {ci[1]:+.4f}]", f"{t:+.2f}", f"{df:.1f}",
            f"{p:.3f}"]


def test_markdown_per_cell_and_pooled(store):
    md = report_mod.render_markdown("table3", store.folder)
    section = md.split("Augmented minus standard")[1].split("Pooled over ratios")[0]
    assert "Welch's t-test" in section and "(n < 2)" in section
    assert ("| | paper | this project | 95% CI | Welch t | df | p (two-sided) | "
            "seeds (standard, augmented) |") in section
    test1 = stats.welch(STANDARD_1, AUGMENTED_1)
    diff, se, df, t, p = _by_hand(STANDARD_1, AUGMENTED_1)
    assert _row(section, "ratio 0.1") == ["+0.0002"] + _columns(diff, se, df, t, p, test1.ci) + \
        ["3, 3"]
    # printed: +0.0200 ± 0.0082, t 2.45 on 4 df, p 0.070
    assert _row(section, "ratio 0.1")[1:6] == ["+0.0200 ± 0.0082", "[-0.0027, +0.0427]", "+2.45",
                                               "4.0", "0.070"]
    test2 = stats.welch(STANDARD_2, AUGMENTED_2)
    assert _row(section, "ratio 0.2") == ["+0.0001"] + _columns(
        *_by_hand(STANDARD_2, AUGMENTED_2), test2.ci) + ["4, 2"]
    assert _row(section, "ratio 0.3") == ["+0.0007", "+0.1400 (no spread from one seed)", "—",
                                          "—", "—", "n < 2: no test", "3, 1"]
    assert _row(section, "ratio 0.4") == ["+0.0003", "—", "—", "—", "—", "—", "0, 0"]

    pooled_part = md.split("Pooled over ratios")[1].split("Best ratio")[0]
    for words in ("Only ratios where both cells have at least 2 seeds enter",
                  "mean = (d_1 + … + d_k) / k", "SE = sqrt(SE_1² + … + SE_k²) / k",
                  "df = (Σ_j v_j)² / Σ_j [v_j² / (n_j − 1)] over the 2k cells, "
                  "v_j = s_j² / n_j", "Welch–Satterthwaite", "p two-sided from Student's t",
                  "95% CI = mean ± t(0.975, df) · SE",
                  "the paper's differences at the same ratios"):
        assert words in pooled_part
    both = stats.pooled([test1, test2])
    paper = ((0.9918 - 0.9916) + (0.9923 - 0.9922)) / 2
    assert _row(pooled_part, "augmented − standard") == [
        "2 of 5 (0.1, 0.2)", f"{paper:+.4f}"] + _columns(both.diff, both.se, both.df, both.t,
                                                          both.p, both.ci)


def test_markdown_small_p_and_no_spread(tmp_path):
    store = ResultStore(str(tmp_path / "store"))
    _fill(store, "lenet-mnist", "standard:0.1", [0.70, 0.701, 0.699, 0.7005])
    _fill(store, "lenet-mnist", "augmented:0.1/0.0001", [0.80, 0.801, 0.799, 0.8005])
    _fill(store, "lenet-mnist", "standard:0.2", [0.7, 0.7])
    _fill(store, "lenet-mnist", "augmented:0.2/0.0001", [0.7, 0.7])
    md = report_mod.render_markdown("table3", store.folder)
    small = _row(md, "ratio 0.1")
    p = _by_hand([0.70, 0.701, 0.699, 0.7005], [0.80, 0.801, 0.799, 0.8005])[4]
    assert p < 1e-3 and small[5] == f"{p:.1e}"
    assert _row(md, "ratio 0.2")[1:] == ["+0.0000 ± 0.0000", "—", "—", "—", "no spread: no test",
                                         "2, 2"]
    # the cell without spread still enters the pool: its variance is zero, not unknown
    assert _row(md, "augmented − standard")[0] == "2 of 5 (0.1, 0.2)"


def test_table4_pools_its_rows(tmp_path):
    store = ResultStore(str(tmp_path / "store"))
    for ratio, (s, a) in {0.1: ([0.76, 0.77], [0.77, 0.79]), 0.3: ([0.75, 0.752], [0.76, 0.75])
                          }.items():
        _fill(store, "quick-cifar10", f"standard:{ratio:g}", s)
        _fill(store, "quick-cifar10", f"augmented:{ratio:g}/0.0002", a)
    md = report_mod.render_markdown("table4-cifar10", store.folder)
    assert _row(md, "augmented − standard")[:2] == ["2 of 3 (CIFAR-10 0.1, CIFAR-10 0.3)",
                                                    f"{(0.0017 + 0.0083) / 2:+.4f}"]


# --- code paths ---------------------------------------------------------------------------------

def test_recipe_labels():
    assert recipe({"version": "0.1.0"}) is None
    assert describe(None) == "not recorded (before provenance)"
    assert describe(recipe({"provenance": _provenance()})) == "IMPLICIT conv, 2 slots, AVX-512, cpu"
    assert describe(recipe({"provenance": _provenance("CAFFE", 1, "none", "cuda:0")})) == \
        "CAFFE conv, 1 slot, no SIMD, cuda:0"
    mixed = _provenance({"conv2": "IMPLICIT", "conv1": "CAFFE"})
    assert describe(recipe({"provenance": mixed})) == \
        "conv conv1=CAFFE conv2=IMPLICIT, 2 slots, AVX-512, cpu"
    partial = {"provenance": {"version": "0.1.0", "commit": "b" * 40, "device": "cpu"}}
    assert describe(recipe(partial)) == ("conv engine not recorded, slots not recorded, "
                                         "SIMD not recorded, cpu")
    # threads, CPU, BLAS and commit do not change the recipe
    other = dict(_provenance(), threads=16, cpu="Another CPU", blas="x", commit="c" * 40)
    assert recipe({"provenance": other}) == recipe({"provenance": _provenance()})


def test_code_paths_per_cell_and_legend(tmp_path):
    store = ResultStore(str(tmp_path / "store"))
    implicit = _provenance(commit="1" * 40)
    dirty = _provenance(commit="2" * 40 + "+dirty", build="3" * 40)
    caffe = _provenance("CAFFE", commit="1" * 40)
    _put(store, "lenet-mnist", "standard:0.1", 1, 0.70)                 # old record: P0
    _put(store, "lenet-mnist", "standard:0.1", 2, 0.71, implicit)       # P1
    _put(store, "lenet-mnist", "standard:0.1", 3, 0.72, dirty)          # P1, another commit
    _put(store, "lenet-mnist", "augmented:0.1/0.0001", 1, 0.72, caffe)  # P2
    _put(store, "lenet-mnist", "augmented:0.1/0.0001", 2, 0.73, implicit)
    _put(store, "lenet-mnist", "standard:0.5", 1, 0.74)
    md = report_mod.render_markdown("table3", store.folder)
    grid = md.split("\nCode paths:")[1].split("Settings")[0]
    assert "| | 0.1 | 0.2 | 0.3 | 0.4 | 0.5 |" in grid
    assert _row(grid, "standard") == ["P0 ×1, P1 ×2", "—", "—", "—", "P0 ×1"]
    assert _row(grid, "augmented") == ["P1 ×1, P2 ×1", "—", "—", "—", "—"]
    legend = [l for l in grid.splitlines() if l.startswith("- P")]
    assert legend == [
        "- P0: not recorded (before provenance) — 2 runs; no commit recorded (the records give "
        "version 0.1.0 only).",
        "- P1: IMPLICIT conv, 2 slots, AVX-512, cpu — 3 runs; commits 111111111111, "
        "222222222222+dirty (binary built at 333333333333).",
        "- P2: CAFFE conv, 2 slots, AVX-512, cpu — 1 run; commit 111111111111."]
    assert "\n2 cells mix code paths: their seed spread also holds any difference between " \
        "the paths.\n" in grid
    # the main table is untouched by the grid
    assert md.split("\nCode paths:")[0].count("| standard |") == 1


def test_code_paths_are_numbered_in_table_order():
    records = [{"provenance": _provenance("CAFFE")}, {"version": "0.1.0"},
               {"provenance": _provenance()}]
    paths = CodePaths(records)
    assert [paths.label(r) for r in records] == ["P1", "P0", "P2"]
    assert paths.cell(records) == "P0 ×1, P1 ×1, P2 ×1" and paths.cell([]) == "—"
    # a binary configured outside a git checkout says "unknown": no commit to show
    unknown = {"provenance": _provenance(commit=None, build="unknown")}
    assert commit_of(unknown) is None


def test_no_runs_no_code_paths(tmp_path):
    md = report_mod.render_markdown("table3", str(tmp_path / "store"))
    assert "Code paths" not in md
    assert _row(md, "augmented − standard")[:2] == ["0 of 5", "—"]


# --- one read of the store ----------------------------------------------------------------------

def test_one_read_of_the_store_per_report(store, tmp_path, monkeypatch):
    reads = {"records": 0, "get": 0}
    records, get = ResultStore.records, ResultStore.get

    def counted_records(self):
        reads["records"] += 1
        return records(self)

    def counted_get(self, key):
        reads["get"] += 1
        return get(self, key)

    monkeypatch.setattr(ResultStore, "records", counted_records)
    monkeypatch.setattr(ResultStore, "get", counted_get)
    md_path, _ = report_mod.report("table3", store.folder, str(tmp_path / "out"))
    files = len(list((tmp_path / "store").glob("*.json")))
    assert reads == {"records": 1, "get": files}  # every record read once, by records()
    with open(md_path) as f:
        assert "Code paths" in f.read()
