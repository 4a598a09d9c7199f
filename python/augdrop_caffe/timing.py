"""Per-layer forward and backward times, as `caffe time` reports them."""
import time

import numpy as np

from ._loader import _core


def layer_times(net, iterations=50):
    """[(layer name, type, forward ms, backward ms)] averaged over iterations, and the
    average whole forward-backward in ms. The first pass is a warm-up. In GPU mode each
    layer's time includes waiting for its kernels (synchronize).

    The backward walk calls backward_from_to layer by layer; the Net rewrites the dropout
    layers' tops to the backward features (PrepareBackward) once after each forward, in the
    first of those calls (the last layer's row), as one training iteration's backward does."""
    raw = net._net
    sync = _core.synchronize
    n = len(net.layers)
    fwd, bwd = np.zeros(n), np.zeros(n)
    raw.forward()
    raw.backward()
    t0 = time.perf_counter()
    for _ in range(iterations):
        for i in range(n):
            s = time.perf_counter()
            raw.forward_from_to(i, i)
            sync()
            fwd[i] += time.perf_counter() - s
        for i in reversed(range(n)):
            s = time.perf_counter()
            raw.backward_from_to(i, i)
            sync()
            bwd[i] += time.perf_counter() - s
    total = (time.perf_counter() - t0) / iterations
    rows = [(l.name, f"{l.type}[{l.engine}]" if l.engine else l.type,
             1e3 * fwd[i] / iterations, 1e3 * bwd[i] / iterations)
            for i, l in enumerate(net.layers)]
    return rows, 1e3 * total


def format_layer_times(rows, total_ms):
    lines = [f"{'layer':<24}{'type':<26}{'forward ms':>12}{'backward ms':>13}"]
    for name, type_, f, b in rows:
        lines.append(f"{name:<24}{type_:<26}{f:>12.3f}{b:>13.3f}")
    lines.append(f"Average forward pass: {sum(r[2] for r in rows):.3f} ms")
    lines.append(f"Average backward pass: {sum(r[3] for r in rows):.3f} ms")
    lines.append(f"Average forward-backward: {total_ms:.3f} ms")
    return "\n".join(lines)


def layer_flops(net):
    """[(forward FLOPs, backward FLOPs)] per layer: the multiply-adds (2 FLOPs each) of the
    Convolution and InnerProduct layers, 0 for the others (memory-bound; their time is still
    in the breakdown). Forward: 2 * |top| * (C_in / group * k_h * k_w) for a convolution,
    2 * N * K * M for an InnerProduct. Backward: the weight gradient costs as much as the
    forward, and the bottom gradient as much again unless the bottom comes from an Input or
    Data layer (Caffe computes no gradient for it)."""
    raw = net._net
    names = raw.blob_names
    producers = {}
    for i, tops in enumerate(raw.top_ids):
        for t in tops:
            producers.setdefault(t, net.layers[i].type)
    out = []
    for i, layer in enumerate(net.layers):
        if layer.type not in ("Convolution", "InnerProduct") or not layer.blobs:
            out.append((0.0, 0.0))
            continue
        weight = layer.blobs[0].data.shape
        top = net.blobs[names[raw.top_ids[i][0]]].data
        if layer.type == "Convolution":  # weight (C_out, C_in / group, k_h, k_w)
            fwd = 2.0 * top.size * float(np.prod(weight[1:]))
        else:  # InnerProduct: weight M x K (or K x M, transposed), top (..., M)
            fwd = 2.0 * top.size * float(np.prod(weight)) / max(top.shape[-1], 1)
        bottom_type = producers.get(raw.bottom_ids[i][0], "")
        data_grad = raw.layer_need_backward(i) and not bottom_type.endswith("Data") \
            and bottom_type != "Input"
        bwd = (fwd * (2 if data_grad else 1)) if raw.layer_need_backward(i) else 0.0
        out.append((fwd, bwd))
    return out


def type_breakdown(rows, flops):
    """Sums layer_times rows by type ("Convolution[IMPLICIT]" and "Convolution[CAFFE]" apart):
    [(type, layers, forward ms, backward ms, GFLOP per pass)], slowest first."""
    by_type = {}
    for (_, type_, f, b), (ff, bf) in zip(rows, flops):
        n, tf, tb, g = by_type.get(type_, (0, 0.0, 0.0, 0.0))
        by_type[type_] = (n + 1, tf + f, tb + b, g + (ff + bf) / 1e9)
    return sorted(((t, *v) for t, v in by_type.items()), key=lambda r: -(r[2] + r[3]))


def format_type_breakdown(breakdown, peak_gflops=None):
    """The per-type table: time, share of the pass, and GFLOP/s (and % of peak_gflops, the
    machine's FMA peak over the threads used) where the type does multiply-adds."""
    total = sum(r[2] + r[3] for r in breakdown) or 1.0
    head = f"{'type':<26}{'layers':>7}{'fwd ms':>10}{'bwd ms':>10}{'share':>8}{'GFLOP':>8}{'GFLOP/s':>9}"
    lines = [head + ("  of peak" if peak_gflops else "")]
    all_flop = all_ms = 0.0
    for type_, n, f, b, g in breakdown:
        ms = f + b
        rate = g / (ms / 1e3) if g and ms > 0 else None
        line = f"{type_:<26}{n:>7}{f:>10.2f}{b:>10.2f}{100 * ms / total:>7.1f}%{g:>8.2f}"
        line += f"{rate:>9.1f}" if rate else f"{'':>9}"
        if rate and peak_gflops:
            line += f"{100 * rate / peak_gflops:>8.0f}%"
        lines.append(line)
        all_flop += g
        all_ms += ms
    rate = all_flop / (all_ms / 1e3) if all_ms > 0 else 0.0
    line = f"{'all':<26}{'':>7}{'':>10}{'':>10}{'':>8}{all_flop:>8.2f}{rate:>9.1f}"
    if peak_gflops:
        line += f"{100 * rate / peak_gflops:>8.0f}%"
    lines.append(line)
    if any(r[0].endswith("[WINOGRAD]") for r in breakdown):
        lines.append("(GFLOP: the direct convolution's multiply-adds; WINOGRAD does fewer, so its "
                     "GFLOP/s is an effective rate and may pass the peak)")
    return "\n".join(lines)
