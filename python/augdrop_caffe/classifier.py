"""caffe.Classifier: a Net that classifies (H, W, K) images, resizing them, taking the centre
crop or the ten oversampled crops, and preprocessing them with a caffe.io.Transformer
(pycaffe's python/caffe/classifier.py)."""
import numpy as np

from . import io as caffe_io
from .net import Net

TEST = 1


def _configured_transformer(net, mean, input_scale, raw_scale, channel_swap):
    """The Transformer of the net's first input: HWC -> CHW, then the options given."""
    name = net.inputs[0]
    t = caffe_io.Transformer({name: net.blobs[name].data.shape})
    t.set_transpose(name, (2, 0, 1))
    if mean is not None:
        t.set_mean(name, mean)
    if input_scale is not None:
        t.set_input_scale(name, input_scale)
    if raw_scale is not None:
        t.set_raw_scale(name, raw_scale)
    if channel_swap is not None:
        t.set_channel_swap(name, channel_swap)
    return t


class Classifier(Net):
    """Classifier(model_file, pretrained_file, image_dims=None, mean=None, input_scale=None,
    raw_scale=None, channel_swap=None): a TEST-phase Net with its weights.

    image_dims: the size images are resized to before cropping (default: the net's input
    size, i.e. the whole image is the crop)."""

    def __init__(self, model_file, pretrained_file, image_dims=None, mean=None,
                 input_scale=None, raw_scale=None, channel_swap=None):
        super().__init__(model_file, TEST, weights=pretrained_file)
        self.transformer = _configured_transformer(self, mean, input_scale, raw_scale,
                                                   channel_swap)
        self.crop_dims = np.array(self.blobs[self.inputs[0]].data.shape[2:])
        self.image_dims = self.crop_dims if image_dims is None or not len(image_dims) \
            else image_dims

    def predict(self, inputs, oversample=True):
        """(N, classes) output of the net's first output for N (H, W, K) images: averaged
        over the ten crops when oversample, else from the centre crop."""
        h, w = (int(d) for d in self.image_dims)
        images = np.zeros((len(inputs), h, w, inputs[0].shape[2]), dtype=np.float32)
        for i, image in enumerate(inputs):
            images[i] = caffe_io.resize_image(image, (h, w))
        if oversample:
            images = caffe_io.oversample(images, self.crop_dims)
        else:
            ch, cw = (int(d) for d in self.crop_dims)
            top, left = int(h / 2.0 - ch / 2.0), int(w / 2.0 - cw / 2.0)
            images = images[:, top:top + ch, left:left + cw, :]
        name = self.inputs[0]
        batch = np.stack([self.transformer.preprocess(name, im) for im in images])
        predictions = self.forward_all(**{name: batch})[self.outputs[0]]
        if oversample:
            predictions = predictions.reshape(len(predictions) // 10, 10, -1).mean(axis=1)
        return predictions
