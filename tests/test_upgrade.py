"""Old Caffe formats (augdrop_caffe.upgrade): V0 and V1 nets, their .caffemodels, legacy
inputs, the deprecated data fields, solver_type; each against the same net written in the
current format, and `augdrop-caffe upgrade`."""
import logging
from pathlib import Path

import numpy as np
import pytest

from augdrop_caffe import TEST, EngineError, Net, cli
from augdrop_caffe.caffemodel import (encode_message, read_caffemodel, read_net_param,
                                      write_caffemodel)
from augdrop_caffe.textformat import Message, PrototxtError, parse_file, parse_text
from augdrop_caffe.upgrade import upgrade_net, upgrade_solver

# One net, three ways. Inputs: data (2, 1, 6, 6) and label (2, 1, 1, 1).
CURRENT = """
name: "small"
layer { name: "input" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 2 dim: 1 dim: 6 dim: 6 } shape { dim: 2 dim: 1 dim: 1 dim: 1 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
        convolution_param { num_output: 3 pad: 1 kernel_size: 3 stride: 1
                            weight_filler { type: "gaussian" std: 0.1 }
                            bias_filler { type: "constant" value: 0.2 } } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "pool1" top: "pool1" }
layer { name: "drop1" type: "Dropout" bottom: "pool1" top: "pool1"
        dropout_param { dropout_ratio: 0.25 } }
layer { name: "fc1" type: "InnerProduct" bottom: "pool1" top: "fc1"
        param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
        inner_product_param { num_output: 4 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc1" bottom: "label" top: "loss" }
"""

V1 = """
name: "small"
input: "data"
input_dim: 2 input_dim: 1 input_dim: 6 input_dim: 6
input: "label"
input_dim: 2 input_dim: 1 input_dim: 1 input_dim: 1
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1"
         blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
         convolution_param { num_output: 3 pad: 1 kernel_size: 3 stride: 1
                             weight_filler { type: "gaussian" std: 0.1 }
                             bias_filler { type: "constant" value: 0.2 } } }
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1"
         pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layers { name: "relu1" type: RELU bottom: "pool1" top: "pool1" }
layers { name: "drop1" type: DROPOUT bottom: "pool1" top: "pool1"
         dropout_param { dropout_ratio: 0.25 } }
layers { name: "fc1" type: INNER_PRODUCT bottom: "pool1" top: "fc1"
         blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
         inner_product_param { num_output: 4 weight_filler { type: "xavier" } } }
layers { name: "loss" type: SOFTMAX_LOSS bottom: "fc1" bottom: "label" top: "loss" }
"""

# V0: the padding layer folds into conv1 (pad 1).
V0 = """
name: "small"
input: "data"
input_dim: 2 input_dim: 1 input_dim: 6 input_dim: 6
input: "label"
input_dim: 2 input_dim: 1 input_dim: 1 input_dim: 1
layers { layer { name: "pad1" type: "padding" pad: 1 } bottom: "data" top: "pad1" }
layers { layer { name: "conv1" type: "conv" num_output: 3 kernelsize: 3 stride: 1
                 weight_filler { type: "gaussian" std: 0.1 }
                 bias_filler { type: "constant" value: 0.2 }
                 blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0 }
         bottom: "pad1" top: "conv1" }
layers { layer { name: "pool1" type: "pool" pool: MAX kernelsize: 2 stride: 2 }
         bottom: "conv1" top: "pool1" }
layers { layer { name: "relu1" type: "relu" } bottom: "pool1" top: "pool1" }
layers { layer { name: "drop1" type: "dropout" dropout_ratio: 0.25 } bottom: "pool1" top: "pool1" }
layers { layer { name: "fc1" type: "innerproduct" num_output: 4
                 weight_filler { type: "xavier" }
                 blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0 }
         bottom: "pool1" top: "fc1" }
layers { layer { name: "loss" type: "softmax_loss" } bottom: "fc1" bottom: "label" top: "loss" }
"""

SHAPES = {"conv1": [(3, 1, 3, 3), (3,)], "fc1": [(4, 27), (4,)]}


def weights():
    rng = np.random.default_rng(11)
    return {name: [rng.standard_normal(s).astype(np.float32) for s in shapes]
            for name, shapes in SHAPES.items()}


