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
           "quick-svhn": "svhn_quick_solver.prototxt"}


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


def _table1():
    cells = [Cell("plain", "-", "quick-cifar10", "none", 0.7579)]
    paper = {"standard": (0.7523, 0.7617, 0.7657, 0.7647, 0.7626, 0.7608),
             "forward": (0.6908, 0.7211, 0.7482, 0.7627, 0.7612, 0.7578),
             "backward": (0.7433, 0.7557, 0.7585, 0.7593, 0.7583, 0.7599)}
    for variant, values in paper.items():
        for ratio, value in zip(RATIOS_T1, values):
            cells.append(Cell(variant, f"{ratio:g}", "quick-cifar10", f"{variant}:{ratio:g}", value))
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


TABLES = {
    "table1": ("Table 1: ConvNet-Quick on CIFAR-10, test accuracy", _table1),
    "table3": ("Table 3: LeNet on MNIST, test accuracy (augmented: backward ratio 0.0001)", _table3),
    "table4": ("Table 4: ConvNet-Quick, standard vs augmented (backward ratio 0.0002)",
               lambda: _table4(("svhn", "cifar10"))),
    "table4-cifar10": ("Table 4, CIFAR-10 part", lambda: _table4(("cifar10",))),
    "table4-svhn": ("Table 4, SVHN part", lambda: _table4(("svhn",))),
}


def table_cells(name):
    if name not in TABLES:
        raise KeyError(f"unknown table '{name}' (known: {', '.join(TABLES)}; the ResNet-20 "
                       f"tables 2 and 5 need the ResNet-20 net, not built yet)")
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
