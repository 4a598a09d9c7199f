"""--dropout: parse_dropout_spec, parse_dropout_args and apply_dropout (augdrop_caffe.dropout_spec)."""
import copy

import pytest

from augdrop_caffe.dropout_spec import (DropoutSpec, DropoutSpecError, apply_dropout,
                                        parse_dropout_args, parse_dropout_spec)
from augdrop_caffe.textformat import parse_text


# ---- one spec --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, want", [
    ("none", DropoutSpec("NONE")),
    (" NONE ", DropoutSpec("NONE")),
    ("standard:0.5", DropoutSpec("STANDARD", 0.5, 0.0)),
    ("Standard:0", DropoutSpec("STANDARD", 0.0, 0.0)),
    ("forward:0.3", DropoutSpec("FORWARD", 0.3, 0.0)),
    ("backward:0.1", DropoutSpec("BACKWARD", 0.0, 0.1)),
    ("augmented:0.5/0.0001", DropoutSpec("AUGMENTED", 0.5, 0.0001)),
    ("AUGMENTED:0.2/2e-4", DropoutSpec("AUGMENTED", 0.2, 0.0002)),
    ("augmented:0/0", DropoutSpec("AUGMENTED", 0.0, 0.0)),
    ("standard:0.999", DropoutSpec("STANDARD", 0.999, 0.0)),
])
def test_parse_every_form(text, want):
    assert parse_dropout_spec(text) == want


@pytest.mark.parametrize("text", ["none", "standard:0.5", "forward:0.3", "backward:0.1",
                                  "augmented:0.5/0.0001"])
def test_str_round_trips(text):
    spec = parse_dropout_spec(text)
    assert str(spec) == text
    assert parse_dropout_spec(str(spec)) == spec


@pytest.mark.parametrize("text, match", [
    ("standard:1", r"outside \[0, 1\)"),
    ("standard:1.0", r"outside \[0, 1\)"),
    ("forward:-0.1", r"outside \[0, 1\)"),
    ("backward:2", r"outside \[0, 1\)"),
    ("augmented:0.5/1", r"outside \[0, 1\)"),
    ("augmented:1/0.1", r"outside \[0, 1\)"),
    ("augmented:-0.5/0.1", r"outside \[0, 1\)"),
    ("standard:nan", r"outside \[0, 1\)"),
    ("standard:inf", r"outside \[0, 1\)"),
    ("standard:half", "not a number"),
    ("standard:", "not a number"),
    ("augmented:0.5/", "not a number"),
    ("gaussian:0.5", "unknown variant 'gaussian'"),
    ("dropconnect:0.5", "unknown variant"),
    ("augmented:0.5", "augmented needs PF/PB"),
    ("augmented:0.5,0.1", "augmented needs PF/PB"),
    ("standard", "expected none, standard:P"),
    ("0.5", "expected none"),
    ("", "expected none"),
])
def test_parse_errors(text, match):
    with pytest.raises(DropoutSpecError, match=match) as e:
        parse_dropout_spec(text)
    assert repr(text) in str(e.value)  # the message quotes what the user gave


def test_spec_error_is_a_value_error():
    assert issubclass(DropoutSpecError, ValueError)


# ---- the command line's list -----------------------------------------------------------------

def test_parse_args_empty():
    assert parse_dropout_args(None) == (None, {})
    assert parse_dropout_args([]) == (None, {})


def test_parse_args_default_and_per_layer():
    default, per_layer = parse_dropout_args(
        ["augmented:0.2/0.0002", "drop1=standard:0.3", " drop2 = none"])
    assert default == DropoutSpec("AUGMENTED", 0.2, 0.0002)
    assert per_layer == {"drop1": DropoutSpec("STANDARD", 0.3, 0.0),
                         "drop2": DropoutSpec("NONE")}


def test_parse_args_last_default_and_last_per_layer_win():
    default, per_layer = parse_dropout_args(
        ["standard:0.1", "d=forward:0.2", "backward:0.3", "d=forward:0.4"])
    assert default == DropoutSpec("BACKWARD", 0.0, 0.3)
    assert per_layer == {"d": DropoutSpec("FORWARD", 0.4, 0.0)}


def test_parse_args_per_layer_only():
    assert parse_dropout_args(["fc7_drop=augmented:0.5/0.001"]) == (
        None, {"fc7_drop": DropoutSpec("AUGMENTED", 0.5, 0.001)})


@pytest.mark.parametrize("arg, match", [
    ("drop1=standard:1", r"outside \[0, 1\)"),
    ("drop1=augmented:0.5", "PF/PB"),
    ("drop1=", "expected none"),
    ("drop1=bogus:0.1", "unknown variant"),
])
def test_parse_args_per_layer_errors(arg, match):
    with pytest.raises(DropoutSpecError, match=match):
        parse_dropout_args([arg])


