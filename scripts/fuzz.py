"""Coverage-guided fuzzing of the readers of untrusted files, for a fixed budget (outside CI).

    python scripts/fuzz.py --budget-seconds 600                    # every target, 600 s each
    python scripts/fuzz.py --targets prototxt,idx --budget-seconds 60
    python scripts/fuzz.py --coverage-only                          # replay the corpora

Targets (tests/fuzz_targets.py): prototxt (textformat), caffemodel, binaryproto, solverstate
(caffemodel.py), datum, idx, cifar (data/readers.py). The contract: on any bytes a reader
returns or raises the project's own error naming the file; never another exception, a hang or
a crash. The engine is atheris (libFuzzer over Python bytecode coverage) when it imports, else
hypothesis (random mutation of the seeds, not coverage-guided). Each target runs in its own
process, seeded from the project's real files, its corpus kept in WORKDIR/<target>/corpus so a
later run goes on from it. Findings:

  - a foreign exception: recorded and fuzzing goes on; the shortest input per distinct
    (exception type, place) is kept in WORKDIR/<target>/findings/ with its traceback;
  - a hang (an input running past --timeout-seconds), a crash or memory past --rss-limit-mb:
    libFuzzer writes the input to WORKDIR/<target>/artifacts/ and the target restarts. A
    timeout is replayed without instrumentation at the end; one that then ends in time is
    renamed unconfirmed-* (slow only under instrumentation) and reported apart.

Each finding becomes a regression test (tests/test_fuzz_regressions.py) once fixed. At the
end the corpora are replayed under coverage.py (when installed) and WORKDIR/summary.json gets,
per target: budget, executions, corpus size, findings and the statements of the reader's code
reached.
"""
import argparse
import glob
import hashlib
import inspect
import json
import os
import re
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
fuzz_targets = None  # tests/fuzz_targets.py, imported in main (after coverage starts, there)


def _paths(workdir, target):
    base = os.path.join(workdir, target)
    out = {k: os.path.join(base, k) for k in ("corpus", "findings", "artifacts", "seeds")}
    for p in out.values():
        os.makedirs(p, exist_ok=True)
    return out


def _write_seeds(paths, target):
    for data in fuzz_targets.seeds(target):
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(paths["seeds"], name), "wb") as f:
            f.write(data)


def _record_finding(paths, data, error):
    """Keep the shortest input per distinct (exception type, innermost place in the package)."""
    cause = error.__cause__ or error
    frames = [f for f in traceback.extract_tb(cause.__traceback__) if "augdrop_caffe" in f.filename]
    where = "%s:%d" % (os.path.basename(frames[-1].filename), frames[-1].lineno) if frames else "?"
    signature = "%s at %s" % (type(cause).__name__, where)
    key = hashlib.sha1(signature.encode()).hexdigest()[:12]
    path = os.path.join(paths["findings"], key + ".bin")
    if os.path.exists(path) and os.path.getsize(path) <= len(data):
        return
    with open(path, "wb") as f:
        f.write(data)
    with open(os.path.join(paths["findings"], key + ".txt"), "w") as f:
        f.write(signature + "\n" + str(error) + "\n\n")
        f.write("".join(traceback.format_exception(type(cause), cause, cause.__traceback__)))


# --- atheris ---------------------------------------------------------------------------------------

def _atheris_worker(target, workdir, budget, timeout, rss_limit):
    """One libFuzzer process over one target (runs in its own interpreter)."""
    import atheris

    paths = _paths(workdir, target)
    _instrument(atheris, ("augdrop_caffe", "gzip", "tarfile", "zlib", "struct"))

    def one_input(data):
        try:
            fuzz_targets.run(target, data)
        except fuzz_targets.ContractViolation as e:
            _record_finding(paths, data, e)

    max_len = 4096  # longer seeds are cut: short inputs run faster and mutate better
    args = [sys.argv[0], paths["corpus"], paths["seeds"], "-max_total_time=%d" % budget,
            "-timeout=%d" % timeout, "-rss_limit_mb=%d" % rss_limit, "-max_len=%d" % max_len,
            "-artifact_prefix=%s/" % paths["artifacts"], "-print_final_stats=1"]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


