"""`augdrop-caffe report table6`: Table 6 as the paper prints it (CIFAR-10 test error, %), the
paper's figures beside this project's, and each trained net under both evaluations: the
standard one (dropout off, weight scaling) and Monte Carlo dropout (mc_dropout.py, the
run's record "mc_test"). Dropout distillation and expectation-linear dropout are not trained
here: their columns are the paper's figures only, marked so."""
from .report import (TEST_HEADER, _test_columns, cell_results, code_path_lines, read_store,
                     run_facts, store_iterations)
from .stats import welch
from .tables import (MC_SAMPLES, MC_SAMPLES_QUICK, TABLE6_BACKWARD, TABLE6_NETS,
                     TABLE6_PAPER_ERRORS, table_cells, table_title)


def _errors(records, mc=False):
    """Test errors (%) of the runs: the standard test's, or the MC evaluation's."""
    out = []
    for r in records:
        if mc:
            m = r.get("mc_test") or {}
            if m.get("status") == "ok":
                out.append(100 * m["error"])
        else:
            acc = r["final_test"].get("accuracy")
            if isinstance(acc, (int, float)):
                out.append(100 * (1 - acc))
    return out


def _fmt(errors):
    """'10.52 ± 0.21 (4)': mean ± std over seeds; no spread shown for one seed."""
    n = len(errors)
    if not n:
        return "— (0)"
    mean = sum(errors) / n
    if n == 1:
        return f"{mean:.2f} (1)"
    std = (sum((e - mean) ** 2 for e in errors) / (n - 1)) ** 0.5
    return f"{mean:.2f} ± {std:.2f} ({n})"


def _paper(value, ours=True):
    if value is None:
        return "—"
    return f"{value:.2f}" if ours else f"{value:.2f} (paper's figure; not trained here)"


def _mc_note(records):
    """'T = 50, MC s.e. 0.05': the passes and the mean of the runs' jackknife errors (%)."""
    mcs = [r["mc_test"] for r in records if (r.get("mc_test") or {}).get("status") == "ok"]
    if not mcs:
        failed = [r for r in records if (r.get("mc_test") or {}).get("status") == "failed"]
        return "MC failed" if failed else ""
    samples = sorted({m["samples"] for m in mcs})
    se = [100 * m["error_se"] for m in mcs if m.get("error_se") == m.get("error_se")]
    text = "T = " + "/".join(str(s) for s in samples)
    if se:
        text += f", MC s.e. {sum(se) / len(se):.2f}"
    return text