def legacy_blob(array):
    """A BlobProto as V0/V1 Caffe wrote it: num/channels/height/width, data unpacked-free."""
    dims = (1,) * (4 - array.ndim) + array.shape
    blob = Message("BlobProto")
    for field, d in zip(("num", "channels", "height", "width"), dims):
        blob.set(field, int(d))
    blob.set("data", array.ravel().tolist())
    return blob


def old_caffemodel(path, version):
    """The weights() in a V1 or a V0 .caffemodel (the net's layers with their legacy blobs)."""
    net = Message("NetParameter")
    net.set("name", "small")
    v0_types = {"conv1": "conv", "relu1": "relu", "fc1": "innerproduct"}
    v1_types = {"conv1": "CONVOLUTION", "relu1": "RELU", "fc1": "INNER_PRODUCT"}
    for name, arrays in [("conv1", weights()["conv1"]), ("relu1", []), ("fc1", weights()["fc1"])]:
        layer = net.add("layers", {})
        if version == 1:
            layer.set("name", name)
            layer.set("type", v1_types[name])
            layer.set("blobs", [legacy_blob(a) for a in arrays])
        else:
            v0 = layer.mutable("layer")
            v0.set("name", name)
            v0.set("type", v0_types[name])
            v0.set("blobs", [legacy_blob(a) for a in arrays])
    path.write_bytes(encode_message(net))
    return str(path)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("old", [V1, V0], ids=["V1", "V0"])
def test_old_net_upgrades_to_the_current_net(old):
    upgraded = parse_text(old, "NetParameter", "old.prototxt", upgrade=True)
    current = parse_text(CURRENT, "NetParameter")
    assert upgraded.to_dict() == current.to_dict()


@pytest.mark.parametrize("old,version", [(V1, 1), (V0, 0)], ids=["V1", "V0"])
def test_old_net_and_model_load_the_same_weights(tmp_path, old, version):
    current_model = str(tmp_path / "current.caffemodel")
    write_caffemodel(current_model, [(n, "", a) for n, a in weights().items()])
    current = Net(write(tmp_path, "current.prototxt", CURRENT), current_model, TEST)
    old_net = Net(write(tmp_path, "old.prototxt", old),
                  old_caffemodel(tmp_path / "old.caffemodel", version), TEST)
    assert [(l.name, l.type) for l in old_net.layers] == \
        [(l.name, l.type) for l in current.layers]
    for name, arrays in weights().items():
        for blob, expected in zip(old_net.params[name], arrays):
            np.testing.assert_array_equal(blob.data, expected)
    x = np.random.default_rng(2).standard_normal((2, 1, 6, 6)).astype(np.float32)
    label = np.array([1, 3], dtype=np.float32).reshape(2, 1, 1, 1)
    a = current.forward(data=x, label=label)["loss"].copy()
    b = old_net.forward(data=x, label=label)["loss"].copy()
    np.testing.assert_array_equal(a, b)


def test_old_model_layer_types_read_as_current(tmp_path):
    for version in (0, 1):
        layers = read_caffemodel(old_caffemodel(tmp_path / f"v{version}.caffemodel", version))
        assert [(n, t) for n, t, _ in layers] == [
            ("conv1", "Convolution"), ("relu1", "ReLU"), ("fc1", "InnerProduct")]
        assert layers[0][2][0].shape == (3, 1, 3, 3)  # legacy dims as Caffe's Blob reads them
        assert layers[2][2][0].shape == (1, 1, 4, 27)


def test_upgrade_is_logged_once_per_file(tmp_path, caplog):
    path = write(tmp_path, "once.prototxt", V1)
    with caplog.at_level(logging.WARNING, logger="augdrop_caffe"):
        parse_file(path, "NetParameter", upgrade=True)
        parse_file(path, "NetParameter", upgrade=True)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"upgraded {path} from V1 format and deprecated input fields"]
    # a current net is read as it is, without a word
    caplog.clear()
    parse_file(write(tmp_path, "current.prototxt", CURRENT), "NetParameter", upgrade=True)
    assert caplog.records == []


def test_parse_without_upgrade_keeps_the_old_fields():
    net = parse_text(V1, "NetParameter")
    assert len(net.getlist("layers")) == 6 and not net.has("layer")
    assert net.getlist("input") == ["data", "label"]


