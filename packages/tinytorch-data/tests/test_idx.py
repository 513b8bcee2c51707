"""The IDX parser on files the tests write byte by byte, the corrupt cases included."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch.data.idx import read_idx, write_idx


def idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_reads_uint8_images_as_published(tmp_path):
    pixels = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    f = tmp_path / "images-idx3-ubyte"
    f.write_bytes(idx_bytes(0x08, (2, 3, 4), pixels.tobytes()))
    out = read_idx(f)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, pixels)
    assert out.flags.writeable


def test_reads_gzip_compressed_files(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    f = tmp_path / "labels-idx1-ubyte.gz"
    f.write_bytes(gzip.compress(idx_bytes(0x08, (5,), labels.tobytes())))
    np.testing.assert_array_equal(read_idx(f), labels)


@pytest.mark.parametrize("code,big_endian", [(0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"),
                                             (0x0E, ">f8"), (0x09, "i1")])
def test_multibyte_types_are_big_endian_and_come_back_native(tmp_path, code, big_endian):
    values = np.array([[-2, 7], [100, -1]], dtype=big_endian)
    f = tmp_path / "x.idx"
    f.write_bytes(idx_bytes(code, (2, 2), values.tobytes()))
    out = read_idx(f)
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, values.astype(values.dtype.newbyteorder("=")))


def test_wrong_magic_number_is_an_error_naming_the_file(tmp_path):
    f = tmp_path / "not-idx.bin"
    f.write_bytes(b"\x00\x01\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=r"not-idx\.bin: not an IDX file: magic number"):
        read_idx(f)


def test_unknown_element_type_is_an_error(tmp_path):
    f = tmp_path / "x.idx"
    f.write_bytes(idx_bytes(0x07, (1,), b"\x00"))
    with pytest.raises(ValueError, match="magic number 0x00000701"):
        read_idx(f)


def test_truncated_header_is_an_error(tmp_path):
    f = tmp_path / "x.idx"
    f.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">I", 2))
    with pytest.raises(ValueError, match=r"x\.idx: truncated IDX file: expected 12 bytes of "
                                         "dimensions, found 4"):
        read_idx(f)


def test_truncated_data_is_an_error_with_the_expected_length(tmp_path):
    f = tmp_path / "x.idx.gz"
    f.write_bytes(gzip.compress(idx_bytes(0x08, (10, 28, 28), bytes(100))))
    with pytest.raises(ValueError, match=r"shape \(10, 28, 28\) of uint8 needs 7840 data bytes, "
                                         "found 100"):
        read_idx(f)


def test_trailing_bytes_are_an_error(tmp_path):
    f = tmp_path / "x.idx"
    f.write_bytes(idx_bytes(0x08, (2,), b"\x01\x02\x03"))
    with pytest.raises(ValueError, match="longer than its header says"):
        read_idx(f)


def test_a_cut_gzip_stream_is_an_error_naming_the_file(tmp_path):
    f = tmp_path / "cut.gz"
    f.write_bytes(gzip.compress(idx_bytes(0x08, (50, 50), bytes(range(250)) * 10))[:-30])
    with pytest.raises(ValueError, match=r"cut\.gz"):
        read_idx(f)


@settings(max_examples=40, deadline=None)
@given(array=hnp.arrays(st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32,
                                         np.float64]),
                        hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)),
       compress=st.booleans())
def test_write_then_read_returns_the_same_array(tmp_path_factory, array, compress):
    f = tmp_path_factory.mktemp("idx") / "a.idx"
    write_idx(f, array, compress=compress)
    out = read_idx(f)
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_write_idx_rejects_unsupported_dtypes(tmp_path):
    with pytest.raises(TypeError, match="IDX cannot store dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
