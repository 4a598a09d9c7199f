"""`augdrop-caffe report TABLE`: the paper's numbers beside this project's (mean +- std over
seeds), as Markdown, and loss curves like the paper's figures, as PNG (matplotlib)."""
import math
import os
from collections import defaultdict

from .recipes import CodePaths
from .stats import CONFIDENCE, welch, pooled
from .store import ResultStore
from .tables import Run, table_cells, table_title


class StoreSnapshot:
    """The records of a results store, read once: a report's table, tests, code paths and plots
    all take their runs from the same reading, so they agree even while a sweep adds records."""

    def __init__(self, records):
        self._records = records

    def get(self, key):
        return self._records.get(key)

    def records(self):
        return self._records


def read_store(store):
    """A StoreSnapshot of a store folder (or the snapshot itself, already read)."""
    if isinstance(store, StoreSnapshot):
        return store
    return StoreSnapshot(ResultStore(store).records())


def _stats(values):
    n = len(values)
    if n == 0:
        return None, None, 0
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std, n


def cell_results(store, cell, quick=False, max_seed=100, iterations=0):
    """Accuracies of the finished runs of a cell, and their records."""
    records = []
    for seed in range(1, max_seed + 1):
        rec = store.get(Run(cell.setup, cell.dropout, seed, quick, iterations).key)
        if rec and rec.get("status") == "ok":
            records.append(rec)
    return [r["final_test"].get("accuracy", float("nan")) for r in records], records


def store_iterations(store, table, quick=False):
    """The --iterations override of a table's finished runs in the store: 0 (the solvers'
    max_iter) if there are such runs or none at all, else the override most runs have."""
    cells = {(c.setup, c.dropout) for c in table_cells(table)}
    counts = {}
    for rec in store.records().values():
        if (rec and rec.get("status") == "ok" and bool(rec.get("quick")) == bool(quick)
                and (rec.get("setup"), rec.get("dropout")) in cells):
            it = int(rec.get("iterations_override") or 0)
            counts[it] = counts.get(it, 0) + 1
    if not counts or 0 in counts:
        return 0
    return max(counts, key=lambda it: (counts[it], it))


def render_markdown(table, store_dir, quick=False, iterations=None):
    """store_dir: a store folder or a StoreSnapshot of one."""
    store = read_store(store_dir)
    cells = table_cells(table)
    if iterations is None:
        iterations = store_iterations(store, table, quick)
    rows, columns = [], []
    for c in cells:
        if c.row not in rows:
            rows.append(c.row)
        if c.column not in columns:
            columns.append(c.column)
    by_pos = {(c.row, c.column): c for c in cells}
    banner = ((" — QUICK SMOKE RUNS, NOT THE PAPER'S SETTING" if quick else "")
              + (f" — RUNS OF {iterations} ITERATIONS (--iterations override)" if iterations else ""))
    lines = [f"## {table_title(table)}{banner}", ""]
    lines.append("Each cell: paper / this project, mean ± std over seeds (n seeds; "
                 "a cell of one seed shows no spread).")
    lines.append("")
    lines.append("| | " + " | ".join(columns) + " |")
    lines.append("|---|" + "---|" * len(columns))
    # the store read once: the table, the comparisons, the code paths and the footer use it
    results = {c: cell_results(store, c, quick, iterations=iterations) for c in cells}
    stats = {c: _stats(accs) for c, (accs, _) in results.items()}
    for row in rows:
        out = [row]
        for col in columns:
            cell = by_pos.get((row, col))
            if cell is None:
                out.append("")
                continue
            mean, std, n = stats[cell]
            # one seed has no spread: print no "± 0.0000" that would read as a measured one
            ours = (f"{mean:.4f} ± {std:.4f} ({n})" if n > 1 else
                    f"{mean:.4f} ({n})" if n else "— (0)")
            out.append(f"{cell.paper:.4f} / {ours}")
        lines.append("| " + " | ".join(out) + " |")
    lines.append("")
    lines += variant_minus_standard_lines(cells, {c: accs for c, (accs, _) in results.items()})
    lines += best_ratio_lines(cells, stats)
    lines += code_path_lines(rows, columns, by_pos, {c: recs for c, (_, recs) in results.items()})
    lines += run_facts([r for _, records in results.values() for r in records])
    return "\n".join(lines) + "\n"


