"""The data layers besides Data: DummyData, MemoryData, HDF5Data, HDF5Output, ImageData, and
encoded (PNG/JPEG) Datums in an LMDB; each against numpy built here."""
import gc
import sys

import numpy as np
import pytest

import augdrop_caffe as caffe
from augdrop_caffe import TEST, TRAIN, EngineError, Net, _core
from augdrop_caffe.data import DataError
from caffe_rng_reference import CaffeStream

try:
    import h5py
except ImportError:  # the hdf5 extra; CI installs it with the test extra
    h5py = None
try:
    from PIL import Image
except ImportError:  # the images extra
    Image = None
needs_h5py = pytest.mark.skipif(h5py is None, reason="h5py is not installed")
needs_pillow = pytest.mark.skipif(Image is None, reason="Pillow is not installed")


def net_file(tmp_path, text, name="net.prototxt"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def build(tmp_path, text, phase=TEST):
    return Net(net_file(tmp_path, text), phase)


# ---- DummyData ----------------------------------------------------------------------------

def test_dummy_data_fillers_and_refill(tmp_path):
    caffe.set_random_seed(5)
    net = build(tmp_path, """
layer { name: "d" type: "DummyData" top: "a" top: "b"
        dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 4 }
                           data_filler { type: "constant" value: 1.5 }
                           data_filler { type: "uniform" min: -2 max: 3 } } }""")
    stream = CaffeStream(5)  # set-up draws nothing: only the constant top is filled there
    net.forward()
    a, b = net.blobs["a"].data, net.blobs["b"].data
    assert a.shape == (2, 3) and b.shape == (4,)
    np.testing.assert_array_equal(a, np.full((2, 3), 1.5, np.float32))
    np.testing.assert_array_equal(b, stream.uniform(4, -2, 3))
    net.forward()  # the uniform top is filled again, the constant one not
    np.testing.assert_array_equal(net.blobs["b"].data, stream.uniform(4, -2, 3))
    np.testing.assert_array_equal(net.blobs["a"].data, np.full((2, 3), 1.5, np.float32))


def test_dummy_data_legacy_dims_and_default_filler(tmp_path):
    net = build(tmp_path, """
layer { name: "d" type: "DummyData" top: "a" top: "b"
        dummy_data_param { num: 2 channels: 3 channels: 1 height: 4 width: 5 width: 1 } }""")
    net.forward()
    assert net.blobs["a"].data.shape == (2, 3, 4, 5)
    assert net.blobs["b"].data.shape == (2, 1, 4, 1)
    assert not net.blobs["a"].data.any() and not net.blobs["b"].data.any()


def test_dummy_data_one_filler_for_every_top(tmp_path):
    caffe.set_random_seed(9)
    net = build(tmp_path, """
layer { name: "d" type: "DummyData" top: "a" top: "b"
        dummy_data_param { shape { dim: 3 } data_filler { type: "gaussian" std: 2 } } }""")
    stream = CaffeStream(9)
    net.forward()
    np.testing.assert_array_equal(net.blobs["a"].data, stream.gaussian(3, 0, 2))
    np.testing.assert_array_equal(net.blobs["b"].data, stream.gaussian(3, 0, 2))


@pytest.mark.parametrize("param,message", [
    ("shape { dim: 1 } data_filler {} data_filler {}",
     "the number of data fillers must be 0, 1 or the number of tops (3); 2 were given"),
    ("shape { dim: 1 } num: 1 channels: 1 height: 1 width: 1",
     "give shape or the legacy num/channels/height/width, not both"),
    ("num: 1 num: 2 channels: 1 height: 1 width: 1",
     "give 'num' once, or once per top (3); it is given 2 times"),
    ("shape { dim: 1 } shape { dim: 2 }", "give 'shape' once, or once per top (3)"),
])
def test_dummy_data_bad_params_name_the_layer(tmp_path, param, message):
    with pytest.raises(EngineError) as e:
        build(tmp_path, 'layer { name: "dummy" type: "DummyData" top: "a" top: "b" top: "c"\n'
                        f'        dummy_data_param {{ {param} }} }}')
    assert e.value.layer == "dummy" and message in str(e.value)


# ---- MemoryData ---------------------------------------------------------------------------

MEMORY = """
layer { name: "mem" type: "MemoryData" top: "data" top: "label"
        memory_data_param { batch_size: 2 channels: 1 height: 2 width: 3 } }"""


def test_memory_data_batches_in_order_and_in_place(tmp_path):
    net = build(tmp_path, MEMORY)
    data = np.arange(6 * 6, dtype=np.float32).reshape(6, 1, 2, 3)
    labels = np.arange(6, dtype=np.float32) + 10
    net.set_input_arrays(data, labels)
    for start in (0, 2, 4, 0):
        out = net.forward()
        np.testing.assert_array_equal(out["data"], data[start:start + 2])
        np.testing.assert_array_equal(out["label"], labels[start:start + 2].reshape(2, 1, 1, 1))
    data[2:4] = -1  # read in place: a change shows in the next batch that holds it
    del data, labels  # the net keeps its own references
    gc.collect()
    np.testing.assert_array_equal(net.forward()["data"], np.full((2, 1, 2, 3), -1, np.float32))


def test_memory_data_errors(tmp_path):
    net = build(tmp_path, MEMORY)
    with pytest.raises(EngineError, match="needs its arrays before the forward pass") as e:
        net.forward()
    assert e.value.layer == "mem"
    ok = np.zeros((4, 1, 2, 3), np.float32)
    with pytest.raises(EngineError, match=r"positive multiple of the batch size \(2\)"):
        net.set_input_arrays(np.zeros((3, 1, 2, 3), np.float32), np.zeros(3, np.float32))
    with pytest.raises(EngineError, match=r"data must be \(n, 1, 2, 3\)"):
        net.set_input_arrays(np.zeros((4, 1, 3, 2), np.float32), np.zeros(4, np.float32))
    with pytest.raises(EngineError, match="one label per image"):
        net.set_input_arrays(ok, np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="C-contiguous float32"):
        net.set_input_arrays(ok.astype(np.float64), np.zeros(4, np.float32))
    with pytest.raises(EngineError, match="batch_size, channels, height and width") as e:
        build(tmp_path, MEMORY.replace("channels: 1", "channels: 0"))
    assert e.value.layer == "mem"
    other = build(tmp_path, 'layer { name: "d" type: "DummyData" top: "x" '
                            'dummy_data_param { shape { dim: 1 } } }')
    with pytest.raises(EngineError, match="needs a MemoryData layer; layer 'd' is DummyData"):
        other.set_input_arrays(ok, np.zeros(4, np.float32))


# ---- HDF5Data / HDF5Output ----------------------------------------------------------------

def write_h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f.create_dataset(name, data=value)
    return str(path)


def hdf5_net(tmp_path, shuffle=False, batch=3):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 2, 3)).astype(np.float32)
    b = rng.standard_normal((4, 2, 3)).astype(np.float32)
    write_h5(tmp_path / "a.h5", data=a, label=np.arange(5.0))  # float64 labels are read as float
    write_h5(tmp_path / "b.h5", data=b, label=np.arange(4.0) + 5)
    (tmp_path / "list.txt").write_text("a.h5\nb.h5\n")  # named beside the list
    net = build(tmp_path, f"""
layer {{ name: "h5" type: "HDF5Data" top: "data" top: "label"
        hdf5_data_param {{ source: "{tmp_path / 'list.txt'}" batch_size: {batch}
                          shuffle: {str(shuffle).lower()} }} }}""")
    return net, np.concatenate([a, b]), np.arange(9.0, dtype=np.float32)


