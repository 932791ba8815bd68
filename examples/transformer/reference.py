#!/usr/bin/env python3
"""Reference computations for Qwen2/LLaMA checkpoints, from the math
(``lowmem_ref.transformer``), in numpy.

Commands::

    forward   --model DIR [--weights W.safetensors] --ids IDS.npy -o LOGITS.npy
    quantize  --model DIR -o Q.safetensors --format nf4 [--block-size 64] [--double-quant]
"""

import argparse
import io
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from lowmem_ref import checkpoint, formats, safetensors_io, transformer  # noqa: E402

#: Kept in full precision when quantizing, as bitsandbytes does.
SKIP = ("model.embed_tokens.weight", "lm_head.weight")


def cmd_forward(args):
    cfg = transformer.Config.load(os.path.join(args.model, "config.json"))
    weights = args.weights or os.path.join(args.model, "model.safetensors")
    tensors = safetensors_io.load(weights)
    ids = np.load(args.ids, allow_pickle=False)
    dtype = np.float64 if args.dtype == "float64" else np.float32
    logits = transformer.forward(tensors, cfg, ids, dtype=dtype)
    buf = io.BytesIO()
    np.save(buf, logits, allow_pickle=False)
    safetensors_io.write_bytes_atomic(args.output, buf.getvalue())
    print(f"wrote {args.output}: {args.dtype} {list(logits.shape)}")
    return 0


def cmd_quantize(args):
    tensors = safetensors_io.load(os.path.join(args.model, "model.safetensors"))
    out = checkpoint.quantize_checkpoint(tensors, args.format, args.block_size, args.double_quant,
                                         skip=SKIP)
    safetensors_io.save(args.output, out, metadata={"format": "pt"})
    print(f"wrote {args.output}: linear weights as {args.format}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("forward", help="logits of token ids")
    p.add_argument("--model", required=True, help="directory with config.json (and model.safetensors)")
    p.add_argument("--weights", help="weights to use instead of DIR/model.safetensors (e.g. quantized)")
    p.add_argument("--ids", required=True, help="int64 [batch, seq] .npy")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_forward)
    p = sub.add_parser("quantize", help="quantize the linear weights (not the embedding, not lm_head)")
    p.add_argument("--model", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--format", required=True, choices=formats.FORMATS)
    p.add_argument("--block-size", type=int)
    p.add_argument("--double-quant", action="store_true")
    p.set_defaults(func=cmd_quantize)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
