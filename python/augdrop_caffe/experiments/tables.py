"""The paper's tables (PAPER.md), expanded into training runs.

A run is one training of one net on one data set with one dropout setting and one seed. Its
key names exactly that, so a cell shared by two tables (ConvNet-Quick, CIFAR-10, standard
0.1 is in Tables 1 and 4) is trained once.
"""
from dataclasses import dataclass

RATIOS_T1 = (0.3, 0.2, 0.1, 0.05, 0.01, 0.005)
RATIOS_T3 = (0.1, 0.2, 0.3, 0.4, 0.5)
RATIOS_T4 = (0.1, 0.2, 0.3)

SOLVERS = {"lenet-mnist": "lenet_solver.prototxt",
           "quick-cifar10": "cifar10_quick_solver.prototxt",
           "quick-svhn": "svhn_quick_solver.prototxt",
           # ResNet-20: 640,000 iterations each, as printed: GPU-scale work.
           "resnet20-cifar10": "resnet20_cifar10_solver.prototxt",
           "resnet20-cifar100": "resnet20_cifar100_solver.prototxt",
           "resnet20-svhn": "resnet20_svhn_solver.prototxt",
           # Table 6, on CIFAR-10 after GCN + ZCA (`augdrop-caffe data whiten cifar10`)
           "allconv-cifar10": "allconv_cifar10_solver.prototxt",
           "nin-cifar10": "nin_cifar10_solver.prototxt"}


# ResNet-20 on the usual 64,000-iteration schedule (schedules.py, `--schedule 64k`): setups of
# their own, so that their runs never mix with the paper's 640,000-iteration ones.
SETUP_SCHEDULE = {}
for _base in ("resnet20-cifar10", "resnet20-cifar100", "resnet20-svhn"):
    SOLVERS[f"{_base}-64k"] = SOLVERS[_base]
    SETUP_SCHEDULE[f"{_base}-64k"] = "64k"


def schedule_of(setup):
    """The --schedule a setup trains with: 'paper' (the solver as written) or '64k'."""
    return SETUP_SCHEDULE.get(setup, "paper")


@dataclass(frozen=True)
class Run:
    setup: str    # a key of SOLVERS: net and data set
    dropout: str  # a --dropout spec
    seed: int
    quick: bool = False
    iterations: int = 0  # 0: the solver's max_iter; else an override (tests, smoke runs)

    @property
    def key(self):
        spec = self.dropout.replace(":", "-").replace("/", "-")
        return (f"{self.setup}_{spec}_seed{self.seed}" + ("_quick" if self.quick else "")
                + (f"_it{self.iterations}" if self.iterations else ""))


@dataclass(frozen=True)
class Cell:
    """One number of a paper table: its row and column labels, setup, dropout, paper value."""
    row: str
    column: str
    setup: str
    dropout: str
    paper: float


def _variant_table(setup, plain, paper):
    """Tables 1 and 2: plain, then standard/forward/backward dropout at six ratios."""
    cells = [Cell("plain", "-", setup, "none", plain)]
    for variant, values in paper.items():
        for ratio, value in zip(RATIOS_T1, values):
            cells.append(Cell(variant, f"{ratio:g}", setup, f"{variant}:{ratio:g}", value))
    return cells


def _table1():
    return _variant_table("quick-cifar10", 0.7579, {
        "standard": (0.7523, 0.7617, 0.7657, 0.7647, 0.7626, 0.7608),
        "forward": (0.6908, 0.7211, 0.7482, 0.7627, 0.7612, 0.7578),
        "backward": (0.7433, 0.7557, 0.7585, 0.7593, 0.7583, 0.7599)})


def _table2():
    return _variant_table("resnet20-cifar10", 0.9143, {
        "standard": (0.9163, 0.9176, 0.9193, 0.9174, 0.9141, 0.9154),
        "forward": (0.9007, 0.9093, 0.9169, 0.9171, 0.9141, 0.9142),
        "backward": (0.9109, 0.9130, 0.9140, 0.9142, 0.9147, 0.9146)})


