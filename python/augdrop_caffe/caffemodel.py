"""Caffe's binary protobuf files by hand: .caffemodel weights, mean .binaryproto, .solverstate.

No protobuf dependency: the wire format (varints, length-delimited fields, fixed32/fixed64,
packed repeated fields) is decoded here, with field numbers from `schema`.

    layers = read_caffemodel("lenet_iter_10000.caffemodel")   # [(name, type, [float32 arrays])]
    write_caffemodel("out.caffemodel", layers, net_name="LeNet")
    mean = read_blobproto("mean.binaryproto")                 # (1, C, H, W) like Caffe's Blob
    state = read_solverstate("lenet_iter_10000.solverstate")
    # {'iter': 10000, 'learned_net': ..., 'current_step': ..., 'history': [arrays]}

What is written matches what Caffe writes: Net::ToProto(write_diff=false) gives a NetParameter
with its name and, per layer, the LayerParameter with blobs (each blob: data as packed floats,
then its shape; Blob::ToProto); compute_image_mean writes a BlobProto with num/channels/height/
width; SGDSolver::SnapshotSolverStateToBinaryProto writes iter, learned_net, history,
current_step. Fields are emitted in field-number order, as protobuf's C++ serializer does.

Reading accepts what Caffe accepts: packed or unpacked repeated fields, blob shapes given by
`shape` or by the legacy num/channels/height/width, float `data` or `double_data`, and legacy
V1 `layers` (and the V0 layer nested in them). A truncated or non-protobuf file raises
CaffeModelError naming the file and the byte offset.
"""

import math
import os
import struct
from collections.abc import Mapping

import numpy as np

from . import schema
from .textformat import Message, message_from_dict
from .upgrade import V0_LAYER_TYPES, announce

__all__ = ["CaffeModelError", "read_caffemodel", "write_caffemodel", "read_blobproto",
           "write_blobproto", "read_solverstate", "write_solverstate", "caffemodel_from_bytes",
           "blobproto_from_bytes", "solverstate_from_bytes", "encode_message", "decode_message",
           "read_net_param", "write_net_param", "RawBlobProto"]


class CaffeModelError(ValueError):
    """A binary protobuf file that cannot be read; the message names the file and the offset."""


_WT_VARINT, _WT_FIXED64, _WT_LEN, _WT_FIXED32 = 0, 1, 2, 5
_VARINT_TYPES = schema.INT_TYPES | {"bool"}
_MASK64 = (1 << 64) - 1
_U8 = np.dtype(np.uint8)
_TAG_DATA_FIXED32 = (5 << 3) | _WT_FIXED32  # BlobProto.data, one value per field
_TAG_DOUBLE_DATA_FIXED64 = (8 << 3) | _WT_FIXED64  # BlobProto.double_data, likewise


def _wire_types(fd):
    """The wire types a field may arrive with (packed repeated scalars may come either way)."""
    t = fd.type
    if schema.is_message_type(t) or t in ("string", "bytes"):
        return (_WT_LEN,)
    base = _WT_FIXED32 if t == "float" else _WT_FIXED64 if t == "double" else _WT_VARINT
    return (base, _WT_LEN) if fd.repeated else (base,)


def _signed(value, bits):
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