@needs_h5py
def test_hdf5_data_reads_files_in_order_and_wraps(tmp_path):
    net, data, labels = hdf5_net(tmp_path)
    assert net.blobs["data"].data.shape == (3, 2, 3) and net.blobs["label"].data.shape == (3,)
    order = np.arange(12) % 9
    for i in range(4):
        out = net.forward()
        rows = order[3 * i:3 * i + 3]
        np.testing.assert_array_equal(out["data"], data[rows])
        np.testing.assert_array_equal(out["label"], labels[rows])


@needs_h5py
def test_hdf5_data_shuffle_reads_each_row_once_an_epoch(tmp_path):
    caffe.set_random_seed(3)
    net, data, labels = hdf5_net(tmp_path, shuffle=True, batch=9)
    epochs = [net.forward()["label"].copy() for _ in range(3)]
    for seen in epochs:
        np.testing.assert_array_equal(np.sort(seen), labels)
    assert any(not np.array_equal(e, labels) for e in epochs)
    assert not np.array_equal(epochs[0], epochs[1]) or not np.array_equal(epochs[1], epochs[2])


@needs_h5py
def test_hdf5_data_errors(tmp_path):
    write_h5(tmp_path / "x.h5", data=np.zeros((2, 3), np.float32))
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'x.h5'}\n")
    with pytest.raises(DataError, match=r"x\.h5: no dataset 'label'"):
        build(tmp_path, f'layer {{ name: "h" type: "HDF5Data" top: "data" top: "label" '
                        f'hdf5_data_param {{ source: "{tmp_path / "list.txt"}" batch_size: 1 }} }}')
    with pytest.raises(EngineError, match="HDF5Data does not transform data") as e:
        build(tmp_path, f'layer {{ name: "h" type: "HDF5Data" top: "data" '
                        f'transform_param {{ scale: 2 }} '
                        f'hdf5_data_param {{ source: "{tmp_path / "list.txt"}" batch_size: 1 }} }}')
    assert e.value.layer == "h"


