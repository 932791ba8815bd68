#!/usr/bin/env python3
"""Quantized weights in safetensors, with bitsandbytes' names (DESIGN.md §4).

For a weight ``P.weight`` of shape ``[O, I]`` (n = O*I elements):

=========  ===============================================================
format     tensors
=========  ===============================================================
f32        ``P.weight`` F32 [O, I]
f16/bf16   ``P.weight`` F16/BF16 [O, I]
nf4/fp4    ``P.weight`` U8 [ceil(n/2), 1] (high nibble first);
           ``P.weight.absmax`` F32 [nblocks], or with double quantization
           U8 [nblocks] codes plus ``P.weight.nested_absmax`` F32
           [ceil(nblocks/256)] and ``P.weight.nested_quant_map`` F32 [256];
           ``P.weight.quant_map`` F32 [16];
           ``P.weight.quant_state.bitsandbytes__nf4`` (``__fp4``) U8 JSON
int4       ``P.weight`` U8 [ceil(n/2)] (low nibble first);
           ``P.weight.absmax`` F16 [nblocks];
           ``P.weight.quant_state.lowmem__int4`` U8 JSON
int8       ``P.weight`` I8 [O, I]; ``P.SCB`` F32 [O] (row absmax);
           ``P.weight.quant_state.lowmem__int8`` U8 JSON
=========  ===============================================================

The JSON quant states are ``json.dumps`` of a dict with Python's default
separators (``", "`` and ``": "``), keys in this order, UTF-8 encoded -- the
way bitsandbytes packs them:

* nf4/fp4: ``{"quant_type": "nf4", "blocksize": 64, "dtype": "float32",
  "shape": [O, I]}`` and with DQ additionally ``"nested_blocksize": 256,
  "nested_dtype": "float32", "nested_offset": <offset>`` where ``<offset>`` is
  the float32 offset written as Python's ``repr`` of it as a float64
  (shortest round-trip digits).
* int4: ``{"quant_type": "int4", "blocksize": B, "dtype": "float32",
  "shape": [O, I]}``
* int8: ``{"quant_type": "int8", "dtype": "float32", "shape": [O, I],
  "threshold": 6.0}``
"""

import json
import re

import numpy as np

from . import formats
from .safetensors_io import bf16_bits_to_f32

__all__ = [
    "QUANT_STATE_PREFIX",
    "quant_state_json",
    "quantized_tensors",
    "quantize_checkpoint",
    "dequantize",
    "weight_format",
    "to_float",
    "is_quantizable",
]

F32 = np.float32

#: Key suffix prefix of quant-state entries.
QUANT_STATE_PREFIX = ".quant_state."


def _json_bytes(d):
    return np.frombuffer(json.dumps(d).encode("utf-8"), dtype=np.uint8).copy()


def quant_state_json(qw):
    """The quant-state dict (ordered) for a :class:`formats.Quantized`."""
    shape = [int(s) for s in qw.shape]
    if qw.format in ("nf4", "fp4"):
        d = {"quant_type": qw.format, "blocksize": int(qw.block), "dtype": "float32", "shape": shape}
        if qw.double_quant:
            d.update({"nested_blocksize": formats.NESTED_BLOCK, "nested_dtype": "float32",
                      "nested_offset": float(F32(qw.offset))})
        return d
    if qw.format == "int4":
        return {"quant_type": "int4", "blocksize": int(qw.block), "dtype": "float32", "shape": shape}
    if qw.format == "int8":
        return {"quant_type": "int8", "dtype": "float32", "shape": shape, "threshold": 6.0}
    raise ValueError(f"format {qw.format} has no quant state")


