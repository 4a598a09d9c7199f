"""caffe.io as pycaffe has it: blob/datum <-> array conversion, the input Transformer, and
image loading, resizing and oversampling (python/caffe/io.py of BVLC Caffe, rewritten).

DEVIATION: pycaffe needs scikit-image; here load_image uses Pillow (optional: pip install
pillow) and resize_image scipy.ndimage.zoom for every channel count (pycaffe uses skimage's
resize for 1 or 3 channels and zoom for the rest). Resized pixels can differ from pycaffe's in
the last digits and at the borders; shapes, value ranges and every other function match.
"""
import numpy as np


def _pb2():
    from .proto import caffe_pb2

    return caffe_pb2


# ---------------------------------------------------------------------------------------------
# Protobuf messages and arrays.

def blobproto_to_array(blob, return_diff=False):
    """A BlobProto's data (or diff) as an array of its shape: the legacy num/channels/height/
    width when any of them is set, else shape.dim (ValueError when the data do not fit)."""
    values = np.array(blob.diff if return_diff else blob.data)
    if any(blob.HasField(f) for f in ("num", "channels", "height", "width")):
        return values.reshape(blob.num, blob.channels, blob.height, blob.width)
    return values.reshape(tuple(blob.shape.dim))


def array_to_blobproto(arr, diff=None):
    """A BlobProto holding arr (and diff, assumed of the same shape) with arr's shape."""
    arr = np.asarray(arr)
    blob = _pb2().BlobProto()
    blob.shape.dim.extend(arr.shape)
    blob.data.extend(arr.astype(float).ravel())
    if diff is not None:
        blob.diff.extend(np.asarray(diff).astype(float).ravel())
    return blob


def arraylist_to_blobprotovector_str(arraylist):
    """The serialized BlobProtoVector of a list of arrays."""
    vec = _pb2().BlobProtoVector()
    vec.blobs.extend(array_to_blobproto(a) for a in arraylist)
    return vec.SerializeToString()


def blobprotovector_str_to_arraylist(data):
    """The arrays of a serialized BlobProtoVector."""
    vec = _pb2().BlobProtoVector.FromString(data)
    return [blobproto_to_array(b) for b in vec.blobs]


def array_to_datum(arr, label=None):
    """A Datum of a (channels, height, width) array: uint8 arrays as bytes in `data`, others
    as float_data. The label is set only when given."""
    arr = np.asarray(arr)
    if arr.ndim != 3:
        raise ValueError(f"a Datum holds a (channels, height, width) array; got shape "
                         f"{arr.shape}")
    datum = _pb2().Datum()
    datum.channels, datum.height, datum.width = arr.shape
    if arr.dtype == np.uint8:
        datum.data = arr.tobytes()
    else:
        datum.float_data.extend(arr.astype(float).ravel())
    if label is not None:
        datum.label = label
    return datum


def datum_to_array(datum):
    """A Datum's pixels as a (channels, height, width) array (uint8 from `data`, else float
    from float_data); its label stays in datum.label."""
    shape = (datum.channels, datum.height, datum.width)
    if len(datum.data):
        return np.frombuffer(datum.data, dtype=np.uint8).reshape(shape)
    return np.array(datum.float_data, dtype=float).reshape(shape)


# ---------------------------------------------------------------------------------------------
# Preprocessing.