def test_v1_data_layer_transformation_fields_move_to_transform_param():
    net = parse_text("""
layers { name: "d" type: DATA top: "data" top: "label"
         data_param { source: "mnist:train" batch_size: 4 scale: 0.5 mean_file: "m.binaryproto"
                      crop_size: 3 mirror: true backend: LMDB } }
layers { name: "i" type: IMAGE_DATA top: "x" top: "y"
         image_data_param { source: "list.txt" crop_size: 5 } }""", "NetParameter")
    assert upgrade_net(net, "d.prototxt") == ["V1 format",
                                              "deprecated data transformation fields"]
    data, image = net.getlist("layer")
    assert data.get("transform_param").to_dict() == {
        "scale": [0.5], "mean_file": ["m.binaryproto"], "crop_size": [3], "mirror": [True]}
    assert data.get("data_param").to_dict() == {
        "source": ["mnist:train"], "batch_size": [4], "backend": ["LMDB"]}
    assert image.get("transform_param").to_dict() == {"crop_size": [5]}
    assert image.get("image_data_param").to_dict() == {"source": ["list.txt"]}


def test_v1_param_names_share_modes_and_loss_weight():
    net = parse_text("""
layers { name: "a" type: INNER_PRODUCT bottom: "x" top: "a" param: "w" param: "b"
         blob_share_mode: PERMISSIVE blobs_lr: 3 loss_weight: 0.5
         include { phase: TRAIN } inner_product_param { num_output: 2 } }""", "NetParameter")
    upgrade_net(net)
    layer, = net.getlist("layer")
    assert layer.to_dict() == parse_text("""
bottom: "x" top: "a" name: "a" include { phase: TRAIN } type: "InnerProduct"
param { name: "w" share_mode: PERMISSIVE lr_mult: 3 } param { name: "b" }
loss_weight: 0.5 inner_product_param { num_output: 2 }""", "LayerParameter").to_dict()


def test_v0_data_layer_fields():
    net = parse_text("""
layers { layer { name: "d" type: "data" source: "mnist:train" batchsize: 8 meanfile: "m"
                 cropsize: 4 mirror: true scale: 0.25 rand_skip: 3 } top: "data" top: "label" }
layers { layer { name: "im" type: "images" source: "l.txt" batchsize: 2 new_height: 5
                 new_width: 6 shuffle_images: true } top: "x" top: "y" }
layers { layer { name: "c" type: "concat" concat_dim: 0 } bottom: "x" bottom: "x" top: "z" }
""", "NetParameter")
    upgrade_net(net)
    d, im, c = net.getlist("layer")
    assert d.get("type") == "Data" and im.get("type") == "ImageData"
    assert d.get("data_param").to_dict() == {"source": ["mnist:train"], "batch_size": [8],
                                             "rand_skip": [3]}
    assert d.get("transform_param").to_dict() == {"mean_file": ["m"], "crop_size": [4],
                                                  "mirror": [True], "scale": [0.25]}
    assert im.get("image_data_param").to_dict() == {
        "source": ["l.txt"], "batch_size": [2], "new_height": [5], "new_width": [6],
        "shuffle": [True]}
    assert c.get("concat_param").get("concat_dim") == 0


def test_v0_field_without_meaning_is_dropped_with_a_warning(caplog):
    net = parse_text('input: "x"\nlayers { layer { name: "r" type: "relu"\n num_output: 3 } '
                     'bottom: "x" top: "x" }', "NetParameter")
    with caplog.at_level(logging.WARNING, logger="augdrop_caffe"):
        upgrade_net(net, "w.prototxt")
    assert [r.getMessage() for r in caplog.records] == [
        "w.prototxt:3: V0 layer 'r': parameter num_output has no meaning for layer type "
        "'relu'; dropped, as Caffe drops it"]
    assert net.getlist("layer")[0].to_dict() == {"bottom": ["x"], "top": ["x"], "name": ["r"],
                                                 "type": ["ReLU"]}
    assert not net.has("input")  # an input without dims: stripped, as Caffe strips it


def test_input_shape_and_batch_norm_upgrades():
    net = parse_text("""
input: "a" input_shape { dim: 1 dim: 2 }
layer { name: "bn" type: "BatchNorm" bottom: "a" top: "b"
        param { lr_mult: 1 } param { lr_mult: 1 } param { lr_mult: 1 } }""", "NetParameter")
    assert upgrade_net(net) == ["deprecated input fields", "BatchNorm's old param specs"]
    inp, bn = net.getlist("layer")
    assert inp.to_dict() == {"name": ["input"], "type": ["Input"], "top": ["a"],
                             "input_param": [{"shape": [{"dim": [1, 2]}]}]}
    assert [p.to_dict() for p in bn.getlist("param")] == [{"lr_mult": [0.0],
                                                           "decay_mult": [0.0]}] * 3
    assert not net.has("input") and not net.has("input_shape")