VARIANTS = ("standard", "forward", "backward", "augmented")
# What the paper says of each variant against standard dropout (PAPER.md, "Observed").
CLAIMS = {"forward": "the paper finds forward dropout below standard dropout",
          "backward": "the paper finds backward dropout below standard dropout",
          "augmented": "the paper's claim is a gain at every ratio"}


def variant_pairs(cells):
    """{variant: [(label, standard cell, variant cell)]} wherever a table sets a variant beside
    standard dropout: the same column in variant rows (Tables 1-3), or the same row in variant
    columns (Tables 4, 5)."""
    places = {}
    for cell in cells:
        if cell.row in VARIANTS:
            places.setdefault(f"ratio {cell.column}", {})[cell.row] = cell
        elif cell.column in VARIANTS:
            places.setdefault(cell.row, {})[cell.column] = cell
    pairs = {}
    for label, by_variant in places.items():
        for variant, cell in by_variant.items():
            if variant != "standard" and "standard" in by_variant:
                pairs.setdefault(variant, []).append((label, by_variant["standard"], cell))
    return pairs


def _p_text(p):
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _test_columns(test):
    """95% CI, Welch t, df, p of a Difference, as table cells."""
    if math.isnan(test.t):
        return ["—", "—", "—", "no spread: no test"]
    low, high = test.ci
    return [f"[{low:+.4f}, {high:+.4f}]", f"{test.t:+.2f}", f"{test.df:.1f}", _p_text(test.p)]


TEST_HEADER = f"{CONFIDENCE:.0%} CI | Welch t | df | p (two-sided)"


def variant_minus_standard_lines(cells, accuracies):
    """The paper's comparisons, measured: a variant's accuracy minus standard dropout's beside
    the paper's, with the standard error of the difference of two means over seeds and Welch's
    t-test per cell (stats.py), then the differences pooled over ratios for each variant.
    accuracies: {cell: [test accuracy of each seed]}."""
    lines, pooled_rows = [], []
    for variant, pairs in variant_pairs(cells).items():
        lines += [f"{variant.capitalize()} minus standard ({CLAIMS[variant]}); ± is the standard "
                  "error of the difference of the two means, from the seed spread; t, df "
                  "(Welch–Satterthwaite) and p are Welch's t-test; no test where a cell has "
                  "fewer than 2 seeds (n < 2):", "",
                  f"| | paper | this project | {TEST_HEADER} | seeds (standard, {variant}) |",
                  "|---|---|---|---|---|---|---|---|"]
        tested = []
        for label, standard, other in pairs:
            runs_s, runs_o = accuracies[standard], accuracies[other]
            n_s, n_o = len(runs_s), len(runs_o)
            paper = other.paper - standard.paper
            test = welch(runs_s, runs_o)
            if not (n_s and n_o):
                ours, rest = "—", ["—"] * 4
            elif test is None:
                diff = sum(runs_o) / n_o - sum(runs_s) / n_s
                ours = f"{diff:+.4f} (no spread from one seed)"
                rest = ["—", "—", "—", "n < 2: no test"]
            else:
                ours = f"{test.diff:+.4f} ± {test.se:.4f}"
                rest = _test_columns(test)
                tested.append((label, test, paper))
            lines.append(f"| {label} | {paper:+.4f} | {ours} | {' | '.join(rest)} | {n_s}, {n_o} |")
        lines.append("")
        pooled_rows.append(_pooled_row(variant, tested, len(pairs)))
    if pooled_rows:
        lines += ["Pooled over ratios, each variant against standard dropout. Only ratios "
                  "where both cells have at least 2 seeds enter (k of them); with d_i and SE_i "
                  "the difference and standard error at ratio i: mean = (d_1 + … + d_k) / k; "
                  "SE = sqrt(SE_1² + … + SE_k²) / k; t = mean / SE; "
                  "df = (Σ_j v_j)² / Σ_j [v_j² / (n_j − 1)] over the 2k cells, "
                  "v_j = s_j² / n_j with s_j² the seed variance and n_j the seeds of cell j "
                  "(Welch–Satterthwaite; every cell is its own runs); p two-sided from "
                  f"Student's t with df; {CONFIDENCE:.0%} CI = mean ± "
                  f"t({0.5 + CONFIDENCE / 2:g}, df) · SE. Paper: the mean of the paper's "
                  "differences at the same ratios.", "",
                  f"| | ratios pooled | paper | this project | {TEST_HEADER} |",
                  "|---|---|---|---|---|---|---|---|"] + pooled_rows + [""]
    return lines


