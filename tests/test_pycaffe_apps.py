"""caffe.Classifier, caffe.Detector and caffe.draw, on a tiny net: predictions checked
against the net run by hand on the same crops, the DOT text checked against the net."""
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("google.protobuf")
from google.protobuf import text_format  # noqa: E402

import augdrop_caffe as caffe  # noqa: E402
from augdrop_caffe.proto import caffe_pb2  # noqa: E402

NET = """name: 'tinyclass'
layer { name: 'data' type: 'Input' top: 'data' input_param { shape { dim: 4 dim: 3 dim: 4 dim: 4 } } }
layer { name: 'ip' type: 'InnerProduct' bottom: 'data' top: 'ip'
  inner_product_param { num_output: 5 weight_filler { type: 'gaussian' std: 0.3 }
                        bias_filler { type: 'constant' value: 0.1 } } }
layer { name: 'prob' type: 'Softmax' bottom: 'ip' top: 'prob' }
"""


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(NET)
    caffe.set_random_seed(7)
    net = caffe.Net(str(path), caffe.TEST)
    net.save(str(tmp_path / "w.caffemodel"))
    return str(path), str(tmp_path / "w.caffemodel"), net


def _run(net, chw_batch):
    w, b = net.params["ip"][0].data, net.params["ip"][1].data
    z = chw_batch.reshape(len(chw_batch), -1) @ w.T + b
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _images(n, size=6, seed=0):
    return [np.random.default_rng(seed + i).uniform(size=(size, size, 3)).astype(np.float32)
            for i in range(n)]


def test_classifier_centre_crop(model):
    prototxt, weights, net = model
    mean = np.array([0.1, 0.2, 0.3])
    clf = caffe.Classifier(prototxt, weights, image_dims=(6, 6), mean=mean, raw_scale=2.0,
                           channel_swap=(2, 1, 0))
    images = _images(5)  # more than one batch of 4
    out = clf.predict(images, oversample=False)
    assert out.shape == (5, 5)
    crops = np.stack([(im[1:5, 1:5].transpose(2, 0, 1)[[2, 1, 0]] * 2.0
                       - mean[:, None, None]) for im in images])
    np.testing.assert_allclose(out, _run(net, crops), rtol=1e-5, atol=1e-6)


def test_classifier_oversample_averages_ten_crops(model):
    prototxt, weights, net = model
    clf = caffe.Classifier(prototxt, weights, image_dims=(6, 6))
    images = _images(2, seed=10)
    out = clf.predict(images)
    crops = caffe.io.oversample(images, (4, 4)).transpose(0, 3, 1, 2)
    expected = _run(net, crops).reshape(2, 10, 5).mean(axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_detector_windows(model, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    prototxt, weights, net = model
    pixels = (np.random.default_rng(3).uniform(size=(10, 12, 3)) * 255).astype(np.uint8)
    path = str(tmp_path / "im.png")
    Image.fromarray(pixels).save(path)
    det = caffe.Detector(prototxt, weights)
    windows = [np.array([0, 0, 4, 4]), np.array([2, 3, 6, 7])]
    out = det.detect_windows([(path, windows)])
    assert [d["filename"] for d in out] == [path, path]
    image = pixels.astype(np.float32) / 255
    crops = np.stack([image[y0:y1, x0:x1].transpose(2, 0, 1) for y0, x0, y1, x1 in windows])
    np.testing.assert_allclose(np.stack([d["prediction"] for d in out]), _run(net, crops),
                               rtol=1e-5, atol=1e-6)
    padded = caffe.Detector(prototxt, weights, mean=np.array([0.5, 0.5, 0.5]), context_pad=1)
    crop = padded.crop(image, np.array([0, 0, 4, 4]))
    assert crop.shape == (4, 4, 3)
    np.testing.assert_allclose(crop[0, 0], 0.5)  # outside the image: the mean


LENET = os.path.join(os.path.dirname(__file__), os.pardir, "prototxt",
                     "lenet_train_test.prototxt")


def _lenet():
    with open(LENET) as f:
        return text_format.Parse(f.read(), caffe_pb2.NetParameter())


def test_dot_source_describes_the_net():
    net = _lenet()
    dot = caffe.draw.get_dot_source(net, "LR")
    assert dot.startswith('digraph "%s" {' % net.name) and "rankdir=LR;" in dot
    assert r'"conv1\n(Convolution)\nkernel size: 5\nstride: 1\npad: 0"' in dot
    assert r'(Pooling MAX)' in dot and 'label="20"' in dot  # conv1's 20 outputs on its edge
    test_only = caffe.draw.get_dot_source(net, "TB", phase=caffe_pb2.TEST)
    train_only = caffe.draw.get_dot_source(net, "TB", phase=caffe_pb2.TRAIN)
    assert "accuracy" in test_only and "accuracy" not in train_only
    assert '[label="Batch 100"]' in dot
    assert caffe.draw.get_layer_lr_mult(net.layer[2]) == (1.0, 2.0)


def test_draw_net_needs_graphviz_or_draws():
    net = _lenet()
    if shutil.which("dot") is None:
        with pytest.raises(RuntimeError, match="Graphviz"):
            caffe.draw.draw_net(net, "LR")
    else:
        assert caffe.draw.draw_net(net, "LR", ext="svg").lstrip().startswith(b"<")


# pydot's own use of pyparsing's old names warns with the newest pyparsing: not ours to fix.
@pytest.mark.filterwarnings("ignore:.*deprecated - use")
def test_pydot_graph():
    pytest.importorskip("pydot")
    graph = caffe.draw.get_pydot_graph(_lenet(), "LR")
    assert len(graph.get_edges()) > 10
