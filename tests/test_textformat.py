"""The prototxt parser (augdrop_caffe.textformat) and the schema behind it."""
import glob
import math
import os

import numpy as np
import pytest

from augdrop_caffe import schema
from augdrop_caffe.textformat import (Message, PrototxtError, format_message, message_from_dict,
                                      parse_file, parse_text)

import golden

# The golden cases of BVLC Caffe, found as tests/golden.py finds them (AUGDROP_GOLDEN).
GOLDEN = str(golden.folder())
CASES = sorted(glob.glob(os.path.join(GOLDEN, "*.npz")))


def _texts(key):
    out = []
    for path in CASES:
        with np.load(path, allow_pickle=False) as z:
            if key in z.files:
                out.append((os.path.basename(path), str(z[key])))
    return out


def _error(text, root="NetParameter", filename="net.prototxt"):
    with pytest.raises(PrototxtError) as info:
        parse_text(text, root, filename)
    return str(info.value), info.value


def f32(x):
    return float(np.float32(x))


# --- the golden prototxts ----------------------------------------------------------------------

def test_golden_cases_exist():
    assert len(CASES) >= 50, f"expected the 52 golden cases under {GOLDEN}"


@pytest.mark.parametrize("name,text", _texts("prototxt"),
                         ids=lambda v: v if v.endswith("npz") else "")
def test_golden_net_prototxt_parses_and_round_trips(name, text):
    net = parse_text(text, "NetParameter", name)
    assert net.getlist("layer"), name
    for layer in net.getlist("layer"):
        assert isinstance(layer.get("name"), str) and layer.get("type")
    again = parse_text(format_message(net), "NetParameter")
    assert again.to_dict() == net.to_dict()
    assert format_message(again) == format_message(net)


@pytest.mark.parametrize("name,text", _texts("solver_prototxt"),
                         ids=lambda v: v if v.endswith("npz") else "")
def test_golden_solver_prototxt_parses_and_round_trips(name, text):
    solver = parse_text(text, "SolverParameter", name)
    assert isinstance(solver.get("base_lr"), float)
    assert solver.get("solver_mode") == "CPU"
    assert solver.get("net_param").getlist("layer")
    again = parse_text(format_message(solver), "SolverParameter")
    assert again.to_dict() == solver.to_dict()


def test_lenet_values_have_schema_types():
    (_, text), = [t for t in _texts("prototxt") if t[0] == "lenet.npz"]
    net = parse_text(text, "NetParameter")
    assert net.get("name") == "LeNet"
    layers = {l.get("name"): l for l in net.getlist("layer")}
    conv = layers["conv1"].get("convolution_param")
    assert conv.get("num_output") == 20 and type(conv.get("num_output")) is int
    assert conv.getlist("kernel_size") == [5]  # repeated in ConvolutionParameter
    assert conv.get("bias_term") is True  # schema default
    assert conv.get("weight_filler").get("type") == "xavier"
    assert conv.get("bias_filler").get("value") == 0.0
    assert [p.get("lr_mult") for p in layers["conv1"].getlist("param")] == [1.0, 2.0]
    assert type(layers["conv1"].getlist("param")[0].get("lr_mult")) is float
    assert layers["pool1"].get("pooling_param").get("pool") == "MAX"
    assert layers["pool1"].get("pooling_param").get("round_mode") == "CEIL"
    shapes = layers["input"].get("input_param").getlist("shape")
    assert [s.getlist("dim") for s in shapes] == [[8, 1, 28, 28], [8]]
    assert layers["loss"].get("loss_param").get("normalization") == "VALID"
    assert layers["relu1"].getlist("bottom") == ["ip1"]
    assert layers["relu1"].getlist("top") == ["ip1"]


