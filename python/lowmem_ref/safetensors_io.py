#!/usr/bin/env python3
"""Read and write safetensors files with numpy only.

File layout (DESIGN.md §4)::

    [8 bytes]  N, little-endian unsigned 64-bit header length (N <= 100 000 000)
    [N bytes]  UTF-8 JSON: {name: {"dtype": D, "shape": [...],
                                   "data_offsets": [begin, end]},
                            "__metadata__": {str: str}}   (metadata optional)
    [...]      data buffer; offsets are relative to its start

Every rule is checked by :func:`load`: the header length bound, valid UTF-8
JSON object without duplicate keys, known dtypes, integer non-negative shapes,
``end - begin == prod(shape) * itemsize``, tensors tiling the data buffer with
no gaps or overlaps, and file length ``== 8 + N + end``.

Supported dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL.  All values are
little-endian.  numpy has no bfloat16, so **BF16 tensors are represented as
``uint16`` arrays of bf16 bit patterns** (and, conversely, a ``uint16`` array
passed to :func:`save` is written as BF16; U16 is not supported).  Use
:func:`f32_to_bf16_bits` / :func:`bf16_bits_to_f32` to convert.

The writer pads the header with spaces to a multiple of 8 bytes, orders
tensors by decreasing element size then name (so every tensor's data is
aligned to its element size for mmap readers), and writes atomically (a
temporary file in the destination directory, then ``os.replace``).
"""

import json
import os
import tempfile

import numpy as np

__all__ = [
    "DTYPES",
    "MAX_HEADER_LEN",
    "SafetensorsError",
    "TensorDict",
    "f32_to_bf16_bits",
    "bf16_bits_to_f32",
    "dtype_name_of",
    "to_bytes",
    "from_bytes",
    "load",
    "load_with_metadata",
    "load_raw",
    "save",
    "write_bytes_atomic",
]

#: safetensors dtype name -> little-endian numpy dtype (BF16 as uint16 bits).
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

#: Largest header length accepted by :func:`load`.
MAX_HEADER_LEN = 100_000_000


class SafetensorsError(ValueError):
    """A safetensors file or tensor violates the format."""


