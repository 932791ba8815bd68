#!/usr/bin/env python3
"""Bit-exact reference quantizers for lowmem's weight formats (DESIGN.md §4).

A C++ implementation written separately must produce the same codes byte for
byte, so every step is pinned down here.  Common rules:

* The weight is converted to float32 (round to nearest even) and flattened
  row-major into ``n = prod(shape)`` values.  Block formats cut it into
  consecutive blocks of ``block`` elements; the last block may be partial.
* All arithmetic is IEEE float32, one rounding per operation, in the order
  written (no fused multiply-add), unless stated otherwise.
* "Nearest table entry" means: for k = 0, 1, ..., len(table)-1 compute the
  float32 distance ``d_k = |x - table[k]|`` (one float32 subtraction, then
  abs) and keep the first k with the strictly smallest d_k -- ties go to the
  lower index.  (Since rounding is monotonic, float32 distances can only
  create ties, never reverse an order.)
* ``round`` is round-half-to-even.
* Behaviour for NaN or infinite weights is unspecified.

Formats
-------
``f32``   copy.  ``f16``: IEEE half, RNE.  ``bf16``: RNE on the uint32 bit
pattern (see :func:`safetensors_io.f32_to_bf16_bits`).

``nf4`` / ``fp4`` (bitsandbytes 4-bit, default block 64)
    ``absmax_b = max|w|`` over the block (float32).  ``code = nearest(w / absmax_b)``
    (float32 division) in :data:`NF4_TABLE` / :data:`FP4_TABLE`; a block with
    ``absmax_b == 0`` gets the code nearest 0.0 (nf4: 7, fp4: 0).  Packing:
    ``byte[i] = q[2i] << 4 | q[2i+1]`` (first element in the HIGH nibble); odd
    ``n`` leaves the last low nibble 0.  Dequantize: ``table[q] * scale_b``.

Double quantization (nf4/fp4 + DQ)
    Codes are computed with the true absmax first.  Then
    ``offset = float32(sum_b float64(absmax_b) / nblocks)`` (the sum taken in
    float64 in index order), ``a'_b = absmax_b - offset`` (float32), nested
    blocks of 256 consecutive a' values with ``nested_absmax_j = max|a'|`` and
    ``absmax_code_b = nearest(a'_b / nested_absmax_j)`` in :data:`DYNAMIC_MAP`
    (code of 0.0, i.e. 127, when ``nested_absmax_j == 0``).  Decoded scale:
    ``DYN[c] * nested_absmax_j + offset`` (multiply, round, add, round);
    dequantization uses the decoded scales.

``int4`` (the seed's Linear4Bit, default block 16)
    ``m = max|w|`` per block (float32), stored as ``mh = float16(m)``.
    ``q = clip(round(((w + m) / (2m)) * 15), 0, 15)`` with the float32 m
    (``2m`` is exact); ``m == 0`` gives q = 0.  Packing: ``byte[i] = q[2i] |
    q[2i+1] << 4`` (first element in the LOW nibble).  Dequantize with
    ``m = float32(mh)``: ``((q / 15) * 2) * m - m``.

``int8`` (LLM.int8 weights)
    Per row r (``rows = shape[0]``): ``a_r = max|w_r|``;
    ``q = clip(round(w * (127 / a_r)), -127, 127)`` with ``127 / a_r`` computed
    in float32 first; ``a_r == 0`` gives q = 0.  Dequantize: ``(q * a_r) / 127``.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .safetensors_io import bf16_bits_to_f32, f32_to_bf16_bits

__all__ = [
    "FORMATS",
    "DEFAULT_BLOCK",
    "NESTED_BLOCK",
    "NF4_TABLE",
    "FP4_TABLE",
    "DYNAMIC_MAP",
    "DYNAMIC_ZERO_CODE",
    "create_dynamic_map",
    "nearest_code",
    "block_absmax",
    "pack_high_first",
    "unpack_high_first",
    "pack_low_first",
    "unpack_low_first",
    "quantize_4bit",
    "dequantize_4bit",
    "double_quantize",
    "decode_double_quant",
    "quantize_int4",
    "dequantize_int4",
    "quantize_int8",
    "dequantize_int8",
    "Quantized",
    "quantize",
    "dequantize",
    "storage_bytes",
    "bits_per_weight",
    "nominal_bits_per_weight",
]

F32 = np.float32

#: Every format name understood by :func:`quantize`.
FORMATS = ("f32", "f16", "bf16", "int4", "nf4", "fp4", "int8")

#: Default block sizes of the block formats.
DEFAULT_BLOCK = {"nf4": 64, "fp4": 64, "int4": 16}

#: Block size of the nested (double) quantization of absmax.
NESTED_BLOCK = 256

#: NF4 (QLoRA) code -> value.
NF4_TABLE = np.array(
    [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
     -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
     0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
     0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0],
    dtype=F32)

#: FP4 (bitsandbytes, bit 3 = sign) code -> value: the list divided by 12 in float32.
FP4_TABLE = (np.array([0, 0.0625, 8, 12, 4, 6, 2, 3, -0.0, -0.0625, -8, -12, -4, -6, -2, -3],
                      dtype=F32) / F32(12)).astype(F32)

#: Code of the table entry nearest 0.0, used for all-zero blocks.
_ZERO_CODE = {"nf4": 7, "fp4": 0}


def create_dynamic_map():
    """bitsandbytes' ``create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)``.

    For i = 0..6, with ``k = 2**i + 1`` boundaries:

    * ``boundaries[j] = float32(j * ((1.0 - 0.1) / (k - 1)) + 0.1)`` computed
      in float64 for j < k-1 and ``boundaries[k-1] = 1.0`` (numpy's
      ``linspace(0.1, 1, k)`` rounded to float32);
    * ``means = (b[:-1] + b[1:]) / 2`` in float32;
    * append ``s * means`` and ``-s * means`` where ``s = float32(10.0**(i-6))``
      and the products are float32 (numpy/PyTorch semantics of a Python
      scalar times a float32 array).

    Then append 0.0 and 1.0 and sort: 2 * 127 + 2 = 256 float32 values, with
    0.0 at index 127 and 1.0 at index 255.

    (PyTorch computes ``linspace`` itself in float32, in a way that depends on
    the CPU's vector width, so its table can differ from this one in the last
    bit of a few entries; bitsandbytes checkpoints store the table they used
    as ``nested_quant_map``, which :mod:`checkpoint` reads.)
    """
    data = []
    for i in range(7):
        k = 2 ** i + 1
        step = (1.0 - 0.1) / (k - 1)
        b = np.arange(k, dtype=np.float64) * step + 0.1
        b[-1] = 1.0
        b = b.astype(F32)
        means = ((b[:-1] + b[1:]) / F32(2)).astype(F32)
        scale = F32(10.0 ** (i - 6))
        data.append((scale * means).astype(F32))
        data.append(((-scale) * means).astype(F32))
    data.append(np.array([0.0, 1.0], dtype=F32))
    table = np.sort(np.concatenate(data)).astype(F32)
    assert table.size == 256
    return table


#: The signed dynamic 8-bit map (256 sorted float32 values).
DYNAMIC_MAP = create_dynamic_map()

#: Index of 0.0 in :data:`DYNAMIC_MAP`.
DYNAMIC_ZERO_CODE = int(np.nonzero(DYNAMIC_MAP == 0.0)[0][0])


# --------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------


def _flat_f32(w):
    return np.ascontiguousarray(np.asarray(w, dtype=F32)).reshape(-1)


def _nblocks(n, block):
    if not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block size must be a positive integer, got {block!r}")
    return (n + block - 1) // block


def nearest_code(x, table):
    """Index of the nearest ``table`` entry for each float32 value of ``x``.

    Float32 distance ``|x - table[k]|``; ties (and only exact float32 ties) go
    to the lower index.  Returns a uint8 array (tables have <= 256 entries).
    """
    x = np.asarray(x, dtype=F32)
    table = np.asarray(table, dtype=F32)
    if table.size > 256:
        raise ValueError("table larger than 256 entries")
    best = np.zeros(x.shape, dtype=np.uint8)
    best_d = np.abs(x - table[0])
    for k in range(1, table.size):
        d = np.abs(x - table[k])
        better = d < best_d
        best[better] = k
        best_d = np.where(better, d, best_d)
    return best


def block_absmax(flat, block):
    """``max|w|`` over consecutive blocks of a flat float32 array (float32)."""
    flat = _flat_f32(flat)
    n = flat.size
    nb = _nblocks(n, block)
    padded = np.zeros(nb * block, dtype=F32)
    padded[:n] = np.abs(flat)
    return padded.reshape(nb, block).max(axis=1) if nb else np.zeros(0, dtype=F32)


def _repeat_blocks(per_block, block, n):
    return np.repeat(np.asarray(per_block), block)[:n]


def pack_high_first(q):
    """Pack 4-bit codes two a byte, first element in the HIGH nibble (nf4/fp4)."""
    q = np.asarray(q, dtype=np.uint8).reshape(-1)
    if q.size % 2:
        q = np.concatenate([q, np.zeros(1, dtype=np.uint8)])
    return ((q[0::2] << 4) | (q[1::2] & 0xF)).astype(np.uint8)


def unpack_high_first(packed, n):
    """Inverse of :func:`pack_high_first`: the first ``n`` codes."""
    p = np.asarray(packed, dtype=np.uint8).reshape(-1)
    q = np.empty(p.size * 2, dtype=np.uint8)
    q[0::2] = p >> 4
    q[1::2] = p & 0xF
    if q.size < n:
        raise ValueError(f"{p.size} packed bytes hold fewer than {n} codes")
    return q[:n]


def pack_low_first(q):
    """Pack 4-bit codes two a byte, first element in the LOW nibble (int4)."""
    q = np.asarray(q, dtype=np.uint8).reshape(-1)
    if q.size % 2:
        q = np.concatenate([q, np.zeros(1, dtype=np.uint8)])
    return ((q[0::2] & 0xF) | (q[1::2] << 4)).astype(np.uint8)


def unpack_low_first(packed, n):
    """Inverse of :func:`pack_low_first`: the first ``n`` codes."""
    p = np.asarray(packed, dtype=np.uint8).reshape(-1)
    q = np.empty(p.size * 2, dtype=np.uint8)
    q[0::2] = p & 0xF
    q[1::2] = p >> 4
    if q.size < n:
        raise ValueError(f"{p.size} packed bytes hold fewer than {n} codes")
    return q[:n]


# --------------------------------------------------------------------------
# nf4 / fp4 and double quantization
# --------------------------------------------------------------------------


def _table_for(fmt):
    if fmt == "nf4":
        return NF4_TABLE
    if fmt == "fp4":
        return FP4_TABLE
    raise ValueError(f"not a 4-bit table format: {fmt!r}")


def quantize_4bit(w, fmt="nf4", block=64):
    """nf4/fp4 block quantization.

    Returns:
        ``(codes, absmax)``: unpacked uint8 codes ``[n]`` and float32 absmax
        ``[nblocks]``.  Pack with :func:`pack_high_first`.
    """
    table = _table_for(fmt)
    flat = _flat_f32(w)
    absmax = block_absmax(flat, block)
    rep = _repeat_blocks(absmax, block, flat.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (flat / rep).astype(F32)
    codes = nearest_code(x, table)
    codes[rep == 0] = _ZERO_CODE[fmt]
    return codes, absmax


def dequantize_4bit(codes, scales, block, table):
    """``table[q] * scale_b`` in float32, flat ``[n]`` (codes unpacked)."""
    q = np.asarray(codes, dtype=np.uint8).reshape(-1)
    table = np.asarray(table, dtype=F32)
    rep = _repeat_blocks(np.asarray(scales, dtype=F32), block, q.size)
    if rep.size != q.size:
        raise ValueError(f"{np.size(scales)} scales do not cover {q.size} codes at block {block}")
    return (table[q] * rep).astype(F32)


def double_quantize(absmax, nested_block=NESTED_BLOCK, dyn=None):
    """Quantize float32 absmax values with the signed dynamic map.

    Returns:
        ``(codes uint8 [nblocks], nested_absmax float32 [ceil(nblocks/256)],
        offset float32 scalar)``.
    """
    dyn = DYNAMIC_MAP if dyn is None else np.asarray(dyn, dtype=F32)
    a = np.asarray(absmax, dtype=F32).reshape(-1)
    if a.size:
        total = np.cumsum(a.astype(np.float64))[-1]   # float64, index order
        offset = F32(total / a.size)
    else:
        offset = F32(0.0)
    centred = (a - offset).astype(F32)
    nested = block_absmax(centred, nested_block)
    rep = _repeat_blocks(nested, nested_block, a.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (centred / rep).astype(F32)
    codes = nearest_code(x, dyn)
    zero_code = int(nearest_code(np.zeros(1, dtype=F32), dyn)[0])
    codes[rep == 0] = zero_code
    return codes, nested, offset


def decode_double_quant(codes, nested_absmax, offset, nested_block=NESTED_BLOCK, dyn=None):
    """Decoded scales ``DYN[c] * nested_absmax_j + offset`` (float32, multiply then add)."""
    dyn = DYNAMIC_MAP if dyn is None else np.asarray(dyn, dtype=F32)
    c = np.asarray(codes, dtype=np.uint8).reshape(-1)
    rep = _repeat_blocks(np.asarray(nested_absmax, dtype=F32), nested_block, c.size)
    if rep.size != c.size:
        raise ValueError(f"{np.size(nested_absmax)} nested scales do not cover {c.size} codes")
    prod = (dyn[c] * rep).astype(F32)
    return (prod + F32(offset)).astype(F32)


# --------------------------------------------------------------------------
# int4 (seed) and int8
# --------------------------------------------------------------------------


def quantize_int4(w, block=16):
    """The seed's int4.  Returns ``(codes uint8 [n] unpacked, absmax float16 [nblocks])``."""
    flat = _flat_f32(w)
    m = block_absmax(flat, block)
    rep = _repeat_blocks(m, block, flat.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (((flat + rep).astype(F32) / (rep * F32(2)).astype(F32)).astype(F32) * F32(15)).astype(F32)
        q = np.clip(np.rint(r), 0, 15)
    q[rep == 0] = 0
    with np.errstate(over="ignore"):           # m > 65504 becomes inf in float16
        mh = m.astype(np.float16)
    return q.astype(np.uint8), mh


def dequantize_int4(codes, absmax_f16, block):
    """``((q / 15) * 2) * m - m`` with ``m = float32(absmax_f16)``; flat float32."""
    q = np.asarray(codes, dtype=np.uint8).reshape(-1).astype(F32)
    m = _repeat_blocks(np.asarray(absmax_f16, dtype=np.float16).astype(F32), block, q.size)
    if m.size != q.size:
        raise ValueError(f"{np.size(absmax_f16)} scales do not cover {q.size} codes at block {block}")
    t = (q / F32(15)).astype(F32)
    t = (t * F32(2)).astype(F32)
    t = (t * m).astype(F32)
    return (t - m).astype(F32)


def _rows(shape):
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    rows = shape[0]
    n = int(np.prod(shape, dtype=np.int64))
    return rows, (n // rows if rows else 0)


def quantize_int8(w):
    """Row-wise int8.  Returns ``(q int8 shape-of-w, row_absmax float32 [rows])``."""
    w = np.asarray(w, dtype=F32)
    rows, cols = _rows(w.shape)
    w2 = np.ascontiguousarray(w).reshape(rows, cols)
    a = np.abs(w2).max(axis=1) if cols else np.zeros(rows, dtype=F32)
    a = a.astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (F32(127) / a).astype(F32)
        q = np.clip(np.rint((w2 * s[:, None]).astype(F32)), -127, 127)
    q[a == 0, :] = 0
    return q.astype(np.int8).reshape(w.shape), a


def dequantize_int8(q, row_absmax):
    """``(q * a_r) / 127`` in float32, same shape as ``q``."""
    q = np.asarray(q, dtype=np.int8)
    rows, cols = _rows(q.shape)
    a = np.asarray(row_absmax, dtype=F32).reshape(-1)
    if a.size != rows:
        raise ValueError(f"{a.size} row scales for {rows} rows")
    t = (q.reshape(rows, cols).astype(F32) * a[:, None]).astype(F32)
    return (t / F32(127)).astype(F32).reshape(q.shape)


# --------------------------------------------------------------------------
# one entry point
# --------------------------------------------------------------------------


@dataclass
class Quantized:
    """A weight in one of the formats.

    Attributes:
        format: one of :data:`FORMATS`.
        shape: logical shape of the weight.
        block: block size (nf4/fp4/int4), else None.
        double_quant: nf4/fp4 with quantized absmax.
        codes: f32/f16: the cast array; bf16: uint16 bits; nf4/fp4/int4:
            packed uint8 ``[ceil(n/2)]``; int8: int8 array of ``shape``.
        scales: nf4/fp4: float32 absmax or (DQ) uint8 codes; int4: float16
            absmax; int8: float32 row absmax; else None.
        nested_absmax: DQ only, float32 ``[ceil(nblocks/256)]``.
        offset: DQ only, float32 scalar.
    """

    format: str
    shape: Tuple[int, ...]
    block: Optional[int] = None
    double_quant: bool = False
    codes: Optional[np.ndarray] = None
    scales: Optional[np.ndarray] = None
    nested_absmax: Optional[np.ndarray] = None
    offset: Optional[np.float32] = None

    @property
    def numel(self):
        """Number of logical elements."""
        return int(np.prod(self.shape, dtype=np.int64))


def quantize(w, fmt, block=None, double_quant=False):
    """Quantize a weight (converted to float32 first) into ``fmt``.

    Args:
        w: array-like weight.
        fmt: one of :data:`FORMATS`.
        block: block size for nf4/fp4/int4 (defaults in :data:`DEFAULT_BLOCK`);
            must be None or unused for the other formats.
        double_quant: nf4/fp4 only.

    Returns:
        :class:`Quantized`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if double_quant and fmt not in ("nf4", "fp4"):
        raise ValueError(f"double quantization applies to nf4/fp4 only, not {fmt}")
    w = np.asarray(w, dtype=F32)
    shape = tuple(int(s) for s in w.shape)
    if fmt in DEFAULT_BLOCK:
        block = DEFAULT_BLOCK[fmt] if block is None else int(block)
        _nblocks(0, block)
    else:
        block = None
    if fmt == "f32":
        return Quantized(fmt, shape, codes=w.copy())
    if fmt == "f16":
        with np.errstate(over="ignore"):       # overflow rounds to +-inf, as RNE requires
            return Quantized(fmt, shape, codes=w.astype(np.float16))
    if fmt == "bf16":
        return Quantized(fmt, shape, codes=f32_to_bf16_bits(w))
    if fmt == "int8":
        q, a = quantize_int8(w)
        return Quantized(fmt, shape, codes=q, scales=a)
    if fmt == "int4":
        q, m = quantize_int4(w, block)
        return Quantized(fmt, shape, block=block, codes=pack_low_first(q), scales=m)
    q, absmax = quantize_4bit(w, fmt, block)
    packed = pack_high_first(q)
    if not double_quant:
        return Quantized(fmt, shape, block=block, codes=packed, scales=absmax)
    c, nested, offset = double_quantize(absmax)
    return Quantized(fmt, shape, block=block, double_quant=True, codes=packed, scales=c,
                     nested_absmax=nested, offset=offset)


def dequantize(qw):
    """Dequantize a :class:`Quantized` into a float32 array of its shape."""
    n = qw.numel
    if qw.format == "f32":
        out = np.asarray(qw.codes, dtype=F32)
    elif qw.format == "f16":
        out = np.asarray(qw.codes, dtype=np.float16).astype(F32)
    elif qw.format == "bf16":
        out = bf16_bits_to_f32(qw.codes)
    elif qw.format == "int8":
        out = dequantize_int8(qw.codes, qw.scales)
    elif qw.format == "int4":
        out = dequantize_int4(unpack_low_first(qw.codes, n), qw.scales, qw.block)
    elif qw.format in ("nf4", "fp4"):
        scales = qw.scales
        if qw.double_quant:
            scales = decode_double_quant(qw.scales, qw.nested_absmax, qw.offset)
        out = dequantize_4bit(unpack_high_first(qw.codes, n), scales, qw.block, _table_for(qw.format))
    else:
        raise ValueError(f"unknown format {qw.format!r}")
    return np.asarray(out, dtype=F32).reshape(qw.shape)


# --------------------------------------------------------------------------
# sizes
# --------------------------------------------------------------------------


def storage_bytes(fmt, shape, block=None, double_quant=False):
    """Bytes of per-weight data a format stores for a weight of ``shape``.

    Counts codes, scales, nested scales and (DQ) the 4-byte offset; it does
    not count constant tables (``quant_map``, ``nested_quant_map``) or the
    JSON quant state, which do not grow with the weight.

    * f32: 4n; f16/bf16: 2n
    * nf4/fp4: ceil(n/2) + 4*nblocks; with DQ ceil(n/2) + nblocks
      + 4*ceil(nblocks/256) + 4
    * int4: ceil(n/2) + 2*nblocks
    * int8: n + 4*rows
    """
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64))
    if fmt == "f32":
        return 4 * n
    if fmt in ("f16", "bf16"):
        return 2 * n
    if fmt == "int8":
        rows = shape[0] if shape else 1
        return n + 4 * rows
    if fmt not in DEFAULT_BLOCK:
        raise ValueError(f"unknown format {fmt!r}")
    block = DEFAULT_BLOCK[fmt] if block is None else int(block)
    nb = _nblocks(n, block)
    codes = (n + 1) // 2
    if fmt == "int4":
        return codes + 2 * nb
    if double_quant:
        return codes + nb + 4 * ((nb + NESTED_BLOCK - 1) // NESTED_BLOCK) + 4
    return codes + 4 * nb


def bits_per_weight(fmt, shape, block=None, double_quant=False):
    """``8 * storage_bytes / n`` for a concrete shape."""
    n = int(np.prod(tuple(shape), dtype=np.int64))
    return 8.0 * storage_bytes(fmt, shape, block, double_quant) / n if n else 0.0


def nominal_bits_per_weight(fmt, block=None, double_quant=False, row_length=None):
    """Asymptotic bits a weight (large tensors, full blocks).

    f32 32; f16/bf16 16; nf4/fp4 ``4 + 32/block`` (4.5 at 64), with DQ
    ``4 + 8/block + 32/(256*block)`` (≈4.127 at 64); int4 ``4 + 16/block``
    (5 at 16); int8 ``8`` (+ ``32/row_length`` if given).
    """
    if fmt == "f32":
        return 32.0
    if fmt in ("f16", "bf16"):
        return 16.0
    if fmt == "int8":
        return 8.0 + (32.0 / row_length if row_length else 0.0)
    if fmt not in DEFAULT_BLOCK:
        raise ValueError(f"unknown format {fmt!r}")
    block = DEFAULT_BLOCK[fmt] if block is None else int(block)
    if fmt == "int4":
        return 4.0 + 16.0 / block
    if double_quant:
        return 4.0 + 8.0 / block + 32.0 / (NESTED_BLOCK * block)
    return 4.0 + 32.0 / block


if __name__ == "__main__":  # pragma: no cover - tiny CLI for inspection
    import argparse

    parser = argparse.ArgumentParser(description="Print lowmem_ref format tables and sizes.")
    parser.add_argument("what", choices=["nf4", "fp4", "dynamic", "sizes"], help="what to print")
    args = parser.parse_args()
    if args.what == "nf4":
        print("\n".join(repr(float(v)) for v in NF4_TABLE))
    elif args.what == "fp4":
        print("\n".join(repr(float(v)) for v in FP4_TABLE))
    elif args.what == "dynamic":
        print("\n".join(f"{i:3d} {float(v)!r}" for i, v in enumerate(DYNAMIC_MAP)))
    else:
        for f, b, dq in [("f32", None, False), ("f16", None, False), ("bf16", None, False),
                         ("int4", 16, False), ("nf4", 64, False), ("nf4", 64, True),
                         ("fp4", 64, False), ("fp4", 64, True), ("int8", None, False)]:
            print(f"{f:5s} block={b} dq={dq!s:5s} {nominal_bits_per_weight(f, b, dq):.4f} bits/weight")
