#!/usr/bin/env python3
"""BigNet from its definition (DESIGN.md §5), in numpy.

State-dict names (the seed's PyTorch module)::

    model.{2k}.model.{0,2,4}.weight  [dim, dim]   Linear weights ([out, in])
    model.{2k}.model.{0,2,4}.bias    [dim]
    model.{2k+1}.weight, .bias       [dim]        LayerNorm between blocks

for blocks k = 0 .. depth-1 and norms between consecutive blocks.  With
``L(x) = x W^T + b``::

    block(x) = L3(relu(L2(relu(L1(x))))) + x
    norm(x)  = (x - mean) / sqrt(var + 1e-5) * weight + bias
               (mean and biased variance over the features of each row:
                group_norm with one group)
    net      = block_0, norm_1, block_2, norm_3, ..., block_{2(depth-1)}

``dim`` and ``depth`` are read from the tensors present (the biases, so
quantized weights need no special casing).
"""

import re

import numpy as np

from . import checkpoint

__all__ = ["EPS", "infer_architecture", "group_norm", "forward", "init_params"]

#: LayerNorm / group_norm epsilon.
EPS = 1e-5

_LINEAR_RE = re.compile(r"model\.(\d+)\.model\.([024])\.bias")
_NORM_RE = re.compile(r"model\.(\d+)\.bias")


def infer_architecture(tensors):
    """``(dim, depth)`` of a BigNet state dict; validates the names present.

    Raises:
        ValueError: if blocks or norms are missing or shapes disagree.
    """
    blocks = {}
    norms = set()
    for name in tensors:
        m = _LINEAR_RE.fullmatch(name)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
            continue
        m = _NORM_RE.fullmatch(name)
        if m:
            norms.add(int(m.group(1)))
    if not blocks:
        raise ValueError("no BigNet blocks found (expected tensors named model.0.model.0.bias, ...)")
    depth = len(blocks)
    if sorted(blocks) != list(range(0, 2 * depth, 2)):
        raise ValueError(f"BigNet blocks must be model.0, model.2, ..., found {sorted(blocks)}")
    for idx, linears in blocks.items():
        if linears != {0, 2, 4}:
            raise ValueError(f"block model.{idx} lacks linear layers {sorted({0, 2, 4} - linears)}")
    if sorted(norms) != list(range(1, 2 * depth - 1, 2)):
        raise ValueError(
            f"BigNet with {depth} blocks needs norms {list(range(1, 2 * depth - 1, 2))}, found {sorted(norms)}")
    dim = int(np.asarray(tensors["model.0.model.0.bias"]).shape[0])
    for name in tensors:
        if _LINEAR_RE.fullmatch(name) or _NORM_RE.fullmatch(name):
            if tuple(np.asarray(tensors[name]).shape) != (dim,):
                raise ValueError(f"tensor '{name}' has shape {list(np.shape(tensors[name]))}, expected [{dim}]")
    return dim, depth


def group_norm(x, weight, bias, eps=EPS):
    """group_norm with one group over the last axis (LayerNorm semantics)."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + x.dtype.type(eps)) * weight + bias


def forward(tensors, x, weight_fn=None, dtype=np.float64, lora=None, lora_scale=1.0):
    """BigNet forward.

    Args:
        tensors: the state dict (name -> array), full precision or quantized.
        x: input ``[batch, dim]`` (or ``[dim]``).
        weight_fn: ``weight_fn(name) -> [dim, dim]`` array for the Linear
            weights; default dequantizes from ``tensors`` with
            :func:`checkpoint.dequantize`.  Biases and norm parameters are
            read from ``tensors`` directly.
        dtype: ``np.float64`` (reference) or ``np.float32``; every input is
            cast to it and all arithmetic happens in it.
        lora: optional ``{layer: (A, B)}``; an adapted Linear computes
            ``x @ W.T + b + lora_scale * (x @ A.T) @ B.T`` before its ReLU.

    Returns:
        the output, same shape as ``x``, in ``dtype``.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be float64 or float32, got {dtype}")
    dim, depth = infer_architecture(tensors)
    if weight_fn is None:
        def weight_fn(name):
            return checkpoint.dequantize(tensors, name)
    dtypes = getattr(tensors, "dtypes", {})

    def param(name):
        return checkpoint.to_float(tensors[name], dtypes.get(name)).astype(dtype)

    def weight(name):
        w = np.asarray(weight_fn(name))
        if w.shape != (dim, dim):
            raise ValueError(f"weight '{name}' has shape {list(w.shape)}, expected [{dim}, {dim}]")
        return w.astype(dtype)

    h = np.asarray(x).astype(dtype)
    if h.shape[-1] != dim:
        raise ValueError(f"input has {h.shape[-1]} features, the model {dim}")
    zero = dtype.type(0)
    for k in range(depth):
        i = 2 * k
        if k:
            h = group_norm(h, param(f"model.{i - 1}.weight"), param(f"model.{i - 1}.bias"))
        inp = h
        for j in (0, 2, 4):
            p = f"model.{i}.model.{j}"
            y = h @ weight(p + ".weight").T + param(p + ".bias")
            if lora and p in lora:
                a, b = (np.asarray(t).astype(dtype) for t in lora[p])
                y = y + dtype.type(lora_scale) * ((h @ a.T) @ b.T)
            h = y
            if j != 4:
                h = np.maximum(h, zero)
        h = h + inp
    return h.astype(dtype)


def init_params(dim, depth, seed=0):
    """BigNet parameters with PyTorch's default initialisation, deterministic.

    Draws from ``numpy.random.default_rng(seed)`` in this order: for each
    block k, for each Linear j in (0, 2, 4): the weight ``[dim, dim]``
    row-major, then the bias ``[dim]``; each ``uniform(-1/sqrt(dim),
    1/sqrt(dim))`` in float64, then cast to float32 (torch's
    ``kaiming_uniform_(a=sqrt(5))`` bound ``gain*sqrt(3/fan_in)`` with
    ``gain = sqrt(2/(1+5))`` is exactly ``1/sqrt(fan_in)``; the bias bound
    is ``1/sqrt(fan_in)``).  LayerNorm weight ones, bias zeros.

    Returns:
        dict name -> float32 array, names in state-dict order.
    """
    if dim < 1 or depth < 1:
        raise ValueError("dim and depth must be positive")
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(float(dim))
    out = {}
    for k in range(depth):
        i = 2 * k
        if k:
            out[f"model.{i - 1}.weight"] = np.ones(dim, dtype=np.float32)
            out[f"model.{i - 1}.bias"] = np.zeros(dim, dtype=np.float32)
        for j in (0, 2, 4):
            p = f"model.{i}.model.{j}"
            out[p + ".weight"] = rng.uniform(-bound, bound, size=(dim, dim)).astype(np.float32)
            out[p + ".bias"] = rng.uniform(-bound, bound, size=(dim,)).astype(np.float32)
    return out