def _table5():
    paper = {("svhn", 0.1): (0.9618, 0.9627), ("svhn", 0.2): (0.9626, 0.9648),
             ("svhn", 0.3): (0.9655, 0.9667), ("cifar10", 0.1): (0.9193, 0.9196),
             ("cifar10", 0.2): (0.9176, 0.9195), ("cifar10", 0.3): (0.9163, 0.9177),
             ("cifar100", 0.1): (0.6762, 0.6786), ("cifar100", 0.2): (0.6748, 0.6770),
             ("cifar100", 0.3): (0.6686, 0.6688)}
    backward = {"svhn": 0.0002, "cifar10": 0.0001, "cifar100": 0.0001}
    names = {"svhn": "SVHN", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
    cells = []
    for (data, ratio), (standard, augmented) in paper.items():
        row = f"{names[data]} {ratio:g}"
        cells.append(Cell(row, "standard", f"resnet20-{data}", f"standard:{ratio:g}", standard))
        cells.append(Cell(row, "augmented", f"resnet20-{data}",
                          f"augmented:{ratio:g}/{backward[data]:g}", augmented))
    return cells


def _table3():
    paper = {"standard": (0.9916, 0.9922, 0.9918, 0.9917, 0.9922),
             "augmented": (0.9918, 0.9923, 0.9925, 0.9920, 0.9925)}
    cells = []
    for variant, values in paper.items():
        for ratio, value in zip(RATIOS_T3, values):
            spec = f"standard:{ratio:g}" if variant == "standard" else f"augmented:{ratio:g}/0.0001"
            cells.append(Cell(variant, f"{ratio:g}", "lenet-mnist", spec, value))
    return cells


def _table4(datasets):
    paper = {("svhn", 0.1): (0.9240, 0.9248), ("svhn", 0.2): (0.9231, 0.9258),
             ("svhn", 0.3): (0.9249, 0.9250), ("cifar10", 0.1): (0.7657, 0.7674),
             ("cifar10", 0.2): (0.7617, 0.7655), ("cifar10", 0.3): (0.7523, 0.7606)}
    cells = []
    for (data, ratio), (standard, augmented) in paper.items():
        if data not in datasets:
            continue
        row = f"{'SVHN' if data == 'svhn' else 'CIFAR-10'} {ratio:g}"
        cells.append(Cell(row, "standard", f"quick-{data}", f"standard:{ratio:g}", standard))
        cells.append(Cell(row, "augmented", f"quick-{data}", f"augmented:{ratio:g}/0.0002", augmented))
    return cells


# Table 6 (CIFAR-10 test error, %): augmented dropout against three ways of evaluating or
# distilling a standard-dropout net. Only the nets this project trains are cells (standard
# dropout at the nets' own ratios, evaluated by Monte Carlo dropout, and augmented dropout);
# dropout distillation and expectation-linear dropout are the paper's figures only.
# The paper does not print Table 6's backward ratio; 0.0002 is its ConvNet-Quick CIFAR-10
# ratio (Table 4).
TABLE6_BACKWARD = 0.0002
TABLE6_NETS = {"ALL-Conv": "allconv-cifar10", "NiN": "nin-cifar10"}
TABLE6_PAPER_ERRORS = {  # %, as printed; None: not in the paper
    "ALL-Conv": {"MC dropout": 10.60, "dropout distillation": 10.80,
                 "expectation-linear dropout": 10.86, "augmented": 10.04},
    "NiN": {"MC dropout": 11.04, "dropout distillation": 11.14,
            "expectation-linear dropout": None, "augmented": 10.28},
}
# Monte Carlo dropout evaluation of every Table 6 run: T stochastic passes a test batch
# (the paper does not say its T; Gal & Ghahramani's CIFAR-10 LeNet-all used 50 and more).
MC_SAMPLES, MC_SAMPLES_QUICK = 50, 5
MC_EVALUATED = set(TABLE6_NETS.values())


def _table6():
    """Cells are the trained nets, their paper value an accuracy: 'standard' carries the MC
    dropout figure (a standard-dropout net evaluated by MC), 'augmented' the augmented one."""
    cells = []
    for row, setup in TABLE6_NETS.items():
        paper = TABLE6_PAPER_ERRORS[row]
        cells.append(Cell(row, "standard", setup, "standard:net", 1 - paper["MC dropout"] / 100))
        cells.append(Cell(row, "augmented", setup, f"augmented:net/{TABLE6_BACKWARD:g}",
                          1 - paper["augmented"] / 100))
    return cells


def _on_64k(cells):
    return [Cell(c.row, c.column, f"{c.setup}-64k", c.dropout, c.paper) for c in cells]


TABLES = {
    "table1": ("Table 1: ConvNet-Quick on CIFAR-10, test accuracy", _table1),
    "table3": ("Table 3: LeNet on MNIST, test accuracy (augmented: backward ratio 0.0001)", _table3),
    "table4": ("Table 4: ConvNet-Quick, standard vs augmented (backward ratio 0.0002)",
               lambda: _table4(("svhn", "cifar10"))),
    "table4-cifar10": ("Table 4, CIFAR-10 part", lambda: _table4(("cifar10",))),
    "table4-svhn": ("Table 4, SVHN part", lambda: _table4(("svhn",))),
    "table2": ("Table 2: ResNet-20 on CIFAR-10, test accuracy — SCHEDULE paper (640,000 "
               "iterations a run, as printed)", _table2),
    "table5": ("Table 5: ResNet-20, standard vs augmented — SCHEDULE paper (640,000 iterations "
               "a run, as printed)", _table5),
    "table2-64k": ("Table 2: ResNet-20 on CIFAR-10, test accuracy — SCHEDULE 64k (64,000 "
                   "iterations, lr steps at 32,000 and 48,000; the paper prints 640,000)",
                   lambda: _on_64k(_table2())),
    "table5-64k": ("Table 5: ResNet-20, standard vs augmented — SCHEDULE 64k (64,000 "
                   "iterations, lr steps at 32,000 and 48,000; the paper prints 640,000)",
                   lambda: _on_64k(_table5())),
    "table6": ("Table 6: ALL-Conv and NiN on CIFAR-10 (GCN + ZCA), test error (%): augmented "
               "dropout against Monte Carlo dropout", _table6),
}


def table_cells(name):
    if name not in TABLES:
        raise KeyError(f"unknown table '{name}' (known: {', '.join(TABLES)})")
    return TABLES[name][1]()


def table_title(name):
    return TABLES[name][0]


def expand(name, seeds=4, quick=False, iterations=0):
    """The runs of a table, each once, in table order then seed order."""
    runs, seen = [], set()
    for seed in range(1, seeds + 1):
        for cell in table_cells(name):
            run = Run(cell.setup, cell.dropout, seed, quick, iterations)
            if run.key not in seen:
                seen.add(run.key)
                runs.append(run)
    return runs
