#!/usr/bin/env python3
"""Generate deterministic BigNet weights and inputs (no download, numpy only).

Weights use PyTorch's default initialisation and the seed's state-dict names
(see ``lowmem_ref.bignet.init_params``): every Linear weight and bias
~ U(-1/sqrt(dim), 1/sqrt(dim)) drawn from ``numpy.random.default_rng(seed)``,
LayerNorm weight ones and bias zeros, all float32.

The input is float32 ``[batch, dim]``, standard normal, drawn (in float64,
then cast) from ``numpy.random.default_rng(input_seed)``, with ``input_seed``
defaulting to ``seed + 1`` so that it does not reuse the weights' stream.

Examples::

    /usr/bin/python3 examples/bignet/generate.py --dim 1024 --depth 6 --seed 0 -o bignet.safetensors
    /usr/bin/python3 examples/bignet/generate.py --dim 1024 --seed 0 --input-batch 8 -x x.npy
"""

import argparse
import io
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from lowmem_ref import bignet, safetensors_io  # noqa: E402


def make_input(batch, dim, seed):
    """Deterministic float32 ``[batch, dim]`` standard-normal input."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, dim)).astype(np.float32)


def save_npy(path, array):
    """Write a .npy file atomically."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    safetensors_io.write_bytes_atomic(path, buf.getvalue())


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Generate deterministic BigNet weights (PyTorch default init) and/or an input.")
    parser.add_argument("--dim", type=int, default=1024, help="feature dimension (default 1024)")
    parser.add_argument("--depth", type=int, default=6, help="number of blocks (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="seed of numpy's default_rng (default 0)")
    parser.add_argument("-o", "--output", help="write the weights to this .safetensors file")
    parser.add_argument("--input-batch", type=int, metavar="B", help="rows of the generated input")
    parser.add_argument("-x", "--input-output", metavar="X.npy", help="write the input [B, dim] float32 here")
    parser.add_argument("--input-seed", type=int, help="seed of the input (default: seed + 1)")
    args = parser.parse_args(argv)

    if args.output is None and args.input_output is None:
        parser.error("nothing to do: give -o WEIGHTS.safetensors and/or --input-batch B -x X.npy")
    if (args.input_batch is None) != (args.input_output is None):
        parser.error("--input-batch and -x go together")
    if args.dim < 1 or args.depth < 1 or (args.input_batch is not None and args.input_batch < 1):
        parser.error("--dim, --depth and --input-batch must be positive")

    if args.output:
        params = bignet.init_params(args.dim, args.depth, args.seed)
        safetensors_io.save(args.output, params, metadata={"format": "pt"})
        count = sum(a.size for a in params.values())
        print(f"wrote {args.output}: BigNet dim={args.dim} depth={args.depth} seed={args.seed}, "
              f"{len(params)} tensors, {count} parameters")
    if args.input_output:
        seed = args.seed + 1 if args.input_seed is None else args.input_seed
        x = make_input(args.input_batch, args.dim, seed)
        save_npy(args.input_output, x)
        print(f"wrote {args.input_output}: float32 [{args.input_batch}, {args.dim}] seed={seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