# ---- rewriting a net -------------------------------------------------------------------------

NET = """
name: "n"
layer { name: "data" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 2 dim: 4 } shape { dim: 2 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
        inner_product_param { num_output: 8 } }
layer { name: "drop1" type: "AugmentedDropout" bottom: "ip1" top: "ip1"
        augmented_dropout_param { variant: AUGMENTED forward_ratio: 0.5 backward_ratio: 0.01
                                  mask_backward_features: false } }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 8 } }
layer { name: "drop2" type: "AugmentedDropout" bottom: "ip2" top: "ip2d"
        augmented_dropout_param { variant: STANDARD forward_ratio: 0.3 } }
layer { name: "ip3" type: "InnerProduct" bottom: "ip2d" top: "ip3"
        inner_product_param { num_output: 3 } }
layer { name: "probe" type: "Eltwise" bottom: "ip2d" bottom: "ip2d" top: "probe" }
layer { name: "caffe_drop" type: "Dropout" bottom: "ip3" top: "ip3"
        dropout_param { dropout_ratio: 0.5 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip3" bottom: "label" top: "loss" }
"""


def net_dict(text=NET):
    return parse_text(text, "NetParameter").to_dict()


def layer(d, name):
    matches = [l for l in d["layer"] if l["name"][-1] == name]
    assert len(matches) == 1
    return matches[0]


def dropout_param(d, name):
    return layer(d, name)["augmented_dropout_param"][-1]


def test_apply_nothing_changes_nothing():
    d = net_dict()
    before = copy.deepcopy(d)
    assert apply_dropout(d) == []
    assert d == before


def test_apply_default_to_every_augmented_dropout_layer():
    d = net_dict()
    changed = apply_dropout(d, parse_dropout_spec("forward:0.25"))
    assert changed == ["drop1", "drop2"]
    for name in changed:
        p = dropout_param(d, name)
        assert p["variant"] == ["FORWARD"]
        assert p["forward_ratio"] == [0.25] and p["backward_ratio"] == [0.0]
    # the prototxt's mask_backward_features stays as it was
    assert dropout_param(d, "drop1")["mask_backward_features"] == [False]
    assert "mask_backward_features" not in dropout_param(d, "drop2")
    # Caffe's own Dropout layer is not the --dropout option's business
    assert layer(d, "caffe_drop")["dropout_param"] == [{"dropout_ratio": [0.5]}]


def test_apply_per_layer_overrides_default():
    d = net_dict()
    changed = apply_dropout(d, parse_dropout_spec("backward:0.1"),
                            {"drop2": parse_dropout_spec("augmented:0.4/0.001")})
    assert changed == ["drop1", "drop2"]
    assert dropout_param(d, "drop1")["variant"] == ["BACKWARD"]
    assert dropout_param(d, "drop1")["backward_ratio"] == [0.1]
    p = dropout_param(d, "drop2")
    assert (p["variant"], p["forward_ratio"], p["backward_ratio"]) == (
        ["AUGMENTED"], [0.4], [0.001])


def test_apply_per_layer_only_leaves_the_others():
    d = net_dict()
    before = copy.deepcopy(layer(d, "drop1"))
    assert apply_dropout(d, None, {"drop2": parse_dropout_spec("standard:0.6")}) == ["drop2"]
    assert layer(d, "drop1") == before


def test_per_layer_name_that_does_not_exist():
    d = net_dict()
    with pytest.raises(DropoutSpecError) as e:
        apply_dropout(d, None, {"drop9": parse_dropout_spec("standard:0.5")})
    msg = str(e.value)
    assert "drop9" in msg and "drop1" in msg and "drop2" in msg  # what the net does have
    # a Dropout (Caffe's) layer is not an AugmentedDropout layer either
    with pytest.raises(DropoutSpecError, match="caffe_drop"):
        apply_dropout(net_dict(), None, {"caffe_drop": parse_dropout_spec("standard:0.5")})


def test_per_layer_name_on_a_net_without_dropout():
    d = net_dict('name: "x" layer { name: "data" type: "Input" top: "data" '
                 'input_param { shape { dim: 1 } } }')
    with pytest.raises(DropoutSpecError, match="none"):
        apply_dropout(d, None, {"drop1": parse_dropout_spec("none")})


def test_none_removes_in_place_layer():
    d = net_dict()
    changed = apply_dropout(d, None, {"drop1": parse_dropout_spec("none")})
    assert changed == ["drop1"]
    names = [l["name"][-1] for l in d["layer"]]
    assert "drop1" not in names and "drop2" in names
    assert layer(d, "ip2")["bottom"] == ["ip1"]


