#!/usr/bin/env python3
"""Qwen2 / LLaMA decoders from their definition, in numpy.

Hugging Face state-dict names (``L`` layers)::

    model.embed_tokens.weight                      [vocab, hidden]
    model.layers.{i}.input_layernorm.weight        [hidden]
    model.layers.{i}.self_attn.q_proj.weight       [heads * D, hidden]  (+ .bias: Qwen2)
    model.layers.{i}.self_attn.k_proj.weight       [kv_heads * D, hidden] (+ .bias)
    model.layers.{i}.self_attn.v_proj.weight       [kv_heads * D, hidden] (+ .bias)
    model.layers.{i}.self_attn.o_proj.weight       [hidden, heads * D]
    model.layers.{i}.post_attention_layernorm.weight [hidden]
    model.layers.{i}.mlp.gate_proj.weight          [intermediate, hidden]
    model.layers.{i}.mlp.up_proj.weight            [intermediate, hidden]
    model.layers.{i}.mlp.down_proj.weight          [hidden, intermediate]
    model.norm.weight                              [hidden]
    lm_head.weight                                 [vocab, hidden] (absent when tied)

The math, for token ids ``[B, S]``::

    h = embed[ids]
    per layer:  a = attn(rms(h)) + h ;  h = mlp(rms(a)) + a
    rms(x)      = x / sqrt(mean(x^2) + eps) * w
    attn(x)     = o_proj(softmax(rope(q) rope(k)^T / sqrt(D) + causal) v)
                  with q, k, v = x W^T (+ b), kv head h // (heads / kv_heads)
    rope(x)[i]  = x[i] cos(p f_i) - x[i + D/2] sin(p f_i)     (i < D/2)
    rope(x)[i]  = x[i] cos(p f_j) + x[j] sin(p f_j)           (i = j + D/2)
    mlp(x)      = down(silu(gate(x)) * up(x)),  silu(x) = x / (1 + e^-x)
    logits      = rms(h) lm_head^T   (lm_head = embed when tied)

``f = inv_freq(config)``: ``theta^(-2j/D)``, divided by the factor for
``rope_scaling`` type ``linear``, or LLaMA 3's band-wise rule for ``llama3``.
"""

import json
import math

import numpy as np

from . import checkpoint

__all__ = ["Config", "inv_freq", "forward", "init_params", "param_names"]


