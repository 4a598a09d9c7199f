"""Caffe's binary files (augdrop_caffe.caffemodel): wire details checked on hand-built bytes."""
import struct
import time

import numpy as np
import pytest

from augdrop_caffe.caffemodel import (CaffeModelError, decode_message, encode_message,
                                      read_blobproto, read_caffemodel, read_solverstate,
                                      write_blobproto, write_caffemodel, write_solverstate)
from augdrop_caffe.textformat import parse_text


def varint(v):
    v &= (1 << 64) - 1
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def ld(number, payload):
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def floats(*xs):
    return struct.pack("<%df" % len(xs), *xs)


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# The tiny NetParameter of the wire checks, byte by byte.
TINY_BLOB0 = (b"\x2a\x18" + floats(0, 1, 2, 3, 4, 5)  # data: field 5, packed, 24 bytes
              + b"\x3a\x04" + b"\x0a\x02\x02\x03")      # shape: field 7 { dim: packed [2, 3] }
TINY_BLOB1 = b"\x2a\x08" + floats(0.5, -1) + b"\x3a\x03\x0a\x01\x02"
TINY_LAYER = (b"\x0a\x02ip" + b"\x12\x0cInnerProduct"
              + b"\x3a\x20" + TINY_BLOB0 + b"\x3a\x0f" + TINY_BLOB1)
TINY = b"\x0a\x04tiny" + b"\xa2\x06\x45" + TINY_LAYER  # layer: field 100 -> key a2 06; 69 bytes


def test_hand_built_bytes():
    assert len(TINY_BLOB0) == 32 and len(TINY_BLOB1) == 15 and len(TINY_LAYER) == 0x45


def test_write_caffemodel_bytes_are_what_caffe_writes(tmp_path):
    path = str(tmp_path / "tiny.caffemodel")
    write_caffemodel(path, [("ip", "InnerProduct",
                             [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([0.5, -1])])],
                     net_name="tiny")
    with open(path, "rb") as f:
        assert f.read() == TINY