def _instrument(atheris, prefixes):
    """Coverage instrumentation of the Python functions of these modules (already imported,
    through fuzz_targets); atheris.instrument_all would take minutes over numpy and the rest."""
    import gc
    import types

    count = 0
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and str(obj.__module__).startswith(prefixes):
            try:
                atheris.instrument_func(obj)
                count += 1
            except Exception as e:  # an uninstrumentable function only loses its feedback
                sys.stderr.write("could not instrument %s: %s\n" % (obj.__qualname__, e))
    sys.stderr.write("instrumented %d functions\n" % count)


def _run_atheris(target, workdir, budget, timeout, rss_limit, log):
    """Run workers until the budget is spent; a crash or hang ends a worker, the next goes on
    from the corpus. Returns the number of executions."""
    deadline = time.time() + budget
    executions, restarts = 0, 0
    while time.time() < deadline - 2 and restarts < 20:
        left = int(deadline - time.time())
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", target, "--workdir",
               workdir, "--budget-seconds", str(left), "--timeout-seconds", str(timeout),
               "--rss-limit-mb", str(rss_limit)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace")
        log.write(proc.stdout)
        log.flush()
        done = re.findall(r"Done (\d+) runs", proc.stdout)
        stats = re.findall(r"stat::number_of_executed_units: (\d+)", proc.stdout)
        executions += int((done or stats or ["0"])[-1])
        if proc.returncode == 0:
            break
        restarts += 1
        print("  %s: worker ended with status %d (crash, hang or memory; see artifacts/)"
              % (target, proc.returncode), flush=True)
    return executions


# --- hypothesis (fallback) -------------------------------------------------------------------------

