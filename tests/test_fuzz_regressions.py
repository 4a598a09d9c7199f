"""Inputs the fuzzer (scripts/fuzz.py) found breaking the readers' contract, minimized: each
must now give the project's own error (or a value), never another exception."""
import gzip

import numpy as np
import pytest

from augdrop_caffe.caffemodel import (CaffeModelError, blobproto_from_bytes,
                                      caffemodel_from_bytes, solverstate_from_bytes)
from augdrop_caffe.data.readers import DataError, parse_datum, read_idx

import fuzz_targets


@pytest.mark.parametrize("target,data", [
    # a BlobProto float (field 5) whose key is a two-byte varint (0xad 0x00): TypeError
    ("caffemodel", b"\xa2\x06\x19\n\x01a:\x14\xad\x00\x00\x80?-\x00\x00\x00@-\x00\x00@@:\x03\n\x01\x03"),
    ("solverstate", b"\x1a\x0a\xad\x00\x00\x00\x80\x3f\x3a\x02\x08\x01"),
    # double_data past float's range: a RuntimeWarning (an error under the test suite)
    ("binaryproto", b"\x41" + np.float64(1e300).tobytes() + b"\x3a\x02\x08\x01"),
    # Datum: a truncated varint (IndexError), a group wire type (ValueError), float_data
    # running past the end (ValueError), a truncated fixed32 float (struct.error)
    ("datum", b"\x08"),
    ("datum", b"#"),
    ("datum", b"2\x042"),
    ("datum", b"5"),
    # IDX: a gzip stream with a bad block (zlib.error), a header with no dimensions (ValueError)
    ("idx", b"\x1f\x8b\x08\x00\x0b\x00\x00\x00\x00\r\x0f"),
    ("idx", b"\x00\x00\x08\x00"),
])
def test_fuzz_finding_keeps_the_contract(target, data):
    fuzz_targets.run(target, data)


def test_non_minimal_key_of_an_unpacked_float_is_read():
    # 0xad 0x00: field 5, wire type 5, in a two-byte varint; then ordinary unpacked floats
    blob = b"\xad\x00" + np.float32(1).tobytes() + b"\x2d" + np.float32(2).tobytes() \
        + b"\x3a\x03\x0a\x01\x02"
    np.testing.assert_array_equal(blobproto_from_bytes(blob), [1, 2])
    layers = caffemodel_from_bytes(b"\xa2\x06" + bytes([len(blob) + 5]) + b"\x0a\x01a\x3a"
                                   + bytes([len(blob)]) + blob)
    np.testing.assert_array_equal(layers[0][2][0], [1, 2])
    state = solverstate_from_bytes(b"\x1a" + bytes([len(blob)]) + blob)
    np.testing.assert_array_equal(state["history"][0], [1, 2])


def test_double_data_past_float_range_is_inf_without_a_warning():
    blob = b"\x41" + np.float64(-1e300).tobytes() + b"\x3a\x02\x08\x01"
    np.testing.assert_array_equal(blobproto_from_bytes(blob), [-np.inf])


@pytest.mark.parametrize("data,message", [
    (b"\x08", "truncated varint at byte 1"),
    (b"#", "unsupported wire type 3"),
    (b"2\x042", "runs past the end"),
    (b"2\x02\x00\x00", "not a whole number of floats"),
    (b"5", "truncated 4-byte field 6"),
    (b"\x22\x05abc", "field 4 of 5 bytes at byte 0 runs past the end"),
    (b"\x08" + b"\xff" * 10 + b"\x01", "varint longer than 10 bytes"),
])
def test_malformed_datum_says_where(data, message):
    with pytest.raises(DataError, match=message):
        parse_datum(data)


def test_datum_int32_fields_as_protobuf_reads_them():
    # label -1 is written as a ten-byte varint; Caffe's int32 reads -1
    d = parse_datum(b"\x28" + b"\xff" * 9 + b"\x01")
    assert d["label"] == -1


@pytest.mark.parametrize("gz", [False, True])
def test_idx_header_claiming_more_than_the_file_holds(tmp_path, gz):
    """A header claiming 2^32-1 cubed bytes is answered from the bytes present, without
    allocating what the header claims."""
    data = bytes([0, 0, 8, 3]) + b"\xff" * 12 + b"\x00" * 10
    path = tmp_path / "big-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match=r"10 data bytes, the header says \d+"):
        read_idx(str(path))


def test_idx_with_trailing_bytes(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 8, 9]))
    with pytest.raises(DataError, match="more data bytes, the header says 2"):
        read_idx(str(path))


def test_corrupt_caffemodel_errors_are_caffemodel_errors():
    with pytest.raises(CaffeModelError, match="fuzz.caffemodel"):
        caffemodel_from_bytes(b"\x0a\xff\xff\xff", "fuzz.caffemodel")


@pytest.mark.parametrize("dims", [(-1, -1, 4), (0, 2, 2), (2, 0, 0)])
def test_lmdb_record_with_non_positive_dims(dims):
    """Two negative dims whose product matches the pixel bytes: numpy's reshape would raise
    ValueError; zero dims would make empty images."""
    from augdrop_caffe.data.lmdb_stream import decode_record

    record = b"".join(fuzz_targets._varint(k << 3) + fuzz_targets._varint(v)
                      for k, v in zip((1, 2, 3), dims))
    record += fuzz_targets._ld(4, bytes(max(0, dims[0] * dims[1] * dims[2])))
    with pytest.raises(DataError, match="must be positive"):
        decode_record("db", b"00000001", record)
