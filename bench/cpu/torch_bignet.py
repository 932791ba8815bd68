#!/usr/bin/env python3
"""The peer of bench/cpu-bignet.sh: BigNet's forward in PyTorch on the CPU.

usage: torch_bignet.py --weights W.safetensors --threads N --repeat R
                       [--output-dir D] X.npy...

For each input, times the forward of the f32 model and of its dynamically
quantized int8 copy (torch.ao.quantization.quantize_dynamic: int8 weights,
activations quantized per batch) after one warm-up, and prints one line a
(model, input) with the median and all times in ms. With --output-dir, the
f32 outputs are saved as torch-<input name>.npy.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "python"))
from lowmem_ref import bignet, safetensors_io  # noqa: E402


class Block(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.model = torch.nn.Sequential(
            torch.nn.Linear(dim, dim), torch.nn.ReLU(),
            torch.nn.Linear(dim, dim), torch.nn.ReLU(),
            torch.nn.Linear(dim, dim))

    def forward(self, x):
        return self.model(x) + x


class BigNet(torch.nn.Module):
    """The seed's module: its state-dict names are model.{i}...."""

    def __init__(self, dim, depth):
        super().__init__()
        layers = []
        for k in range(depth):
            if k:
                layers.append(torch.nn.LayerNorm(dim, eps=bignet.EPS))
            layers.append(Block(dim))
        self.model = torch.nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def build(tensors):
    model = BigNet(*bignet.infer_architecture(tensors))
    state = {name: torch.from_numpy(np.asarray(value, dtype=np.float32))
             for name, value in tensors.items()}
    model.load_state_dict(state)
    return model.eval()


def timed(model, x, repeat):
    with torch.inference_mode():
        model(x)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            y = model(x)
            times.append((time.perf_counter() - start) * 1e3)
    return y, times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--output-dir")
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    f32 = build(safetensors_io.load(args.weights))
    int8 = torch.ao.quantization.quantize_dynamic(
        build(safetensors_io.load(args.weights)), {torch.nn.Linear},
        dtype=torch.qint8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"quantized engine {torch.backends.quantized.engine}")
    for path in args.inputs:
        x = torch.from_numpy(np.load(path).astype(np.float32))
        name = os.path.splitext(os.path.basename(path))[0]
        for label, model in (("f32", f32), ("int8-dynamic", int8)):
            y, times = timed(model, x, args.repeat)
            print(f"torch {label} {name} batch {x.shape[0]}: median "
                  f"{statistics.median(times):.3f} ms; all "
                  + " ".join(f"{t:.3f}" for t in times))
            if label == "f32" and args.output_dir:
                np.save(os.path.join(args.output_dir, f"torch-{name}.npy"),
                        y.numpy())


main()