def test_solver_values_and_defaults():
    (_, text), = [t for t in _texts("solver_prototxt") if t[0] == "solver_lenet_sgd_step.npz"]
    s = parse_text(text, "SolverParameter")
    assert s.get("base_lr") == f32(0.01)  # float fields hold Caffe's float32 value
    assert s.get("lr_policy") == "step" and s.get("stepsize") == 3 and s.get("gamma") == f32(0.1)
    assert s.get("random_seed") == 1701 and s.get("max_iter") == 6
    assert s.get("type") == "SGD"
    # Caffe 1.0 defaults for what the file leaves out
    assert s.get("average_loss") == 1 and s.get("iter_size") == 1
    assert s.get("test_initialization") is True and s.get("test_interval") == 0
    assert s.get("clip_gradients") == -1.0 and s.get("regularization_type") == "L2"
    assert s.get("snapshot_format") == "BINARYPROTO" and s.getlist("test_iter") == []
    assert s.get("delta") == f32(1e-8) and s.get("momentum2") == f32(0.999)
    assert s.get("layer_wise_reduce") is True and s.get("snapshot_after_train") is True
    d = s.to_dict()
    assert d["base_lr"] == [f32(0.01)] and "average_loss" not in d
    full = s.to_dict(defaults=True)
    assert full["average_loss"] == [1] and full["test_iter"] == []
    assert full["solver_mode"] == ["CPU"]
    assert "train_net_param" not in full  # unset messages stay absent
    net = d["net_param"][0]
    assert isinstance(net, dict) and isinstance(net["layer"], list)
    assert isinstance(net["layer"][0], dict)


# --- syntax ------------------------------------------------------------------------------------

SYNTAX = r"""
# a comment line
name: 'quoted \'single\'' # trailing comment
input: "a" "b"  'c'
force_backward: True
layer: {  # colon before a block
  name: "conv\x41\101\n\t\\\"" type: "Convolution";
  bottom: "data", top: "out"
  loss_weight: [1, 2.5, -.5, 1e-4, 3.f]
  convolution_param <
    num_output: 0x10 kernel_size: [3, 5] pad: 010 group: 2
    weight_filler { type: "gaussian" std: -inf mean: nan min: inf max: -1E+2 }
  >
  include { phase: TRAIN } include { phase: 1 stage: ["x", "y"] }
  propagate_down: [true, false, t, f, 1, 0]
}
layer { name: "empty" }
input_shape: [{dim: [1, 2]}, {dim: 3}]
state {}
"""


def test_syntax_features():
    net = parse_text(SYNTAX, "NetParameter")
    assert net.get("name") == "quoted 'single'"
    assert net.getlist("input") == ["abc"]  # adjacent strings concatenate
    assert net.get("force_backward") is True
    layer = net.getlist("layer")[0]
    assert layer.get("name") == 'convAA\n\t\\"'
    assert layer.getlist("bottom") == ["data"] and layer.getlist("top") == ["out"]
    assert layer.getlist("loss_weight") == [1.0, 2.5, -0.5, f32(1e-4), 3.0]
    conv = layer.get("convolution_param")
    assert conv.get("num_output") == 16 and conv.getlist("kernel_size") == [3, 5]
    assert conv.getlist("pad") == [8]  # a leading 0 is octal, as in protobuf
    wf = conv.get("weight_filler")
    assert wf.get("std") == -math.inf and math.isnan(wf.get("mean"))
    assert wf.get("min") == math.inf and wf.get("max") == -100.0
    assert [r.get("phase") for r in layer.getlist("include")] == ["TRAIN", "TEST"]
    assert layer.getlist("include")[1].getlist("stage") == ["x", "y"]
    assert layer.getlist("propagate_down") == [True, False, True, False, True, False]
    assert net.getlist("layer")[1].get("name") == "empty"
    assert [s.getlist("dim") for s in net.getlist("input_shape")] == [[1, 2], [3]]
    assert net.has("state") and not net.get("state").fields
    assert net.get("state").get("phase") == "TEST"  # NetState's default


def test_syntax_round_trip():
    net = parse_text(SYNTAX, "NetParameter")
    text = format_message(net)
    again = parse_text(text, "NetParameter")
    d1, d2 = net.to_dict(), again.to_dict()
    # nan != nan: compare the filler apart
    f1 = d1["layer"][0]["convolution_param"][0].pop("weight_filler")[0]
    f2 = d2["layer"][0]["convolution_param"][0].pop("weight_filler")[0]
    assert math.isnan(f1.pop("mean")[0]) and math.isnan(f2.pop("mean")[0])
    assert d1 == d2 and f1 == f2
    assert format_message(again) == text


