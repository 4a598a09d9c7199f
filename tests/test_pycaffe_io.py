"""caffe.io: the behaviours of BVLC Caffe's python/caffe/test/test_io.py (BlobProto shapes,
Datum labels) and of pycaffe's Transformer, image loading, resizing and oversampling."""
import numpy as np
import pytest

pytest.importorskip("google.protobuf")

import augdrop_caffe as caffe  # noqa: E402
from augdrop_caffe import io as cio  # noqa: E402
from augdrop_caffe.proto import caffe_pb2  # noqa: E402


def _blob(values):
    blob = caffe_pb2.BlobProto()
    blob.data.extend(np.asarray(values, float).ravel().tolist())
    return blob


def test_blobproto_legacy_shape():
    blob = _blob(np.zeros(100))
    blob.num, blob.channels, blob.height, blob.width = 1, 1, 10, 10
    assert cio.blobproto_to_array(blob).shape == (1, 1, 10, 10)


def test_blobproto_shape():
    blob = _blob(np.arange(100))
    blob.shape.dim.extend([10, 10])
    arr = cio.blobproto_to_array(blob)
    assert arr.shape == (10, 10) and arr[3, 4] == 34


def test_blobproto_without_shape_fails_unless_scalar():
    with pytest.raises(ValueError):
        cio.blobproto_to_array(_blob(np.zeros(100)))
    assert cio.blobproto_to_array(_blob([123])) == 123


def test_blobproto_round_trips_with_diff():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    blob = cio.array_to_blobproto(x, diff=-x)
    np.testing.assert_array_equal(cio.blobproto_to_array(blob), x)
    np.testing.assert_array_equal(cio.blobproto_to_array(blob, return_diff=True), -x)
    arrays = [x, np.ones((5,))]
    back = cio.blobprotovector_str_to_arraylist(cio.arraylist_to_blobprotovector_str(arrays))
    assert len(back) == 2
    np.testing.assert_array_equal(back[0], x)
    np.testing.assert_array_equal(back[1], 1)


def test_datum():
    with_label = cio.array_to_datum(np.ones((10, 10, 3)), label=1)
    without = cio.array_to_datum(np.ones((10, 10, 3)))
    assert len(with_label.SerializeToString()) > len(without.SerializeToString())
    pixels = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    d = cio.array_to_datum(pixels, label=7)
    assert d.data == pixels.tobytes() and not d.float_data
    out = cio.datum_to_array(caffe_pb2.Datum.FromString(d.SerializeToString()))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, pixels)
    f = cio.datum_to_array(cio.array_to_datum(pixels.astype(np.float32) / 2))
    np.testing.assert_allclose(f, pixels / 2)
    with pytest.raises(ValueError):
        cio.array_to_datum(np.ones((3, 3)))


def test_datum_is_what_the_lmdb_reader_decodes():
    from augdrop_caffe.data.readers import parse_datum

    pixels = np.random.default_rng(0).integers(0, 256, (3, 4, 5), dtype=np.uint8)
    d = parse_datum(cio.array_to_datum(pixels, label=9).SerializeToString())
    assert (d["channels"], d["height"], d["width"], d["label"]) == (3, 4, 5, 9)
    assert d["data"] == pixels.tobytes()


def _transformer():
    t = cio.Transformer({"data": (1, 3, 4, 5)})
    t.set_transpose("data", (2, 0, 1))
    t.set_channel_swap("data", (2, 1, 0))
    t.set_raw_scale("data", 255.0)
    t.set_mean("data", np.array([10.0, 20.0, 30.0]))
    t.set_input_scale("data", 0.5)
    return t


def test_transformer_preprocess_is_the_documented_pipeline():
    image = np.random.default_rng(1).uniform(size=(4, 5, 3)).astype(np.float32)
    out = _transformer().preprocess("data", image)
    expected = (image.transpose(2, 0, 1)[[2, 1, 0]] * 255
                - np.array([10, 20, 30])[:, None, None]) * 0.5
    assert out.dtype == np.float32 and out.shape == (3, 4, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


def test_transformer_deprocess_inverts_preprocess():
    t = _transformer()
    image = np.random.default_rng(2).uniform(size=(4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(t.deprocess("data", t.preprocess("data", image)), image,
                               rtol=1e-5, atol=1e-5)


def test_transformer_resizes_to_the_input_and_checks_its_arguments():
    t = cio.Transformer({"data": (1, 3, 8, 10)})
    t.set_transpose("data", (2, 0, 1))
    assert t.preprocess("data", np.ones((4, 5, 3))).shape == (3, 8, 10)
    with pytest.raises(KeyError):
        t.preprocess("label", np.ones((8, 10, 3)))
    with pytest.raises(ValueError):
        t.set_channel_swap("data", (1, 0))
    with pytest.raises(ValueError):
        t.set_transpose("data", (1, 0))
    with pytest.raises(ValueError):
        t.set_mean("data", np.ones(2))
    # an image mean of another size is resized to the input's
    t.set_mean("data", np.full((3, 4, 5), 7.0))
    assert t.mean["data"].shape == (3, 8, 10)
    np.testing.assert_allclose(t.mean["data"], 7.0)


def test_resize_image():
    ramp = np.tile(np.arange(4, dtype=np.float32), (4, 1))[:, :, None]
    out = cio.resize_image(ramp, (8, 8))
    assert out.shape == (8, 8, 1) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 3  # bilinear: no overshoot
    assert np.all(np.diff(out[0, :, 0]) >= 0)  # and monotone along the ramp
    np.testing.assert_array_equal(cio.resize_image(np.full((3, 3, 2), 5.0), (6, 7)), 5.0)
    assert cio.resize_image(np.zeros((10, 10, 5)) + np.arange(5), (3, 4)).shape == (3, 4, 5)


def test_oversample():
    image = np.arange(6 * 8 * 1, dtype=np.float32).reshape(6, 8, 1)
    crops = cio.oversample([image, image + 100], (4, 4))
    assert crops.shape == (20, 4, 4, 1)
    np.testing.assert_array_equal(crops[0], image[:4, :4])
    np.testing.assert_array_equal(crops[3], image[2:, 4:])
    np.testing.assert_array_equal(crops[4], image[1:5, 2:6])  # the centre
    np.testing.assert_array_equal(crops[5], image[:4, :4][:, ::-1])  # mirrored
    np.testing.assert_array_equal(crops[10], image[:4, :4] + 100)


def test_load_image(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(tmp_path / "red.png")
    img = cio.load_image(str(tmp_path / "red.png"))
    assert img.shape == (3, 4, 3) and img.dtype == np.float32
    np.testing.assert_allclose(img[0, 0], [1, 0, 0])
    gray = cio.load_image(str(tmp_path / "red.png"), color=False)
    assert gray.shape == (3, 4, 1) and 0 < gray[0, 0, 0] < 1
    Image.fromarray(np.full((2, 2), 51, np.uint8)).save(tmp_path / "g.png")
    img = cio.load_image(str(tmp_path / "g.png"))
    assert img.shape == (2, 2, 3)
    np.testing.assert_allclose(img, 0.2)


def test_io_is_reachable_as_caffe_io():
    assert caffe.io is cio and caffe.proto.caffe_pb2 is caffe_pb2