def _run_hypothesis(target, workdir, budget, timeout):
    import signal

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    paths = _paths(workdir, target)
    seeds = fuzz_targets.seeds(target)
    count = [0]

    def mutate(seed, edits):
        data = bytearray(seed)
        for kind, pos, value in edits:
            pos = pos % (len(data) + 1)
            if kind == 0 and data:
                data[pos % len(data)] = value
            elif kind == 1:
                data[pos:pos] = bytes([value])
            elif kind == 2:
                del data[pos:pos + 1 + value % 8]
            else:
                data = data[:pos]
        return bytes(data)

    inputs = st.one_of(
        st.binary(max_size=512),
        st.builds(mutate, st.sampled_from(seeds),
                  st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 20),
                                     st.integers(0, 255)), max_size=8)))

    def alarm(*_):
        raise TimeoutError("input ran past %d s" % timeout)

    @settings(max_examples=10 ** 9, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(inputs)
    def fuzz(data):
        if time.time() > deadline:
            raise _Done()
        count[0] += 1
        signal.signal(signal.SIGALRM, alarm)
        signal.alarm(timeout)
        try:
            fuzz_targets.run(target, data)
        except fuzz_targets.ContractViolation as e:
            _record_finding(paths, data, e)
        except TimeoutError as e:
            with open(os.path.join(paths["artifacts"], "timeout-%d" % count[0]), "wb") as f:
                f.write(data)
            print("  %s: %s" % (target, e), flush=True)
        finally:
            signal.alarm(0)

    deadline = time.time() + budget
    try:
        fuzz()
    except _Done:
        pass
    return count[0]


class _Done(Exception):
    pass


def _confirm_hangs(paths, target, timeout):
    """Replay libFuzzer's timeout artifacts without instrumentation (which slows the parsers
    many times over, more so on a loaded machine): one that now ends within the timeout is
    renamed unconfirmed-*, not a hang of the reader."""
    import signal

    def alarm(*_):
        raise TimeoutError

    for name in os.listdir(paths["artifacts"]):
        if not name.startswith("timeout-"):
            continue
        path = os.path.join(paths["artifacts"], name)
        with open(path, "rb") as f:
            data = f.read()
        signal.signal(signal.SIGALRM, alarm)
        signal.alarm(timeout)
        try:
            fuzz_targets.run(target, data)
            hang = False
        except fuzz_targets.ContractViolation:
            hang = False  # recorded as a finding by the worker already
        except TimeoutError:
            hang = True
        finally:
            signal.alarm(0)
        if not hang:
            os.replace(path, os.path.join(paths["artifacts"], "unconfirmed-" + name))


# --- coverage ----------------------------------------------------------------------------------------

# The reading code of each target: functions and classes whose statements count.
_READER_METHODS = ["_Reader." + m for m in (
    "__init__", "from_bytes", "error", "varint", "field_at", "fields", "check",
    "packed_varints", "unpacked_run", "blob", "shape")]
_READER_CODE = {
    "prototxt": ("augdrop_caffe.textformat",
                 ["PrototxtError", "Message.__init__", "Message._field", "Message._append",
                  "Message._store", "_tokenize", "_read_string", "_describe", "_close_match",
                  "_int_of", "_Parser", "parse_text", "parse_bytes"]),
    "caffemodel": ("augdrop_caffe.caffemodel",
                   ["_wire_types", "_signed"] + _READER_METHODS + ["_Reader.text",
                    "_Reader.layer", "_Reader.v1_layer", "caffemodel_from_bytes",
                    "_caffemodel"]),
    "binaryproto": ("augdrop_caffe.caffemodel",
                    ["_wire_types", "_signed"] + _READER_METHODS + ["blobproto_from_bytes"]),
    "solverstate": ("augdrop_caffe.caffemodel",
                    ["_wire_types", "_signed"] + _READER_METHODS + ["_Reader.text",
                     "solverstate_from_bytes", "_solverstate"]),
    "datum": ("augdrop_caffe.data.readers", ["_varint", "parse_datum"]),
    "idx": ("augdrop_caffe.data.readers", ["_open_maybe_gz", "_read_exactly", "read_idx"]),
    "cifar": ("augdrop_caffe.data.readers", ["_cifar_records", "read_cifar"]),
}


def _reader_lines(target):
    import importlib

    module = importlib.import_module(_READER_CODE[target][0])
    lines = set()
    for name in _READER_CODE[target][1]:
        obj = module
        for part in name.split("."):
            obj = getattr(obj, part)
        src, start = inspect.getsourcelines(obj)
        lines.update(range(start, start + len(src)))
    return module.__file__, lines


def _coverage(target, workdir):
    """(statements reached, statements, lines not reached, inputs) of the target's reading
    code over its corpus, seeds and findings; measured in a fresh interpreter, so that the
    modules' own lines (def, class) count from their import."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--coverage-worker",
                           target, "--workdir", workdir], stdout=subprocess.PIPE, text=True)
    if proc.returncode == 3:
        raise ImportError("coverage.py not installed")
    if proc.returncode != 0:
        raise RuntimeError("coverage replay of %s failed" % target)
    return tuple(json.loads(proc.stdout.strip().splitlines()[-1]))


def _coverage_worker(target, workdir):
    try:
        import coverage
    except ImportError:
        sys.exit(3)
    cov = coverage.Coverage(data_file=None, include=["*/augdrop_caffe/*"])
    cov.start()
    global fuzz_targets
    import fuzz_targets

    paths = _paths(workdir, target)
    files = sorted(glob.glob(os.path.join(paths["corpus"], "*")) +
                   glob.glob(os.path.join(paths["seeds"], "*")) +
                   glob.glob(os.path.join(paths["findings"], "*.bin")))
    filename, lines = _reader_lines(target)
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        try:
            fuzz_targets.run(target, data)
        except fuzz_targets.ContractViolation:
            pass
    cov.stop()
    _, statements, _, missing, _ = cov.analysis2(filename)
    mine = [s for s in statements if s in lines]
    reached = [s for s in mine if s not in set(missing)]
    print(json.dumps([len(reached), len(mine), sorted(set(mine) - set(reached)), len(files)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", default="prototxt,caffemodel,binaryproto,solverstate,datum,idx,"
                    "cifar", help="comma-separated targets (default: all)")
    ap.add_argument("--budget-seconds", type=int, default=60, help="per target")
    ap.add_argument("--timeout-seconds", type=int, default=30,
                    help="an input running longer (instrumented) is a hang, if it still runs "
                         "past this uninstrumented")
    ap.add_argument("--rss-limit-mb", type=int, default=2048)
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build", "fuzz"))
    ap.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    ap.add_argument("--coverage-only", action="store_true",
                    help="only replay the corpora under coverage.py")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--coverage-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.coverage_worker:
        _coverage_worker(args.coverage_worker, args.workdir)
        return
    global fuzz_targets
    import fuzz_targets
    if args.budget_seconds <= 0 or args.timeout_seconds <= 0:
        ap.error("--budget-seconds and --timeout-seconds must be positive")
    if args.worker:
        _atheris_worker(args.worker, args.workdir, args.budget_seconds, args.timeout_seconds,
                        args.rss_limit_mb)
        return
    targets = [t for t in args.targets.split(",") if t]
    unknown = [t for t in targets if t not in fuzz_targets.TARGETS]
    if unknown:
        ap.error("unknown targets %s (known: %s)" % (unknown, ", ".join(fuzz_targets.TARGETS)))
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    os.makedirs(args.workdir, exist_ok=True)
    summary_path = os.path.join(args.workdir, "summary.json")
    summary = {}
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
    for target in targets:
        paths = _paths(args.workdir, target)
        _write_seeds(paths, target)
        entry = summary.get(target, {"budget_seconds": 0, "executions": 0})
        if not args.coverage_only:
            print("%s: fuzzing for %d s with %s" % (target, args.budget_seconds, engine),
                  flush=True)
            with open(os.path.join(args.workdir, target, "fuzz.log"), "a") as log:
                if engine == "atheris":
                    n = _run_atheris(target, args.workdir, args.budget_seconds,
                                     args.timeout_seconds, args.rss_limit_mb, log)
                else:
                    n = _run_hypothesis(target, args.workdir, args.budget_seconds,
                                        args.timeout_seconds)
            entry["budget_seconds"] += args.budget_seconds
            entry["executions"] += n
            entry["engine"] = engine
        entry["corpus"] = len(os.listdir(paths["corpus"]))
        entry["findings"] = sorted(open(p).readline().strip() for p in
                                   glob.glob(os.path.join(paths["findings"], "*.txt")))
        _confirm_hangs(paths, target, args.timeout_seconds)
        entry["crashes_or_hangs"] = sorted(
            f for f in os.listdir(paths["artifacts"]) if not f.startswith("unconfirmed"))
        entry["unconfirmed_hangs"] = sorted(
            f for f in os.listdir(paths["artifacts"]) if f.startswith("unconfirmed"))
        try:
            reached, total, missed, replayed = _coverage(target, args.workdir)
            entry["coverage"] = {"statements_reached": reached, "statements": total,
                                 "inputs_replayed": replayed, "not_reached_lines": missed}
        except ImportError:
            entry["coverage"] = "coverage.py not installed"
        summary[target] = entry
        cov = entry["coverage"]
        print("%s: %d executions in %d s, corpus %d, findings %d, crashes/hangs %d, coverage %s"
              % (target, entry["executions"], entry["budget_seconds"], entry["corpus"],
                 len(entry["findings"]), len(entry["crashes_or_hangs"]),
                 "%d/%d statements" % (cov["statements_reached"], cov["statements"])
                 if isinstance(cov, dict) else cov), flush=True)
        with open(summary_path, "w") as f:
            json.dump(summary, f, indent=1)
    failed = any(summary[t]["findings"] or summary[t]["crashes_or_hangs"] for t in targets)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