def test_format_writes_caffe_style_text():
    net = parse_text('name: "n" layer { name: "a" type: "ReLU" bottom: "x" top: "x" '
                     'relu_param { negative_slope: 0.1 } param { lr_mult: 1 decay_mult: 0 } }',
                     "NetParameter")
    assert format_message(net) == (
        'name: "n"\n'
        'layer {\n'
        '  name: "a"\n'
        '  type: "ReLU"\n'
        '  bottom: "x"\n'
        '  top: "x"\n'
        '  relu_param { negative_slope: 0.1 }\n'
        '  param { lr_mult: 1 decay_mult: 0 }\n'
        '}\n')
    assert format_message(Message("NetParameter")) == ""


def test_float_formatting_is_shortest_float32_text():
    s = parse_text("base_lr: 0.01 gamma: 1e-8 momentum: 0.9 power: 3 weight_decay: 1e30",
                   "SolverParameter")
    text = format_message(s)
    assert "base_lr: 0.01\n" in text and "gamma: 1e-08\n" in text and "momentum: 0.9\n" in text
    assert "power: 3\n" in text and "weight_decay: 1e+30\n" in text
    assert parse_text(text, "SolverParameter") == s


def test_float_overflow_gives_inf_like_caffe():
    s = parse_text("base_lr: 1e39 gamma: -1e39", "SolverParameter")
    assert s.get("base_lr") == math.inf and s.get("gamma") == -math.inf


def test_last_value_wins_and_messages_merge():
    net = parse_text('name: "a" name: "b" layer { name: "c" convolution_param { num_output: 1 } '
                     'convolution_param { kernel_size: 3 num_output: 2 } }', "NetParameter")
    assert net.get("name") == "b" and net.getlist("name") == ["b"]
    conv = net.getlist("layer")[0].get("convolution_param")
    assert conv.get("num_output") == 2 and conv.getlist("kernel_size") == [3]


def test_lines_are_recorded():
    text = 'name: "x"\n\nlayer {\n  name: "a"\n  top: "t1"\n  top: "t2"\n}\n'
    net = parse_text(text, "NetParameter")
    assert net.line_of("name") == 1 and net.line_of("layer") == 3
    layer = net.getlist("layer")[0]
    assert layer.line_of("top", 0) == 5 and layer.line_of("top", 1) == 6
    assert layer.line_of("top", 2) is None and layer.line_of("bottom") is None


def test_list_items_record_their_own_lines():
    net = parse_text("input: [\n'a',\n'b']", "NetParameter")
    assert net.getlist("input") == ["a", "b"]
    assert [net.line_of("input", i) for i in (0, 1)] == [2, 3]


def test_enum_names_and_numbers():
    net = parse_text('layer { name: "p" pooling_param { pool: 1 } }', "NetParameter")
    assert net.getlist("layer")[0].get("pooling_param").get("pool") == "AVE"


def test_augmented_dropout_param():
    text = """
    layer { name: "drop1" type: "AugmentedDropout" bottom: "ip1" top: "ip1"
            augmented_dropout_param { variant: AUGMENTED  forward_ratio: 0.2  backward_ratio: 0.0002
                                      mask_backward_features: true } }
    layer { name: "drop2" type: "AugmentedDropout" augmented_dropout_param { } }
    """
    a, b = parse_text(text, "NetParameter").getlist("layer")
    p = a.get("augmented_dropout_param")
    assert p.get("variant") == "AUGMENTED" and p.get("forward_ratio") == f32(0.2)
    assert p.get("backward_ratio") == f32(0.0002) and p.get("mask_backward_features") is True
    q = b.get("augmented_dropout_param")
    assert (q.get("variant"), q.get("forward_ratio"), q.get("backward_ratio"),
            q.get("mask_backward_features")) == ("AUGMENTED", 0.5, 0.0, True)
    assert parse_text('layer { augmented_dropout_param { variant: BACKWARD } }',
                      "NetParameter").getlist("layer")[0].get(
        "augmented_dropout_param").get("variant") == "BACKWARD"


