"""Monte Carlo dropout evaluation (Gal & Ghahramani 2016), the baseline of the paper's Table 6:
the class probabilities of an image are the mean softmax of T stochastic forward passes with
dropout left on, instead of one pass of the deterministic (weight-scaled) net.

How the stochastic passes are made: the TEST net is built with every dropout layer (Dropout,
AugmentedDropout) given `phase: TRAIN`, as a Caffe user would do it; a layer's own phase wins
over the net's (Caffe's Net::Init inherits the net's phase only where a layer sets none), so
the data layers read the test set as in TEST and only the dropout layers draw masks, from
Caffe's random stream in forward order. Per test batch, the layers before the first dropout
layer run once; the blobs that the later layers read from them are kept and restored before
each of the T passes (dropout in place on its input must not drop twice).

The result, over `iterations` test batches:
  accuracy, error        of the MC prediction (argmax of the mean softmax over T passes)
  error_se               the Monte Carlo standard error of that error over the T passes: the
                         jackknife over passes, sqrt((T-1)/T * sum_t (e_(t) - e_(.))^2), with
                         e_(t) the error of the ensemble that leaves pass t out
  pass_error_mean/_se    the error of single stochastic passes: mean over the T passes and
                         its standard error (sample std / sqrt(T))
  deterministic accuracy, error   the standard evaluation (dropout as in TEST) of the same net
                         and batches, when asked for (deterministic=True)
"""
import math
import os

import numpy as np

from . import TEST, textformat
from ._loader import EngineError, _core
from .data import prepare_net_data
from .dropout_spec import apply_dropout
from .net import Net, layers_in_state, locate_error

DROPOUT_TYPES = ("Dropout", "AugmentedDropout")


def stochastic_test_net_dict(net_dict):
    """The NetParameter dict with every dropout layer set to phase TRAIN (in place)."""
    changed = []
    for layer in net_dict.get("layer", []):
        if layer.get("type", [""])[-1] in DROPOUT_TYPES:
            layer["phase"] = ["TRAIN"]
            changed.append(layer.get("name", ["?"])[-1])
    return changed


def build_net(model, weights=None, dropout=(None, {}), stochastic=True, data_root=None):
    """A TEST-phase Net of the prototxt `model`, with --dropout specs applied, its dropout
    layers in TRAIN behaviour when stochastic; weights from a .caffemodel."""
    if not os.path.isfile(model):
        raise FileNotFoundError(f"net prototxt not found: {model}")
    message = textformat.parse_file(model, "NetParameter", upgrade=True)
    net_dict = message.to_dict()
    default, per_layer = dropout
    if default is not None or per_layer:
        apply_dropout(net_dict, default, per_layer)
    if stochastic and not stochastic_test_net_dict(net_dict):
        raise ValueError(f"{model}: no Dropout or AugmentedDropout layer: MC dropout would "
                         f"be the deterministic net")
    try:
        # only the TEST net's sources are read (the training set stays on disk)
        prepared = prepare_net_data(net_dict, data_root, layers_in_state(net_dict, TEST))
        core = _core.Net(prepared, int(TEST))
    except EngineError as e:
        raise locate_error(e, message, model) from None
    net = Net._wrap(core, message, model)
    if weights:
        net.copy_from(weights)
    return net


def _softmax(logits):
    z = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _scored_blobs(net):
    """(logits blob, label blob) names: the bottoms of the first Accuracy layer, else of the
    first SoftmaxWithLoss layer."""
    names = net._net.blob_names
    for wanted in ("Accuracy", "SoftmaxWithLoss"):
        for i, layer in enumerate(net.layers):
            if layer.type == wanted:
                ids = net._net.bottom_ids[i]
                return names[ids[0]], names[ids[1]]
    raise ValueError(f"net '{net.name}' has no Accuracy or SoftmaxWithLoss layer to score")


def _first_stochastic_layer(net):
    for i, layer in enumerate(net.layers):
        if layer.type in DROPOUT_TYPES:
            return i
    raise ValueError(f"net '{net.name}' has no dropout layer")