@needs_h5py
def test_hdf5_data_holds_one_file_at_a_time(tmp_path, monkeypatch):
    from augdrop_caffe.data import hdf5

    loads = []
    original = hdf5.Hdf5ListReader.load
    monkeypatch.setattr(hdf5.Hdf5ListReader, "load",
                        lambda self, i: loads.append(i) or original(self, i))
    net, _, _ = hdf5_net(tmp_path, batch=3)  # a.h5 (5 rows), then b.h5 (4 rows)
    assert loads == [0]
    net.forward()
    assert loads == [0]
    net.forward()  # rows 3, 4 of a.h5, then row 0 of b.h5
    assert loads == [0, 1]


@needs_h5py
def test_hdf5_files_must_agree_on_the_dims_after_the_rows(tmp_path):
    write_h5(tmp_path / "a.h5", data=np.zeros((2, 3), np.float32))
    write_h5(tmp_path / "b.h5", data=np.zeros((2, 4), np.float32))
    (tmp_path / "list.txt").write_text("a.h5 b.h5")
    with pytest.raises(DataError, match=r"b\.h5: dataset shapes \[\(4,\)\] \(after the rows\) "
                                        r"differ from those of the files before it, \[\(3,\)\]"):
        build(tmp_path, f'layer {{ name: "h" type: "HDF5Data" top: "data" '
                        f'hdf5_data_param {{ source: "{tmp_path / "list.txt"}" batch_size: 1 }} }}')


@needs_h5py
def test_hdf5_output_writes_data_and_label(tmp_path):
    out = tmp_path / "out.h5"
    net = build(tmp_path, f"""
layer {{ name: "d" type: "DummyData" top: "x" top: "y"
        dummy_data_param {{ shape {{ dim: 2 dim: 3 }} shape {{ dim: 2 }}
                           data_filler {{ type: "constant" value: 4 }}
                           data_filler {{ type: "constant" value: 7 }} }} }}
layer {{ name: "save" type: "HDF5Output" bottom: "x" bottom: "y"
        hdf5_output_param {{ file_name: "{out}" }} }}""")
    with h5py.File(out, "r") as f:  # created at set-up
        assert list(f.keys()) == []
    net.forward()
    net.forward()
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["data"][()], np.full((2, 3, 1, 1), 4, np.float32))
        np.testing.assert_array_equal(f["label"][()], np.full((2, 1, 1, 1), 7, np.float32))


def test_missing_h5py_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    (tmp_path / "list.txt").write_text("nothing.h5\n")
    with pytest.raises(DataError, match=r"needs the h5py package \(pip install h5py"):
        build(tmp_path, f'layer {{ name: "h" type: "HDF5Data" top: "data" '
                        f'hdf5_data_param {{ source: "{tmp_path / "other.txt"}" batch_size: 1 }} }}')


# ---- ImageData ----------------------------------------------------------------------------