def render_markdown(store_dir, quick=False, iterations=None):
    store = read_store(store_dir)
    cells = table_cells("table6")
    if iterations is None:
        iterations = store_iterations(store, "table6", quick)
    results = {c: cell_results(store, c, quick, iterations=iterations) for c in cells}
    by_pos = {(c.row, c.column): c for c in cells}
    banner = ((" — QUICK SMOKE RUNS, NOT THE PAPER'S SETTING" if quick else "")
              + (f" — RUNS OF {iterations} ITERATIONS (--iterations override)" if iterations else ""))
    samples = MC_SAMPLES_QUICK if quick else MC_SAMPLES
    lines = [f"## {table_title('table6')}{banner}", "",
             "Test error (%). Paper: the paper's figure. Ours: mean ± std over seeds (n seeds); "
             "each trained net is shown under the standard evaluation (dropout off, weights "
             f"scaled) and under Monte Carlo dropout (mean softmax of T = {samples} stochastic "
             "passes; MC s.e.: the mean over runs of the jackknife standard error over T). "
             "Standard dropout uses the nets' own ratios (ALL-Conv 0.2 on the input and 0.5, "
             f"NiN 0.5); augmented adds a backward ratio of {TABLE6_BACKWARD:g} to them (the "
             "paper does not print Table 6's). Dropout distillation and expectation-linear "
             "dropout are the paper's figures only.", "",
             "| net | MC dropout: paper | ours (standard dropout, MC eval) | "
             "ours (standard dropout, standard eval) | dropout distillation | "
             "expectation-linear dropout | augmented: paper | ours (augmented, standard eval) "
             "| ours (augmented, MC eval) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in TABLE6_NETS:
        paper = TABLE6_PAPER_ERRORS[row]
        std_recs = results[by_pos[(row, "standard")]][1]
        aug_recs = results[by_pos[(row, "augmented")]][1]

        def mc(records):
            note = _mc_note(records)
            return _fmt(_errors(records, mc=True)) + (f" [{note}]" if note else "")

        lines.append(" | ".join([
            f"| {row}", _paper(paper["MC dropout"]), mc(std_recs), _fmt(_errors(std_recs)),
            _paper(paper["dropout distillation"], ours=False),
            _paper(paper["expectation-linear dropout"], ours=False),
            _paper(paper["augmented"]), _fmt(_errors(aug_recs)), mc(aug_recs)]) + " |")
    lines.append("")
    lines += _comparison_lines(results, by_pos)
    rows, columns = list(TABLE6_NETS), ["standard", "augmented"]
    lines += code_path_lines(rows, columns, by_pos, {c: recs for c, (_, recs) in results.items()})
    records = [r for _, recs in results.values() for r in recs]
    lines += run_facts(records)
    mc_walls = [r["mc_test"]["wall_time_s"] for r in records
                if (r.get("mc_test") or {}).get("status") == "ok"]
    if mc_walls:
        lines.append(f"MC evaluation wall time per run {min(mc_walls):.0f}-{max(mc_walls):.0f} s.")
    return "\n".join(lines) + "\n"


# (title, the paper's difference or None, (column, MC?) subtracted from, (column, MC?))
COMPARISONS = (
    ("Augmented (standard evaluation) minus MC dropout (standard dropout, MC evaluation): the "
     "paper's comparison; it finds augmented lower", True, ("augmented", False), ("standard", True)),
    ("Augmented minus standard dropout, both under the standard evaluation (no paper figure)",
     None, ("augmented", False), ("standard", False)),
    ("Augmented minus standard dropout, both under MC evaluation (no paper figure)",
     None, ("augmented", True), ("standard", True)),
)


def _comparison_lines(results, by_pos):
    """Differences of test error (points; negative: the first is better), measured over seeds,
    with Welch's t-test; no test below 2 seeds in a cell."""
    lines = ["Differences of test error in points (negative: the first has the lower error); "
             "± is the standard error of the difference of the two means over seeds; Welch's "
             "t-test; no test where a cell has fewer than 2 seeds.", ""]
    for title, with_paper, (col_a, mc_a), (col_b, mc_b) in COMPARISONS:
        lines += [title + ":", "",
                  f"| net | paper | this project | {TEST_HEADER} | seeds (first, second) |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in TABLE6_NETS:
            paper = TABLE6_PAPER_ERRORS[row]
            a = _errors(results[by_pos[(row, col_a)]][1], mc=mc_a)
            b = _errors(results[by_pos[(row, col_b)]][1], mc=mc_b)
            paper_diff = (f"{paper['augmented'] - paper['MC dropout']:+.2f}" if with_paper
                          else "—")
            test = welch(b, a)  # a minus b
            if not (a and b):
                ours, rest = "—", ["—"] * 4
            elif test is None:
                ours = f"{sum(a) / len(a) - sum(b) / len(b):+.2f} (no spread from one seed)"
                rest = ["—", "—", "—", "n < 2: no test"]
            else:
                ours, rest = f"{test.diff:+.2f} ± {test.se:.2f}", _test_columns(test)
            lines.append(f"| {row} | {paper_diff} | {ours} | {' | '.join(rest)} | "
                         f"{len(a)}, {len(b)} |")
        lines.append("")
    return lines