class TensorDict(dict):
    """``dict`` of name -> numpy array, with the file's extra information.

    Attributes:
        metadata: the ``__metadata__`` mapping (str -> str), possibly empty.
        dtypes: name -> safetensors dtype name as stored in the file (this
            tells BF16 apart from anything else stored as uint16).
    """

    def __init__(self, *args, metadata=None, dtypes=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.metadata = dict(metadata or {})
        self.dtypes = dict(dtypes or {})


# --------------------------------------------------------------------------
# bfloat16 conversion
# --------------------------------------------------------------------------


def f32_to_bf16_bits(x):
    """Convert float32 values to bf16 bit patterns, rounding to nearest even.

    Done on the uint32 bit pattern: ``(bits + 0x7FFF + ((bits >> 16) & 1)) >> 16``.
    NaNs stay NaN (the sign and top mantissa bits are kept and the quiet bit
    0x0040 is set); overflow past the largest bf16 rounds to infinity, as
    round-to-nearest-even requires.

    Args:
        x: array-like, converted to float32 first.

    Returns:
        ``uint16`` array of the same shape.
    """
    f = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    bits = f.view(np.uint32).astype(np.uint64)
    rounded = (bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
    nan_bits = (bits >> np.uint64(16)) | np.uint64(0x0040)
    out = np.where(np.isnan(f), nan_bits, rounded)
    return out.astype(np.uint16)


def bf16_bits_to_f32(bits):
    """Convert bf16 bit patterns (uint16) to float32 exactly."""
    b = np.asarray(bits, dtype=np.uint16)
    return (b.astype(np.uint32) << np.uint32(16)).view(np.float32)


# --------------------------------------------------------------------------
# raw bytes helpers
# --------------------------------------------------------------------------


def dtype_name_of(array):
    """The safetensors dtype name :func:`save` uses for a numpy array.

    ``uint16`` maps to BF16 (bit patterns).  Raises :class:`SafetensorsError`
    for anything unsupported.
    """
    dt = np.asarray(array).dtype
    for name, npdt in DTYPES.items():
        if dt.kind == npdt.kind and dt.itemsize == npdt.itemsize:
            return name
    raise SafetensorsError(f"unsupported numpy dtype {dt} (safetensors dtypes: {', '.join(DTYPES)})")


def to_bytes(array, dtype_name):
    """Raw little-endian bytes of ``array`` stored as safetensors ``dtype_name``.

    Floating values are converted with round-to-nearest-even (BF16 through
    :func:`f32_to_bf16_bits` after a float32 cast, unless the array already is
    ``uint16`` bit patterns).  Integer and bool targets require an array of the
    same kind; values are cast with numpy's ``astype``.

    Args:
        array: array-like.
        dtype_name: one of :data:`DTYPES`.

    Returns:
        ``bytes`` of length ``size * itemsize``.
    """
    if dtype_name not in DTYPES:
        raise SafetensorsError(f"unknown dtype '{dtype_name}'")
    a = np.asarray(array)
    if dtype_name == "BF16":
        if a.dtype != np.uint16:
            a = f32_to_bf16_bits(a)
        out = a.astype("<u2")
    else:
        out = a.astype(DTYPES[dtype_name])
    return np.ascontiguousarray(out).tobytes()


def from_bytes(buf, dtype_name, shape):
    """Array view of raw little-endian bytes (BF16 gives uint16 bit patterns)."""
    if dtype_name not in DTYPES:
        raise SafetensorsError(f"unknown dtype '{dtype_name}'")
    dt = DTYPES[dtype_name]
    shape = tuple(int(s) for s in shape)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if len(buf) != count * dt.itemsize:
        raise SafetensorsError(
            f"{len(buf)} bytes do not hold a {dtype_name} tensor of shape {list(shape)}"
        )
    return np.frombuffer(buf, dtype=dt, count=count).reshape(shape)


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise SafetensorsError(f"duplicate key '{k}' in header")
        obj[k] = v
    return obj


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _parse(path):
    """Read and validate a file; returns (entries, metadata, data bytearray).

    ``entries`` maps name -> (dtype name, shape tuple, begin, end).
    """
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    where = f"{path}"
    if len(blob) < 8:
        raise SafetensorsError(f"{where}: file too short for the 8-byte header length ({len(blob)} bytes)")
    n = int.from_bytes(blob[:8], "little")
    if n > MAX_HEADER_LEN:
        raise SafetensorsError(f"{where}: header length {n} exceeds {MAX_HEADER_LEN}")
    if 8 + n > len(blob):
        raise SafetensorsError(f"{where}: header length {n} runs past the end of the file ({len(blob)} bytes)")
    try:
        text = bytes(blob[8:8 + n]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafetensorsError(f"{where}: header is not valid UTF-8: {e}") from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise SafetensorsError(f"{where}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{where}: header is not a JSON object")

    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise SafetensorsError(f"{where}: __metadata__ must map strings to strings")

    entries = {}
    for name, info in header.items():
        t = f"{where}: tensor '{name}'"
        if not isinstance(info, dict):
            raise SafetensorsError(f"{t}: entry is not an object")
        extra = set(info) - {"dtype", "shape", "data_offsets"}
        if extra:
            raise SafetensorsError(f"{t}: unexpected keys {sorted(extra)}")
        dtype = info.get("dtype")
        if dtype not in DTYPES:
            raise SafetensorsError(f"{t}: unsupported dtype {dtype!r}")
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
            raise SafetensorsError(f"{t}: shape must be a list of non-negative integers, got {shape!r}")
        offs = info.get("data_offsets")
        if (not isinstance(offs, list) or len(offs) != 2 or not all(_is_int(o) for o in offs)
                or offs[0] < 0 or offs[1] < offs[0]):
            raise SafetensorsError(f"{t}: data_offsets must be [begin, end] with 0 <= begin <= end, got {offs!r}")
        count = 1
        for s in shape:
            count *= s
        if offs[1] - offs[0] != count * DTYPES[dtype].itemsize:
            raise SafetensorsError(
                f"{t}: data_offsets {offs} span {offs[1] - offs[0]} bytes, but {dtype}{shape} needs "
                f"{count * DTYPES[dtype].itemsize}")
        entries[name] = (dtype, tuple(shape), offs[0], offs[1])

    # Tiling: sorted by (begin, end), each begins where the previous ended.
    pos = 0
    for name, (_, _, b, e) in sorted(entries.items(), key=lambda kv: (kv[1][2], kv[1][3])):
        if b != pos:
            what = "gap before" if b > pos else "overlap at"
            raise SafetensorsError(f"{where}: {what} tensor '{name}' (begins at {b}, expected {pos})")
        pos = e
    if 8 + n + pos != len(blob):
        raise SafetensorsError(
            f"{where}: file is {len(blob)} bytes, but header and data need 8 + {n} + {pos} = {8 + n + pos}")
    data = blob[8 + n:]
    return entries, metadata, data


def load_with_metadata(path):
    """Load a safetensors file.

    Returns:
        ``(tensors, metadata)``: a :class:`TensorDict` (name -> numpy array,
        in header order; BF16 as uint16 bits) and the ``__metadata__`` dict.
    """
    entries, metadata, data = _parse(path)
    mv = memoryview(data)
    out = TensorDict(metadata=metadata)
    for name, (dtype, shape, b, e) in entries.items():
        out[name] = from_bytes(mv[b:e], dtype, shape)
        out.dtypes[name] = dtype
    return out, metadata


def load(path):
    """Load a safetensors file into a :class:`TensorDict` (``.metadata`` holds
    the ``__metadata__`` mapping, ``.dtypes`` the stored dtype names). A path
    ending in ``.json`` is a Hugging Face index of shards (``weight_map``:
    tensor name -> file beside it): every tensor is read from its shard, which
    must hold it."""
    if not str(path).endswith(".json"):
        return load_with_metadata(path)[0]
    with open(path, "rb") as f:
        index = json.loads(f.read().decode("utf-8"))
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise SafetensorsError(f"{path}: an index of shards needs a non-empty weight_map")
    out = TensorDict(metadata=index.get("metadata") or {})
    shards = {}
    for name, shard in weight_map.items():
        if shard not in shards:
            shards[shard] = load(os.path.join(os.path.dirname(path), shard))
        if name not in shards[shard]:
            raise SafetensorsError(f"{path}: tensor '{name}' is not in shard '{shard}', where the index puts it")
        out[name] = shards[shard][name]
        out.dtypes[name] = shards[shard].dtypes[name]
    return out


def load_raw(path):
    """Load a file without interpreting the data.

    Returns:
        ``(tensors, metadata)`` where ``tensors`` maps name ->
        ``(dtype name, shape tuple, bytes)``.
    """
    entries, metadata, data = _parse(path)
    return {name: (d, s, bytes(data[b:e])) for name, (d, s, b, e) in entries.items()}, metadata


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------


def write_bytes_atomic(path, payload):
    """Write ``payload`` to ``path`` atomically (temp file + ``os.replace``)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _normalize(name, value):
    """(dtype name, shape, bytes) for one value given to :func:`save`."""
    if not isinstance(name, str):
        raise SafetensorsError(f"tensor name {name!r} is not a string")
    if name == "__metadata__":
        raise SafetensorsError("'__metadata__' is reserved and cannot name a tensor")
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        dtype, arr = value
        arr = np.asarray(arr)
    elif isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], str):
        dtype, shape, raw = value
        shape = tuple(int(s) for s in shape)
        raw = bytes(raw)
        from_bytes(raw, dtype, shape)  # validates the size
        return dtype, shape, raw
    else:
        arr = np.asarray(value)
        dtype = dtype_name_of(arr)
    return dtype, tuple(int(s) for s in arr.shape), to_bytes(arr, dtype)


def serialize(tensors, metadata=None):
    """The bytes of a safetensors file holding ``tensors`` (see :func:`save`)."""
    items = [(name,) + _normalize(name, value) for name, value in tensors.items()]
    # Decreasing element size, then name: keeps every tensor aligned.
    items.sort(key=lambda it: (-DTYPES[it[1]].itemsize, it[0]))
    header = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    pos = 0
    for name, dtype, shape, raw in items:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [pos, pos + len(raw)]}
        pos += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    if len(text) > MAX_HEADER_LEN:
        raise SafetensorsError(f"header of {len(text)} bytes exceeds {MAX_HEADER_LEN}")
    return b"".join([len(text).to_bytes(8, "little"), text] + [it[3] for it in items])


def save(path, tensors, metadata=None):
    """Write a safetensors file atomically.

    Args:
        path: destination.
        tensors: mapping name -> value, where a value is one of
            * a numpy array (dtype inferred; ``uint16`` is written as BF16),
            * ``(dtype_name, array)``: converted to that dtype (floats with
              round-to-nearest-even, e.g. ``("BF16", float32_array)``),
            * ``(dtype_name, shape, raw_bytes)``: written verbatim.
        metadata: optional mapping str -> str for ``__metadata__``.
    """
    write_bytes_atomic(path, serialize(tensors, metadata))