class Transformer:
    """Turns (H, W, K) images into a Net's (K, H, W) inputs and back, as pycaffe's.

    inputs: {input blob name: its shape (N, K, H, W)}, e.g. {'data': net.blobs['data'].
    data.shape}. preprocess applies, in order: float32, resize to (H, W), transpose, channel
    swap, raw scale, mean subtraction, input scale; deprocess undoes them in reverse."""

    def __init__(self, inputs):
        self.inputs = {name: tuple(shape) for name, shape in inputs.items()}
        self.transpose = {}
        self.channel_swap = {}
        self.raw_scale = {}
        self.mean = {}
        self.input_scale = {}

    def _check(self, name):
        if name not in self.inputs:
            raise KeyError(f"{name!r} is not one of the net inputs: {list(self.inputs)}")

    def preprocess(self, in_, data):
        """(H', W', K) image -> (K, H, W) float32 array for the input blob `in_`."""
        self._check(in_)
        out = np.asarray(data).astype(np.float32, copy=False)
        size = self.inputs[in_][2:]
        if out.shape[:2] != size:
            out = resize_image(out, size)
        if in_ in self.transpose:
            out = out.transpose(self.transpose[in_])
        if in_ in self.channel_swap:
            out = out[list(self.channel_swap[in_]), :, :]
        if self.raw_scale.get(in_) is not None:
            out = out * self.raw_scale[in_]
        if self.mean.get(in_) is not None:
            out = out - self.mean[in_]
        if self.input_scale.get(in_) is not None:
            out = out * self.input_scale[in_]
        return out.astype(np.float32, copy=False)

    def deprocess(self, in_, data):
        """The inverse of preprocess (but for the resize)."""
        self._check(in_)
        out = np.array(data, copy=True).squeeze()
        if self.input_scale.get(in_) is not None:
            out = out / self.input_scale[in_]
        if self.mean.get(in_) is not None:
            out = out + self.mean[in_]
        if self.raw_scale.get(in_) is not None:
            out = out / self.raw_scale[in_]
        if in_ in self.channel_swap:
            out = out[np.argsort(self.channel_swap[in_]), :, :]
        if in_ in self.transpose:
            out = out.transpose(np.argsort(self.transpose[in_]))
        return out

    def set_transpose(self, in_, order):
        """The order of the image's axes for the blob, e.g. (2, 0, 1): H x W x K -> K x H x W."""
        self._check(in_)
        if len(order) != len(self.inputs[in_]) - 1:
            raise ValueError(f"transpose order {tuple(order)} needs "
                             f"{len(self.inputs[in_]) - 1} axes, as the input {in_!r}")
        self.transpose[in_] = order

    def set_channel_swap(self, in_, order):
        """The order in which to take the channels (after the transpose), e.g. (2, 1, 0) for
        RGB -> BGR."""
        self._check(in_)
        if len(order) != self.inputs[in_][1]:
            raise ValueError(f"channel swap {tuple(order)} needs {self.inputs[in_][1]} "
                             f"channels, as the input {in_!r}")
        self.channel_swap[in_] = order

    def set_raw_scale(self, in_, scale):
        """Multiply the raw image by scale before the mean (e.g. 255 for [0, 1] images)."""
        self._check(in_)
        self.raw_scale[in_] = scale

    def set_mean(self, in_, mean):
        """The mean to subtract: one value per channel, or a (K, H', W') / (H', W') image,
        resized to the input's size when it differs."""
        self._check(in_)
        mean = np.asarray(mean)
        if mean.ndim == 1:
            if mean.shape[0] != self.inputs[in_][1]:
                raise ValueError(f"mean has {mean.shape[0]} channels, the input {in_!r} "
                                 f"{self.inputs[in_][1]}")
            mean = mean[:, np.newaxis, np.newaxis]
        else:
            shape = mean.shape if mean.ndim == 3 else (1,) + mean.shape
            if len(shape) != 3:
                raise ValueError(f"mean of shape {mean.shape}: expected (K,), (H, W) or "
                                 f"(K, H, W)")
            target = self.inputs[in_][1:]
            if shape != target:
                mean = mean.reshape(shape)
                lo, hi = mean.min(), mean.max()
                span = hi - lo if hi > lo else 1.0
                scaled = resize_image(((mean - lo) / span).transpose(1, 2, 0), target[1:])
                mean = scaled.transpose(2, 0, 1) * span + lo
        self.mean[in_] = mean

    def set_input_scale(self, in_, scale):
        """Multiply the preprocessed input by scale, after the mean."""
        self._check(in_)
        self.input_scale[in_] = scale


# ---------------------------------------------------------------------------------------------
# Images.

def load_image(filename, color=True):
    """An image file as float32 in [0, 1]: (H, W, 3) RGB when color, else (H, W, 1)
    intensity (alpha dropped). Needs Pillow (pip install pillow)."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("caffe.io.load_image needs Pillow: pip install pillow (or "
                          "pip install 'augdrop-caffe[images]')") from None
    with Image.open(filename) as im:
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            img = np.asarray(im, dtype=np.float32) / (65535.0 if im.mode != "I" else 1.0)
            img = img if not color else np.repeat(img[:, :, None], 3, axis=2)
        elif im.mode == "F":
            img = np.asarray(im, dtype=np.float32)
        else:
            img = np.asarray(im.convert("RGB" if color else "L"), dtype=np.float32) / 255.0
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
        if color:
            img = np.tile(img, (1, 1, 3))
    return np.ascontiguousarray(img, dtype=np.float32)


def resize_image(im, new_dims, interp_order=1):
    """An (H, W, K) array resized to new_dims (height, width) with spline interpolation of
    interp_order (1: bilinear), as float32."""
    from scipy.ndimage import zoom

    im = np.asarray(im)
    new_dims = tuple(int(d) for d in new_dims)
    if im.min() == im.max():  # a constant image stays exactly that constant
        return np.full(new_dims + (im.shape[-1],), im.min() if im.size else 0, np.float32)
    scale = (new_dims[0] / im.shape[0], new_dims[1] / im.shape[1], 1.0)
    out = zoom(im.astype(np.float32), scale, order=interp_order, mode="nearest",
               grid_mode=True)
    return out.astype(np.float32)


def oversample(images, crop_dims):
    """The ten crops of each (H, W, K) image: four corners and the centre, then the same
    five mirrored left-right; (10 * N, h, w, K) float32."""
    h, w = (int(d) for d in crop_dims)
    height, width = images[0].shape[:2]
    centre_y, centre_x = height / 2.0, width / 2.0
    origins = [(0, 0), (0, width - w), (height - h, 0), (height - h, width - w),
               (int(centre_y - h / 2.0), int(centre_x - w / 2.0))]
    crops = np.empty((10 * len(images), h, w, images[0].shape[-1]), dtype=np.float32)
    for n, im in enumerate(images):
        five = [im[y:y + h, x:x + w, :] for y, x in origins]
        crops[10 * n:10 * n + 5] = five
        crops[10 * n + 5:10 * n + 10] = [c[:, ::-1, :] for c in five]
    return crops
