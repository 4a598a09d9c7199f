"""caffe_pb2: protobuf classes built from schema.py, read and written by protobuf's text_format
and wire format as Caffe's own caffe_pb2, and accepted by Net and get_solver."""
import glob
import math
import os

import numpy as np
import pytest

pytest.importorskip("google.protobuf")
from google.protobuf import text_format  # noqa: E402

import augdrop_caffe as caffe  # noqa: E402
from augdrop_caffe import schema, textformat  # noqa: E402
from augdrop_caffe.proto import caffe_pb2  # noqa: E402

PROTOTXT = os.path.join(os.path.dirname(__file__), os.pardir, "prototxt")
FILES = sorted(glob.glob(os.path.join(PROTOTXT, "*.prototxt")))

NET = """name: "tiny"
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y"
        inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "y" top: "y" }
"""


def _root(path):
    return "SolverParameter" if path.endswith("_solver.prototxt") else "NetParameter"


def test_every_prototxt_is_in_the_catalogue():
    assert len(FILES) >= 16


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_text_format_round_trip(path):
    root = _root(path)
    with open(path) as f:
        pb = text_format.Parse(f.read(), getattr(caffe_pb2, root)())
    ours = textformat.parse_file(path, root)
    # protobuf's reading, written by protobuf, read by ours: the same message as ours
    again = textformat.parse_text(text_format.MessageToString(pb), root)
    assert again.to_dict() == ours.to_dict()
    # ours written by ours, read by protobuf: the same message as protobuf's
    assert text_format.Parse(textformat.format_message(ours), getattr(caffe_pb2, root)()) == pb
    if root == "NetParameter":
        assert len(pb.layer) == len(ours.getlist("layer")) > 0


def test_every_schema_default_is_the_protobuf_default():
    checked = 0
    for msg_name, table in schema.MESSAGES.items():
        cls = getattr(caffe_pb2, msg_name)
        fields = cls.DESCRIPTOR.fields_by_name
        assert set(fields) == set(table), msg_name
        for name, f in table.items():
            fd = fields[name]
            assert fd.number == f.number
            if f.repeated or schema.is_message_type(f.type):
                continue
            value = getattr(cls(), name)
            if schema.is_enum_type(f.type):
                value = fd.enum_type.values_by_number[value].name
            if isinstance(value, bytes):  # schema.py holds bytes defaults as text
                value = value.decode()
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(f.default)
            else:
                assert value == f.default, (msg_name, name)
            checked += 1
    assert checked > 250


def test_names_and_enums_are_caffes():
    assert caffe_pb2.NetParameter.DESCRIPTOR.full_name == "caffe.NetParameter"
    assert (caffe_pb2.TRAIN, caffe_pb2.TEST) == (caffe.TRAIN, caffe.TEST)
    assert caffe_pb2.Phase.Name(1) == "TEST"
    assert caffe_pb2.PoolingParameter.AVE == 1
    assert caffe_pb2.PoolingParameter.PoolMethod.Value("STOCHASTIC") == 2
    assert caffe_pb2.SolverParameter.SnapshotFormat.Value("HDF5") == 0
    layer = caffe_pb2.LayerParameter(name="d", type="AugmentedDropout")
    layer.augmented_dropout_param.variant = caffe_pb2.AugmentedDropoutParameter.FORWARD
    assert 'variant: FORWARD' in text_format.MessageToString(layer)
    for name in ("Datum", "BlobProtoVector", "V0LayerParameter", "V1LayerParameter",
                 "SolverState", "NetState"):
        assert hasattr(caffe_pb2, name)


def test_packed_fields_are_packed_on_the_wire():
    # Caffe's BlobProto.data is packed: one key, one length, the floats
    blob = caffe_pb2.BlobProto(data=[1.0, 2.0])
    assert blob.SerializeToString() == b"\x2a\x08" + np.array([1, 2], "<f4").tobytes()


def test_caffemodel_bytes_read_by_protobuf(tmp_path):
    path = tmp_path / "tiny.prototxt"
    path.write_text(NET)
    caffe.set_random_seed(3)
    net = caffe.Net(str(path), caffe.TEST)
    net.save(str(tmp_path / "w.caffemodel"))
    pb = caffe_pb2.NetParameter.FromString((tmp_path / "w.caffemodel").read_bytes())
    ip = [l for l in pb.layer if l.name == "ip"][0]
    assert ip.type == "InnerProduct"
    assert list(ip.blobs[0].shape.dim) == [4, 3]
    np.testing.assert_array_equal(np.array(ip.blobs[0].data, np.float32),
                                  net.params["ip"][0].data.ravel())
    # and a caffemodel written by protobuf loads into our Net
    ip.blobs[0].data[:] = np.arange(12, dtype=np.float32).tolist()
    (tmp_path / "pb.caffemodel").write_bytes(pb.SerializeToString())
    net.copy_from(str(tmp_path / "pb.caffemodel"))
    np.testing.assert_array_equal(net.params["ip"][0].data.ravel(), np.arange(12))


def test_net_accepts_a_message(tmp_path):
    path = tmp_path / "tiny.prototxt"
    path.write_text(NET)
    msg = text_format.Parse(NET, caffe_pb2.NetParameter())
    caffe.set_random_seed(5)
    a = caffe.Net(str(path), caffe.TEST)
    caffe.set_random_seed(5)
    b = caffe.Net(msg, caffe.TEST)
    assert list(b.blobs) == list(a.blobs) and b.name == "tiny"
    np.testing.assert_array_equal(a.params["ip"][0].data, b.params["ip"][0].data)


def test_a_bad_message_keeps_line_and_layer_in_its_error():
    msg = text_format.Parse(NET, caffe_pb2.NetParameter())
    msg.layer[1].inner_product_param.num_output = 0
    with pytest.raises(caffe.EngineError) as e:
        caffe.Net(msg, caffe.TEST)
    assert "<NetParameter message>:" in str(e.value) and e.value.layer == "ip"
    assert e.value.line is not None


def test_net_rejects_other_objects():
    with pytest.raises(TypeError, match="NetParameter"):
        caffe.Net(caffe_pb2.SolverParameter(), caffe.TEST)


def test_get_solver_accepts_a_message(tmp_path):
    path = tmp_path / "tiny.prototxt"
    path.write_text(NET.replace('bottom: "y" top: "y" }', 'bottom: "y" top: "y" }\n'
                                'layer { name: "loss" type: "Softmax" bottom: "y" top: "p" }'))
    param = caffe_pb2.SolverParameter(net=str(path), base_lr=0.1, lr_policy="fixed",
                                      max_iter=2, solver_mode=caffe_pb2.SolverParameter.CPU)
    solver = caffe.get_solver(param)
    assert solver.net.name == "tiny"
    solver.step(1)
    assert solver.iter == 1
