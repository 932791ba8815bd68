"""LoRA adapters as PEFT defines and saves them, written from the definition.

A LoRA layer adds ``s * (x @ A.T) @ B.T`` to a Linear's output, with
``A: [r, in]``, ``B: [out, r]`` and ``s = alpha / r`` (``alpha / sqrt(r)``
with rslora).  PEFT saves an adapter as a directory holding
``adapter_model.safetensors``, whose tensors are named
``base_model.model.<layer>.lora_A.weight`` / ``.lora_B.weight``, and
``adapter_config.json`` (``r``, ``lora_alpha``, ``use_rslora``,
``target_modules``, ...).
"""

import json
import math
import os

import numpy as np

from . import safetensors_io

PREFIX = "base_model.model."


def scale(rank, alpha, rslora=False):
    """The adapter's scale s."""
    return alpha / math.sqrt(rank) if rslora else alpha / rank


def linear_layers(tensors):
    """Names of the layers with a 2-D ``<layer>.weight`` (every Linear)."""
    layers = []
    for name in tensors:
        if name.endswith(".weight") and not name.endswith(
                (".lora_A.weight", ".lora_B.weight")):
            arr = tensors[name]
            shape = arr.shape if hasattr(arr, "shape") else None
            if shape is not None and len(shape) == 2:
                layers.append(name[: -len(".weight")])
    return layers


def random_adapter(layer_shapes, rank, seed=0, b_scale=0.05):
    """An adapter with random A and (non-zero, so that it matters) B.

    Args:
        layer_shapes: ``{layer: (out, in)}``.
    Returns:
        ``{layer: (A [rank, in], B [out, rank])}`` in float32.
    """
    rng = np.random.default_rng(seed)
    adapter = {}
    for layer in sorted(layer_shapes):
        out, inp = layer_shapes[layer]
        bound = 1.0 / math.sqrt(inp)
        a = rng.uniform(-bound, bound, size=(rank, inp)).astype(np.float32)
        b = (rng.standard_normal((out, rank)) * b_scale).astype(np.float32)
        adapter[layer] = (a, b)
    return adapter


def save_peft(directory, adapter, rank, alpha, rslora=False, dropout=0.0):
    """Write ``adapter`` the way PEFT's ``save_pretrained`` does."""
    os.makedirs(directory, exist_ok=True)
    tensors = {}
    for layer, (a, b) in adapter.items():
        tensors[PREFIX + layer + ".lora_A.weight"] = np.ascontiguousarray(a)
        tensors[PREFIX + layer + ".lora_B.weight"] = np.ascontiguousarray(b)
    safetensors_io.save(os.path.join(directory, "adapter_model.safetensors"),
                        tensors, {"format": "pt"})
    config = {
        "peft_type": "LORA", "task_type": None, "r": rank,
        "lora_alpha": alpha, "lora_dropout": dropout, "use_rslora": rslora,
        "target_modules": sorted(adapter), "bias": "none",
        "fan_in_fan_out": False, "init_lora_weights": True,
        "inference_mode": True,
    }
    with open(os.path.join(directory, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)


def load_peft(directory):
    """Read a PEFT adapter directory.

    Returns:
        ``(adapter, config)`` with ``adapter = {layer: (A, B)}`` in float32
        and ``config`` the parsed adapter_config.json.
    """
    with open(os.path.join(directory, "adapter_config.json")) as f:
        config = json.load(f)
    tensors = safetensors_io.load(os.path.join(directory, "adapter_model.safetensors"))
    adapter = {}
    for name in tensors:
        if not name.startswith(PREFIX) or not name.endswith(".lora_A.weight"):
            continue
        layer = name[len(PREFIX): -len(".lora_A.weight")]
        b_name = PREFIX + layer + ".lora_B.weight"
        if b_name not in tensors:
            raise ValueError(f"{directory}: '{name}' has no '{b_name}'")
        adapter[layer] = (np.asarray(tensors[name], np.float32),
                          np.asarray(tensors[b_name], np.float32))
    return adapter, config
