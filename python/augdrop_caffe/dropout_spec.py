"""--dropout: choose the paper's dropout variant without editing prototxts.

    none                  remove every AugmentedDropout layer (the paper's "plain" net)
    standard:P            Caffe's dropout, ratio P
    forward:P             forward dropout (Definition 1)
    backward:P            backward dropout (Definition 2)
    augmented:PF/PB       Algorithm 1: forward ratio PF, extra backward ratio PB
    LAYER=SPEC            the same for one layer, by name (may be repeated)

A forward ratio may be `net`: each layer keeps the forward ratio its prototxt gives it
(standard:net, forward:net, augmented:net/PB), for nets whose layers drop at different ratios
(ALL-Conv: 0.2 on the input, 0.5 elsewhere).
"""
from dataclasses import dataclass


class DropoutSpecError(ValueError):
    pass


@dataclass(frozen=True)
class DropoutSpec:
    variant: str  # NONE, STANDARD, FORWARD, BACKWARD, AUGMENTED
    forward_ratio: float = 0.0  # None: each layer's own (`net`)
    backward_ratio: float = 0.0

    def __str__(self):
        if self.variant == "NONE":
            return "none"
        forward = NET_RATIO if self.forward_ratio is None else f"{self.forward_ratio:g}"
        if self.variant == "AUGMENTED":
            return f"augmented:{forward}/{self.backward_ratio:g}"
        if self.variant == "BACKWARD":
            return f"backward:{self.backward_ratio:g}"
        return f"{self.variant.lower()}:{forward}"


NET_RATIO = "net"


def _ratio(text, spec):
    try:
        value = float(text)
    except ValueError:
        raise DropoutSpecError(f"--dropout {spec!r}: '{text}' is not a number") from None
    if not 0 <= value < 1:
        raise DropoutSpecError(f"--dropout {spec!r}: ratio {value} is outside [0, 1)")
    return value


def _forward_ratio(text, spec):
    return None if text.strip() == NET_RATIO else _ratio(text, spec)


def parse_dropout_spec(spec):
    """'augmented:0.5/0.0001' -> DropoutSpec('AUGMENTED', 0.5, 0.0001)."""
    text = spec.strip().lower()
    if text == "none":
        return DropoutSpec("NONE")
    kind, sep, rest = text.partition(":")
    if not sep:
        raise DropoutSpecError(f"--dropout {spec!r}: expected none, standard:P, forward:P, "
                               f"backward:P or augmented:PF/PB")
    if kind == "augmented":
        pf, slash, pb = rest.partition("/")
        if not slash:
            raise DropoutSpecError(f"--dropout {spec!r}: augmented needs PF/PB, e.g. "
                                   f"augmented:0.5/0.0001")
        return DropoutSpec("AUGMENTED", _forward_ratio(pf, spec), _ratio(pb, spec))
    if kind in ("standard", "forward"):
        return DropoutSpec(kind.upper(), _forward_ratio(rest, spec), 0.0)
    if kind == "backward":
        return DropoutSpec("BACKWARD", 0.0, _ratio(rest, spec))
    raise DropoutSpecError(f"--dropout {spec!r}: unknown variant '{kind}' (none, standard, "
                           f"forward, backward, augmented)")


def parse_dropout_args(args):
    """['augmented:0.2/0.0002', 'drop1=standard:0.3'] -> (default spec or None, {layer: spec})."""
    default, per_layer = None, {}
    for arg in args or []:
        layer, eq, spec = arg.partition("=")
        if eq and ":" not in layer and layer.strip():
            per_layer[layer.strip()] = parse_dropout_spec(spec)
        else:
            default = parse_dropout_spec(arg)
    return default, per_layer


def apply_dropout(net_dict, default=None, per_layer=None):
    """Rewrite the AugmentedDropout layers of a NetParameter dict in place; returns the names
    of the layers changed. Removing a layer that is not in place rewires its consumers."""
    per_layer = dict(per_layer or {})
    layers = net_dict.get("layer", [])
    names = {l.get("name", [""])[-1] for l in layers if l.get("type", [""])[-1] == "AugmentedDropout"}
    unknown = set(per_layer) - names
    if unknown:
        raise DropoutSpecError(f"--dropout names no AugmentedDropout layer: {', '.join(sorted(unknown))} "
                               f"(this net has: {', '.join(sorted(names)) or 'none'})")
    kept, renames, changed = [], {}, []
    for layer in layers:
        # tops too: a later top named like a removed layer's output is an in-place layer
        # (ReLU on the dropout's output), which must stay in place on the rewired blob
        for key in ("bottom", "top"):
            if key in layer:
                layer[key] = [renames.get(b, b) for b in layer[key]]
        name = layer.get("name", [""])[-1]
        if layer.get("type", [""])[-1] != "AugmentedDropout":
            kept.append(layer)
            continue
        spec = per_layer.get(name, default)
        if spec is None:
            kept.append(layer)
            continue
        changed.append(name)
        if spec.variant == "NONE":
            top, bottom = layer["top"][0], layer["bottom"][0]
            if top != bottom:
                renames[top] = bottom
            continue
        old = layer.get("augmented_dropout_param", [{}])[-1]
        forward = spec.forward_ratio
        if forward is None:
            if "forward_ratio" not in old:
                raise DropoutSpecError(f"--dropout {spec}: layer '{name}' gives no "
                                       f"forward_ratio of its own to keep")
            forward = old["forward_ratio"][-1]
        param = {"variant": [spec.variant], "forward_ratio": [forward],
                 "backward_ratio": [spec.backward_ratio]}
        if "mask_backward_features" in old:
            param["mask_backward_features"] = old["mask_backward_features"]
        layer["augmented_dropout_param"] = [param]
        kept.append(layer)
    net_dict["layer"] = kept
    return changed