def test_solver_type_enum():
    solver = parse_text('net: "n.prototxt"\nsolver_type: NESTEROV\nbase_lr: 0.1',
                        "SolverParameter")
    assert upgrade_solver(solver, "s.prototxt") == ["the solver_type enum"]
    assert solver.get("type") == "Nesterov" and not solver.has("solver_type")
    both = parse_text('type: "SGD"\nsolver_type: ADAM', "SolverParameter")
    with pytest.raises(PrototxtError, match=r"^s\.prototxt:2: the old solver_type field"):
        upgrade_solver(both, "s.prototxt")


def test_inline_v1_net_of_a_solver_is_upgraded():
    solver = parse_text('net_param { layers { name: "r" type: RELU bottom: "x" top: "x" } }',
                        "SolverParameter")
    assert upgrade_solver(solver) == ["V1 format"]
    assert solver.get("net_param").getlist("layer")[0].get("type") == "ReLU"


@pytest.mark.parametrize("text,line,reason", [
    ('name: "n"\nlayers { layer { name: "x"\n type: "spline" } top: "y" }', 3,
     "unknown V0 layer type 'spline'"),
    ('input: "data"\nlayers { layer { name: "p" type: "padding" pad: 1 } bottom: "data" '
     'top: "p" }\nlayers { layer { name: "r" type: "relu" } bottom: "p" top: "r" }', 3,
     "V0 padding layer 'p' feeds layer 'r' of type 'relu'"),
    ('layers { layer { name: "c" type: "conv" } bottom: "nowhere" top: "c" }', 1,
     "unknown bottom blob 'nowhere' of V0 layer 'c'"),
    ('layer { name: "a" type: "ReLU" }\n\nlayers { name: "b" type: RELU }', 3,
     "the net has both 'layer' and 'layers' fields"),
    ('input: "a"\ninput: "b"\ninput_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1', 1,
     "2 net inputs need 8 input_dim values"),
    ('layers {\n name: "c"\n type: CONVOLUTIN\n}', 3,
     "unknown value 'CONVOLUTIN' for enum field 'type' of V1LayerParameter"),
])
def test_bad_old_nets_name_file_and_line(tmp_path, text, line, reason):
    path = write(tmp_path, "bad.prototxt", text)
    with pytest.raises(PrototxtError) as info:
        parse_file(path, "NetParameter", upgrade=True)
    assert info.value.filename == path and info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: {reason}")