def quantized_tensors(name, qw):
    """Safetensors entries (name -> ``(dtype, array)``) for weight ``name``.

    Args:
        name: the weight's name, normally ending in ``.weight``.
        qw: a :class:`formats.Quantized`.

    Returns:
        dict suitable for :func:`safetensors_io.save`.
    """
    f = qw.format
    out = {}
    if f == "f32":
        out[name] = ("F32", np.asarray(qw.codes, dtype=F32))
    elif f == "f16":
        out[name] = ("F16", np.asarray(qw.codes, dtype=np.float16))
    elif f == "bf16":
        out[name] = ("BF16", np.asarray(qw.codes, dtype=np.uint16).reshape(qw.shape))
    elif f in ("nf4", "fp4"):
        out[name] = ("U8", qw.codes.reshape(-1, 1))
        if qw.double_quant:
            out[name + ".absmax"] = ("U8", qw.scales)
            out[name + ".nested_absmax"] = ("F32", qw.nested_absmax)
            out[name + ".nested_quant_map"] = ("F32", formats.DYNAMIC_MAP)
        else:
            out[name + ".absmax"] = ("F32", qw.scales)
        out[name + ".quant_map"] = ("F32", formats.NF4_TABLE if f == "nf4" else formats.FP4_TABLE)
        out[name + QUANT_STATE_PREFIX + "bitsandbytes__" + f] = ("U8", _json_bytes(quant_state_json(qw)))
    elif f == "int4":
        out[name] = ("U8", qw.codes.reshape(-1))
        out[name + ".absmax"] = ("F16", qw.scales)
        out[name + QUANT_STATE_PREFIX + "lowmem__int4"] = ("U8", _json_bytes(quant_state_json(qw)))
    elif f == "int8":
        prefix = name[: -len(".weight")] if name.endswith(".weight") else name
        out[name] = ("I8", qw.codes)
        out[prefix + ".SCB"] = ("F32", qw.scales)
        out[name + QUANT_STATE_PREFIX + "lowmem__int8"] = ("U8", _json_bytes(quant_state_json(qw)))
    else:
        raise ValueError(f"unknown format {f!r}")
    return out


def is_quantizable(name, array):
    """True for the tensors :func:`quantize_checkpoint` quantizes: 2-D
    floating tensors whose name ends in ``.weight``."""
    a = np.asarray(array)
    return name.endswith(".weight") and a.ndim == 2 and (a.dtype.kind == "f" or a.dtype == np.uint16)


def to_float(array, dtype_name=None):
    """A floating tensor as float32 (float64 stays float64).

    ``uint16`` arrays are bf16 bit patterns (the way
    :mod:`safetensors_io` loads BF16) unless ``dtype_name`` says otherwise.
    """
    a = np.asarray(array)
    if dtype_name == "BF16" or (dtype_name is None and a.dtype == np.uint16):
        return bf16_bits_to_f32(a)
    if a.dtype == np.float64:
        return a
    if a.dtype.kind in "fiub":
        return a.astype(F32)
    raise ValueError(f"cannot convert dtype {a.dtype} to float")


def _matches(name, pattern):
    return name == pattern or name == pattern + ".weight" or (pattern.endswith(".") and name.startswith(pattern))


def quantize_checkpoint(tensors, fmt, block=None, double_quant=False, skip=(), overrides=()):
    """Quantize every 2-D ``*.weight`` tensor of a full-precision checkpoint.

    Other tensors (biases, 1-D norm weights, ...) are copied unchanged, and
    so are the weights ``skip`` names (a name, or a prefix ending in ``.``;
    bitsandbytes keeps embeddings and ``lm_head`` in full precision).
    ``overrides`` is a sequence of ``(name or prefix, format)``: the first
    that matches a weight gives it that format (its default block size,
    double quantization when ``double_quant`` and the format has it; ``f32``
    keeps it), before ``skip`` is looked at (lowmem-compile --format-of).

    Args:
        tensors: name -> numpy array (e.g. from :func:`safetensors_io.load`;
            BF16 as uint16 bits).
        fmt: one of :data:`formats.FORMATS`.
        block: block size (nf4/fp4/int4).
        double_quant: nf4/fp4 double quantization.

    Returns:
        dict name -> ``(dtype name, array)`` for :func:`safetensors_io.save`.
    """
    dtypes = getattr(tensors, "dtypes", {})
    out = {}
    for name, arr in tensors.items():
        if QUANT_STATE_PREFIX in name or name.endswith((".absmax", ".quant_map", ".SCB")):
            raise ValueError(f"tensor '{name}' looks already quantized; quantize a full-precision checkpoint")
        dt = dtypes.get(name)
        chosen = next((f for p, f in overrides if _matches(name, p)), None)
        if chosen is not None:
            own_fmt, own_block = chosen, None
            own_dq = double_quant and chosen in ("nf4", "fp4")
        elif any(_matches(name, p) for p in skip):
            own_fmt = "f32"
        else:
            own_fmt, own_block, own_dq = fmt, block, double_quant
        if is_quantizable(name, arr) and own_fmt != "f32":
            w = to_float(arr, dt).astype(F32)
            out.update(quantized_tensors(name, formats.quantize(w, own_fmt, own_block, own_dq)))
        else:
            out[name] = (dt, arr) if dt else arr
    return out


