#!/usr/bin/env python3
"""Generate a small random Qwen2- or LLaMA-style checkpoint in Hugging Face's
layout (config.json + model.safetensors, or shards with
model.safetensors.index.json), and token ids to run it on.

Weights follow ``lowmem_ref.transformer.init_params`` (deterministic from
--seed), stored in --dtype. Token ids are int64 ``[batch, seq]``, uniform in
[0, vocab), from ``numpy.random.default_rng(ids_seed)``.

Examples::

    /usr/bin/python3 examples/transformer/generate.py -o tiny --layers 2 --hidden 64 \\
        --heads 4 --kv-heads 2 --intermediate 128 --vocab 1000 --ids-shape 2 7 -x ids.npy
    /usr/bin/python3 examples/transformer/generate.py -o tiny-llama --arch llama --tie
"""

import argparse
import io
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from lowmem_ref import safetensors_io, transformer  # noqa: E402


def config_dict(args):
    d = {
        "architectures": ["Qwen2ForCausalLM" if args.arch == "qwen2" else "LlamaForCausalLM"],
        "model_type": args.arch,
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "vocab_size": args.vocab,
        "rms_norm_eps": args.eps,
        "rope_theta": args.rope_theta,
        "tie_word_embeddings": args.tie,
        "max_position_embeddings": 32768,
        "hidden_act": "silu",
        "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[args.dtype],
    }
    if args.rope_scaling == "linear":
        d["rope_scaling"] = {"rope_type": "linear", "factor": 2.0}
    elif args.rope_scaling == "llama3":
        d["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    return d


def write_atomic(path, data):
    safetensors_io.write_bytes_atomic(path, data)


def main(argv=None):
    p = argparse.ArgumentParser(description="Generate a random Qwen2/LLaMA checkpoint (HF layout).")
    p.add_argument("-o", "--output", help="directory for config.json and model.safetensors")
    p.add_argument("--arch", choices=["qwen2", "llama"], default="qwen2")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--intermediate", type=int, default=128)
    p.add_argument("--vocab", type=int, default=1000)
    p.add_argument("--eps", type=float, default=1e-6)
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--rope-scaling", choices=["none", "linear", "llama3"], default="none")
    p.add_argument("--tie", action="store_true", help="tie lm_head to the embedding")
    p.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shards", type=int, default=1,
                   help="split the weights into N files with a model.safetensors.index.json, "
                        "as Hugging Face saves large models")
    p.add_argument("--ids-shape", type=int, nargs=2, metavar=("B", "S"))
    p.add_argument("-x", "--ids-output", metavar="IDS.npy")
    p.add_argument("--ids-seed", type=int, help="default: seed + 1")
    args = p.parse_args(argv)
    if args.output is None and args.ids_output is None:
        p.error("nothing to do: give -o DIR and/or --ids-shape B S -x IDS.npy")
    if (args.ids_shape is None) != (args.ids_output is None):
        p.error("--ids-shape and -x go together")

    cfg_dict = config_dict(args)
    cfg = transformer.Config(cfg_dict)
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        params = transformer.init_params(cfg, args.seed)
        dtype = {"f32": None, "f16": "F16", "bf16": "BF16"}[args.dtype]
        tensors = {n: ((dtype, a) if dtype else a) for n, a in params.items()}
        if args.shards <= 1:
            safetensors_io.save(os.path.join(args.output, "model.safetensors"), tensors,
                                metadata={"format": "pt"})
        else:
            # Whole tensors, in name order, dealt into N files of about equal size.
            names = sorted(tensors)
            total = sum(params[n].nbytes for n in names)
            weight_map, shard, filled = {}, 0, 0
            parts = [dict() for _ in range(args.shards)]
            for n in names:
                if filled >= (shard + 1) * total / args.shards and shard + 1 < args.shards:
                    shard += 1
                parts[shard][n] = tensors[n]
                filled += params[n].nbytes
            for k, part in enumerate(parts):
                file = f"model-{k + 1:05d}-of-{args.shards:05d}.safetensors"
                safetensors_io.save(os.path.join(args.output, file), part, metadata={"format": "pt"})
                weight_map.update({n: file for n in part})
            index = {"metadata": {"total_size": total}, "weight_map": weight_map}
            write_atomic(os.path.join(args.output, "model.safetensors.index.json"),
                         (json.dumps(index, indent=2) + "\n").encode())
        write_atomic(os.path.join(args.output, "config.json"),
                     (json.dumps(cfg_dict, indent=2) + "\n").encode())
        count = sum(a.size for a in params.values())
        print(f"wrote {args.output}: {args.arch} {args.layers} layers, hidden {args.hidden}, "
              f"{args.heads}/{args.kv_heads} heads, vocab {args.vocab}, {count} parameters ({args.dtype})")
    if args.ids_output:
        seed = args.seed + 1 if args.ids_seed is None else args.ids_seed
        ids = np.random.default_rng(seed).integers(0, args.vocab, size=tuple(args.ids_shape), dtype=np.int64)
        buf = io.BytesIO()
        np.save(buf, ids, allow_pickle=False)
        write_atomic(args.ids_output, buf.getvalue())
        print(f"wrote {args.ids_output}: int64 {list(ids.shape)} seed={seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
