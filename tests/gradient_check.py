"""A gradient checker in the manner of Caffe's GradientChecker.

Caffe's include/caffe/test/test_gradient_check_util.hpp checks a layer's analytic gradient
against float central differences:

    estimated = (obj(x + h) - obj(x - h)) / (2 h),   h = stepsize (1e-2 by default)
    |computed - estimated| <= threshold * max(|computed|, |estimated|, 1)

skipping features that lie within kink_range of a kink (ReLU's 0). This module does the same
on a whole Net built from a prototxt (Input layers for the bottoms), through the Python API:

- the objective is sum over the checked tops of sum(top * W_top), W_top fixed random weights,
  which are also the top diffs of the analytic backward pass;
- Caffe's random stream is reseeded (caffe.set_random_seed(seed)) before every forward, so a
  dropout layer draws the same masks for every evaluation;
- bottom diffs (Input blobs) and parameter diffs are checked; parameter diffs accumulate in
  Caffe, so all of them are zeroed before each backward pass.

    checker = GradientChecker(stepsize=1e-2, threshold=1e-3)
    checker.check(net, inputs={"x": x}, check_blobs=["x"])
"""
import numpy as np

import augdrop_caffe as caffe

__all__ = ["GradientChecker", "GradientMismatch", "write_net"]


class GradientMismatch(AssertionError):
    pass


def write_net(tmp_path, body, inputs, name="net.prototxt", force_backward=True):
    """Write a net prototxt: one Input layer per (blob, shape) in inputs, then body."""
    lines = ['name: "gradcheck"']
    if force_backward:
        lines.append("force_backward: true")
    for blob, shape in inputs.items():
        dims = " ".join(f"dim: {int(d)}" for d in shape)
        lines.append(f'layer {{ name: "input_{blob}" type: "Input" top: "{blob}" '
                     f"input_param {{ shape {{ {dims} }} }} }}")
    lines.append(body)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class GradientChecker:
    def __init__(self, stepsize=1e-2, threshold=1e-3, seed=1701, kink=0.0, kink_range=-1.0,
                 weight_seed=0):
        self.stepsize = float(stepsize)
        self.threshold = float(threshold)
        self.seed = int(seed)
        self.kink = float(kink)
        self.kink_range = float(kink_range)
        self.weight_seed = int(weight_seed)

    # ---- the pieces ------------------------------------------------------------------------

    def _set_inputs(self, net, inputs):
        for name, value in inputs.items():
            net.blobs[name].data[...] = value

    def _forward(self, net, inputs):
        self._set_inputs(net, inputs)
        caffe.set_random_seed(self.seed)
        net.forward()

    def top_weights(self, net, tops):
        rng = np.random.default_rng(self.weight_seed)
        return {t: rng.uniform(-1.0, 1.0, size=net.blobs[t].data.shape).astype(np.float32)
                for t in tops}

    def objective(self, net, inputs, weights):
        """sum_t sum(top_t * W_t), evaluated in double on the float32 tops."""
        self._forward(net, inputs)
        return sum(float(np.sum(net.blobs[t].data.astype(np.float64) * w.astype(np.float64)))
                   for t, w in weights.items())

    @staticmethod
    def _zero_param_diffs(net):
        for blobs in net.params.values():
            for b in blobs:
                b.diff[...] = 0

    def analytic(self, net, inputs, weights, check_blobs, check_params):
        """One forward and backward with top diffs = weights: the computed gradients."""
        self._forward(net, inputs)
        for t, w in weights.items():
            net.blobs[t].diff[...] = w
        self._zero_param_diffs(net)
        net.backward()
        grads = {("blob", b): np.array(net.blobs[b].diff, dtype=np.float64) for b in check_blobs}
        for layer, i in check_params:
            grads[("param", layer, i)] = np.array(net.params[layer][i].diff, dtype=np.float64)
        return grads

    def numeric(self, net, inputs, weights, key):
        """Central differences for every element of one checked blob or param."""
        h = np.float32(self.stepsize)
        if key[0] == "blob":
            base = np.array(inputs[key[1]], dtype=np.float32)
        else:
            base = np.array(net.params[key[1]][key[2]].data, dtype=np.float32)
        est = np.zeros(base.shape, np.float64)
        for idx in np.ndindex(*base.shape):
            vals = []
            for sign in (1, -1):
                pert = base.copy()
                pert[idx] = base[idx] + sign * h
                if key[0] == "blob":
                    feed = dict(inputs)
                    feed[key[1]] = pert
                    vals.append(self.objective(net, feed, weights))
                else:
                    net.params[key[1]][key[2]].data[...] = pert
                    vals.append(self.objective(net, inputs, weights))
            # The step as float32 actually realised it (x + h - (x - h) in float).
            span = float(np.float32(base[idx] + h)) - float(np.float32(base[idx] - h))
            est[idx] = (vals[0] - vals[1]) / span
        if key[0] == "param":
            net.params[key[1]][key[2]].data[...] = base
        return est, base

    # ---- the check -------------------------------------------------------------------------

    def check(self, net, inputs, check_blobs=None, check_params=None, tops=None):
        """Compare computed and estimated gradients; raise GradientMismatch on a failure.

        inputs: {input blob: array} (labels included; they are only set, never perturbed).
        check_blobs: input blobs whose diffs are checked (default: all of inputs).
        check_params: [(layer, index)] (default: every param blob of every layer except
        BatchNorm's statistics, which Caffe never learns).
        tops: blobs in the objective (default: the net's outputs).
        Returns {key: (computed, estimated)} for further inspection.
        """
        inputs = {k: np.asarray(v, dtype=np.float32) for k, v in inputs.items()}
        if check_blobs is None:
            check_blobs = list(inputs)
        if check_params is None:
            check_params = [(l.name, i) for l in net.layers if l.type != "BatchNorm"
                            for i in range(len(l.blobs))]
        tops = list(net.outputs) if tops is None else list(tops)
        # One forward first, so that every top has its shape.
        self._forward(net, inputs)
        weights = self.top_weights(net, tops)
        computed = self.analytic(net, inputs, weights, check_blobs, check_params)
        results = {}
        failures = []
        for key, comp in computed.items():
            est, feature = self.numeric(net, inputs, weights, key)
            results[key] = (comp, est)
            for idx in np.ndindex(*comp.shape):
                f = abs(float(feature[idx]))
                if self.kink_range >= 0 and (self.kink - self.kink_range <= f
                                             <= self.kink + self.kink_range):
                    continue
                c, e = float(comp[idx]), float(est[idx])
                scale = max(abs(c), abs(e), 1.0)
                if not abs(c - e) <= self.threshold * scale:
                    failures.append(f"{key} {idx}: computed {c:.6g}, estimated {e:.6g} "
                                    f"(feature {float(feature[idx]):.6g})")
        if failures:
            shown = "\n  ".join(failures[:20])
            raise GradientMismatch(f"{len(failures)} gradient mismatches (threshold "
                                   f"{self.threshold}, step {self.stepsize}):\n  {shown}")
        # The analytic pass must be repeatable (param diffs zeroed, masks reseeded).
        again = self.analytic(net, inputs, weights, check_blobs, check_params)
        for key, comp in computed.items():
            np.testing.assert_array_equal(again[key], comp, err_msg=f"{key} not repeatable")
        return results
