"""`augdrop-caffe`: the command line, mirroring `caffe train|test|time`, plus data tools."""
import argparse
import os
import signal
import sys

import numpy as np

from ._loader import EngineError
from .caffemodel import CaffeModelError
from .data import DataError
from .dropout_spec import DropoutSpecError, parse_dropout_args
from .schedules import SCHEDULES
from .textformat import PrototxtError
from .train import SIGNAL_EFFECTS, RunFolderError, train

EXIT_USAGE, EXIT_FAILURE = 2, 1


def _int_at_least(lowest, kind):
    """An argparse type: an integer no smaller than `lowest`, else a message saying so."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {kind} integer, not {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be a {kind} integer, not {value}")
        return value
    return parse


# counts and intervals (iterations, seeds, jobs, threads)
positive_int = _int_at_least(1, "positive")
# a random seed (Caffe's random_seed; negative means unset there)
non_negative_int = _int_at_least(0, "non-negative")


def _exit_by_signal(name):
    """End the process by the signal that stopped the run, now that its snapshot and summary
    are written: a shell sees 128 + the signal's number (130 for SIGINT, 143 for SIGTERM) and
    stops its script as after any Ctrl-C, and a parent (replicate) sees a run stopped from
    outside rather than a failure."""
    signum = getattr(signal, name)
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum  # not reached where the signal ends the process


def _layer_engine(text):
    """LAYER=ENGINE for --engine."""
    layer, sep, engine = text.partition("=")
    if not sep or not layer or engine not in ("CAFFE", "IMPLICIT", "WINOGRAD"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give LAYER=ENGINE, ENGINE one of CAFFE, IMPLICIT, WINOGRAD")
    return layer, engine


def _cmd_train(args):
    if args.weights and args.snapshot:
        raise SystemExit("augdrop-caffe train: give --weights or --snapshot, not both")
    summary = train(args.solver, weights=args.weights, snapshot=args.snapshot,
                    dropout=parse_dropout_args(args.dropout), seed=args.seed,
                    iterations=args.iterations, data_root=args.data_root, output=args.output,
                    sample_fallback=args.sample_fallback, quiet=args.quiet, quick=args.quick,
                    device=args.device, overwrite=args.overwrite,
                    sigint_effect=args.sigint_effect, sighup_effect=args.sighup_effect,
                    schedule=args.schedule, engines=dict(args.engine or []))
    if summary["interrupted"]:
        return _exit_by_signal(summary["signal"]) if summary["signal"] else 130
    final = summary["final_test"]
    if "accuracy" in final:
        print(f"Final test accuracy: {final['accuracy']:.4f}")
    return 0


def _cmd_test(args):
    from .net import Net
    from . import TEST

    if args.mc_samples:
        return _cmd_test_mc(args)
    if args.dropout:
        raise SystemExit("augdrop-caffe test: --dropout applies with --mc-samples")
    net = Net(args.model, args.weights, TEST, data_root=args.data_root)
    totals = {}
    for i in range(args.iterations):
        outs = net.forward()
        for name, value in outs.items():
            totals[name] = totals.get(name, 0.0) + np.asarray(value, dtype=np.float64)
        if not args.quiet:
            print(f"Batch {i}, " + ", ".join(f"{k} = {float(np.mean(v)):g}" for k, v in outs.items()))
    for name, total in totals.items():
        mean = total / args.iterations
        print(f"{name} = {float(mean) if mean.size == 1 else mean.tolist()}")
    return 0


def _cmd_test_mc(args):
    """Monte Carlo dropout: the mean softmax of T stochastic passes (mc_dropout.py)."""
    import json

    from .mc_dropout import evaluate, format_result

    result = evaluate(args.model, args.weights, args.mc_samples, args.iterations,
                      dropout=parse_dropout_args(args.dropout), data_root=args.data_root,
                      seed=args.seed)
    for line in format_result(result):
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


def _cmd_time(args):
    from .net import Net
    from .timing import (format_layer_times, format_type_breakdown, layer_flops, layer_times,
                         type_breakdown)
    from . import TRAIN

    net = Net(args.model, TRAIN, data_root=args.data_root)
    rows, total_ms = layer_times(net, args.iterations)
    print(format_layer_times(rows, total_ms))
    if args.by_type:
        print()
        print(format_type_breakdown(type_breakdown(rows, layer_flops(net))))
    return 0


def _cmd_data(args):
    from .data import fetch
    from .data.sources import source_images, streamed_image_mean
    from .caffemodel import write_blobproto

    if args.data_command == "fetch":
        return fetch.fetch(args.name, args.data_root)
    if args.data_command == "whiten":
        from .data.root import find_data_root
        from .data.whiten import whiten_cifar10

        whiten_cifar10(find_data_root(args.data_root), scale=args.scale,
                       filter_bias=args.filter_bias)
        return 0
    # Image by image, so that a database larger than memory works too.
    count, shape, records = source_images(args.source, args.data_root)
    if args.data_command == "info":
        dtypes = set()

        def labels():
            for image, label in records:
                dtypes.add(np.asarray(image).dtype.name)
                yield label

        counts = np.bincount(np.fromiter(labels(), dtype=np.int64, count=count))
        print(f"{args.source}: {count} images of shape {shape} ({', '.join(sorted(dtypes))}), "
              f"{len(counts)} classes, per class: {counts.tolist()}")
    else:  # mean
        mean = streamed_image_mean(count, shape, records)
        write_blobproto(args.output, mean[None])
        print(f"Wrote the mean of {count} images of {args.source} to {args.output}; "
              f"channel means: {[round(float(m), 4) for m in mean.mean(axis=(1, 2))]}")
    return 0


def _is_binary(path):
    """A .caffemodel (binary protobuf) rather than a prototxt: by its name, else by its bytes."""
    if path.endswith((".caffemodel", ".binaryproto", ".pb")):
        return True
    if path.endswith((".prototxt", ".pbtxt", ".txt")):
        return False
    with open(path, "rb") as f:
        head = f.read(4096)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start < len(head) - 4  # not just a character cut at the end of the sample
    return b"\0" in head


def _cmd_upgrade(args):
    """Caffe's upgrade_net_proto_text / upgrade_net_proto_binary (and upgrade_solver_proto_text):
    the file brought to the current format, written as text or binary like the input."""
    from . import textformat
    from .caffemodel import read_net_param, write_net_param
    from .upgrade import upgrade_net, upgrade_solver

    if not os.path.isfile(args.input):
        raise FileNotFoundError(f"{args.input}: file not found")
    if _is_binary(args.input):
        message = read_net_param(args.input)
        done = upgrade_net(message, args.input)
        write_net_param(args.output, message)
    else:
        try:
            message = textformat.parse_file(args.input, "NetParameter")
        except PrototxtError as net_error:
            try:  # a solver prototxt
                message = textformat.parse_file(args.input, "SolverParameter")
            except PrototxtError:
                raise net_error from None
        done = (upgrade_net if message.type_name == "NetParameter" else upgrade_solver)(
            message, args.input)
        text = textformat.format_message(message)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    if done:
        print(f"Upgraded {args.input} from {' and '.join(done)}; wrote {args.output}")
    else:
        print(f"{args.input} is already in the current format; wrote {args.output}")
    return 0


def _cmd_replicate(args):
    from .experiments.sweep import replicate

    if args.verify:
        from .experiments.verify import verify

        reproduced, _ = verify(args.verify, args.store, data_root=args.data_root,
                               threads=args.threads, sample_fallback=args.sample_fallback)
        return 0 if reproduced else EXIT_FAILURE
    if not args.table:
        raise SystemExit("augdrop-caffe replicate: give a TABLE, or --verify RUN")
    args.table = _scheduled_table(args.table, args.schedule, "replicate")
    from .experiments.ray_executor import RayClusterError, RayMissing, import_ray

    if args.executor == "ray":
        try:
            import_ray()
        except RayMissing as e:
            print(f"augdrop-caffe replicate: {e}", file=sys.stderr)
            return EXIT_FAILURE
        if args.jobs != 1:
            raise SystemExit("augdrop-caffe replicate: --jobs is the local executor's; on Ray as "
                             "many runs train at once as the cluster holds (--cpus-per-run)")
        if args.device == "cuda" and not args.gpus_per_run:
            raise SystemExit("augdrop-caffe replicate: --device cuda with --executor ray needs "
                             "--gpus-per-run (1: a GPU per run; 0.5: two runs share one)")
    elif args.address or args.cpus_per_run is not None or args.gpus_per_run:
        raise SystemExit("augdrop-caffe replicate: --address, --cpus-per-run and --gpus-per-run "
                         "go with --executor ray")
    try:
        failures = replicate(args.table, args.store, seeds=args.seeds, jobs=args.jobs,
                             quick=args.quick, data_root=args.data_root,
                             sample_fallback=args.sample_fallback, retry_failed=args.retry_failed,
                             iterations=args.iterations, device=args.device, threads=args.threads,
                             executor=args.executor, address=args.address,
                             cpus_per_run=args.cpus_per_run or 1,
                             gpus_per_run=args.gpus_per_run)
    except RayClusterError as e:
        print(f"augdrop-caffe replicate: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"Report: augdrop-caffe report {args.table} --store {args.store}"
          + (" --quick" if args.quick else ""))
    return 1 if failures else 0


def _scheduled_table(table, schedule, command):
    """table2 with --schedule 64k is the table of 64k runs, table2-64k (tables.py)."""
    from .experiments.tables import TABLES

    if schedule in (None, "paper") or table.endswith("-" + schedule):
        return table
    if f"{table}-{schedule}" not in TABLES:
        raise SystemExit(f"augdrop-caffe {command}: --schedule {schedule} is for the ResNet-20 "
                         f"tables (table2, table5), not {table}")
    return f"{table}-{schedule}"


def _cmd_report(args):
    from .experiments.report import report

    args.table = _scheduled_table(args.table, args.schedule, "report")
    md, png = report(args.table, args.store, args.output, quick=args.quick)
    with open(md) as f:
        print(f.read())
    print(f"Wrote {md}" + (f" and {png}" if png else " (no plot: matplotlib missing or no runs)"))
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="augdrop-caffe", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    threads = argparse.ArgumentParser(add_help=False)
    threads.add_argument("--threads", type=positive_int,
                         help="threads for the core (default: OMP_NUM_THREADS, else all cores)")
    threads.add_argument("--reduction-slots", type=positive_int,
                         help="blocks that gradient sums over a batch are cut into, whatever "
                              "the thread count (default 2; the same slots give the same bits "
                              "on any thread count)")
    threads.add_argument("--device", help="cpu, cuda or cuda:N (train: default the solver's "
                                          "solver_mode; otherwise cpu)")

    t = sub.add_parser("train", help="train from a solver prototxt", parents=[threads])
    t.add_argument("--solver", required=True)
    t.add_argument("--weights", help="initialize from .caffemodel file(s), comma separated")
    t.add_argument("--snapshot", help="resume from a .solverstate")
    t.add_argument("--dropout", action="append", metavar="SPEC",
                   help="none | standard:P | forward:P | backward:P | augmented:PF/PB, for "
                        "every AugmentedDropout layer; LAYER=SPEC for one layer (repeatable)")
    t.add_argument("--seed", type=non_negative_int, help="the solver's random_seed")
    t.add_argument("--iterations", type=positive_int, help="override max_iter")
    t.add_argument("--data-root", help="folder of the data sets (default $AUGDROP_DATA, "
                                       "then ~/.cache/augdrop-caffe/data)")
    t.add_argument("--output", help="folder for the log, snapshots and summary.json (default "
                                    "a new runs/<solver>-<time>); one that holds files is "
                                    "refused unless --snapshot resumes from it or --overwrite")
    t.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty --output anyway: train.log starts afresh, "
                        "summary.json and same-named snapshots are replaced")
    t.add_argument("--sigint-effect", choices=SIGNAL_EFFECTS, default="stop",
                   help="what SIGINT (Ctrl-C) and SIGTERM do: stop after the current iteration "
                        "and snapshot (default), snapshot and go on, or none (as Caffe's "
                        "-sigint_effect)")
    t.add_argument("--sighup-effect", choices=SIGNAL_EFFECTS, default="snapshot",
                   help="what SIGHUP does: snapshot and go on (default), stop, or none")
    t.add_argument("--sample-fallback", action="store_true",
                   help="if the full MNIST is missing, run briefly on the package's sample")
    t.add_argument("--quick", action="store_true",
                   help="a smoke run: at most 300 iterations, 10-batch tests (says so)")
    t.add_argument("--quiet", action="store_true")
    t.add_argument("--schedule", choices=SCHEDULES, default="paper",
                   help="paper: the solver as written (ResNet-20: the paper's printed 640,000 "
                        "iterations); 64k: 64,000 iterations, the lr steps scaled alike "
                        "(the usual ResNet-20 schedule)")
    t.add_argument("--engine", action="append", type=_layer_engine, metavar="LAYER=ENGINE",
                   help="force a Convolution layer's engine (CAFFE, IMPLICIT or WINOGRAD) "
                        "instead of the automatic choice; repeat for more layers "
                        "(`replicate --verify` replays a record on the engines it names)")
    t.set_defaults(func=_cmd_train)

    s = sub.add_parser("test", help="score a model on its TEST phase", parents=[threads])
    s.add_argument("--model", required=True)
    s.add_argument("--weights", required=True)
    s.add_argument("--iterations", type=positive_int, default=50)
    s.add_argument("--data-root")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--mc-samples", type=int, default=0, metavar="T",
                   help="Monte Carlo dropout: average the softmax of T stochastic passes a "
                        "batch (dropout layers on, as in TRAIN); report accuracy and error "
                        "with its standard error over T, beside the standard evaluation")
    s.add_argument("--dropout", action="append", metavar="SPEC",
                   help="with --mc-samples: the --dropout specs the net was trained with")
    s.add_argument("--seed", type=int, help="with --mc-samples: seed of the dropout masks")
    s.add_argument("--json", help="with --mc-samples: also write the result as JSON")
    s.set_defaults(func=_cmd_test)

    m = sub.add_parser("time", help="per-layer forward and backward times (TRAIN phase)",
                       parents=[threads])
    m.add_argument("--model", required=True)
    m.add_argument("--iterations", type=positive_int, default=50)
    m.add_argument("--data-root")
    m.add_argument("--by-type", action="store_true",
                   help="also the times summed by layer type, with the convolutions' and inner "
                        "products' GFLOP/s")
    m.set_defaults(func=_cmd_time)

    d = sub.add_parser("data", help="data sets: fetch, info, mean, whiten")
    dsub = d.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download a data set and check its checksums")
    f.add_argument("name", help="mnist, cifar10, cifar100 or svhn")
    f.add_argument("--data-root")
    i = dsub.add_parser("info", help="shape and label counts of a source")
    i.add_argument("source", help="e.g. mnist:train, cifar10:test, or an LMDB folder")
    i.add_argument("--data-root")
    mm = dsub.add_parser("mean", help="the per-pixel mean, as Caffe's compute_image_mean")
    mm.add_argument("source")
    mm.add_argument("output", help="the .binaryproto to write")
    mm.add_argument("--data-root")
    w = dsub.add_parser("whiten", help="GCN and ZCA whitening (pylearn2's recipe), computed "
                                       "once into <data root>/cifar10-gcn-zca/ for the source "
                                       "cifar10-gcn-zca:train|test")
    w.add_argument("name", choices=["cifar10"])
    w.add_argument("--scale", type=float, default=55.0, help="GCN scale (pylearn2: 55)")
    w.add_argument("--filter-bias", type=float, default=0.1,
                   help="ZCA regularizer added to the covariance's diagonal (pylearn2: 0.1)")
    w.add_argument("--data-root")
    d.set_defaults(func=_cmd_data)

    u = sub.add_parser("upgrade", help="bring an old (V0/V1) net prototxt, solver prototxt or "
                                       ".caffemodel to the current format, as Caffe's "
                                       "upgrade_net_proto_text / _binary")
    u.add_argument("input", help="a .prototxt (net or solver) or a .caffemodel")
    u.add_argument("output", help="written as the input is: text for a prototxt, binary for a "
                                  ".caffemodel")
    u.set_defaults(func=_cmd_upgrade)

    r = sub.add_parser("replicate", help="train the runs of a paper table (resumable)")
    r.add_argument("table", nargs="?", help="table1, table3, table4 (table4-cifar10, table4-svhn), or the "
                                  "ResNet-20 tables table2, table5 (GPU-scale: 640,000 iterations a run), or "
                                  "table6 (ALL-Conv and NiN on whitened CIFAR-10: run "
                                  "`augdrop-caffe data whiten cifar10` first; each run also "
                                  "gets a Monte Carlo dropout evaluation)")
    r.add_argument("--seeds", type=positive_int, default=4, help="seeds 1..N per cell (paper: 4)")
    r.add_argument("--jobs", type=positive_int, default=1, help="trainings at once")
    r.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="where each training runs; cuda: all jobs share the GPU "
                        "(device 0), --jobs of them at once keep it busy")
    r.add_argument("--store", default=os.path.join("results", "store"),
                   help="the results store folder (default results/store)")
    r.add_argument("--quick", action="store_true", help="smoke runs of 300 iterations (says so)")
    r.add_argument("--data-root")
    r.add_argument("--sample-fallback", action="store_true")
    r.add_argument("--retry-failed", action="store_true")
    r.add_argument("--iterations", type=positive_int, default=0,
                   help="override max_iter (its own runs in the store; for smoke tests)")
    r.add_argument("--verify", metavar="RUN",
                   help="train the stored run RUN (its key, e.g. lenet-mnist_standard-0.5_seed1) "
                        "again and say whether it is reproduced bit for bit")
    r.add_argument("--threads", type=positive_int, help="threads of each training (default: all cores "
                                               "shared by the jobs; Ray: --cpus-per-run)")
    r.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: --jobs trainings on this machine (default); ray: one Ray task "
                        "per run on a Ray cluster (pip install 'augdrop-caffe[ray]')")
    r.add_argument("--address", help="Ray: the cluster's head, HOST:PORT, or auto (the cluster "
                                     "this machine is part of); default: start Ray here")
    r.add_argument("--cpus-per-run", type=positive_int, metavar="N",
                   help="Ray: CPUs each run's task asks for, also its training's threads "
                        "(default 1)")
    r.add_argument("--gpus-per-run", type=float, default=0, metavar="G",
                   help="Ray: GPUs each run's task asks for (with --device cuda; 0.5 lets two "
                        "runs share a GPU)")
    r.add_argument("--schedule", choices=SCHEDULES, default="paper",
                   help="ResNet-20 tables: paper (640,000 iterations as printed) or 64k (the "
                        "usual schedule, lr steps scaled alike; its own runs, table2-64k)")
    r.set_defaults(func=_cmd_replicate)

    rp = sub.add_parser("report", help="Markdown table and loss plots from the results store")
    rp.add_argument("table")
    rp.add_argument("--store", default=os.path.join("results", "store"))
    rp.add_argument("--output", default="results")
    rp.add_argument("--quick", action="store_true", help="report the quick smoke runs")
    rp.add_argument("--schedule", choices=SCHEDULES, default="paper",
                    help="ResNet-20 tables: report the runs of this schedule")
    rp.set_defaults(func=_cmd_report)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "threads", None):
            from . import set_num_threads
            set_num_threads(args.threads)
        if getattr(args, "reduction_slots", None):
            from . import set_reduction_slots
            set_reduction_slots(args.reduction_slots)
        if getattr(args, "device", None) and args.func is not _cmd_replicate:
            from .device import use_device
            use_device(args.device)
        return args.func(args)
    except (DropoutSpecError, RunFolderError) as e:
        print(f"augdrop-caffe: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (PrototxtError, DataError, CaffeModelError, EngineError, FileNotFoundError,
            KeyError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"augdrop-caffe: error: {message}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("augdrop-caffe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
