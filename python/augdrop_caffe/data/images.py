"""Images decoded with Pillow (an optional dependency: pip install 'augdrop-caffe[images]')
as Caffe decodes them with OpenCV: uint8 (C, H, W) in BGR order for color, one channel for
gray. Used by the ImageData layer (a list file of "path label" lines, read image by image:
ImageListReader) and by encoded Datum records (`encoded: true`, JPEG or PNG bytes) in an
LMDB or LevelDB.

DEVIATION: OpenCV's and Pillow's decoders and resamplers are not bit-identical: JPEG decoders
may differ by a level here and there, and a resize (new_height/new_width) uses Pillow's
bilinear filter, which unlike cv::resize's INTER_LINEAR averages over the source pixels when it
shrinks an image. PNG pixels are identical.
"""
import io
import os

import numpy as np

from .readers import DataError


_GRAY_MODES = ("1", "L", "I", "I;16", "F")


def import_pillow(what):
    try:
        from PIL import Image
    except ImportError:
        raise DataError(f"{what} needs the Pillow package (pip install Pillow, or "
                        f"pip install 'augdrop-caffe[images]')") from None
    return Image


def to_caffe_array(image, is_color=None):
    """A PIL image as uint8 (C, H, W): is_color True gives 3 channels BGR, False one gray
    channel, None the image's own as cv::imdecode(IMREAD_UNCHANGED) (Caffe's
    DecodeDatumToCVMatNative): gray stays gray, an alpha channel stays (BGRA)."""
    if is_color is None and image.mode in ("RGBA", "LA", "PA"):
        pixels = np.asarray(image.convert("RGBA"), dtype=np.uint8)[:, :, [2, 1, 0, 3]]
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))
    if is_color is None:
        is_color = image.mode not in _GRAY_MODES
    if is_color:
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)[:, :, ::-1]  # RGB -> BGR
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))
    if image.mode in ("I", "I;16"):  # 16-bit gray: OpenCV's 8-bit read keeps the high byte
        gray = (np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8)
    else:
        gray = np.asarray(image.convert("L"), dtype=np.uint8)
    return np.ascontiguousarray(gray[None])


def decode_image(data, what, is_color=None, new_height=0, new_width=0):
    """Bytes of a JPEG, PNG, ... as uint8 (C, H, W) (see to_caffe_array)."""
    Image = import_pillow(what)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as e:  # noqa: BLE001 - Pillow raises many kinds for a bad image
        raise DataError(f"{what}: cannot decode the image ({e})") from None
    if new_height > 0 and new_width > 0:  # read as color or gray first, then resize (Caffe)
        gray = is_color is False or (is_color is None and image.mode in _GRAY_MODES)
        image = image.convert("L" if gray else "RGB").resize((new_width, new_height),
                                                             Image.BILINEAR)
    return to_caffe_array(image, is_color)


def read_image_list(source):
    """[(path, label)] of an ImageData list file: each line is a path, a space and an integer
    label (Caffe splits at the last space, so a path may hold spaces)."""
    try:
        with open(source) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise DataError(f"{source}: cannot read the image list ({e.strerror or e})") from None
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        path, sep, label = line.rstrip().rpartition(" ")
        try:
            if not sep:
                raise ValueError
            entries.append((path, int(label)))
        except ValueError:
            raise DataError(f"{source}:{number}: expected 'path label' (an integer label "
                            f"after the last space), got {line!r}") from None
    if not entries:
        raise DataError(f"{source}: the image list is empty")
    return entries


class ImageListReader:
    """An ImageData list read image by image as the core asks (csrc/data/image_source.hpp):
    num, labels, image_shape(index), read_into(indices, images). The images of a batch are
    decoded in a few threads (Pillow's decoders release the GIL)."""

    THREADS = 4

    def __init__(self, source, entries, root_folder="", new_height=0, new_width=0,
                 is_color=True):
        self.source, self.entries, self.root_folder = source, entries, root_folder
        self.options = (bool(is_color), new_height, new_width)
        self.num = len(entries)
        self.labels = np.array([label for _, label in entries], dtype=np.float32)

    def _path(self, index):
        return self.root_folder + self.entries[index][0]  # Caffe concatenates them as they are

    def image_shape(self, index):
        """(C, H, W) of image `index` once decoded, from its file's header."""
        is_color, new_height, new_width = self.options
        full = self._path(index)
        Image = import_pillow(f"{self.source}: ImageData")
        try:
            with Image.open(full) as image:
                width, height = image.size
        except Exception as e:  # noqa: BLE001 - Pillow raises many kinds for a bad image
            raise DataError(f"{full} (listed in {self.source}): cannot read the image "
                            f"({e})") from None
        if new_height > 0 and new_width > 0:
            height, width = new_height, new_width
        return (3 if is_color else 1, height, width)

    def decode(self, index):
        full = self._path(index)
        try:
            with open(full, "rb") as f:
                data = f.read()
        except OSError as e:
            raise DataError(f"{full} (listed in {self.source}): cannot read "
                            f"({e.strerror or e})") from None
        return decode_image(data, full, *self.options)

    def read_into(self, indices, images):
        """Decode the images at list positions `indices` into images (count, C, H, W): each
        must come out that shape, the shape of the batch's first image."""
        def one(k):
            image = self.decode(int(indices[k]))
            if image.shape != tuple(images.shape[1:]):
                raise DataError(f"{self._path(int(indices[k]))} (listed in {self.source}): "
                                f"shape {image.shape}, the batch's first image "
                                f"{tuple(images.shape[1:])}; the images of a batch must have "
                                f"one size (give new_height and new_width, or batch_size 1)")
            images[k] = image

        if len(indices) == 1:
            one(0)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(self.THREADS, len(indices))) as pool:
            list(pool.map(one, range(len(indices))))  # raises the first image's error


def open_image_list(source, root_folder="", new_height=0, new_width=0, is_color=True):
    """An ImageListReader over an ImageData layer's list, after checking that Pillow is there
    and every listed file exists (a clear error now rather than at the batch that reaches
    it)."""
    import_pillow(f"{source}: ImageData")
    entries = read_image_list(source)
    for path, _ in entries:
        if not os.path.isfile(root_folder + path):
            raise DataError(f"{root_folder + path} (listed in {source}): cannot read (no such "
                            f"file)")
    return ImageListReader(source, entries, root_folder, new_height, new_width, is_color)


def image_list_key(source, root_folder, new_height, new_width, is_color):
    return (f"images:{os.path.abspath(source)}|root={root_folder}|{new_height}x{new_width}|"
            f"color={bool(is_color)}")
