"""Training speed of the paper's nets: this project against PyTorch (CPU), side by side.

    python bench/bench_train.py [--nets lenet cifar10_quick resnet20] [--iterations 20]
                                [--rounds 5] [--threads N] [--no-torch] [--peak GFLOPS]

Both train the same net on random data of the right shape, in alternation, in one process:
LeNet and cifar10_quick from prototxt/ (standard dropout on the fully connected inputs, batch
100, SGD with momentum and weight decay), and ResNet-20 (prototxt/resnet20_cifar10, batch 128,
Nesterov momentum, AUGMENTED dropout 0.1/0.0001 between the two convolutions of each unit; the
PyTorch model has the same topology, BatchNorm with an affine transform as Caffe's BatchNorm +
Scale, the two masks per dropout and the next convolution's weight gradient from the backward
features x * m_b, as Algorithm 1). The median round of each is reported (the best beside it)
as images/s with the ratio of medians; then this project's per-layer times, their sums by
layer type with GFLOP/s against the measured FMA peak (bench/fma_peak.cpp, per core, times
the threads), and the dropout micro-benchmark. PyTorch is only a reference: it is installed on demand at the pinned version
(2.13.0).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TORCH_VERSION = "2.13.0"
# name: (prototxt, image shape, base_lr, batch, dropout (variant, forward, backward ratio),
#        solver type)
NETS = {
    "lenet": ("lenet_train_test.prototxt", (1, 28, 28), 0.01, 100, ("STANDARD", 0.5, 0.0), "SGD"),
    "cifar10_quick": ("cifar10_quick_train_test.prototxt", (3, 32, 32), 0.001, 100,
                      ("STANDARD", 0.1, 0.0), "SGD"),
    "resnet20": ("resnet20_cifar10_train_test.prototxt", (3, 32, 32), 0.01, 128,
                 ("AUGMENTED", 0.1, 0.0001), "Nesterov"),
}


def ensure_torch(device="cpu"):
    if device != "cpu":  # the GPU machine's own PyTorch (no network there to install one)
        import torch
        assert torch.cuda.is_available(), "PyTorch sees no GPU"
        return torch
    try:
        import torch
    except ImportError:
        print(f"installing torch=={TORCH_VERSION} for the reference run", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", f"torch=={TORCH_VERSION}"])
        import torch
    if not torch.__version__.startswith(TORCH_VERSION):
        print(f"warning: torch {torch.__version__}, the reference is pinned at {TORCH_VERSION}",
              file=sys.stderr)
    return torch


def our_solver(name):
    """A solver over the paper's net with the Data layers replaced by an Input layer."""
    import augdrop_caffe as caffe
    from augdrop_caffe import textformat
    from augdrop_caffe.dropout_spec import DropoutSpec, apply_dropout

    proto, shape, lr, batch, dropout, solver_type = NETS[name]
    net = textformat.parse_file(os.path.join(ROOT, "prototxt", proto), "NetParameter").to_dict()
    layers = [l for l in net["layer"] if l["type"][-1] not in ("Data", "Accuracy")]
    dims = [{"dim": [batch, *shape]}, {"dim": [batch]}]
    net["layer"] = [{"name": ["input"], "type": ["Input"], "top": ["data", "label"],
                     "input_param": [{"shape": dims}]}] + layers
    apply_dropout(net, DropoutSpec(*dropout))
    text = textformat.format_message(textformat.message_from_dict(net, "NetParameter"))
    with tempfile.TemporaryDirectory(prefix="augdrop-bench-") as folder:  # read by get_solver
        with open(os.path.join(folder, "net.prototxt"), "w") as f:
            f.write(text)
        with open(os.path.join(folder, "solver.prototxt"), "w") as f:
            f.write(f'net: "{folder}/net.prototxt"\nbase_lr: {lr}\nmomentum: 0.9\n'
                    f'weight_decay: 0.0005\nlr_policy: "fixed"\nmax_iter: 100000000\n'
                    f'random_seed: 1\ntype: "{solver_type}"\n')
        solver = caffe.get_solver(os.path.join(folder, "solver.prototxt"))
    rng = np.random.default_rng(0)
    solver.net.blobs["data"].data[...] = rng.standard_normal((batch, *shape)).astype(np.float32)
    solver.net.blobs["label"].data[...] = rng.integers(0, 10, batch).astype(np.float32)
    return solver