def test_none_removes_non_in_place_layer_and_rewires_its_consumers():
    d = net_dict()
    apply_dropout(d, parse_dropout_spec("none"))
    names = [l["name"][-1] for l in d["layer"]]
    assert names == ["data", "ip1", "ip2", "ip3", "probe", "caffe_drop", "loss"]
    assert layer(d, "ip3")["bottom"] == ["ip2"]
    assert layer(d, "probe")["bottom"] == ["ip2", "ip2"]
    assert layer(d, "loss")["bottom"] == ["ip3", "label"]
    # no layer reads a blob that nothing produces any more
    produced = set()
    for l in d["layer"]:
        assert set(l.get("bottom", [])) <= produced, l["name"]
        produced |= set(l.get("top", []))


def test_none_removes_a_chain_of_non_in_place_layers():
    d = net_dict("""
name: "chain"
layer { name: "data" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4 } } }
layer { name: "d1" type: "AugmentedDropout" bottom: "x" top: "x1" }
layer { name: "d2" type: "AugmentedDropout" bottom: "x1" top: "x2" }
layer { name: "ip" type: "InnerProduct" bottom: "x2" top: "y" inner_product_param { num_output: 2 } }
""")
    assert apply_dropout(d, parse_dropout_spec("none")) == ["d1", "d2"]
    assert [l["name"][-1] for l in d["layer"]] == ["data", "ip"]
    assert layer(d, "ip")["bottom"] == ["x"]


def test_none_rewires_an_in_place_consumer_of_a_removed_layer():
    """A ReLU working in place on the dropout's output: after the removal it must still be in
    place on the rewired blob, and the next layer must read the ReLU's output."""
    d = net_dict("""
name: "inplace_after"
layer { name: "data" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4 } } }
layer { name: "fc" type: "InnerProduct" bottom: "x" top: "fc" inner_product_param { num_output: 4 } }
layer { name: "drop" type: "AugmentedDropout" bottom: "fc" top: "fcd" }
layer { name: "relu" type: "ReLU" bottom: "fcd" top: "fcd" }
layer { name: "out" type: "InnerProduct" bottom: "fcd" top: "y" inner_product_param { num_output: 2 } }
""")
    apply_dropout(d, parse_dropout_spec("none"))
    relu, out = layer(d, "relu"), layer(d, "out")
    assert relu["bottom"] == relu["top"], "the ReLU is no longer in place"
    assert out["bottom"] == relu["top"], "the last layer skips the ReLU"


def test_applied_net_builds_in_the_core():
    """The rewritten dict is a valid net for the compiled core."""
    from augdrop_caffe import TRAIN, _core

    for spec in ("none", "augmented:0.5/0.01", "backward:0.2"):
        d = net_dict()
        apply_dropout(d, parse_dropout_spec(spec))
        net = _core.Net(d, TRAIN, 0, [])
        types = list(net.layer_types)
        assert types.count("AugmentedDropout") == (0 if spec == "none" else 2)


# ---- `net`: each layer keeps its own forward ratio (ALL-Conv: 0.2 on the input, 0.5 after) ---

TWO_RATIOS = """
layer { name: "d0" type: "AugmentedDropout" bottom: "x" top: "x"
        augmented_dropout_param { variant: STANDARD forward_ratio: 0.2 } }
layer { name: "d1" type: "AugmentedDropout" bottom: "y" top: "y"
        augmented_dropout_param { variant: STANDARD forward_ratio: 0.5 mask_backward_features: false } }
"""


@pytest.mark.parametrize("text, want", [
    ("standard:net", DropoutSpec("STANDARD", None, 0.0)),
    ("forward:net", DropoutSpec("FORWARD", None, 0.0)),
    ("augmented:net/0.0002", DropoutSpec("AUGMENTED", None, 0.0002)),
])
def test_net_ratio_parses_and_round_trips(text, want):
    assert parse_dropout_spec(text) == want
    assert str(want) == text


def test_net_ratio_keeps_each_layers_forward_ratio():
    net = parse_text(TWO_RATIOS, "NetParameter").to_dict()
    assert apply_dropout(net, parse_dropout_spec("augmented:net/0.0002")) == ["d0", "d1"]
    params = [l["augmented_dropout_param"][-1] for l in net["layer"]]
    assert [p["forward_ratio"][0] for p in params] == [pytest.approx(0.2), 0.5]
    assert all(p["variant"] == ["AUGMENTED"] and p["backward_ratio"] == [0.0002] for p in params)
    assert params[1]["mask_backward_features"] == [False]


def test_net_ratio_needs_a_ratio_in_the_prototxt():
    net = parse_text('layer { name: "d" type: "AugmentedDropout" bottom: "x" top: "x" }',
                     "NetParameter").to_dict()
    with pytest.raises(DropoutSpecError, match="layer 'd' gives no forward_ratio"):
        apply_dropout(net, parse_dropout_spec("standard:net"))
