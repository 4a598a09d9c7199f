"""The convolution engines against each other, layer by layer: each of the paper's nets'
convolution shapes (batch as bench_train.py) built once per engine in one process, forward
and backward timed alternately, the median of the rounds. The automatic choice of WINOGRAD
(csrc/layers/conv_implicit.cpp, WinogradPays) rests on these ratios; bench/NOTES.md steps
15-19.

    python bench/bench_conv_engines.py [--threads 2] [--rounds 25] [--engines WINOGRAD IMPLICIT]
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import augdrop_caffe as caffe

# (net, layer, bottom shape, convolution_param)
SHAPES = [
    ("resnet20", "res1 3x3 16->16", (128, 16, 32, 32), "num_output: 16 kernel_size: 3 pad: 1"),
    ("resnet20", "res2 3x3 32->32", (128, 32, 16, 16), "num_output: 32 kernel_size: 3 pad: 1"),
    ("resnet20", "res3 3x3 64->64", (128, 64, 8, 8), "num_output: 64 kernel_size: 3 pad: 1"),
    ("cifar10_quick", "conv1 5x5 3->32", (100, 3, 32, 32), "num_output: 32 kernel_size: 5 pad: 2"),
    ("cifar10_quick", "conv2 5x5 32->32", (100, 32, 16, 16), "num_output: 32 kernel_size: 5 pad: 2"),
    ("cifar10_quick", "conv3 5x5 32->64", (100, 32, 8, 8), "num_output: 64 kernel_size: 5 pad: 2"),
    ("lenet", "conv2 5x5 20->50", (100, 20, 12, 12), "num_output: 50 kernel_size: 5"),
]


def layer_net(folder, shape, param, engine):
    """A net of one Input and one Convolution (bias off: ResNet's have none; the bias sums are
    the same code on every engine), forced onto `engine`; None where the geometry refuses it."""
    dims = " ".join(f"dim: {d}" for d in shape)
    text = (f'force_backward: true\nlayer {{ name: "x" type: "Input" top: "x" '
            f"input_param {{ shape {{ {dims} }} }} }}\n"
            f'layer {{ name: "conv" type: "Convolution" bottom: "x" top: "y" '
            f'convolution_param {{ {param} bias_term: false weight_filler {{ type: "xavier" }} }} }}\n')
    path = Path(folder) / f"{engine}.prototxt"
    path.write_text(text)
    net = caffe.Net(str(path), caffe.TRAIN)
    conv = next(layer for layer in net.layers if layer.name == "conv")
    try:
        conv.engine = engine
    except caffe.EngineError:
        return None
    net.blobs["x"].data[...] = np.random.default_rng(0).standard_normal(shape)
    net.forward()
    net.backward()
    return net


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--engines", nargs=2, default=["WINOGRAD", "IMPLICIT"])
    args = parser.parse_args()
    caffe.set_num_threads(args.threads)
    first, second = args.engines
    print(f"threads {args.threads}, median of {args.rounds} alternating rounds; "
          f"ratio = {second} time / {first} time (> 1: {first} faster)")
    print(f"{'net':<14}{'layer':<20}{'fwd ' + first:>16}{second:>10}{'ratio':>7}"
          f"{'bwd ' + first:>16}{second:>10}{'ratio':>7}")
    with tempfile.TemporaryDirectory() as folder:
        for net_name, layer, shape, param in SHAPES:
            nets = {e: layer_net(folder, shape, param, e) for e in args.engines}
            if any(n is None for n in nets.values()):
                print(f"{net_name:<14}{layer:<20}  (an engine does not take this geometry)")
                continue
            times = {e: ([], []) for e in nets}
            for _ in range(args.rounds):
                for e, net in nets.items():
                    t0 = time.perf_counter()
                    net.forward()
                    t1 = time.perf_counter()
                    net.backward()
                    t2 = time.perf_counter()
                    times[e][0].append(t1 - t0)
                    times[e][1].append(t2 - t1)
            med = {e: [1e3 * statistics.median(t) for t in times[e]] for e in nets}
            a, b = med[first], med[second]
            print(f"{net_name:<14}{layer:<20}{a[0]:>13.2f} ms{b[0]:>7.2f} ms{b[0] / a[0]:>6.2f}x"
                  f"{a[1]:>13.2f} ms{b[1]:>7.2f} ms{b[1] / a[1]:>6.2f}x")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