def test_parse_file_and_errors_name_the_file(tmp_path):
    path = tmp_path / "lenet.prototxt"
    path.write_text('name: "x"\nlayer {\n  name: "conv1"\n  convolution_param {\n'
                    '    kernal_size: 5\n  }\n}\n')
    with pytest.raises(PrototxtError) as info:
        parse_file(str(path), "NetParameter")
    assert str(info.value) == (
        "%s:5: unknown field 'kernal_size' in ConvolutionParameter (layer 'conv1'); "
        "did you mean 'kernel_size'?" % path)
    e = info.value
    assert (e.filename, e.line, e.layer, e.layer_line) == (str(path), 5, "conv1", 2)
    good = tmp_path / "ok.prototxt"
    good.write_text('base_lr: 0.5\n')
    assert parse_file(good, "SolverParameter").get("base_lr") == 0.5


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(PrototxtError, match="nope.prototxt: cannot read prototxt"):
        parse_file(str(tmp_path / "nope.prototxt"), "NetParameter")
    binary = tmp_path / "w.caffemodel"
    binary.write_bytes(b'\n\x05LeNet\xa2\x06\xff\xfe')
    with pytest.raises(PrototxtError,
                       match=r"w.caffemodel:2: the file is not UTF-8 text \(byte offset 7\)"):
        parse_file(str(binary), "NetParameter")


# --- errors: every kind carries the file, the line and the layer --------------------------------

def test_unknown_field_in_layer_param():
    text, e = _error('name: "n"\nlayer {\n name: "conv1"\n type: "Convolution"\n'
                     ' convolution_param {\n  num_output: 4\n  kernal_size: 3\n }\n}\n',
                     filename="lenet.prototxt")
    assert text == ("lenet.prototxt:7: unknown field 'kernal_size' in ConvolutionParameter "
                    "(layer 'conv1'); did you mean 'kernel_size'?")


def test_layer_name_given_after_the_error_is_found():
    text, e = _error('layer {\n type: "Convolution"\n frobnicate: 1\n name: "late"\n}\n')
    assert text == "net.prototxt:3: unknown field 'frobnicate' in LayerParameter (layer 'late')"
    assert e.layer == "late"


def test_layer_without_name_is_named_by_its_line():
    text, e = _error('name: "n"\n\nlayer {\n type: "ReLU"\n relu_param { slope: 1 }\n}\n')
    assert text.startswith(
        "net.prototxt:5: unknown field 'slope' in ReLUParameter (layer at line 3)")
    assert e.layer is None and e.layer_line == 3


def test_unknown_top_level_field_has_no_layer():
    text, _ = _error('name: "n"\nlayer_x { }\n')
    assert text == "net.prototxt:2: unknown field 'layer_x' in NetParameter; did you mean 'layer'?"


@pytest.mark.parametrize("value,expected", [
    ('"a"', 'expected an integer, got string "a"'),
    ("1.5", "expected an integer, got '1.5'"),
    ("MAX", "expected an integer, got 'MAX'"),
    ("true", "expected an integer, got 'true'"),
])
def test_wrong_value_type_for_int(value, expected):
    text, _ = _error('layer {\n name: "c"\n convolution_param {\n  num_output: %s\n }\n}\n' % value)
    assert text == ("net.prototxt:4: invalid value for field 'num_output' of ConvolutionParameter "
                    "(uint32): %s (layer 'c')" % expected)


def test_wrong_value_types_for_other_kinds():
    text, _ = _error('layer { name: "d"\n dropout_param { dropout_ratio: "half" } }')
    assert text.startswith("net.prototxt:2: invalid value for field 'dropout_ratio' of "
                           "DropoutParameter (float): expected a number, got string \"half\"")
    text, _ = _error('layer { name: "d"\n type: Dropout }')
    assert text == ("net.prototxt:2: invalid value for field 'type' of LayerParameter (string): "
                    "expected a quoted string, got 'Dropout' (layer 'd')")
    text, _ = _error("force_backward: 2")
    assert "expected true or false, got '2'" in text
    text, _ = _error('layer { name: "p"\n pooling_param { pool: "MAX" } }')
    assert "expected one of MAX, AVE, STOCHASTIC, got string \"MAX\"" in text
    text, _ = _error("base_lr: 0.1\ndisplay: 1e2", root="SolverParameter", filename="s.prototxt")
    assert text == ("s.prototxt:2: invalid value for field 'display' of SolverParameter (int32): "
                    "expected an integer, got '1e2'")