def test_read_hand_built_caffemodel(tmp_path):
    name, layers = read_caffemodel(write(tmp_path, "tiny.caffemodel", TINY), with_net_name=True)
    assert name == "tiny"
    (lname, ltype, blobs), = layers
    assert (lname, ltype) == ("ip", "InnerProduct")
    assert blobs[0].dtype == np.float32 and blobs[0].shape == (2, 3)
    np.testing.assert_array_equal(blobs[0], np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(blobs[1], [0.5, -1])
    assert blobs[0].flags.writeable and blobs[0].flags.c_contiguous


def test_read_legacy_and_unpacked_encodings(tmp_path):
    unknown = varint(999 << 3 | 0) + varint(7)  # a field this reader does not know
    legacy_unpacked = (b"\x08\x01\x10\x01\x18\x02\x20\x02"  # num 1, channels 1, height 2, width 2
                       + b"".join(b"\x2d" + floats(v) for v in (1, 2, 3, 4)))  # unpacked data
    dims_unpacked = (b"\x3a\x02\x08\x03"  # shape { dim: 3 } with dim not packed
                     + ld(8, struct.pack("<3d", 0.25, -2, 1e10)))  # double_data, packed
    doubles_unpacked = (b"".join(b"\x41" + struct.pack("<d", v) for v in (7, 8))
                        + b"\x3a\x03\x0a\x01\x02")
    split_chunks = ld(5, floats(1)) + ld(5, floats(2, 3)) + b"\x3a\x03\x0a\x01\x03"
    scalar = b"\x2a\x04" + floats(9)  # no shape at all: a 0-axis blob of one value
    layer = (ld(1, b"conv") + ld(2, b"Convolution") + ld(3, b"data") + ld(4, b"conv") + unknown
             + ld(106, b"\x08\x02\x20\x03")  # convolution_param { num_output: 2 kernel_size: 3 }
             + ld(7, legacy_unpacked) + ld(7, dims_unpacked) + ld(7, doubles_unpacked)
             + ld(7, split_chunks) + ld(7, scalar))
    top_unknown = varint(50 << 3 | 5) + floats(1)  # an unknown fixed32 at the top level
    data = (top_unknown + ld(1, b"net") + ld(100, layer)
            + ld(100, ld(1, b"relu") + ld(2, b"ReLU")))
    layers = read_caffemodel(write(tmp_path, "m.caffemodel", data))
    assert [(n, t) for n, t, _ in layers] == [("conv", "Convolution"), ("relu", "ReLU")]
    b = layers[0][2]
    assert [x.shape for x in b] == [(1, 1, 2, 2), (3,), (2,), (3,), ()]
    np.testing.assert_array_equal(b[0], [[[[1, 2], [3, 4]]]])
    np.testing.assert_array_equal(b[1], np.float32([0.25, -2, 1e10]))
    np.testing.assert_array_equal(b[2], [7, 8])
    np.testing.assert_array_equal(b[3], [1, 2, 3])
    assert b[4] == 9 and all(x.dtype == np.float32 for x in b)
    assert layers[1][2] == []


def test_legacy_dims_win_over_shape(tmp_path):
    # Blob::FromProto uses num/channels/height/width as soon as one of them is present
    blob = b"\x08\x01\x10\x01\x18\x01\x20\x02" + ld(5, floats(1, 2)) + b"\x3a\x03\x0a\x01\x05"
    (_, _, (arr,)), = read_caffemodel(write(tmp_path, "n", ld(100, ld(1, b"a") + ld(7, blob))))
    assert arr.shape == (1, 1, 1, 2)
    # height and width alone leave num = channels = 0: no room for the values, as in Caffe
    blob = b"\x18\x01\x20\x02" + ld(5, floats(1, 2))
    with pytest.raises(CaffeModelError, match=r"shape \(0, 0, 1, 2\) needs 0 values"):
        read_caffemodel(write(tmp_path, "m", ld(100, ld(1, b"a") + ld(7, blob))))


def test_v1_layers(tmp_path):
    blob = b"\x08\x02\x10\x01\x18\x01\x20\x01" + ld(5, floats(3, 4))
    v1 = ld(4, b"fc8") + b"\x28\x0e" + ld(6, blob) + ld(2, b"fc7") + ld(3, b"fc8")  # type 14
    v1_relu = ld(4, b"relu") + b"\x28\x12"  # RELU = 18
    v0 = b"\x0a" + varint(len(ld(1, b"old") + ld(2, b"conv") + ld(50, blob))) + ld(1, b"old") \
        + ld(2, b"conv") + ld(50, blob)  # a V1 layer wrapping a V0 layer (field 1)
    data = ld(1, b"CaffeNet") + ld(2, v1) + ld(2, v1_relu) + ld(2, v0)
    layers = read_caffemodel(write(tmp_path, "v1.caffemodel", data))
    assert [(n, t, [b.shape for b in bs]) for n, t, bs in layers] == [
        ("fc8", "InnerProduct", [(2, 1, 1, 1)]), ("relu", "ReLU", []),
        ("old", "Convolution", [(2, 1, 1, 1)])]
    np.testing.assert_array_equal(layers[0][2][0].ravel(), [3, 4])


def test_caffemodel_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    layers = [("conv1", "Convolution", [rng.standard_normal((4, 3, 5, 5)), rng.standard_normal(4)]),
              ("relu1", "ReLU", []),
              ("bn", "BatchNorm", [np.zeros(4), np.ones(4), np.array([2.0])]),
              ("scalar", "Parameter", [np.array(1.5)]),
              ("empty", "Parameter", [np.zeros((0, 3))]),
              ("ünï", "InnerProduct", [rng.standard_normal((2, 3, 4, 5, 6))])]
    path = str(tmp_path / "a.caffemodel")
    write_caffemodel(path, layers)
    name, back = read_caffemodel(path, with_net_name=True)
    assert name == ""
    assert [(n, t) for n, t, _ in back] == [(n, t) for n, t, _ in layers]
    for (_, _, ours), (_, _, theirs) in zip(layers, back):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert b.dtype == np.float32 and b.shape == np.shape(a)
            np.testing.assert_array_equal(b, np.float32(a))
    assert not list(tmp_path.glob("*.tmp*"))


def test_write_caffemodel_with_layer_params(tmp_path):
    net = parse_text('layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" '
                     'phase: TRAIN param { lr_mult: 1 } param { lr_mult: 2 } '
                     'convolution_param { num_output: 2 kernel_size: 3 } }', "NetParameter")
    param = net.getlist("layer")[0]
    w = np.ones((2, 1, 3, 3), np.float32)
    path = str(tmp_path / "p.caffemodel")
    write_caffemodel(path, [("conv", "Convolution", [w], param)], net_name="n")
    (name, ltype, (back,)), = read_caffemodel(path)
    assert (name, ltype) == ("conv", "Convolution") and np.array_equal(back, w)
    with open(path, "rb") as f:
        data = f.read()
    whole = decode_message(data, "NetParameter")
    layer = whole.getlist("layer")[0]
    assert layer.getlist("bottom") == ["data"] and layer.get("phase") == "TRAIN"
    assert [p.get("lr_mult") for p in layer.getlist("param")] == [1.0, 2.0]
    assert layer.get("convolution_param").getlist("kernel_size") == [3]
    assert layer.getlist("blobs")[0].get("shape").getlist("dim") == [2, 1, 3, 3]
    # fields in number order, as protobuf's C++ serializer writes them
    body = data[data.index(b"\x0a\x04conv"):]
    order = [body.index(x) for x in (b"\x0a\x04conv", b"\x12\x0bConvolution", b"\x1a\x04data",
                                     b"\x22\x04conv", b"\x32", b"\x3a", b"\x50\x00", b"\xd2\x06")]
    assert order == sorted(order)


def test_encode_message_wire_details():
    layer = parse_text('layer { name: "c" loss_weight: 1 convolution_param { num_output: 2 '
                       'kernel_size: 3 } flatten_param { end_axis: -1 } }',
                       "NetParameter").getlist("layer")[0]
    data = encode_message(layer)
    assert data == (b"\x0a\x01c" + b"\x2d" + floats(1)  # loss_weight: repeated, not packed
                    + ld(106, b"\x08\x02\x20\x03")
                    + ld(135, b"\x10" + b"\xff" * 9 + b"\x01"))  # -1: a 10-byte varint
    assert decode_message(data, "LayerParameter") == layer


def test_encode_decode_round_trip_of_real_layers():
    text = """
    name: "n" force_backward: true input_dim: [1, -2]
    state { phase: TRAIN level: -3 stage: "s" }
    layer { name: "d" type: "AugmentedDropout" include { phase: TEST min_level: -1 }
            propagate_down: [true, false]
            augmented_dropout_param { variant: BACKWARD backward_ratio: 0.25 }
            transform_param { mean_value: [104, 117, 123] scale: 0.00390625 crop_size: 28 }
            eltwise_param { operation: MAX coeff: [1, -1] }
            loss_param { ignore_label: -1 normalization: NONE } }
    """
    net = parse_text(text, "NetParameter")
    assert decode_message(encode_message(net), "NetParameter") == net
    blob = parse_text("shape { dim: [2, 2] } data: [1, 2, 3.5, -4] double_data: [0.1]",
                      "BlobProto")
    assert decode_message(encode_message(blob), "BlobProto") == blob


def test_blobproto_like_compute_image_mean(tmp_path):
    mean = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5) / 7
    path = str(tmp_path / "mean.binaryproto")
    write_blobproto(path, mean)
    with open(path, "rb") as f:
        data = f.read()
    assert data == (b"\x08\x01\x10\x03\x18\x04\x20\x05"  # num 1, channels 3, height 4, width 5
                    + b"\x2a\xf0\x01" + mean.astype("<f4").tobytes())  # 240 bytes of data
    back = read_blobproto(path)
    assert back.shape == (1, 3, 4, 5) and np.array_equal(back[0], mean)
    write_blobproto(path, mean, legacy=False)
    with open(path, "rb") as f:
        assert f.read().endswith(b"\x3a\x05\x0a\x03\x03\x04\x05")
    assert read_blobproto(path).shape == (3, 4, 5)
    write_blobproto(path, np.ones((2, 3)))
    assert read_blobproto(path).shape == (2, 3)
    write_blobproto(path, np.ones((2, 3)), legacy=True)
    assert read_blobproto(path).shape == (1, 1, 2, 3)