def _pooled_row(variant, tested, total):
    """A row of the pooled table. tested: [(label, Difference, paper difference)]."""
    name = f"{variant} − standard"
    if not tested:
        return (f"| {name} | 0 of {total} | — | — (no ratio has 2 seeds in both cells) | "
                + " | ".join(["—"] * 4) + " |")
    test = pooled([t for _, t, _ in tested])
    paper = sum(p for _, _, p in tested) / len(tested)
    which = ", ".join(label.removeprefix("ratio ") for label, _, _ in tested)
    return (f"| {name} | {len(tested)} of {total} ({which}) | {paper:+.4f} | "
            f"{test.diff:+.4f} ± {test.se:.4f} | {' | '.join(_test_columns(test))} |")


def best_ratio_lines(cells, stats):
    """Where each variant row peaks (the paper: forward and backward peak at different ratios),
    for tables whose rows are variants over several ratios; only rows with every ratio run."""
    rows = {}
    for cell in cells:
        if cell.row in VARIANTS:
            rows.setdefault(cell.row, []).append(cell)
    parts = []
    for variant, row in rows.items():
        if len(row) < 3:
            continue
        means = [stats[c][0] for c in row]
        paper = max(row, key=lambda c: c.paper).column
        ours = ("— (not every ratio run)" if None in means
                else row[means.index(max(means))].column)
        parts.append(f"{variant} paper {paper}, ours {ours}")
    return ["Best ratio (highest mean accuracy): " + "; ".join(parts) + ".", ""] if parts else []