class Config:
    """The fields of a Hugging Face config.json that define the math."""

    def __init__(self, d):
        def need(key):
            if key not in d:
                raise ValueError(f"config.json: missing '{key}'")
            return d[key]

        self.model_type = d.get("model_type", "")
        if self.model_type not in ("qwen2", "llama"):
            raise ValueError(f"config.json: model_type '{self.model_type}' is not qwen2 or llama")
        self.hidden = int(need("hidden_size"))
        self.intermediate = int(need("intermediate_size"))
        self.layers = int(need("num_hidden_layers"))
        self.heads = int(need("num_attention_heads"))
        self.kv_heads = int(d.get("num_key_value_heads") or self.heads)
        self.head_dim = int(d.get("head_dim") or self.hidden // self.heads)
        self.vocab = int(need("vocab_size"))
        self.eps = float(d.get("rms_norm_eps", 1e-6))
        self.theta = float(d.get("rope_theta", 10000.0))
        self.rope_scaling = d.get("rope_scaling")
        self.tied = bool(d.get("tie_word_embeddings", False))
        # Qwen2 always has q/k/v biases; LLaMA when attention_bias says so
        # (then o_proj too).
        self.qkv_bias = self.model_type == "qwen2" or bool(d.get("attention_bias", False))
        self.o_bias = self.model_type == "llama" and bool(d.get("attention_bias", False))
        self.mlp_bias = self.model_type == "llama" and bool(d.get("mlp_bias", False))

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls(json.load(f))


def inv_freq(cfg):
    """The rotary frequencies ``[D/2]`` in float64."""
    d = cfg.head_dim
    f = 1.0 / (cfg.theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    s = cfg.rope_scaling
    if not s:
        return f
    kind = s.get("rope_type", s.get("type", "default"))
    if kind == "default":
        return f
    if kind == "linear":
        return f / float(s["factor"])
    if kind == "llama3":
        factor = float(s["factor"])
        low = float(s.get("low_freq_factor", 1.0))
        high = float(s.get("high_freq_factor", 4.0))
        old = float(s["original_max_position_embeddings"])
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / f
        scaled = np.where(wavelen > low_wavelen, f / factor, f)
        smooth = (old / wavelen - low) / (high - low)
        mid = (1 - smooth) * scaled / factor + smooth * scaled
        between = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        return np.where(between, mid, scaled)
    raise ValueError(f"config.json: rope_scaling type '{kind}' is not supported")


def param_names(cfg):
    """The state-dict names in order, with their shapes."""
    h, d, i = cfg.hidden, cfg.head_dim, cfg.intermediate
    out = [("model.embed_tokens.weight", (cfg.vocab, h))]
    for layer in range(cfg.layers):
        p = f"model.layers.{layer}."
        out.append((p + "input_layernorm.weight", (h,)))
        for proj, rows in (("q", cfg.heads * d), ("k", cfg.kv_heads * d), ("v", cfg.kv_heads * d)):
            out.append((p + f"self_attn.{proj}_proj.weight", (rows, h)))
            if cfg.qkv_bias:
                out.append((p + f"self_attn.{proj}_proj.bias", (rows,)))
        out.append((p + "self_attn.o_proj.weight", (h, cfg.heads * d)))
        if cfg.o_bias:
            out.append((p + "self_attn.o_proj.bias", (h,)))
        out.append((p + "post_attention_layernorm.weight", (h,)))
        for proj, shape in (("gate", (i, h)), ("up", (i, h)), ("down", (h, i))):
            out.append((p + f"mlp.{proj}_proj.weight", shape))
            if cfg.mlp_bias:
                out.append((p + f"mlp.{proj}_proj.bias", (shape[0],)))
    out.append(("model.norm.weight", (h,)))
    if not cfg.tied:
        out.append(("lm_head.weight", (cfg.vocab, h)))
    return out


def init_params(cfg, seed=0):
    """Random parameters, deterministic: weights ~ N(0, 0.02) (Hugging Face's
    ``initializer_range``), biases ~ N(0, 0.02), norm weights 1 + N(0, 0.1)
    (not all ones, so that a wrong norm weight shows), drawn in
    :func:`param_names` order from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in param_names(cfg):
        if name.endswith("norm.weight"):
            v = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            v = 0.02 * rng.standard_normal(shape)
        out[name] = v.astype(np.float32)
    return out


def _rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope(x, heads, d, freq, offset=0):
    b, s, _ = x.shape
    x = x.reshape(b, s, heads, d)
    pos = np.arange(offset, offset + s, dtype=x.dtype)
    ang = pos[:, None] * freq[None, :].astype(x.dtype)  # [S, D/2]
    cos = np.cos(ang)[None, :, None, :]
    sin = np.sin(ang)[None, :, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    out = np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return out.reshape(b, s, heads * d)


def attention(q, k, v, heads, kv_heads, causal=True):
    """softmax(q k^T / sqrt(D) (+ causal mask)) v, grouped-query."""
    b, s, _ = q.shape
    t = k.shape[1]
    d = q.shape[2] // heads
    group = heads // kv_heads
    qh = q.reshape(b, s, heads, d).transpose(0, 2, 1, 3)
    kh = np.repeat(k.reshape(b, t, kv_heads, d).transpose(0, 2, 1, 3), group, axis=1)
    vh = np.repeat(v.reshape(b, t, kv_heads, d).transpose(0, 2, 1, 3), group, axis=1)
    scores = qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(q.dtype.type(d))
    if causal:
        allowed = np.arange(t)[None, :] <= np.arange(s)[:, None] + (t - s)
        scores = np.where(allowed, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    p = np.exp(scores)
    p = p / p.sum(axis=-1, keepdims=True)
    return (p @ vh).transpose(0, 2, 1, 3).reshape(b, s, heads * d)


def forward(tensors, cfg, ids, dtype=np.float64, lora=None, lora_scale=1.0):
    """Logits ``[B, S, vocab]`` of token ids ``[B, S]``.

    Weights may be quantized (dequantized with :func:`checkpoint.dequantize`);
    ``lora`` is ``{module: (A, B)}`` added as ``lora_scale * (x A^T) B^T`` to
    the named Linears."""
    dtype = np.dtype(dtype)
    dtypes = getattr(tensors, "dtypes", {})

    def param(name):
        return np.asarray(checkpoint.dequantize(tensors, name)).astype(dtype)

    def vec(name):
        return checkpoint.to_float(tensors[name], dtypes.get(name)).astype(dtype)

    def linear(x, module, bias):
        y = x @ param(module + ".weight").T
        if bias:
            y = y + vec(module + ".bias")
        if lora and module in lora:
            a, b = (np.asarray(t).astype(dtype) for t in lora[module])
            y = y + dtype.type(lora_scale) * ((x @ a.T) @ b.T)
        return y

    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.dtype != np.int64:
        raise ValueError(f"ids must be int64 [batch, seq], got {ids.dtype} {list(ids.shape)}")
    if ids.size and (ids.min() < 0 or ids.max() >= cfg.vocab):
        raise ValueError(f"token ids must be in [0, {cfg.vocab})")
    embed = param("model.embed_tokens.weight")
    h = embed[ids]
    freq = inv_freq(cfg).astype(np.float32).astype(dtype)
    d = cfg.head_dim
    for layer in range(cfg.layers):
        p = f"model.layers.{layer}."
        x = _rms(h, vec(p + "input_layernorm.weight"), cfg.eps)
        q = _rope(linear(x, p + "self_attn.q_proj", cfg.qkv_bias), cfg.heads, d, freq)
        k = _rope(linear(x, p + "self_attn.k_proj", cfg.qkv_bias), cfg.kv_heads, d, freq)
        v = linear(x, p + "self_attn.v_proj", cfg.qkv_bias)
        a = linear(attention(q, k, v, cfg.heads, cfg.kv_heads), p + "self_attn.o_proj", cfg.o_bias) + h
        x = _rms(a, vec(p + "post_attention_layernorm.weight"), cfg.eps)
        g = linear(x, p + "mlp.gate_proj", cfg.mlp_bias)
        u = linear(x, p + "mlp.up_proj", cfg.mlp_bias)
        h = linear(g / (1 + np.exp(-g)) * u, p + "mlp.down_proj", cfg.mlp_bias) + a
    h = _rms(h, vec("model.norm.weight"), cfg.eps)
    head = embed if cfg.tied else param("lm_head.weight")
    return (h @ head.T).astype(dtype)


def generate(tensors, cfg, prompt, new_tokens, dtype=np.float64, lora=None, lora_scale=1.0):
    """Greedy generation without a cache: each new token is the argmax of the
    last position's logits of a full forward over the whole sequence so far.
    Returns the ids ``[B, S + new_tokens]`` and the logits each new token was
    picked from, ``[B, new_tokens, vocab]``."""
    ids = np.asarray(prompt)
    picked = []
    for _ in range(new_tokens):
        last = forward(tensors, cfg, ids, dtype=dtype, lora=lora, lora_scale=lora_scale)[:, -1]
        picked.append(last)
        ids = np.concatenate([ids, last.argmax(axis=-1)[:, None].astype(np.int64)], axis=1)
    return ids, np.stack(picked, axis=1)