def test_solverstate_round_trip_and_bytes(tmp_path):
    path = str(tmp_path / "s.solverstate")
    h = [np.arange(4, dtype=np.float32).reshape(2, 2), np.array([-1.5], np.float32)]
    write_solverstate(path, iter=6, learned_net="x.caffemodel", history=h, current_step=2)
    with open(path, "rb") as f:
        data = f.read()
    blob0 = b"\x2a\x10" + floats(0, 1, 2, 3) + b"\x3a\x04\x0a\x02\x02\x02"
    blob1 = b"\x2a\x04" + floats(-1.5) + b"\x3a\x03\x0a\x01\x01"
    assert data == (b"\x08\x06" + ld(2, b"x.caffemodel") + ld(3, blob0) + ld(3, blob1)
                    + b"\x20\x02")
    state = read_solverstate(path)
    assert (state["iter"], state["learned_net"], state["current_step"]) == (6, "x.caffemodel", 2)
    assert len(state["history"]) == 2
    assert all(np.array_equal(a, b) for a, b in zip(state["history"], h))
    write_solverstate(path, iter=0)
    assert read_solverstate(path) == {"iter": 0, "learned_net": "", "current_step": 0,
                                      "history": []}


# --- errors: the file and the byte offset -------------------------------------------------------

def test_truncated_files(tmp_path):
    for cut in range(1, len(TINY)):
        path = write(tmp_path, "cut.caffemodel", TINY[:cut])
        if cut == 6:  # just the name: a complete, empty NetParameter
            assert read_caffemodel(path) == []
            continue
        with pytest.raises(CaffeModelError, match=r"cut\.caffemodel: .* at byte offset \d+"):
            read_caffemodel(path)
    path = write(tmp_path, "cut.caffemodel", TINY[:40])
    with pytest.raises(CaffeModelError) as info:
        read_caffemodel(path)
    assert str(info.value) == ("%s: field 100 of length 69 runs past the end of its message "
                               "(31 bytes left; the file may be truncated) at byte offset 6" % path)