def torch_resnet20(torch, forward_ratio, backward_ratio, classes=10):
    """ResNet-20 as prototxt/make_resnet20.py writes it: stem conv-BN-ReLU; 3 groups of 3
    units (16, 32, 64 channels) of conv-BN-ReLU-dropout-conv-BN plus the shortcut (identity,
    or a 1x1 stride-2 conv-BN where the size changes), then ReLU; global average pooling, one
    linear layer. Convolutions without bias; BatchNorm with affine = Caffe's BatchNorm + Scale.
    The dropout and the convolution after it are one autograd function: forward conv(x * m_f),
    backward dx = conv_input_grad * m_b and dW from the backward features x * m_b, with
    m_f ~ Bernoulli(1 - p_f) / (1 - p_f), m_b = m_f * m_e, m_e ~ Bernoulli(1 - p_b) / (1 - p_b)
    (the AUGMENTED variant with mask_backward_features, as the engine's layer)."""
    nn, F = torch.nn, torch.nn.functional

    class DropoutConv(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, stride):
            keep_f = (torch.rand_like(x) >= forward_ratio).to(x.dtype) * (1 / (1 - forward_ratio))
            keep_e = (torch.rand_like(x) >= backward_ratio).to(x.dtype) * (1 / (1 - backward_ratio))
            mask_b = keep_f * keep_e
            ctx.save_for_backward(x * mask_b, weight, mask_b)
            ctx.stride, ctx.shape = stride, x.shape
            return F.conv2d(x * keep_f, weight, None, stride, 1)

        @staticmethod
        def backward(ctx, dy):
            features, weight, mask_b = ctx.saved_tensors
            dx = torch.nn.grad.conv2d_input(ctx.shape, weight, dy, ctx.stride, 1) * mask_b
            dw = torch.nn.grad.conv2d_weight(features, weight.shape, dy, ctx.stride, 1)
            return dx, dw, None

    class Unit(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.proj = None
            if stride != 1 or cin != cout:
                self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                                          nn.BatchNorm2d(cout))

        def forward(self, x):
            h = F.relu(self.bn1(self.conv1(x)), inplace=True)
            if self.training:
                h = DropoutConv.apply(h, self.conv2.weight, 1)
            else:
                h = self.conv2(h)
            h = self.bn2(h)
            return F.relu(h + (x if self.proj is None else self.proj(x)), inplace=True)

    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)]
    cin = 16
    for g, cout in enumerate((16, 32, 64)):
        for u in range(3):
            layers.append(Unit(cin, cout, 2 if (g > 0 and u == 0) else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes)]
    return nn.Sequential(*layers)


def torch_model(torch, name):
    nn = torch.nn
    ratio = NETS[name][4][1]
    if name == "resnet20":
        return torch_resnet20(torch, *NETS[name][4][1:])
    if name == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.MaxPool2d(2, 2, ceil_mode=True),
            nn.Conv2d(20, 50, 5), nn.MaxPool2d(2, 2, ceil_mode=True), nn.Flatten(),
            nn.Linear(800, 500), nn.ReLU(inplace=True), nn.Dropout(ratio), nn.Linear(500, 10))
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(3, 2, ceil_mode=True), nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(inplace=True), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Flatten(), nn.Dropout(ratio), nn.Linear(1024, 64), nn.Dropout(ratio), nn.Linear(64, 10))


def bench_net(name, args, torch):
    import augdrop_caffe as caffe

    batch = NETS[name][3]
    solver = our_solver(name)
    solver.step(2)  # warm-up: first-touch allocations
    gpu = args.device == "cuda"
    if torch is not None:
        dev = torch.device("cuda" if gpu else "cpu")
        model = torch_model(torch, name).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=0.0005,
                              nesterov=NETS[name][5] == "Nesterov")
        x = torch.randn(batch, *NETS[name][1], device=dev)
        y = torch.randint(0, 10, (batch,), device=dev)
        loss_fn = torch.nn.CrossEntropyLoss()

        def torch_step():
            opt.zero_grad(set_to_none=False)
            loss_fn(model(x), y).backward()
            opt.step()

        for _ in range(2):
            torch_step()
    ours, theirs = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        solver.step(args.iterations)
        caffe.synchronize()
        ours.append((time.perf_counter() - t) / args.iterations)
        if torch is not None:
            if gpu:
                torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(args.iterations):
                torch_step()
            if gpu:
                torch.cuda.synchronize()
            theirs.append((time.perf_counter() - t) / args.iterations)
    # The median round is the figure (issue #16); the best round beside it shows the spread.
    med_ours, best_ours = statistics.median(ours), min(ours)
    line = (f"{name:<14} augdrop {1e3 * med_ours:7.2f} ms/it (best {1e3 * best_ours:7.2f})"
            f" {batch / med_ours:8.0f} img/s")
    if theirs:
        med_torch, best_torch = statistics.median(theirs), min(theirs)
        line += (f" | torch {1e3 * med_torch:7.2f} ms/it (best {1e3 * best_torch:7.2f})"
                 f" {batch / med_torch:8.0f} img/s"
                 f" | ratio {med_torch / med_ours:5.2f}x (best rounds {best_torch / best_ours:5.2f}x)")
    print(line, flush=True)
    return solver