def mc_evaluate(net, samples, iterations, deterministic_net=None, keep_probabilities=False):
    """MC dropout over `iterations` batches of a net from build_net(stochastic=True), T =
    `samples` passes a batch. deterministic_net: the same net built with stochastic=False
    (sharing weights), for the standard evaluation of the same batches; the two nets read
    their data separately, so both start at the first test batch. keep_probabilities: the
    result also holds "probabilities", the mean softmax (N, classes)."""
    if samples < 1 or iterations < 1:
        raise ValueError("MC dropout needs samples >= 1 and iterations >= 1")
    core = net._net
    first = _first_stochastic_layer(net)
    last = len(net.layers) - 1
    logits_name, label_name = _scored_blobs(net)
    # blobs made before the first dropout layer and read by it or after it
    made_before = {b for i in range(first) for b in core.top_ids[i]}
    kept_ids = sorted({b for i in range(first, last + 1) for b in core.bottom_ids[i]}
                      & made_before)
    blobs = core.blobs
    per_pass, labels, det_correct = [], [], []
    for _ in range(iterations):
        if first > 0:
            net._call(core.forward_from_to, 0, first - 1)
        kept = [np.array(blobs[b].data, copy=True) for b in kept_ids]
        batch = []
        for _ in range(samples):
            for b, value in zip(kept_ids, kept):
                blobs[b].data[...] = value
            net._call(core.forward_from_to, first, last)
            batch.append(_softmax(net.blobs[logits_name].data))
        per_pass.append(np.stack(batch))                       # (T, batch, classes)
        labels.append(np.array(net.blobs[label_name].data, dtype=np.int64).reshape(-1))
        if deterministic_net is not None:
            deterministic_net.forward()
            det_logits = deterministic_net.blobs[logits_name].data
            det_labels = np.array(deterministic_net.blobs[label_name].data).reshape(-1)
            det_correct.append(np.argmax(det_logits.reshape(len(det_labels), -1), axis=1)
                               == det_labels.astype(np.int64))
    probs = np.concatenate(per_pass, axis=1)                   # (T, N, classes)
    labels = np.concatenate(labels)
    result = summarize(probs, labels, det_correct)
    if keep_probabilities:
        result["probabilities"] = probs.sum(axis=0) / samples
    return result


def summarize(probs, labels, det_correct=()):
    """The figures of an MC evaluation from the per-pass probabilities (T, N, classes)."""
    T, n = probs.shape[0], probs.shape[1]
    total = probs.sum(axis=0)
    correct = np.argmax(total / T, axis=1) == labels
    out = {"samples": T, "images": int(n), "accuracy": float(correct.mean()),
           "error": float(1.0 - correct.mean())}
    pass_errors = np.array([float(np.mean(np.argmax(p, axis=1) != labels)) for p in probs])
    out["pass_error_mean"] = float(pass_errors.mean())
    out["pass_error_se"] = (float(pass_errors.std(ddof=1) / math.sqrt(T)) if T > 1
                            else float("nan"))
    if T > 1:  # jackknife over the passes
        loo = np.array([float(np.mean(np.argmax(total - p, axis=1) != labels)) for p in probs])
        out["error_se"] = float(math.sqrt((T - 1) / T * np.sum((loo - loo.mean()) ** 2)))
    else:
        out["error_se"] = float("nan")
    if len(det_correct):
        det = np.concatenate(det_correct)
        out["deterministic_accuracy"] = float(det.mean())
        out["deterministic_error"] = float(1.0 - det.mean())
    return out


def evaluate(model, weights, samples, iterations, dropout=(None, {}), data_root=None,
             seed=None, deterministic=True):
    """MC dropout evaluation of a trained net (the Python face of `augdrop-caffe test
    --mc-samples T`). seed: reseeds Caffe's random stream first (the masks repeat)."""
    net = build_net(model, weights, dropout, stochastic=True, data_root=data_root)
    det = (build_net(model, weights, dropout, stochastic=False, data_root=data_root)
           if deterministic else None)
    if seed is not None:
        _core.set_random_seed(int(seed))
    result = mc_evaluate(net, samples, iterations, det)
    result["iterations"] = iterations
    if seed is not None:
        result["seed"] = int(seed)
    return result


def format_result(r):
    """Lines for a terminal or a log."""
    lines = [f"MC dropout, T = {r['samples']} passes, {r['images']} images: accuracy "
             f"{r['accuracy']:.4f}, error {100 * r['error']:.2f}% "
             f"(± {100 * r['error_se']:.2f}% MC standard error over T, jackknife)",
             f"single stochastic passes: error {100 * r['pass_error_mean']:.2f}% "
             f"± {100 * r['pass_error_se']:.2f}% (mean ± standard error over T)"]
    if "deterministic_error" in r:
        lines.append(f"standard evaluation (dropout off, weight scaling): accuracy "
                     f"{r['deterministic_accuracy']:.4f}, error "
                     f"{100 * r['deterministic_error']:.2f}%")
    return lines