def test_integer_range():
    text, _ = _error('layer { name: "c"\n convolution_param { num_output: -1 } }')
    assert text.startswith("net.prototxt:2: value -1 is out of range for field 'num_output'")
    text, _ = _error("max_iter: 2147483648", root="SolverParameter")
    assert "out of range" in text and "int32" in text
    assert parse_text("random_seed: -9223372036854775808", "SolverParameter").get(
        "random_seed") == -(1 << 63)


def test_unknown_enum_value():
    text, _ = _error('layer {\n name: "pool1"\n pooling_param { pool: MAXX }\n}')
    assert text == ("net.prototxt:3: unknown value 'MAXX' for enum field 'pool' of "
                    "PoolingParameter; expected one of MAX, AVE, STOCHASTIC (layer 'pool1'); "
                    "did you mean 'MAX'?")
    text, _ = _error('layer { name: "p"\n pooling_param { pool: 7 } }')
    assert text.startswith("net.prototxt:2: unknown value 7 for enum field 'pool'")
    text, _ = _error("solver_mode: TPU", root="SolverParameter")
    assert "unknown value 'TPU'" in text and "CPU, GPU" in text


def test_unterminated_block_points_at_its_opening():
    text, _ = _error('name: "n"\nlayer {\n name: "conv1"\n convolution_param {\n'
                     '  num_output: 4\n\n')
    assert text == ("net.prototxt:4: unterminated block 'convolution_param': no closing '}' "
                    "before the end of the file (layer 'conv1')")
    text, _ = _error('layer {\n name: "x"\n convolution_param < num_output: 1 }\n}')
    assert text == ("net.prototxt:3: unexpected '}': expected '>' to close "
                    "'convolution_param' (layer 'x')")


def test_unterminated_string():
    text, _ = _error('layer {\n name: "a"\n top: "oops\n}\n')
    assert text.startswith("net.prototxt:3: unterminated string") and text.endswith("(layer 'a')")
    text, _ = _error("name: 'never closed")
    assert text.startswith("net.prototxt:1: unterminated string")


def test_bad_escape_and_characters():
    text, _ = _error('name: "a\\qb"')
    assert text == "net.prototxt:1: invalid escape sequence '\\q' in string"
    text, _ = _error('layer {\n name: "a"\n @ }')
    assert text == "net.prototxt:3: unexpected character '@' (layer 'a')"
    text, _ = _error('layer {\n name: "a"\n bottom: 3x\n}')
    assert text == "net.prototxt:3: invalid number '3x' (layer 'a')"
    text, _ = _error("name: 09")
    assert "invalid number '09'" in text


def test_unexpected_tokens():
    text, _ = _error('name: "n"\n}\n')
    assert text == "net.prototxt:2: unexpected '}': no block is open"
    text, _ = _error('layer {\n name: "c"\n convolution_param {\n  num_output 5\n }\n}')
    assert text == ("net.prototxt:4: expected ':' after field name 'num_output', got '5' "
                    "(layer 'c')")
    text, _ = _error('name: "n"\n42: 1')
    assert text == "net.prototxt:2: expected a field name, got '42'"
    text, _ = _error("layer {\n name: \"c\"\n bottom:\n}")
    assert text == ("net.prototxt:4: expected a value for field 'bottom' of LayerParameter, "
                    "got '}' (layer 'c')")
    text, _ = _error('layer { name: "c"\n convolution_param: 4 }')
    assert text == ("net.prototxt:2: expected '{' to open message field 'convolution_param', "
                    "got '4' (layer 'c')")
    text, _ = _error("input: [\"a\" \"b\"\n \"c\" 5]")
    assert "net.prototxt:2: expected ',' or ']' in the list of 'input', got '5'" == text
    text, _ = _error('name: "a" [ext.field]: 1')
    assert "extension fields are not supported" in text


def test_list_for_non_repeated_field():
    text, _ = _error('layer {\n name: "c"\n type: ["a"]\n}')
    assert text == ("net.prototxt:3: field 'type' of LayerParameter is not repeated: a list "
                    "[...] is not allowed (layer 'c')")