def run_cli(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_upgrades_a_prototxt(tmp_path, capsys):
    old = write(tmp_path, "old.prototxt", V1)
    new = str(tmp_path / "new.prototxt")
    code, out, _ = run_cli(["upgrade", old, new], capsys)
    assert code == 0
    assert out == f"Upgraded {old} from V1 format and deprecated input fields; wrote {new}\n"
    written = parse_file(new, "NetParameter")  # plain current format: no upgrade needed
    assert written.to_dict() == parse_text(CURRENT, "NetParameter").to_dict()
    again = str(tmp_path / "again.prototxt")
    code, out, _ = run_cli(["upgrade", new, again], capsys)
    assert code == 0 and out == f"{new} is already in the current format; wrote {again}\n"
    assert Path(again).read_text() == Path(new).read_text()


def test_cli_upgrades_a_solver_prototxt(tmp_path, capsys):
    old = write(tmp_path, "solver.prototxt", 'net: "n.prototxt"\nbase_lr: 0.01\n'
                                             'solver_type: NESTEROV\n')
    new = str(tmp_path / "new_solver.prototxt")
    assert run_cli(["upgrade", old, new], capsys)[0] == 0
    assert Path(new).read_text() == 'net: "n.prototxt"\nbase_lr: 0.01\ntype: "Nesterov"\n'


@pytest.mark.parametrize("version", [1, 0])
def test_cli_upgrades_a_caffemodel(tmp_path, capsys, version):
    old = old_caffemodel(tmp_path / "old.caffemodel", version)
    new = str(tmp_path / "new.caffemodel")
    code, out, _ = run_cli(["upgrade", old, new], capsys)
    assert code == 0 and out.startswith(f"Upgraded {old} from V{version} format")
    message = read_net_param(new)
    assert not message.has("layers")
    assert [l.get("type") for l in message.getlist("layer")] == [
        "Convolution", "ReLU", "InnerProduct"]
    # the blobs are carried as they were, legacy dims included
    for (n0, _, a0), (n1, _, a1) in zip(read_caffemodel(old), read_caffemodel(new)):
        assert n0 == n1 and len(a0) == len(a1)
        for x, y in zip(a0, a1):
            assert x.shape == y.shape
            np.testing.assert_array_equal(x, y)
    net = Net(write(tmp_path, "current.prototxt", CURRENT), new, TEST)
    np.testing.assert_array_equal(net.params["fc1"][0].data, weights()["fc1"][0])


def test_cli_bad_old_prototxt_names_file_and_line(tmp_path, capsys):
    old = write(tmp_path, "bad.prototxt", 'name: "n"\nlayers { layer { name: "x"\n'
                                          ' type: "spline" } top: "y" }\n')
    code, _, err = run_cli(["upgrade", old, str(tmp_path / "out.prototxt")], capsys)
    assert code == 1
    assert err.startswith(f"augdrop-caffe: error: {old}:3: unknown V0 layer type 'spline'")
    assert not (tmp_path / "out.prototxt").exists()


def test_cli_bad_caffemodel_names_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(b"\x12\x05ab")  # a layers field running past the end
    code, _, err = run_cli(["upgrade", str(bad), str(tmp_path / "out.caffemodel")], capsys)
    assert code == 1 and f"{bad}: field 2 of length 5 runs past the end" in err


def test_old_solver_and_v1_net_train(tmp_path):
    """A V1 net fed by a DUMMY_DATA layer and a solver with solver_type: NESTEROV train as
    the current forms of both would."""
    write(tmp_path, "v1.prototxt", """
name: "dummy"
layers { name: "data" type: DUMMY_DATA top: "data" top: "label"
         dummy_data_param { num: 4 channels: 3 height: 1 width: 1 num: 4 channels: 1
                            height: 1 width: 1 data_filler { type: "gaussian" std: 1 }
                            data_filler { type: "constant" value: 1 } } }
layers { name: "ip" type: INNER_PRODUCT bottom: "data" top: "ip" blobs_lr: 1 blobs_lr: 0
         inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.1 } } }
layers { name: "loss" type: SOFTMAX_LOSS bottom: "ip" bottom: "label" top: "loss" }""")
    solver_path = write(tmp_path, "solver.prototxt", 'net: "v1.prototxt"\nbase_lr: 0.1\n'
                        'momentum: 0.9\nlr_policy: "fixed"\nmax_iter: 3\nsolver_type: NESTEROV\n'
                        'random_seed: 1\n')
    import augdrop_caffe as caffe

    solver = caffe.get_solver(solver_path)
    assert solver.type == "Nesterov"
    bias = solver.net.params["ip"][1].data.copy()
    weights = solver.net.params["ip"][0].data.copy()
    solver.step(3)
    np.testing.assert_array_equal(solver.net.params["ip"][1].data, bias)  # blobs_lr 0
    assert not np.array_equal(solver.net.params["ip"][0].data, weights)


def test_legacy_blob_shapes_must_match_as_caffe_compares_them(tmp_path):
    """A legacy (num, channels, height, width) blob fits a param whose shape it ends with
    (InnerProduct's (4, 27) in (1, 1, 4, 27)); the same values in (1, 1, 27, 4) do not."""
    model = tmp_path / "t.caffemodel"
    net = Message("NetParameter")
    layer = net.add("layers", {})
    layer.set("name", "fc1")
    layer.set("type", "INNER_PRODUCT")
    w, b = weights()["fc1"]
    layer.set("blobs", [legacy_blob(w.T.copy()), legacy_blob(b)])
    model.write_bytes(encode_message(net))
    current = Net(write(tmp_path, "current.prototxt", CURRENT), TEST)
    with pytest.raises(EngineError, match=r"layer 'fc1' param 0 has shape "
                       r"\(1, 1, 27, 4\), the net expects \(4, 27\)"):
        current.copy_from(str(model))