def code_path_lines(rows, columns, by_pos, records):
    """Per cell, the numerical recipes (recipes.py) its runs came from, and their legend.
    records: {cell: [record of each counted run]}, each cell's in seed order."""
    ordered = [r for row in rows for col in columns if (row, col) in by_pos
               for r in records[by_pos[(row, col)]]]
    if not ordered:
        return []
    paths = CodePaths(ordered)
    lines = ["Code paths: the numerical recipe (convolution engine, reduction slots, vector "
             "width, device) of each cell's runs, × the number of runs:", "",
             "| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for row in rows:
        out = [paths.cell(records[by_pos[(row, col)]]) if (row, col) in by_pos else ""
               for col in columns]
        lines.append(f"| {row} | " + " | ".join(out) + " |")
    lines += [""] + paths.legend() + [""]
    mixed = sum(len(paths.labels(recs)) > 1 for recs in records.values())
    if mixed:
        lines += [f"{mixed} cell{'s mix' if mixed > 1 else ' mixes'} code paths: "
                  f"{'their' if mixed > 1 else 'its'} seed spread also holds any difference "
                  "between the paths.", ""]
    return lines


def run_facts(records):
    """The settings and hardware lines of a report (markdown and plot), from its runs' records."""
    settings = next((r["settings"] for r in records if r.get("settings")), None)
    hardware = next((r["hardware"] for r in records if r.get("hardware")), None)
    lines = []
    if settings:
        keys = ("base_lr", "lr_policy", "gamma", "stepsize", "stepvalue", "momentum",
                "weight_decay", "max_iter", "test_iter", "test_interval")
        # the solver's floats are float32: 0.009999999776482582 is base_lr 0.01
        lines.append("Settings: " + ", ".join(
            f"{k} {settings[k]:.6g}" if isinstance(settings[k], float) else f"{k} {settings[k]}"
            for k in keys if k in settings) + ".")
    if hardware:
        walls = [r["wall_time_s"] for r in records]
        lines.append(f"Hardware: {hardware.get('cpus')} CPU cores ({hardware.get('machine')}), "
                     f"Python {hardware.get('python')}; wall time per run "
                     f"{min(walls):.0f}-{max(walls):.0f} s (mean {sum(walls) / len(walls):.0f} s).")
    return lines


# Tables whose claim is a comparison at each ratio get one panel per column (Figure 3's
# layout: standard against augmented); the others one panel per row (Figures 1 and 2: one
# variant at several ratios).
PANELS_BY_COLUMN = {"table3"}


def plot_panels(table):
    """The plot's panels: [(title, [(line label, cell)])], and the reference cells drawn in
    every panel (the plain net, whose column is "-")."""
    by_column = table in PANELS_BY_COLUMN
    panels, reference = {}, []
    for cell in table_cells(table):
        if cell.column == "-":
            reference.append(cell)
            continue
        group, label = (cell.column, cell.row) if by_column else (cell.row, cell.column)
        title = f"ratio {group}" if by_column else group
        panels.setdefault(title, []).append((label, cell))
    return list(panels.items()), reference


def _mean_curve(records, curve):
    """(iterations, loss averaged over the records that have that iteration)."""
    losses = defaultdict(list)
    for r in records:
        for point in r[curve]:
            if "loss" in point:
                losses[point["iter"]].append(point["loss"])
    its = sorted(losses)
    return its, [sum(losses[i]) / len(losses[i]) for i in its]


def render_plots(table, store_dir, out_png, quick=False, iterations=None):
    """Training and test loss against iterations, mean over seeds: a column of two panels
    (training, test) per group of cells (plot_panels), one line per cell. store_dir: a store
    folder or a StoreSnapshot of one."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    store = read_store(store_dir)
    if iterations is None:
        iterations = store_iterations(store, table, quick)

    def records_of(cell):
        return cell_results(store, cell, quick, iterations=iterations)[1]

    panels, reference = plot_panels(table)
    reference = [(cell, records_of(cell)) for cell in reference]
    reference = [(cell, recs) for cell, recs in reference if recs]
    filled = []
    for title, lines in panels:
        lines = [(label, records_of(cell)) for label, cell in lines]
        lines = [(label, recs) for label, recs in lines if recs]
        if lines:
            filled.append((title, lines))
    if not filled:
        return None
    # one colour per line label in every panel, so a ratio (or variant) reads the same throughout
    labels = list(dict.fromkeys(label for _, lines in filled for label, _ in lines))
    colours = {label: plt.cm.tab10(i % 10) for i, label in enumerate(labels)}
    fig, axes = plt.subplots(2, len(filled), figsize=(4.2 * len(filled) + 1, 7), sharey="row",
                             squeeze=False)
    for col, (title, lines) in enumerate(filled):
        for row, curve in enumerate(("train_curve", "test_curve")):
            ax = axes[row][col]
            for cell, recs in reference:
                ax.plot(*_mean_curve(recs, curve), color="black", linestyle="--", linewidth=1,
                        label=cell.row)
            for label, recs in lines:
                ax.plot(*_mean_curve(recs, curve), color=colours[label], linewidth=1, label=label)
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.set_xlabel("iteration")
            if col == 0:
                ax.set_ylabel("training loss" if row == 0 else "test loss")
        axes[0][col].set_title(title, fontsize=10)
        axes[1][col].legend(fontsize=7)
    fig.suptitle(table_title(table) + " — loss curves, mean over seeds"
                 + (" — QUICK SMOKE RUNS" if quick else ""), fontsize=10)
    everything = [r for _, recs in reference for r in recs]
    everything += [r for _, lines in filled for _, recs in lines for r in recs]
    fig.text(0.5, 0.005, "\n".join(run_facts(everything)), ha="center", va="bottom", fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def report(table, store_dir, out_dir, quick=False, iterations=None):
    """iterations: the --iterations override of the runs to report; None: the store's."""
    os.makedirs(out_dir, exist_ok=True)
    store = read_store(store_dir)  # once: the Markdown and the plots report the same runs
    if iterations is None:
        iterations = store_iterations(store, table, quick)
    suffix = ("-quick" if quick else "") + (f"-it{iterations}" if iterations else "")
    md_path = os.path.join(out_dir, f"{table}{suffix}.md")
    text = render_markdown(table, store, quick, iterations)
    png = render_plots(table, store, os.path.join(out_dir, f"{table}{suffix}-loss.png"), quick,
                       iterations)
    if png:
        text += f"\n![loss curves]({os.path.basename(png)})\n"
    with open(md_path, "w") as f:
        f.write(text)
    return md_path, png