def test_v1_layers_parse_and_their_errors_name_the_layer():
    # V1 `layers` are parsed as caffe.proto declares them (upgrade.py brings them up to date)
    net = parse_text('name: "old"\nlayers {\n name: "conv1"\n type: CONVOLUTION\n}\n',
                     "NetParameter")
    assert net.getlist("layers")[0].get("type") == "CONVOLUTION"
    text, _ = _error('layers {\n name: "conv1"\n type: CONVOLUTION\n blobs_lrr: 1\n}\n')
    assert text == ("net.prototxt:4: unknown field 'blobs_lrr' in V1LayerParameter "
                    "(layer 'conv1'); did you mean 'blobs_lr'?")


def test_dropout_has_only_upstream_fields():
    text, _ = _error('layer {\n name: "drop"\n'
                     ' dropout_param { dropout_ratio: 0.5 scale_train: false }\n}')
    assert text == ("net.prototxt:3: unknown field 'scale_train' in DropoutParameter "
                    "(layer 'drop')")


def test_errors_inside_a_solvers_inline_net_name_the_layer():
    text, _ = _error('base_lr: 0.1\nnet_param {\n  layer {\n    name: "ip"\n'
                     '    inner_product_param { num_outputs: 2 }\n  }\n}\n',
                     root="SolverParameter", filename="solver.prototxt")
    assert text == ("solver.prototxt:5: unknown field 'num_outputs' in InnerProductParameter "
                    "(layer 'ip'); did you mean 'num_output'?")


def test_error_is_a_value_error():
    assert issubclass(PrototxtError, ValueError)
    with pytest.raises(ValueError):
        parse_text("bogus: 1", "SolverParameter")
    with pytest.raises(ValueError):
        parse_text("", "NoSuchMessage")


# --- building and editing messages from Python --------------------------------------------------

def test_edit_and_write_a_prototxt():
    (_, text), = [t for t in _texts("solver_prototxt") if t[0] == "solver_small_inv.npz"]
    solver = parse_text(text, "SolverParameter")
    solver.set("base_lr", 0.05)
    solver.set("test_iter", [10])
    solver.set("snapshot_prefix", 'runs/a "b"')
    layer = solver.mutable("net_param").add("layer", {"name": "drop", "type": "AugmentedDropout",
                                                      "bottom": ["ip"], "top": ["ip"]})
    layer.mutable("augmented_dropout_param").set("variant", "FORWARD")
    again = parse_text(format_message(solver), "SolverParameter")
    assert again == solver
    assert again.get("base_lr") == f32(0.05) and again.getlist("test_iter") == [10]
    assert again.get("snapshot_prefix") == 'runs/a "b"'
    last = again.get("net_param").getlist("layer")[-1]
    assert last.get("augmented_dropout_param").get("variant") == "FORWARD"
    assert last.line_of("name") is not None and layer.line_of("name") is None


def test_python_values_are_checked():
    m = Message("ConvolutionParameter")
    with pytest.raises(TypeError):
        m.set("num_output", "8")
    with pytest.raises(TypeError):
        m.set("num_output", 2.0)
    with pytest.raises(ValueError):
        m.set("num_output", -2)
    with pytest.raises(TypeError):
        m.set("kernel_size", 3)  # repeated: takes a list
    with pytest.raises(TypeError):
        m.add("num_output", 3)
    with pytest.raises(ValueError):
        m.set("engine", "FAST")
    with pytest.raises(KeyError):
        m.get("kernal_size")
    m.set("engine", 2)
    m.set("kernel_size", np.array([3, 3]))
    m.set("bias_term", np.bool_(False))
    assert m.get("engine") == "CUDNN" and m.getlist("kernel_size") == [3, 3]
    assert m.get("bias_term") is False
    assert m.get("group") == 1 and m.get("group", None) is None and not m.has("group")
    m.clear("kernel_size")
    assert "kernel_size" not in m


def test_message_from_dict_inverts_to_dict():
    (_, text), = [t for t in _texts("prototxt") if t[0] == "cifar10_quick.npz"]
    net = parse_text(text, "NetParameter")
    assert message_from_dict(net.to_dict(), "NetParameter") == net
    assert message_from_dict(net.to_dict(defaults=True), "NetParameter").to_dict() == \
        net.to_dict(defaults=True)


