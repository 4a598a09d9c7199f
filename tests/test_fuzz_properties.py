"""The readers' contract as properties (a small, derandomized sample of what scripts/fuzz.py
explores for minutes): on any bytes, and on the real files' bytes mutated, each reader returns
or raises the project's own error naming the file (tests/fuzz_targets.py)."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_targets

EXAMPLES = {"prototxt": 150, "caffemodel": 300, "binaryproto": 300, "solverstate": 300,
            "datum": 300, "idx": 200, "cifar": 60}
_SEEDS = {t: fuzz_targets.seeds(t) for t in fuzz_targets.TARGETS}


def _mutate(seed, edits):
    """The seed with byte edits: (0, pos, v) set a byte, (1, ...) insert one, (2, ...) delete
    a few, (3, pos, _) truncate."""
    data = bytearray(seed)
    for kind, pos, value in edits:
        pos %= len(data) + 1
        if kind == 0 and data:
            data[pos % len(data)] = value
        elif kind == 1:
            data[pos:pos] = bytes([value])
        elif kind == 2:
            del data[pos:pos + 1 + value % 8]
        else:
            del data[pos:]
    return bytes(data)


def _inputs(target):
    edits = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 16), st.integers(0, 255)),
                     min_size=1, max_size=6)
    return st.one_of(st.binary(max_size=256),
                     st.builds(_mutate, st.sampled_from(_SEEDS[target]), edits))


@pytest.mark.parametrize("target", sorted(fuzz_targets.TARGETS))
def test_reader_keeps_its_contract_on_any_bytes(target):
    @settings(max_examples=EXAMPLES[target], derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_inputs(target))
    def check(data):
        fuzz_targets.run(target, data)

    check()


@pytest.mark.parametrize("target", sorted(fuzz_targets.TARGETS))
def test_seeds_are_read(target):
    """The seeds are real, readable files: the mutations start from inputs that pass."""
    for data in _SEEDS[target]:
        fuzz_targets.run(target, data)