def _quant_state(tensors, name):
    """(kind, dict) of the quant state stored for ``name``, or (None, None)."""
    found = [k for k in tensors if k.startswith(name + QUANT_STATE_PREFIX)]
    if not found:
        return None, None
    if len(found) > 1:
        raise ValueError(f"weight '{name}' has several quant states: {found}")
    key = found[0]
    raw = np.asarray(tensors[key], dtype=np.uint8).tobytes()
    try:
        state = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"tensor '{key}': quant state is not UTF-8 JSON: {e}") from None
    return key[len(name + QUANT_STATE_PREFIX):], state


def weight_format(tensors, name):
    """The format of weight ``name`` in a loaded checkpoint.

    One of f32, f64, f16, bf16, nf4, fp4, int4, int8 (nf4/fp4 with double
    quantization are reported as nf4/fp4).
    """
    kind, state = _quant_state(tensors, name)
    if kind is not None:
        m = re.fullmatch(r"(bitsandbytes|lowmem)__(\w+)", kind)
        if not m:
            raise ValueError(f"weight '{name}': unknown quant state kind '{kind}'")
        return m.group(2)
    if name not in tensors:
        raise KeyError(f"no tensor '{name}' in checkpoint")
    dt = getattr(tensors, "dtypes", {}).get(name)
    a = np.asarray(tensors[name])
    prefix = name[: -len(".weight")] if name.endswith(".weight") else name
    if a.dtype == np.int8 and prefix + ".SCB" in tensors:
        return "int8"
    if dt == "BF16" or (dt is None and a.dtype == np.uint16):
        return "bf16"
    if a.dtype == np.float16:
        return "f16"
    if a.dtype == np.float32:
        return "f32"
    if a.dtype == np.float64:
        return "f64"
    raise ValueError(f"weight '{name}': cannot tell the format of a {a.dtype} tensor without a quant state")


def _cast_to_dtype(x, dtype):
    """Round float32 ``x`` through bitsandbytes' output dtype (float32 result)."""
    if dtype in (None, "float32"):
        return x
    if dtype == "float16":
        return x.astype(np.float16).astype(F32)
    if dtype == "bfloat16":
        from .safetensors_io import f32_to_bf16_bits
        return bf16_bits_to_f32(f32_to_bf16_bits(x))
    raise ValueError(f"unsupported quant state dtype {dtype!r}")


def dequantize(tensors, name):
    """Dequantized weight ``name`` of a loaded checkpoint.

    The format is detected from the quant-state key, else from the dtype.
    Stored ``quant_map`` / ``nested_quant_map`` tables are used when present
    (so bitsandbytes checkpoints decode with their own tables).  If a 4-bit
    quant state names ``dtype`` float16/bfloat16, the float32 result is
    rounded through that dtype as bitsandbytes would return it.

    Returns:
        float32 array of the weight's logical shape (a float64 tensor is
        returned as float64).
    """
    fmt = weight_format(tensors, name)
    if fmt in ("f32", "f64", "f16", "bf16"):
        return to_float(tensors[name], getattr(tensors, "dtypes", {}).get(name))
    _, state = _quant_state(tensors, name)
    shape = tuple(int(s) for s in state["shape"]) if state and "shape" in state else None
    if fmt in ("nf4", "fp4"):
        n = int(np.prod(shape, dtype=np.int64))
        block = int(state["blocksize"])
        table = tensors.get(name + ".quant_map")
        table = formats.NF4_TABLE if table is None and fmt == "nf4" else table
        table = formats.FP4_TABLE if table is None else np.asarray(table, dtype=F32)
        absmax = np.asarray(tensors[name + ".absmax"])
        if absmax.dtype == np.uint8:
            dyn = tensors.get(name + ".nested_quant_map")
            scales = formats.decode_double_quant(
                absmax, tensors[name + ".nested_absmax"], F32(state["nested_offset"]),
                int(state.get("nested_blocksize", formats.NESTED_BLOCK)), dyn)
        else:
            scales = absmax.astype(F32)
        codes = formats.unpack_high_first(tensors[name], n)
        out = formats.dequantize_4bit(codes, scales, block, table)
        return _cast_to_dtype(out, state.get("dtype")).reshape(shape)
    if fmt == "int4":
        n = int(np.prod(shape, dtype=np.int64))
        codes = formats.unpack_low_first(tensors[name], n)
        out = formats.dequantize_int4(codes, tensors[name + ".absmax"], int(state["blocksize"]))
        return out.reshape(shape)
    if fmt == "int8":
        prefix = name[: -len(".weight")] if name.endswith(".weight") else name
        q = np.asarray(tensors[name], dtype=np.int8)
        if shape is not None:
            q = q.reshape(shape)
        return formats.dequantize_int8(q, tensors[prefix + ".SCB"])
    raise ValueError(f"weight '{name}': unsupported format {fmt}")