def write_images(tmp_path, n=5, size=(4, 6)):
    """n color PNGs under tmp_path/img/ and a list file naming them from img/."""
    rng = np.random.default_rng(1)
    (tmp_path / "img").mkdir()
    pixels, lines = [], []
    for i in range(n):
        rgb = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        Image.fromarray(rgb).save(tmp_path / "img" / f"im {i}.png")  # a space in the path
        pixels.append(rgb)
        lines.append(f"img/im {i}.png {10 + i}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    return pixels


def image_net(tmp_path, extra="", batch=2, transform=""):
    return build(tmp_path, f"""
layer {{ name: "img" type: "ImageData" top: "data" top: "label" {transform}
        image_data_param {{ source: "{tmp_path / 'list.txt'}" root_folder: "{tmp_path}/"
                           batch_size: {batch} {extra} }} }}""", TRAIN)


@needs_pillow
def test_image_data_bgr_in_list_order(tmp_path):
    pixels = write_images(tmp_path)
    net = image_net(tmp_path, transform='transform_param { scale: 0.5 }')
    assert net.blobs["data"].data.shape == (2, 3, 4, 6)
    expected = [p[:, :, ::-1].transpose(2, 0, 1) * np.float32(0.5) for p in pixels]
    for i in range(3):
        out = net.forward()
        rows = [(2 * i + k) % 5 for k in range(2)]
        np.testing.assert_array_equal(out["data"], np.stack([expected[r] for r in rows]))
        np.testing.assert_array_equal(out["label"], [10 + r for r in rows])


@needs_pillow
def test_image_data_gray_and_resize(tmp_path):
    pixels = write_images(tmp_path)
    net = image_net(tmp_path, "is_color: false new_height: 2 new_width: 3")
    out = net.forward()["data"]
    assert out.shape == (2, 1, 2, 3)
    gray = np.asarray(Image.fromarray(pixels[0]).convert("L").resize((3, 2), Image.BILINEAR))
    np.testing.assert_array_equal(out[0, 0], gray)


def caffe_shuffle(n, seed):
    """caffe::shuffle of [0, n) with boost::uniform_int over boost::mt19937(seed), written
    from Boost's generate_uniform_int (the words: the core's mt19937 seeded alike)."""
    caffe.set_random_seed(seed)
    words = iter(_core.rng_words(10 * n + 10).tolist())
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        bucket = 0xFFFFFFFF // (i + 1) + (0xFFFFFFFF % (i + 1) == i)
        while True:
            j = int(next(words)) // bucket
            if j <= i:
                break
        order[i], order[j] = order[j], order[i]
    return order


@needs_pillow
def test_image_data_shuffle_as_caffe(tmp_path):
    write_images(tmp_path, n=5)
    caffe.set_random_seed(7)
    net = image_net(tmp_path, "shuffle: true", batch=5)
    seed = CaffeStream(7).word()  # no transformer draw: the first word seeds the shuffle
    expected = [10 + i for i in caffe_shuffle(5, seed)]
    np.testing.assert_array_equal(net.forward()["label"], expected)


@needs_pillow
def test_image_data_errors(tmp_path):
    write_images(tmp_path, n=2)
    with pytest.raises(EngineError, match="new_height and new_width must be given together") as e:
        image_net(tmp_path, "new_height: 3")
    assert e.value.layer == "img"
    (tmp_path / "list.txt").write_text("img/im 0.png 1\nimg/missing.png 2\n")
    with pytest.raises(DataError, match=r"img/missing\.png \(listed in .*list\.txt\): cannot read"):
        image_net(tmp_path)
    (tmp_path / "list.txt").write_text("img/im 0.png 1\nimg/im 1.png\n")
    with pytest.raises(DataError, match=r"list\.txt:2: expected 'path label'"):
        image_net(tmp_path)


@needs_pillow
def test_missing_pillow_names_the_package(tmp_path, monkeypatch):
    write_images(tmp_path, n=1)
    (tmp_path / "list.txt").write_text("img/im 0.png 3\n")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(DataError, match=r"needs the Pillow package \(pip install Pillow"):
        image_net(tmp_path, "new_height: 9 new_width: 9")


# ---- encoded Datums -----------------------------------------------------------------------

@needs_pillow
def test_encoded_datums_in_lmdb(tmp_path):
    import io

    from test_data_readers import varint, write_lmdb

    rng = np.random.default_rng(4)
    rgb = [rng.integers(0, 256, (3, 5, 3), dtype=np.uint8) for _ in range(3)]
    records = []
    for i, image in enumerate(rgb):
        png = io.BytesIO()
        Image.fromarray(image).save(png, format="PNG")
        data = png.getvalue()
        # a Datum as convert_imageset --encoded writes it: the file's bytes, encoded: true
        records.append((b"%08d" % i, varint(4 << 3 | 2) + varint(len(data)) + data
                        + varint(5 << 3) + varint(i) + varint(7 << 3) + varint(1)))
    db = write_lmdb(tmp_path / "db", records)
    net = build(tmp_path, f"""
layer {{ name: "d" type: "Data" top: "data" top: "label"
        data_param {{ source: "{db}" batch_size: 3 backend: LMDB }} }}""")
    out = net.forward()
    np.testing.assert_array_equal(out["data"], np.stack([x[:, :, ::-1].transpose(2, 0, 1)
                                                         for x in rgb]))
    np.testing.assert_array_equal(out["label"], [0, 1, 2])


# ---- LevelDB ------------------------------------------------------------------------------

def write_leveldb(path, records):
    plyvel = pytest.importorskip("plyvel")
    db = plyvel.DB(str(path), create_if_missing=True)
    for key, value in records:
        db.put(key, value)
    db.close()
    return str(path)


def test_leveldb_source(tmp_path):
    from test_data_readers import datum_bytes

    x = np.random.default_rng(6).integers(0, 256, (5, 1, 2, 3), dtype=np.uint8)
    # keys out of order: LevelDB hands them back sorted, as Caffe's cursor reads them
    db = write_leveldb(tmp_path / "db", [(b"%03d" % i, datum_bytes(x[i], i))
                                         for i in (3, 0, 4, 1, 2)])
    net = build(tmp_path, f"""
layer {{ name: "d" type: "Data" top: "data" top: "label"
        data_param {{ source: "{db}" batch_size: 3 backend: LEVELDB }} }}""")
    for rows in ([0, 1, 2], [3, 4, 0]):
        out = net.forward()
        np.testing.assert_array_equal(out["data"], x[rows].astype(np.float32))
        np.testing.assert_array_equal(out["label"], rows)


def test_missing_plyvel_names_the_package(tmp_path, monkeypatch):
    from augdrop_caffe.data.readers import read_lmdb
    from test_data_readers import datum_bytes

    db = write_leveldb(tmp_path / "db", [(b"0", datum_bytes(np.zeros((1, 1, 1), np.uint8), 0))])
    monkeypatch.setitem(sys.modules, "plyvel", None)
    with pytest.raises(DataError, match=r"needs the plyvel package \(pip install plyvel"):
        read_lmdb(db)


# ---- snapshots ----------------------------------------------------------------------------

def resumes_the_same_batches(make_net, top, skip=3, take=4):
    """A net's data layer state, saved after `skip` batches and loaded into a new net, gives
    the batches the first net goes on with."""
    net = make_net()
    for _ in range(skip):
        net.forward()
    state = net._net.layer_state(0)
    expected = [net.forward()[top].copy() for _ in range(take)]
    other = make_net()
    other._net.set_layer_state(0, state)
    for batch in expected:
        np.testing.assert_array_equal(other.forward()[top], batch)


@needs_pillow
def test_image_data_state_resumes(tmp_path):
    write_images(tmp_path, n=5)
    caffe.set_random_seed(2)
    resumes_the_same_batches(
        lambda: image_net(tmp_path, "shuffle: true", batch=2,
                          transform="transform_param { mirror: true crop_size: 3 }"), "data")


@needs_h5py
def test_hdf5_data_state_resumes(tmp_path):
    caffe.set_random_seed(2)
    paths = []

    def make():
        net, _, _ = hdf5_net(tmp_path / str(len(paths)), shuffle=True, batch=2)
        paths.append(net)
        return net

    (tmp_path / "0").mkdir()
    (tmp_path / "1").mkdir()
    resumes_the_same_batches(make, "label", skip=5, take=6)


# ---- WindowData ---------------------------------------------------------------------------

def window_setup(tmp_path, windows_text=None):
    """Two color PNGs and an R-CNN window file over them; returns their BGR (H, W, C)."""
    rng = np.random.default_rng(8)
    bgr = []
    for i, size in enumerate([(8, 10), (6, 6)]):
        rgb = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        Image.fromarray(rgb).save(tmp_path / f"w{i}.png")
        bgr.append(rgb[:, :, ::-1].astype(np.float32))
    text = windows_text or """# 0
w0.png
3 8 10
3
1 0.9 0 0 3 3
2 0.7 4 2 7 5
0 0.1 2 0 9 7
# 1
w1.png
3 6 6
2
0 0.2 0 0 3 3
0 0.45 2 2 5 5
"""
    (tmp_path / "windows.txt").write_text(text)
    return bgr


def window_net(tmp_path, extra="", transform="crop_size: 4", phase=TEST):
    return build(tmp_path, f"""
layer {{ name: "win" type: "WindowData" top: "data" top: "label"
        transform_param {{ {transform} }}
        window_data_param {{ source: "{tmp_path / 'windows.txt'}" root_folder: "{tmp_path}/"
                            batch_size: 4 fg_fraction: 0.5 {extra} }} }}""", phase)


def prefetch_words(seed, n):
    """The words of the layer's private stream: in TEST without mirror the transformer
    draws nothing, so the first word of the Caffe stream seeds it."""
    caffe.set_random_seed(int(CaffeStream(seed).word()))
    return [int(w) for w in _core.rng_words(n)]


@needs_pillow
def test_window_data_samples_bg_then_fg_as_caffe(tmp_path):
    bgr = window_setup(tmp_path)
    caffe.set_random_seed(4)
    net = window_net(tmp_path, "scale: 0.5", "crop_size: 4 mean_value: 10")
    out = net.forward()
    # background: image 0's 8x8 window and image 1's two 4x4 ones (overlap 0.45 < 0.5);
    # foreground: image 0's two 4x4 windows (crop 4: copied as they are)
    fg = [(0, 1, (0, 0, 3, 3)), (0, 2, (4, 2, 7, 5))]
    bg = [(0, (2, 0, 9, 7)), (1, (0, 0, 3, 3)), (1, (2, 2, 5, 5))]
    words = prefetch_words(4, 4)
    picks = [("bg", bg[words[0] % 3]), ("bg", bg[words[1] % 3]),
             ("fg", fg[words[2] % 2]), ("fg", fg[words[3] % 2])]
    assert out["data"].shape == (4, 3, 4, 4)
    for item, (kind, pick) in enumerate(picks):
        image, box = (pick[0], pick[2]) if kind == "fg" else pick
        x1, y1, x2, y2 = box
        region = bgr[image][y1:y2 + 1, x1:x2 + 1]
        if region.shape[0] == 8:  # the 8x8 background window: an exact 2x shrink
            region = np.floor((region[0::2, 0::2] + region[0::2, 1::2] + region[1::2, 0::2]
                               + region[1::2, 1::2]) / 4 + 0.5)
        np.testing.assert_array_equal(out["data"][item], (region.transpose(2, 0, 1) - 10) * 0.5)
        assert out["label"][item] == (pick[1] if kind == "fg" else 0)


@needs_pillow
def test_window_data_context_pad_leaves_the_outside_zero(tmp_path):
    window_setup(tmp_path, "# 0\nw0.png\n3 8 10\n2\n1 0.9 0 0 3 3\n0 0.1 0 0 3 3\n")
    net = window_net(tmp_path, "context_pad: 1", "crop_size: 6")
    data = net.forward()["data"]
    # the grown window starts left of and above the image: its first row and column are 0
    assert not data[:, :, 0, :].any() and not data[:, :, :, 0].any()
    assert data[:, :, 1:, 1:].any()


@needs_pillow
def test_window_data_errors(tmp_path):
    window_setup(tmp_path, "# 0\nw0.png\n3 8 10\n1\n1 0.9 0 0 3 3\n")
    with pytest.raises(EngineError, match="needs foreground and background windows") as e:
        window_net(tmp_path)
    assert e.value.layer == "win"
    with pytest.raises(EngineError, match="WindowData needs transform_param.crop_size"):
        window_net(tmp_path, transform="mirror: false")
    bad = tmp_path / "bad"  # a new file: a window file is read once per process
    bad.mkdir()
    window_setup(bad, "# 0\nw0.png\n3 8 10\n1\n1 high 0 0 3 3\n")
    with pytest.raises(DataError, match=r"windows\.txt:5: expected a window's overlap, got 'high'"):
        window_net(bad)


@needs_pillow
def test_encoded_datums_force_gray_and_color(tmp_path):
    import io

    from test_data_readers import varint, write_lmdb

    rgb = np.random.default_rng(3).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    data = png.getvalue()
    db = write_lmdb(tmp_path / "db", [(b"0", varint(4 << 3 | 2) + varint(len(data)) + data
                                       + varint(5 << 3) + varint(2) + varint(7 << 3) + varint(1))])
    def layer(transform):
        return (f'layer {{ name: "d" type: "Data" top: "data" transform_param {{ {transform} }} '
                f'data_param {{ source: "{db}" batch_size: 1 backend: LMDB }} }}')

    gray = build(tmp_path, layer("force_gray: true")).forward()["data"]
    np.testing.assert_array_equal(gray[0, 0], np.asarray(Image.fromarray(rgb).convert("L")))
    color = build(tmp_path, layer("force_color: true")).forward()["data"]
    np.testing.assert_array_equal(color[0], rgb[:, :, ::-1].transpose(2, 0, 1))
    with pytest.raises(DataError, match="layer 'd': transform_param cannot set both"):
        build(tmp_path, layer("force_color: true force_gray: true"))


@needs_pillow
def test_encoded_images_decode_in_their_own_channels():
    import io

    from augdrop_caffe.data.images import decode_image

    rng = np.random.default_rng(5)
    gray = rng.integers(0, 256, (3, 4), dtype=np.uint8)
    rgba = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
    for array, expected in [(gray, gray[None]), (rgba, rgba[:, :, [2, 1, 0, 3]].transpose(2, 0, 1))]:
        png = io.BytesIO()
        Image.fromarray(array).save(png, format="PNG")
        np.testing.assert_array_equal(decode_image(png.getvalue(), "x"), expected)
    with pytest.raises(DataError, match="^y: cannot decode the image"):
        decode_image(b"not an image", "y")


@needs_pillow
def test_image_data_reads_only_the_batch_it_needs(tmp_path, monkeypatch):
    """The list is read image by image: a file that goes bad after set-up fails the batch
    that reaches it, naming the file, and images of other sizes are refused there."""
    from augdrop_caffe.data import images

    write_images(tmp_path, n=4)
    decoded = []
    original = images.ImageListReader.decode
    monkeypatch.setattr(images.ImageListReader, "decode",
                        lambda self, i: decoded.append(i) or original(self, i))
    net = image_net(tmp_path, batch=2)
    decoded.clear()
    net.forward()
    assert sorted(decoded) == [0, 1]
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "img" / "im 3.png")
    with pytest.raises(EngineError, match=r"im 3\.png \(listed in .*\): shape \(3, 5, 5\), "
                                          r"the batch's first image \(3, 4, 6\)") as e:
        net.forward()
    assert e.value.layer == "img"


@needs_pillow
def test_image_data_batch_of_one_takes_each_image_size(tmp_path):
    """As Caffe reshapes each batch to its first image, images of different sizes go
    through a batch_size 1 layer, the top reshaped each time."""
    (tmp_path / "img").mkdir()
    rng = np.random.default_rng(2)
    sizes = [(3, 4), (5, 2), (4, 4)]
    pixels = [rng.integers(0, 256, s + (3,), dtype=np.uint8) for s in sizes]
    for i, p in enumerate(pixels):
        Image.fromarray(p).save(tmp_path / "img" / f"im {i}.png")
    (tmp_path / "list.txt").write_text("".join(f"img/im {i}.png {i}\n" for i in range(3)))
    net = image_net(tmp_path, batch=1)
    assert net.blobs["data"].data.shape == (1, 3, 3, 4)
    for p in pixels + pixels[:1]:
        out = net.forward()["data"]
        np.testing.assert_array_equal(out[0], p[:, :, ::-1].transpose(2, 0, 1))
