"""The IDX file format of MNIST and Fashion-MNIST: a tiny header, then one raw array.

Layout (all header integers big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
                0x0E float64
    byte  3     number of dimensions D
    4*D bytes   the size of each dimension, uint32
    the rest    prod(sizes) elements, C order, big-endian

Reading is vectorized: the header is parsed with ``struct``, then the payload is read straight
into a preallocated array (``readinto``), so a 47 MB image file costs one decompression pass
and no extra copy. Gzip-compressed files (the published ``*.gz``) are recognised by their magic
bytes. A wrong magic number, a truncated file, trailing bytes or a corrupt gzip stream raise
``ValueError`` naming the file and what was expected.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from typing import BinaryIO

import numpy as np

DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODES = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: code for code, dt in DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"


def _open(path: str | os.PathLike[str]) -> BinaryIO:
    with open(path, "rb") as f:
        head = f.read(2)
    return gzip.open(path, "rb") if head == GZIP_MAGIC else open(path, "rb")


def _read_exact(f: BinaryIO, n: int, path: str | os.PathLike[str], what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError(f"{path}: truncated IDX file: expected {n} bytes of {what}, "
                         f"found {len(data)}")
    return data


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in an IDX file (optionally gzip-compressed), in native byte order."""
    try:
        with _open(path) as f:
            magic = _read_exact(f, 4, path, "header")
            if magic[:2] != b"\x00\x00" or magic[2] not in DTYPES:
                raise ValueError(
                    f"{path}: not an IDX file: magic number 0x{magic.hex()}, expected "
                    f"0x0000TTDD with type TT in {{{', '.join(f'{c:02x}' for c in DTYPES)}}}"
                )
            dtype, ndim = DTYPES[magic[2]], magic[3]
            shape = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, path, "dimensions"))
            out = np.empty(shape, dtype)
            got = f.readinto(memoryview(out).cast("B")) if out.size else 0
            if got != out.nbytes:
                raise ValueError(f"{path}: truncated IDX file: shape {shape} of {dtype.name} "
                                 f"needs {out.nbytes} data bytes, found {got}")
            if f.read(1):
                raise ValueError(f"{path}: IDX file longer than its header says: shape {shape} "
                                 f"of {dtype.name} is {out.nbytes} data bytes, found more")
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip stream ({e})") from e
    return out.astype(dtype.newbyteorder("="), copy=False) if dtype.itemsize > 1 else out


def write_idx(path: str | os.PathLike[str], array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress``)."""
    array = np.ascontiguousarray(array)
    native = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if native not in CODES:
        raise TypeError(f"IDX cannot store dtype {array.dtype}; supported: "
                        f"{', '.join(str(d) for d in CODES)}")
    header = bytes([0, 0, CODES[native], array.ndim]) + struct.pack(f">{array.ndim}I",
                                                                    *array.shape)
    payload = array.astype(DTYPES[CODES[native]], copy=False).tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(header + payload)