def test_get_returns_copies_of_repeated_fields():
    net = parse_text('input: "a"', "NetParameter")
    net.getlist("input").append("b")
    net.get("input").append("c")
    assert net.getlist("input") == ["a"]


# --- the schema ---------------------------------------------------------------------------------

def test_schema_matches_caffe_proto():
    f = schema.MESSAGES
    assert f["NetParameter"]["layer"].number == 100 and f["NetParameter"]["layers"].number == 2
    assert f["LayerParameter"]["blobs"] == schema.Field("blobs", 7, "BlobProto", True, (), False)
    assert f["LayerParameter"]["convolution_param"].number == 106
    assert f["LayerParameter"]["augmented_dropout_param"].number == 10000
    assert f["BlobProto"]["data"].packed and f["BlobShape"]["dim"].type == "int64"
    assert f["BlobProto"]["double_data"].number == 8 and f["BlobProto"]["shape"].number == 7
    assert f["ConvolutionParameter"]["dilation"].number == 18
    assert f["PoolingParameter"]["round_mode"].type == "PoolingParameter.RoundMode"
    assert list(schema.ENUMS["PoolingParameter.PoolMethod"]) == ["MAX", "AVE", "STOCHASTIC"]
    assert schema.ENUMS["LossParameter.NormalizationMode"] == {
        "FULL": 0, "VALID": 1, "BATCH_SIZE": 2, "NONE": 3}
    assert list(f["DropoutParameter"]) == ["dropout_ratio"]
    assert f["EltwiseParameter"]["operation"].default == "SUM"
    assert f["EltwiseParameter"]["stable_prod_grad"].default is True
    assert f["FillerParameter"]["type"].default == "constant"
    assert f["FillerParameter"]["std"].default == 1.0
    assert f["FillerParameter"]["sparse"].default == -1
    assert f["BatchNormParameter"]["eps"].default == f32(1e-5)
    assert f["SolverParameter"]["solver_mode"].default == "GPU"
    assert f["SolverParameter"]["random_seed"].type == "int64"
    assert f["SolverParameter"]["weights"].number == 42 and f["SolverParameter"]["weights"].repeated
    assert f["SolverState"]["history"].number == 3 and f["SolverState"]["current_step"].number == 4
    assert f["NetState"]["phase"].default == "TEST"
    assert f["NetStateRule"]["phase"].default == "TRAIN"
    assert f["ParamSpec"]["lr_mult"].default == 1.0 and f["ParamSpec"]["share_mode"].number == 2
    for name in ("name", "input", "input_shape", "input_dim", "force_backward", "state",
                 "debug_info", "layer"):
        assert name in f["NetParameter"]
    solver_fields = """net net_param train_net test_net train_net_param test_net_param train_state
        test_state test_iter test_interval test_compute_loss test_initialization base_lr display
        average_loss max_iter iter_size lr_policy gamma power momentum weight_decay
        regularization_type stepsize stepvalue clip_gradients snapshot snapshot_prefix
        snapshot_diff snapshot_format solver_mode device_id random_seed type delta momentum2
        rms_decay debug_info snapshot_after_train solver_type layer_wise_reduce weights""".split()
    assert sorted(f["SolverParameter"]) == sorted(solver_fields)


def test_schema_numbers_are_unique_and_types_resolve():
    for msg, table in schema.MESSAGES.items():
        assert len({fd.number for fd in table.values()}) == len(table), msg
        for fd in table.values():
            assert (fd.type in schema.SCALAR_TYPES or schema.is_message_type(fd.type)
                    or schema.is_enum_type(fd.type)), (msg, fd)
            assert schema.FIELDS_BY_NUMBER[msg][fd.number] is fd


def test_copy_is_deep():
    net = parse_text('layer { name: "a" convolution_param { kernel_size: 3 } }', "NetParameter")
    twin = net.copy()
    twin.getlist("layer")[0].get("convolution_param").set("kernel_size", [5])
    assert net.getlist("layer")[0].get("convolution_param").getlist("kernel_size") == [3]
    assert twin != net
