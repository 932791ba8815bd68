#!/usr/bin/env python3
"""Finite-difference check of the gradients of grad-model.mlir.

    grad_check.py make DIR [--seed S]  writes DIR/w.safetensors, x.npy, t.npy
    grad_check.py check DIR G.safetensors [--rtol 1e-4]

``check`` evaluates the model of grad-model.mlir in float64 with numpy,
differentiates the MSE loss by central finite differences for every entry
of every trainable tensor, and compares with the gradients the compiled
step wrote (max |a - b| / max |b| per tensor).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "python"))
from lowmem_ref import safetensors_io  # noqa: E402

SHAPES = {"l1.weight": (8, 6), "l1.bias": (8,), "n.weight": (8,), "n.bias": (8,), "l2.weight": (8, 8),
          "l2.bias": (8,), "l3.lora_A.weight": (2, 8), "l3.lora_B.weight": (8, 2)}
TRAINABLE = [n for n in SHAPES if n != "l2.bias"]
SCALE = 4.0 / 2  # alpha / r


def forward(p, x):
    h0 = np.maximum(x @ p["l1.weight"].T + p["l1.bias"], 0.0)
    g = h0.reshape(h0.shape[0], 2, 4)
    mean = g.mean(axis=-1, keepdims=True)
    var = ((g - mean) ** 2).mean(axis=-1, keepdims=True)
    h1 = ((g - mean) / np.sqrt(var + 1e-5)).reshape(h0.shape) * p["n.weight"] + p["n.bias"]
    h2 = h1 @ p["l2.weight"].T + p["l2.bias"] + h1
    h3 = np.maximum(h2, 0.0)
    h4 = SCALE * (h3 @ p["l3.lora_A.weight"].T) @ p["l3.lora_B.weight"].T
    return h4 + h3


def loss(p, x, t):
    return float(np.mean((forward(p, x) - t) ** 2))


def cmd_make(args):
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    p = {n: (rng.standard_normal(s) * 0.7).astype(np.float32) for n, s in SHAPES.items()}
    p["n.weight"] += 1.0
    safetensors_io.save(os.path.join(args.dir, "w.safetensors"), p)
    np.save(os.path.join(args.dir, "x.npy"), rng.standard_normal((5, 6)).astype(np.float32))
    np.save(os.path.join(args.dir, "t.npy"), rng.standard_normal((5, 8)).astype(np.float32))
    return 0


def cmd_check(args):
    p = {n: np.asarray(v, np.float64) for n, v in safetensors_io.load(os.path.join(args.dir, "w.safetensors")).items()}
    x = np.load(os.path.join(args.dir, "x.npy")).astype(np.float64)
    t = np.load(os.path.join(args.dir, "t.npy")).astype(np.float64)
    grads = safetensors_io.load(args.grads)
    if sorted(grads) != sorted(TRAINABLE):
        print(f"FAIL: gradients for {sorted(grads)}, expected {sorted(TRAINABLE)}", file=sys.stderr)
        return 1
    eps = 1e-6
    worst = 0.0
    for name in TRAINABLE:
        numeric = np.zeros(SHAPES[name])
        for idx in np.ndindex(SHAPES[name]):
            old = p[name][idx]
            p[name][idx] = old + eps
            up = loss(p, x, t)
            p[name][idx] = old - eps
            down = loss(p, x, t)
            p[name][idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        got = np.asarray(grads[name], np.float64)
        rel = np.abs(got - numeric).max() / max(np.abs(numeric).max(), 1e-30)
        print(f"{name:20s} max_rel {rel:.3e}")
        worst = max(worst, rel)
    if not worst <= args.rtol:
        print(f"FAIL: worst max_rel {worst:.3e} > {args.rtol:g}", file=sys.stderr)
        return 1
    print(f"OK: worst max_rel {worst:.3e}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--seed", type=int, default=7)
    m.set_defaults(func=cmd_make)
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("grads")
    c.add_argument("--rtol", type=float, default=1e-4)
    c.set_defaults(func=cmd_check)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
