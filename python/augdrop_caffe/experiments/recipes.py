"""Which code path made a run: the numerical recipe recorded in its provenance.

Two runs of the same seed and settings give the same bits when they share the convolution
engine of every layer, the reduction slots of the gradient sums, the device and the vector
width the core was compiled for (provenance.REPRODUCIBILITY_KEYS, plus the SIMD width, whose
fused multiply-adds round differently); thread count, CPU model and BLAS do not enter. A report
names each distinct recipe with a short label (P1, P2, ... in the order the table meets them;
P0 for records made before runs carried provenance) and lists the commits it was seen with.
"""
from collections import Counter

NOT_RECORDED = "not recorded (before provenance)"


def recipe(record):
    """(engines, reduction slots, SIMD, device) of a record; None where it has no provenance.
    engines: ((layer, engine), ...) sorted by layer, or None if not recorded."""
    prov = record.get("provenance") or {}
    engines = prov.get("engines")
    key = (tuple(sorted(engines.items())) if isinstance(engines, dict) else None,
           prov.get("reduction_slots"), prov.get("simd"), prov.get("device"))
    return None if key == (None, None, None, None) else key


def describe(key):
    """'IMPLICIT conv, 2 slots, AVX-512, cpu' for a recipe key."""
    if key is None:
        return NOT_RECORDED
    engines, slots, simd, device = key
    if engines is None:
        conv = "conv engine not recorded"
    elif not engines:
        conv = "no conv layer"
    elif len({e for _, e in engines}) == 1:
        conv = f"{engines[0][1]} conv"
    else:  # layers on different engines: name each
        conv = "conv " + " ".join(f"{layer}={e}" for layer, e in engines)
    return ", ".join([
        conv,
        "slots not recorded" if slots is None else f"{slots} slot{'' if slots == 1 else 's'}",
        "SIMD not recorded" if simd is None else "no SIMD" if simd == "none" else str(simd),
        "device not recorded" if device is None else str(device)])


def _short(sha):
    """First 12 hex digits of a commit, keeping a '+dirty' mark."""
    if not sha or sha == "unknown":  # "unknown": a build configured outside a git checkout
        return None
    base, plus, rest = str(sha).partition("+")
    return base[:12] + plus + rest


def commit_of(record):
    """'abc123def456' (the source commit), with the binary's commit where that differs."""
    prov = record.get("provenance") or {}
    commit, build = _short(prov.get("commit")), _short(prov.get("build_commit"))
    if commit is None:
        return f"binary {build}" if build else None
    if build and build.partition("+")[0] != commit.partition("+")[0]:
        return f"{commit} (binary built at {build})"
    return commit


class CodePaths:
    """The recipe labels of a report's records: P0 for no provenance, then P1, P2, ... in the
    order the records are given (table order, then seed order)."""

    def __init__(self, records):
        self._labels = {None: "P0"}
        self._runs = Counter()
        self._commits = {}   # label: [commit, ...] in the order met
        self._versions = {}  # label: [version, ...]
        for record in records:
            label = self.label(record)
            self._runs[label] += 1
            for seen, value in ((self._commits, commit_of(record)),
                                (self._versions, record.get("version"))):
                values = seen.setdefault(label, [])
                if value is not None and value not in values:
                    values.append(value)

    def label(self, record):
        key = recipe(record)
        if key not in self._labels:
            self._labels[key] = f"P{len(self._labels)}"
        return self._labels[key]

    def labels(self, records):
        """The distinct labels of some records."""
        return {self.label(r) for r in records}

    def cell(self, records):
        """'P0 ×1, P1 ×3' for a cell's runs; '—' for none."""
        counts = Counter(self.label(r) for r in records)
        if not counts:
            return "—"
        return ", ".join(f"{label} ×{counts[label]}"
                         for label in sorted(counts, key=lambda s: int(s[1:])))

    def legend(self):
        """One Markdown list item per label that has runs, in label order."""
        lines = []
        for key, label in sorted(self._labels.items(), key=lambda kv: int(kv[1][1:])):
            n = self._runs[label]
            if not n:
                continue
            runs = f"{n} run{'' if n == 1 else 's'}"
            if key is None:
                versions = self._versions.get(label) or ["nothing"]
                seen = f"no commit recorded (the records give version {', '.join(versions)} only)"
            else:
                commits = self._commits.get(label)
                if commits:
                    seen = ("commit " if len(commits) == 1 else "commits ") + ", ".join(commits)
                else:
                    seen = "no commit recorded"
            lines.append(f"- {label}: {describe(key)} — {runs}; {seen}.")
        return lines
