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
