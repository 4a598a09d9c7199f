"""R-CNN window files for the WindowData layer (csrc/layers/window_data_layer.hpp), read as
Caffe's WindowDataLayer reads them, whitespace-separated, a block per image:

    # image_index
    image_path
    channels height width
    num_windows
    class_index overlap x1 y1 x2 y2      (num_windows lines)

root_folder is put before each path as it is. The images are decoded once with Pillow, in
color (BGR, as cv::imread(CV_LOAD_IMAGE_COLOR)), and kept as (H, W, C).
"""
import os

import numpy as np

from .images import import_pillow, to_caffe_array
from .readers import DataError


def _tokens(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read the window file ({e.strerror or e})") from None
    for number, line in enumerate(text.splitlines(), 1):
        for word in line.split():
            yield word, number


def read_window_file(path, root_folder=""):
    """([(image path, uint8 (H, W, C))], windows float32 (N, 7), channels of the last image)."""
    tokens = _tokens(path)
    last_line = [0]

    def take(kind, what):
        try:
            word, last_line[0] = next(tokens)
        except StopIteration:
            raise DataError(f"{path}:{last_line[0]}: the file ends where {what} should "
                            f"be") from None
        try:
            return kind(word)
        except ValueError:
            raise DataError(f"{path}:{last_line[0]}: expected {what}, got {word!r}") from None

    images, windows, channels = [], [], 0
    Image = None
    while True:
        try:
            word, line = next(tokens)
        except StopIteration:
            break
        if word != "#":
            raise DataError(f"{path}:{line}: expected '#' to start an image's block, got {word!r}")
        index = take(int, "the image index")
        image_path = root_folder + take(str, "the image path")
        channels, height, width = (take(int, "the image's " + w)
                                   for w in ("channels", "height", "width"))
        if index != len(images):
            raise DataError(f"{path}:{last_line[0]}: image index {index}, expected "
                            f"{len(images)} (the images are numbered in order from 0)")
        Image = Image or import_pillow(f"{path}: WindowData")
        try:
            with Image.open(image_path) as im:
                pixels = to_caffe_array(im, is_color=True).transpose(1, 2, 0)
        except OSError as e:
            raise DataError(f"{image_path} (listed in {path}): cannot read the image "
                            f"({e})") from None
        images.append((image_path, np.ascontiguousarray(pixels)))
        for _ in range(take(int, "the number of windows")):
            label = take(int, "a window's class index")
            overlap = take(float, "a window's overlap")
            box = [take(int, "a window corner") for _ in range(4)]
            windows.append([index, label, overlap] + box)
    if not images:
        raise DataError(f"{path}: the window file is empty")
    return images, np.array(windows, dtype=np.float32).reshape(-1, 7), channels


def window_source_key(path, root_folder):
    return f"windows:{os.path.abspath(path)}|root={root_folder}"