class _Reader:
    """Decoding over one file's bytes; every offset is an absolute offset into the file."""

    def __init__(self, data, filename):
        self.buf = data
        self.filename = filename
        head = data[:64]
        self.looks_text = bool(head) and all(b in b"\t\n\r" or 32 <= b < 127 for b in head)

    @classmethod
    def from_file(cls, path, what):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise CaffeModelError("%s: cannot read %s: %s" % (path, what, e.strerror or e)) from e
        return cls.from_bytes(data, str(path), what)

    @classmethod
    def from_bytes(cls, data, filename, what):
        data = bytes(data)
        if not data:
            raise CaffeModelError("%s: the file is empty (expected a binary %s)" % (filename, what))
        if data.startswith(b"\x89HDF\r\n\x1a\n"):
            raise CaffeModelError("%s: this is an HDF5 file; only Caffe's BINARYPROTO format "
                                  "is supported (expected a binary %s)" % (filename, what))
        return cls(data, filename)

    def error(self, reason, offset):
        text = "%s: %s at byte offset %d" % (self.filename, reason, offset)
        if self.looks_text:
            text += " (the file looks like text: is it a prototxt rather than a binary protobuf?)"
        raise CaffeModelError(text)

    def varint(self, pos, end):
        buf, start, result, shift = self.buf, pos, 0, 0
        while True:
            if pos >= end:
                self.error("truncated varint (the file may be truncated)", start)
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result, pos
            shift += 7
            if shift >= 70:
                self.error("varint longer than 10 bytes (not a protobuf file?)", start)

    def field_at(self, pos, end):
        """Read the field whose key is at `pos`: (number, wire type, value, next offset); value
        is the integer of a varint, (start, end) of a length-delimited field, the offset of
        the bytes of a fixed32/fixed64."""
        start = pos
        key, pos = self.varint(pos, end)
        number, wt = key >> 3, key & 7
        if number == 0:
            self.error("invalid field number 0 (not a protobuf file?)", start)
        if wt == _WT_VARINT:
            value, pos = self.varint(pos, end)
        elif wt == _WT_LEN:
            n, pos = self.varint(pos, end)
            if n > end - pos:
                self.error("field %d of length %d runs past the end of its message (%d bytes "
                           "left; the file may be truncated)" % (number, n, end - pos), start)
            value = (pos, pos + n)
            pos += n
        elif wt in (_WT_FIXED32, _WT_FIXED64):
            size = 4 if wt == _WT_FIXED32 else 8
            if size > end - pos:
                self.error("truncated %d-byte field %d (the file may be truncated)"
                           % (size, number), start)
            value = pos
            pos += size
        else:
            self.error("unsupported wire type %d for field %d (not a protobuf file?)"
                       % (wt, number), start)
        return number, wt, value, pos

    def fields(self, pos, end):
        """Yield (number, wire type, value, offset of the key) for each field in [pos, end)."""
        while pos < end:
            start = pos
            number, wt, value, pos = self.field_at(pos, end)
            yield number, wt, value, start

    def check(self, type_name, number, wt, start):
        """The schema Field for `number` in `type_name` (None when unknown), after checking
        that its wire type fits."""
        fd = schema.FIELDS_BY_NUMBER[type_name].get(number)
        if fd is not None and wt not in _wire_types(fd):
            self.error("field %d ('%s' of %s) has wire type %d, expected %s (is this really "
                       "a %s?)" % (number, fd.name, type_name, wt,
                                   " or ".join(map(str, _wire_types(fd))), type_name), start)
        return fd

    def text(self, span, start):
        try:
            return self.buf[span[0]:span[1]].decode("utf-8")
        except UnicodeDecodeError:
            self.error("string field is not valid UTF-8", start)

    def packed_varints(self, span):
        pos, end, out = span[0], span[1], []
        while pos < end:
            v, pos = self.varint(pos, end)
            out.append(v)
        return out

    def unpacked_run(self, start, end, tag, dtype):
        """Decode a run of unpacked fixed-size values (tag byte + value, repeated) starting at
        the tag at `start`: numpy does the run instead of a Python loop per value."""
        width = 1 + dtype.itemsize
        avail = (end - start) // width
        tags = np.frombuffer(self.buf, _U8, avail * width, start)[::width]
        stops = np.flatnonzero(tags != tag)
        n = int(stops[0]) if stops.size else avail
        if n == 0:
            self.error("truncated %d-byte value (the file may be truncated)" % dtype.itemsize,
                       start)
        record = np.dtype([("tag", _U8), ("value", dtype)])
        values = np.frombuffer(self.buf, record, n, start)["value"]
        return values, start + n * width

    # -- Caffe's messages -------------------------------------------------------------------
    def blob(self, pos, end, what, at=None):
        """A BlobProto as a float32 array shaped as Caffe's Blob::FromProto shapes it; `at`
        is the offset its errors name (the key of the field holding it)."""
        blob_start = pos if at is None else at
        dims, legacy, floats, doubles = None, {}, [], []
        f4, f8 = np.dtype("<f4"), np.dtype("<f8")
        while pos < end:
            start = pos
            if self.buf[pos] == _TAG_DATA_FIXED32:  # unpacked data (old models)
                values, pos = self.unpacked_run(start, end, _TAG_DATA_FIXED32, f4)
                floats.append(values)
                continue
            if self.buf[pos] == _TAG_DOUBLE_DATA_FIXED64:
                values, pos = self.unpacked_run(start, end, _TAG_DOUBLE_DATA_FIXED64, f8)
                doubles.append(values)
                continue
            number, wt, value, pos = self.field_at(pos, end)
            self.check("BlobProto", number, wt, start)
            if number in (5, 8) and wt != _WT_LEN:
                # One unpacked value whose key the fast path above did not match (protobuf
                # allows a key in a longer varint form): the value is at offset `value`.
                (floats if number == 5 else doubles).append(
                    np.frombuffer(self.buf, f4 if number == 5 else f8, 1, value))
            elif number in (5, 8):  # packed data / double_data
                dtype = f4 if number == 5 else f8
                n = value[1] - value[0]
                if n % dtype.itemsize:
                    self.error("packed %s field of %d bytes is not a whole number of values"
                               % (dtype.name, n), start)
                (floats if number == 5 else doubles).append(
                    np.frombuffer(self.buf, dtype, n // dtype.itemsize, value[0]))
            elif number == 7:  # BlobShape; a repeated optional message merges
                dims = (dims or []) + self.shape(value[0], value[1])
            elif number in (1, 2, 3, 4):
                legacy[number] = _signed(value, 32)
        if legacy:  # Caffe prefers the legacy 4-D dims whenever one of them is present
            shape = tuple(legacy.get(i, 0) for i in (1, 2, 3, 4))
        else:
            shape = tuple(dims or ())
        if any(d < 0 for d in shape):
            self.error("%s has a negative dimension in shape %s" % (what, shape), blob_start)
        count = math.prod(shape)
        chunks = doubles if doubles else floats
        data = np.concatenate(chunks) if len(chunks) > 1 else (
            chunks[0] if chunks else np.zeros(0, f4))
        if data.size != count:
            self.error("%s: shape %s needs %d values but the BlobProto holds %d"
                       % (what, shape, count, data.size), blob_start)
        with np.errstate(over="ignore"):  # double_data past float's range: inf, as in Caffe
            return data.astype(np.float32).reshape(shape)

    def shape(self, pos, end):
        dims = []
        for number, wt, value, start in self.fields(pos, end):
            self.check("BlobShape", number, wt, start)
            if number == 1:
                raw = self.packed_varints(value) if wt == _WT_LEN else [value]
                dims.extend(_signed(v, 64) for v in raw)
        return dims

    def layer(self, pos, end, index):
        name, type_name, blobs, blob_spans = "", "", [], []
        for number, wt, value, start in self.fields(pos, end):
            self.check("LayerParameter", number, wt, start)
            if number == 1:
                name = self.text(value, start)
            elif number == 2:
                type_name = self.text(value, start)
            elif number == 7:
                blob_spans.append((value[0], value[1], start))
        label = "layer '%s'" % name if name else "layer %d" % index
        for i, (s, e, at) in enumerate(blob_spans):
            blobs.append(self.blob(s, e, "%s blob %d" % (label, i), at))
        return name, type_name, blobs

    def has_v0_layer(self, pos, end):
        return any(number == 1 for number, _, _, _ in self.fields(pos, end))

    def v1_layer(self, pos, end, index):
        name, type_name, blob_spans, v0 = "", "", [], None
        for number, wt, value, start in self.fields(pos, end):
            self.check("V1LayerParameter", number, wt, start)
            if number == 4:
                name = self.text(value, start)
            elif number == 5:
                enum = schema.enum_name("V1LayerParameter.LayerType", value)
                type_name = schema.V1_LAYER_TYPE_NAMES.get(enum, "") if enum else ""
            elif number == 6:
                blob_spans.append((value[0], value[1], start))
            elif number == 1:
                if wt != _WT_LEN:
                    self.error("field 1 (V0 layer) of a V1 layer is not a message", start)
                v0 = value
        if v0 is not None:  # V0LayerParameter: name 1, type 2, blobs 50
            for number, wt, value, start in self.fields(*v0):
                if number in (1, 2, 50) and wt != _WT_LEN:
                    self.error("field %d of a V0 layer has wire type %d, expected 2"
                               % (number, wt), start)
                if number == 1 and not name:
                    name = self.text(value, start)
                elif number == 2 and not type_name:
                    v0_type = self.text(value, start)  # "conv": its V1 enum, then its name
                    type_name = schema.V1_LAYER_TYPE_NAMES.get(V0_LAYER_TYPES.get(v0_type),
                                                               v0_type)
                elif number == 50:
                    blob_spans.append((value[0], value[1], start))
        label = "layer '%s'" % name if name else "layer %d" % index
        blobs = [self.blob(s, e, "%s blob %d" % (label, i), at)
                 for i, (s, e, at) in enumerate(blob_spans)]
        return name, type_name, blobs


# ---------------------------------------------------------------------------------------------
# Reading.

_CAFFEMODEL = "NetParameter (.caffemodel)"
_BLOBPROTO = "BlobProto (.binaryproto)"
_SOLVERSTATE = "SolverState (.solverstate)"


def read_caffemodel(path, with_net_name=False):
    """The layers of a binary NetParameter: [(layer name, layer type, [float32 arrays])] in
    file order, arrays shaped as Caffe shapes the blobs. V1 `layers` come with their type
    upgraded to the new names ("INNER_PRODUCT" -> "InnerProduct"). With with_net_name=True,
    returns (net name, layers)."""
    return _caffemodel(_Reader.from_file(path, _CAFFEMODEL), with_net_name)


def caffemodel_from_bytes(data, filename="<bytes>", with_net_name=False):
    """read_caffemodel of a file's bytes; errors name `filename`."""
    return _caffemodel(_Reader.from_bytes(data, filename, _CAFFEMODEL), with_net_name)


def _caffemodel(r, with_net_name):
    layers, net_name, known, old = [], "", False, None
    for number, wt, value, start in r.fields(0, len(r.buf)):
        fd = r.check("NetParameter", number, wt, start)
        known = known or fd is not None
        if number == 100:
            layers.append(r.layer(value[0], value[1], len(layers)))
        elif number == 2:
            layers.append(r.v1_layer(value[0], value[1], len(layers)))
            old = old or ("V0 format" if r.has_v0_layer(value[0], value[1]) else "V1 format")
        elif number == 1:
            net_name = r.text(value, start)
    if not known:
        r.error("no NetParameter field found (not a .caffemodel?)", 0)
    if old:  # read as Caffe's UpgradeNetAsNeeded would have upgraded it
        announce(r.filename, old)
    return (net_name, layers) if with_net_name else layers


def read_net_param(path):
    """A whole binary NetParameter (a .caffemodel) as a textformat Message, every field
    decoded except the blobs, which stay RawBlobProto (their bytes as they are: a model of
    hundreds of MB is not turned into Python floats). For `augdrop-caffe upgrade`."""
    r = _Reader.from_file(path, _CAFFEMODEL)
    msg = _decode(r, 0, len(r.buf), "NetParameter", raw_blobs=True)
    if not msg.fields:
        r.error("no NetParameter field found (not a .caffemodel?)", 0)
    return msg


def write_net_param(path, msg):
    """Write a NetParameter Message (e.g. read_net_param's, upgraded) as a binary protobuf."""
    if msg.type_name != "NetParameter":
        raise TypeError("write_net_param needs a NetParameter, got %s" % msg.type_name)
    _write_atomic(path, encode_message(msg))


def read_blobproto(path):
    """The array of a BlobProto file (e.g. a mean.binaryproto): float32, shaped as Caffe's
    Blob::FromProto shapes it, so a compute_image_mean file gives (1, C, H, W)."""
    r = _Reader.from_file(path, _BLOBPROTO)
    return r.blob(0, len(r.buf), "BlobProto")


def blobproto_from_bytes(data, filename="<bytes>"):
    """read_blobproto of a file's bytes; errors name `filename`."""
    r = _Reader.from_bytes(data, filename, _BLOBPROTO)
    return r.blob(0, len(r.buf), "BlobProto")


def read_solverstate(path):
    """A SolverState file: dict(iter=int, learned_net=str, current_step=int,
    history=[float32 arrays]) -- for SGD and Nesterov, history[i] is the momentum of the
    i-th learnable param in the net's order."""
    return _solverstate(_Reader.from_file(path, _SOLVERSTATE))


def solverstate_from_bytes(data, filename="<bytes>"):
    """read_solverstate of a file's bytes; errors name `filename`."""
    return _solverstate(_Reader.from_bytes(data, filename, _SOLVERSTATE))


def _solverstate(r):
    state = {"iter": 0, "learned_net": "", "current_step": 0, "history": []}
    spans, known = [], False
    for number, wt, value, start in r.fields(0, len(r.buf)):
        fd = r.check("SolverState", number, wt, start)
        known = known or fd is not None
        if number == 1:
            state["iter"] = _signed(value, 32)
        elif number == 2:
            state["learned_net"] = r.text(value, start)
        elif number == 3:
            spans.append((value[0], value[1], start))
        elif number == 4:
            state["current_step"] = _signed(value, 32)
    if not known:
        r.error("no SolverState field found (not a .solverstate?)", 0)
    state["history"] = [r.blob(s, e, "history blob %d" % i, at)
                        for i, (s, e, at) in enumerate(spans)]
    return state


# ---------------------------------------------------------------------------------------------
# Writing.

def _varint(value):
    value &= _MASK64  # negative integers are sign-extended to 64 bits, as protobuf does
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number, wt):
    return _varint((number << 3) | wt)


def _len_field(number, payload):
    return _key(number, _WT_LEN) + _varint(len(payload)) + payload


def _blob_bytes(array, legacy=False):
    """BlobProto bytes as Blob::ToProto writes them: data (5, packed floats), shape (7); or,
    with legacy=True, num/channels/height/width (1-4) then data, as compute_image_mean."""
    a = np.asarray(array, dtype=np.float32)
    data = _len_field(5, a.astype("<f4").tobytes()) if a.size else b""
    if legacy:
        if a.ndim > 4:
            raise ValueError("a legacy 4-D BlobProto cannot hold a %d-D array" % a.ndim)
        dims = (1,) * (4 - a.ndim) + a.shape
        return b"".join(_key(i + 1, _WT_VARINT) + _varint(d) for i, d in enumerate(dims)) + data
    shape = _len_field(7, _len_field(1, b"".join(_varint(d) for d in a.shape))) if a.ndim else b""
    return data + shape


def _write_atomic(path, payload):
    """Write via a temporary file and a rename: an interrupted snapshot never leaves half a file."""
    tmp = "%s.tmp%d" % (os.fspath(path), os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_caffemodel(path, layers, net_name=""):
    """Write a .caffemodel that Caffe's Net::CopyTrainedLayersFrom reads. `layers`: an
    iterable of (name, type, blobs) or (name, type, blobs, layer_param), where blobs are
    arrays (written as float32 with their shape) and layer_param, a LayerParameter Message
    (or its to_dict()), adds the layer's other fields as Net::ToProto does (its own blobs,
    name and type are replaced by the tuple's)."""
    if isinstance(layers, Mapping):
        raise TypeError("layers must be a list of (name, type, blobs) tuples, not a mapping")
    out = [_len_field(1, net_name.encode("utf-8"))]  # Net::ToProto always sets the name
    for entry in layers:
        if not isinstance(entry, (tuple, list)) or len(entry) not in (3, 4):
            raise TypeError("a layer must be (name, type, blobs) or (name, type, blobs, "
                            "layer_param), got %r" % (entry,))
        name, type_name, blobs = entry[:3]
        if not isinstance(name, str) or not isinstance(type_name, str):
            raise TypeError("layer name and type must be str, got %r, %r" % (name, type_name))
        if isinstance(blobs, np.ndarray):
            raise TypeError("the blobs of layer '%s' must be a list of arrays" % name)
        chunks = [(1, _len_field(1, name.encode("utf-8"))),
                  (2, _len_field(2, type_name.encode("utf-8")))]
        if len(entry) == 4 and entry[3] is not None:
            param = entry[3]
            if isinstance(param, Mapping):
                param = message_from_dict(param, "LayerParameter")
            if not isinstance(param, Message) or param.type_name != "LayerParameter":
                raise TypeError("layer_param of layer '%s' must be a LayerParameter" % name)
            chunks += _field_chunks(param, skip=("name", "type", "blobs"))
        chunks += [(7, _len_field(7, _blob_bytes(b))) for b in blobs]
        chunks.sort(key=lambda c: c[0])
        out.append(_len_field(100, b"".join(c[1] for c in chunks)))
    _write_atomic(path, b"".join(out))


def write_blobproto(path, array, legacy=None):
    """Write one BlobProto (a mean.binaryproto). legacy=None: a 3-D (C, H, W) or 4-D array
    gets the num/channels/height/width form compute_image_mean writes (num=1 for 3-D),
    other ranks a `shape`; True/False forces either form."""
    a = np.asarray(array, dtype=np.float32)
    if legacy is None:
        legacy = a.ndim in (3, 4)
    _write_atomic(path, _blob_bytes(a, legacy=bool(legacy)))


def write_solverstate(path, iter, learned_net="", history=(), current_step=0):
    """Write a SolverState as SGDSolver::SnapshotSolverStateToBinaryProto: iter, learned_net,
    one BlobProto per history array, current_step."""
    out = [_key(1, _WT_VARINT) + _varint(int(iter)),
           _len_field(2, learned_net.encode("utf-8"))]
    out += [_len_field(3, _blob_bytes(h)) for h in history]
    out.append(_key(4, _WT_VARINT) + _varint(int(current_step)))
    _write_atomic(path, b"".join(out))


# ---------------------------------------------------------------------------------------------
# Any schema message, both ways (used for layer params; slow for big blobs, which the
# functions above handle with numpy).

def _scalar_bytes(fd, values):
    t, number = fd.type, fd.number
    if schema.is_enum_type(t):
        enum = schema.enum_values(t)
        values = [enum[v] for v in values]
    if t in _VARINT_TYPES or schema.is_enum_type(t):
        encoded = [_varint(int(v)) for v in values]
        if fd.packed:
            return _len_field(number, b"".join(encoded))
        key = _key(number, _WT_VARINT)
        return b"".join(key + e for e in encoded)
    if t in schema.FLOAT_TYPES:
        code, wt = ("f", _WT_FIXED32) if t == "float" else ("d", _WT_FIXED64)
        if fd.packed:
            return _len_field(number, struct.pack("<%d%s" % (len(values), code), *values))
        key = _key(number, wt)
        return b"".join(key + struct.pack("<" + code, v) for v in values)
    if t in ("string", "bytes"):
        return b"".join(_len_field(number, v.encode("utf-8")) for v in values)
    raise NotImplementedError("encoding of %s fields" % t)


class RawBlobProto(Message):
    """A BlobProto kept as its wire bytes (read_net_param); encode_message writes them back
    unchanged."""

    __slots__ = ("raw",)

    def __init__(self, raw):
        super().__init__("BlobProto")
        self.raw = raw

    def to_array(self, what="blob"):
        """The blob as a float32 array shaped as Caffe's Blob::FromProto shapes it."""
        return _Reader(self.raw, what).blob(0, len(self.raw), what)


def _field_chunks(msg, skip=()):
    chunks = []
    table = schema.MESSAGES[msg.type_name]
    for name, values in msg.fields.items():
        if name in skip or not values:
            continue
        fd = table[name]
        if schema.is_message_type(fd.type):
            payload = b"".join(_len_field(fd.number, v.raw if isinstance(v, RawBlobProto)
                                          else encode_message(v)) for v in values)
        else:
            payload = _scalar_bytes(fd, values)
        chunks.append((fd.number, payload))
    chunks.sort(key=lambda c: c[0])
    return chunks


def encode_message(msg):
    """The wire bytes of a textformat Message, fields in number order like protobuf's C++."""
    return b"".join(c[1] for c in _field_chunks(msg))


def _merge(dst, src):
    for name, values in src.fields.items():
        fd = schema.MESSAGES[dst.type_name][name]
        if fd.repeated:
            for v in values:
                dst._append(name, v, None)
        elif schema.is_message_type(fd.type) and dst.fields.get(name):
            _merge(dst.fields[name][-1], values[-1])
        else:
            dst._store(name, values[-1], None)


def _decode(r, pos, end, type_name, raw_blobs=False):
    msg = Message(type_name)
    for number, wt, value, start in r.fields(pos, end):
        fd = r.check(type_name, number, wt, start)
        if fd is None:
            continue  # an unknown field, as protobuf skips it
        t = fd.type
        if t == "BlobProto" and raw_blobs:
            sub = RawBlobProto(bytes(r.buf[value[0]:value[1]]))
        elif schema.is_message_type(t):
            sub = _decode(r, value[0], value[1], t, raw_blobs)
        if schema.is_message_type(t):
            if fd.repeated:
                msg._append(fd.name, sub, None)
            elif msg.fields.get(fd.name):  # a singular message given twice is merged
                _merge(msg.fields[fd.name][-1], sub)
            else:
                msg._store(fd.name, sub, None)
            continue
        if t in ("string", "bytes"):
            values = [r.text(value, start)]
        elif t == "float" or t == "double":
            dtype = np.dtype("<f4" if t == "float" else "<f8")
            if wt == _WT_LEN:
                n = value[1] - value[0]
                if n % dtype.itemsize:
                    r.error("packed %s field %d is not a whole number of values" % (t, number),
                            start)
                values = np.frombuffer(r.buf, dtype, n // dtype.itemsize, value[0]).tolist()
            else:
                values = np.frombuffer(r.buf, dtype, 1, value).tolist()
        else:
            raw = r.packed_varints(value) if wt == _WT_LEN else [value]
            values = []
            for v in raw:
                if t == "bool":
                    values.append(bool(v))
                elif schema.is_enum_type(t):
                    name = schema.enum_name(t, _signed(v, 32))
                    if name is not None:  # proto2 keeps unknown enum numbers aside; so do we
                        values.append(name)
                elif t in ("int32", "int64"):
                    values.append(_signed(v, 32 if t == "int32" else 64))
                elif t == "uint32":
                    values.append(v & 0xFFFFFFFF)
                else:
                    values.append(v)
        for v in values:
            if fd.repeated:
                msg._append(fd.name, v, None)
            else:
                msg._store(fd.name, v, None)
    return msg


def decode_message(data, type_name, filename="<bytes>"):
    """A Message of `type_name` from its wire bytes (unknown fields are skipped)."""
    return _decode(_Reader(bytes(data), filename), 0, len(data), type_name)