def test_truncated_unpacked_data(tmp_path):
    blob = b"\x3a\x03\x0a\x01\x02" + b"\x2d" + floats(1) + b"\x2d\x00\x00"
    layer = ld(1, b"a") + ld(7, blob)
    path = write(tmp_path, "u.caffemodel", ld(100, layer))
    with pytest.raises(CaffeModelError,
                       match=r"u\.caffemodel: truncated 4-byte .* at byte offset 18"):
        read_caffemodel(path)


def test_count_mismatch_names_the_layer(tmp_path):
    blob = ld(5, floats(1, 2, 3)) + b"\x3a\x03\x0a\x01\x02"
    path = write(tmp_path, "c.caffemodel", ld(100, ld(1, b"ip1") + ld(7, b"") + ld(7, blob)))
    with pytest.raises(CaffeModelError) as info:
        read_caffemodel(path)
    assert str(info.value) == ("%s: layer 'ip1' blob 0: shape () needs 1 values but the BlobProto "
                               "holds 0 at byte offset 8" % path)


def test_not_a_protobuf(tmp_path):
    text = write(tmp_path, "lenet.prototxt", b'name: "LeNet"\nlayer { name: "a" }\n')
    with pytest.raises(CaffeModelError, match=r"lenet\.prototxt: .*wire type 6.*byte offset 0 "
                                              r"\(the file looks like text"):
        read_caffemodel(text)
    with pytest.raises(CaffeModelError, match="varint longer than 10 bytes"):
        read_caffemodel(write(tmp_path, "junk", b"\xff" * 20))
    with pytest.raises(CaffeModelError, match="empty"):
        read_caffemodel(write(tmp_path, "empty", b""))
    with pytest.raises(CaffeModelError, match="HDF5"):
        read_caffemodel(write(tmp_path, "h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 100))
    with pytest.raises(CaffeModelError, match="cannot read"):
        read_caffemodel(str(tmp_path / "missing.caffemodel"))
    with pytest.raises(CaffeModelError, match="invalid field number 0"):
        read_caffemodel(write(tmp_path, "zero", b"\x00\x01"))
    assert issubclass(CaffeModelError, ValueError)


def test_wrong_kind_of_file(tmp_path):
    mean = str(tmp_path / "mean.binaryproto")
    write_blobproto(mean, np.zeros((3, 2, 2)))
    with pytest.raises(CaffeModelError, match=r"field 1 \('name' of NetParameter\) has wire type 0"
                                              r".*is this really a NetParameter"):
        read_caffemodel(mean)
    model = str(tmp_path / "m.caffemodel")
    write_caffemodel(model, [("a", "ReLU", [])])
    with pytest.raises(CaffeModelError, match="SolverState"):
        read_solverstate(model)


# --- speed --------------------------------------------------------------------------------------

def _lenet_layers():
    rng = np.random.default_rng(0)
    shapes = [("conv1", [(20, 1, 5, 5), (20,)]), ("conv2", [(50, 20, 5, 5), (50,)]),
              ("ip1", [(500, 800), (500,)]), ("ip2", [(10, 500), (10,)])]
    return [(n, "Convolution" if n.startswith("conv") else "InnerProduct",
             [rng.standard_normal(s).astype(np.float32) for s in ss]) for n, ss in shapes]


def _best_time(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def test_reading_a_lenet_model_is_fast(tmp_path):
    layers = _lenet_layers()
    path = str(tmp_path / "lenet.caffemodel")
    write_caffemodel(path, layers, net_name="LeNet")
    assert 1_700_000 < (tmp_path / "lenet.caffemodel").stat().st_size < 1_800_000
    assert _best_time(lambda: read_caffemodel(path)) < 0.1
    back = read_caffemodel(path)
    assert all(np.array_equal(a, b) for (_, _, x), (_, _, y) in zip(layers, back)
               for a, b in zip(x, y))


def test_reading_unpacked_data_is_fast(tmp_path):
    w = np.random.default_rng(1).standard_normal(431080).astype(np.float32)
    raw = np.empty(w.size, np.dtype([("tag", np.uint8), ("value", "<f4")]))
    raw["tag"], raw["value"] = 0x2D, w  # as a pre-packed Caffe wrote `repeated float data`
    blob = ld(7, b"\x0a\x03" + varint(w.size)) + raw.tobytes()
    path = write(tmp_path, "old.caffemodel", ld(100, ld(1, b"ip") + ld(7, blob)))
    assert _best_time(lambda: read_caffemodel(path)) < 0.1
    (_, _, (back,)), = read_caffemodel(path)
    assert np.array_equal(back, w)


def test_decode_merges_a_singular_message_given_twice():
    data = (ld(1, b"c") + ld(106, b"\x08\x02") + ld(106, b"\x20\x03\x08\x04"))
    conv = decode_message(data, "LayerParameter").get("convolution_param")
    assert conv.get("num_output") == 4 and conv.getlist("kernel_size") == [3]


def test_write_caffemodel_checks_its_arguments(tmp_path):
    path = str(tmp_path / "x.caffemodel")
    with pytest.raises(TypeError):
        write_caffemodel(path, {"ip": [np.ones(2)]})
    with pytest.raises(TypeError):
        write_caffemodel(path, [("ip", "InnerProduct", np.ones(2))])
    with pytest.raises(TypeError):
        write_caffemodel(path, [("ip", [np.ones(2)])])
    with pytest.raises(TypeError):
        write_caffemodel(path, [("ip", "InnerProduct", [], "not a LayerParameter")])
    assert not list(tmp_path.iterdir())