def bench_dropout(args):
    """Forward + backward of each AugmentedDropout variant on a large blob, in GB/s (bytes of
    x, y, dy and dx), against a plain copy of the same size."""
    import augdrop_caffe as caffe

    n = 1 << 22
    copy_src = np.ones(n, np.float32)
    copy_dst = np.empty_like(copy_src)
    t = min(_timed(lambda: np.copyto(copy_dst, copy_src)) for _ in range(5))
    print(f"{'memory copy':<14} {8 * n / t / 1e9:7.2f} GB/s (read + write of {4 * n >> 20} MiB)")
    for variant, pf, pb in [("STANDARD", 0.5, 0), ("FORWARD", 0.5, 0), ("BACKWARD", 0, 0.5),
                            ("AUGMENTED", 0.5, 0.0002)]:
        with tempfile.TemporaryDirectory(prefix="augdrop-bench-") as folder:  # read by caffe.Net
            path = os.path.join(folder, f"{variant}.prototxt")
            with open(path, "w") as f:
                f.write(f'force_backward: true\nlayer {{ name: "x" type: "Input" top: "x" '
                        f'input_param {{ shape {{ dim: {n} }} }} }}\n'
                        f'layer {{ name: "drop" type: "AugmentedDropout" bottom: "x" top: "y" '
                        f'augmented_dropout_param {{ variant: {variant} forward_ratio: {pf} '
                        f'backward_ratio: {pb} }} }}\n')
            net = caffe.Net(path, caffe.TRAIN)
        net.blobs["y"].diff[...] = 1
        raw = net._net
        t = min(_timed(lambda: (raw.forward(), raw.backward())) for _ in range(5))
        print(f"{variant.lower():<14} {16 * n / t / 1e9:7.2f} GB/s forward+backward")


def fma_peak_per_core():
    """GFLOP/s of one core's FMA loop (bench/fma_peak.cpp, built here with g++ -march=native):
    the best of its 512-bit and 256-bit lines; None where it cannot be built."""
    try:
        with tempfile.TemporaryDirectory(prefix="augdrop-bench-") as folder:
            exe = os.path.join(folder, "fma_peak")
            subprocess.check_call(["g++", "-O3", "-funroll-loops", "-march=native",
                                   os.path.join(HERE, "fma_peak.cpp"), "-o", exe])
            out = subprocess.check_output([exe], text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"FMA peak not measured ({e}); pass --peak", file=sys.stderr)
        return None
    rates = [float(line.split(":")[1].split()[0]) for line in out.splitlines() if "GFLOP/s" in line]
    return max(rates) if rates else None


def print_layer_breakdown(name, solver, iterations, peak):
    from augdrop_caffe.timing import (format_layer_times, format_type_breakdown, layer_flops,
                                      layer_times, type_breakdown)
    rows, total_ms = layer_times(solver.net, iterations)
    print(f"\n{name}: per-layer times (ms, one training pass)")
    print(format_layer_times(rows, total_ms))
    print(f"\n{name}: by layer type" + (f" (peak {peak:.0f} GFLOP/s)" if peak else ""))
    print(format_type_breakdown(type_breakdown(rows, layer_flops(solver.net)), peak))


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-layers", action="store_true")
    p.add_argument("--layer-iterations", type=int, default=5,
                   help="passes averaged in the per-layer times")
    p.add_argument("--peak", type=float, default=None,
                   help="one core's FMA peak in GFLOP/s (default: measured by bench/fma_peak.cpp)")
    p.add_argument("--no-dropout", action="store_true", help="skip the dropout micro-benchmark")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda: both on the GPU (PyTorch eager on the same GPU)")
    args = p.parse_args()
    import augdrop_caffe as caffe

    caffe.set_num_threads(args.threads)
    if args.device == "cuda":
        caffe.set_mode_gpu()
    torch = None
    if not args.no_torch:
        torch = ensure_torch(args.device)
        torch.set_num_threads(args.threads)
    where = (f"GPU {caffe.backends()['cuda_device_names'][0]}" if args.device == "cuda"
             else f"threads {args.threads}")
    batches = ", ".join(f"{n} {NETS[n][3]}" for n in args.nets)
    print(f"{where}, {args.rounds} rounds of {args.iterations} iterations, batch {batches}, "
          "median round (best round in brackets)"
          + (f", torch {torch.__version__}" if torch is not None else ""))
    solvers = {name: bench_net(name, args, torch) for name in args.nets}
    if args.device == "cuda":
        return  # per-layer times and the dropout benchmark are CPU measurements
    if not args.no_layers:
        peak = args.peak if args.peak is not None else fma_peak_per_core()
        peak = peak * args.threads if peak else None  # the cores used
        for name, solver in solvers.items():
            print_layer_breakdown(name, solver, args.layer_iterations, peak)
    if not args.no_dropout:
        print()
        bench_dropout(args)


if __name__ == "__main__":
    main()
