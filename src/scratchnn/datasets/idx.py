"""Read the IDX format that MNIST and Fashion-MNIST ship in.

An IDX file is a tiny header followed by raw numbers, all big-endian:

    byte 0-1   0x00 0x00         magic: two zero bytes
    byte 2     type code         0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double
    byte 3     number of dims    1 for labels, 3 for images
    then       one uint32 per dimension, e.g. 60000, 28, 28
    then       the data, row-major (C order)

The files are often gzip-compressed (`.gz`); we recognise those by their first two bytes.
"""

import gzip
import math
import os
import zlib

import numpy as np

from .._checks import file_path

IDX_TYPES = {
    0x08: np.dtype("u1"),   # unsigned byte: MNIST pixels and labels
    0x09: np.dtype("i1"),   # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}
GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot expand data by more than about 1032x: a declared size beyond that is a lie.
MAX_GZIP_RATIO = 1032
_CHUNK = 1 << 20


def read_idx(path):
    """Read an IDX file (plain or gzip-compressed) into a numpy array.

    Returns an array of the declared shape, in native byte order (uint8 for MNIST).
    Raises ValueError naming the file when the header or the data length is wrong.

        images = read_idx("train-images-idx3-ubyte.gz")
        images.shape, images.dtype   # (60000, 28, 28), dtype('uint8')
    """
    path = file_path("path", path)
    with open(path, "rb") as raw:
        file_size = os.fstat(raw.fileno()).st_size
        is_gzip = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if is_gzip:
            with gzip.GzipFile(fileobj=raw) as stream:
                return _read_stream(stream, path, file_size, is_gzip=True)
        return _read_stream(raw, path, file_size, is_gzip=False)


def _read_stream(stream, path, file_size, is_gzip):
    try:
        dtype, shape = _read_header(stream, path)
        n_bytes = math.prod(shape) * dtype.itemsize
        header_size = 4 + 4 * len(shape)
        where = f"{path}: expected {n_bytes} bytes of data for shape {shape}"
        if not is_gzip and file_size - header_size != n_bytes:
            raise ValueError(f"{where}, found {file_size - header_size}")
        if is_gzip and n_bytes > MAX_GZIP_RATIO * file_size:
            raise ValueError(f"{where}, but the gzip file holds only {file_size} bytes")
        data = _read_at_most(stream, n_bytes + 1)  # one more byte reveals trailing junk
        if len(data) != n_bytes:
            raise ValueError(f"{where}, found {len(data) + _count_rest(stream)}")
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(f"{path}: the gzip stream is truncated or corrupt ({err})") from err
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=dtype.itemsize > 1)


def _read_header(stream, path):
    start = stream.read(4)
    if len(start) < 4:
        raise ValueError(f"{path}: truncated header: expected 4 bytes, found {len(start)}")
    if start[:2] != b"\x00\x00":
        raise ValueError(
            f"{path}: bad magic number {start.hex()}: an IDX file starts with two zero bytes"
        )
    type_code, n_dims = start[2], start[3]
    if type_code not in IDX_TYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_TYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02X}, expected one of {known}")
    if n_dims == 0:
        raise ValueError(f"{path}: the header declares 0 dimensions, expected at least 1")
    dims = stream.read(4 * n_dims)
    if len(dims) < 4 * n_dims:
        raise ValueError(
            f"{path}: truncated header: {n_dims} dimensions need {4 * n_dims} bytes, found {len(dims)}"
        )
    shape = tuple(int(size) for size in np.frombuffer(dims, dtype=">u4"))
    return IDX_TYPES[type_code], shape


def _count_rest(stream):
    """Count the bytes left in `stream` without keeping them."""
    count = 0
    while chunk := stream.read(_CHUNK):
        count += len(chunk)
    return count


def _read_at_most(stream, limit):
    """Read up to `limit` bytes in chunks, so memory grows only with data really there."""
    data = bytearray()
    while len(data) < limit:
        chunk = stream.read(min(_CHUNK, limit - len(data)))
        if not chunk:
            break
        data += chunk
    return data
