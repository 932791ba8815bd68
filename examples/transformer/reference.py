#!/usr/bin/env python3
"""Reference computations for Qwen2/LLaMA checkpoints, from the math
(``lowmem_ref.transformer``), in numpy.

Commands::

    forward       --model DIR [--weights W] --ids IDS.npy [--adapter AD] -o LOGITS.npy
    quantize      --model DIR -o Q.safetensors --format nf4 [--block-size 64] [--double-quant]
                  [--format-of NAME=FORMAT ...]  (a format of its own, as lowmem-compile's)
    make-adapter  --model DIR --rank R --alpha A -o AD   (every linear layer of the layers)
    lora-grads    --model DIR [--weights W] --ids IDS.npy --labels L.npy --adapter AD -o G.safetensors
                  (cross-entropy; central finite differences in float64, every entry)
    generate      --model DIR [--weights W] --ids PROMPT.npy --max-new-tokens N -o IDS.npy
                  [--logits-output L.npy]   (greedy; a full forward per token, no cache)
    check-generation --model DIR [--weights W] --prompt PROMPT.npy --ids IDS.npy --logits L.npy
                  [--rtol R] [--pad ID]   (a generator's output: the logits of each new token against a
                  full forward of the same sequence, each id their argmax, and the ids the
                  reference's own greedy choice wherever its top two are not near-tied)
"""

import argparse
import io
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from lowmem_ref import checkpoint, formats, lora, safetensors_io, transformer  # noqa: E402

#: Kept in full precision when quantizing, as bitsandbytes does.
SKIP = ("model.embed_tokens.weight", "lm_head.weight")


def _weights(model):
    """A model directory's weights: model.safetensors, or the index of its shards."""
    single = os.path.join(model, "model.safetensors")
    index = os.path.join(model, "model.safetensors.index.json")
    return index if not os.path.exists(single) and os.path.exists(index) else single


def _model(args):
    cfg = transformer.Config.load(os.path.join(args.model, "config.json"))
    return cfg, safetensors_io.load(args.weights or _weights(args.model))


def _adapter(path):
    if not path:
        return None, 1.0
    adapter, config = lora.load_peft(path)
    return adapter, lora.scale(config["r"], config["lora_alpha"], config.get("use_rslora", False))


def cross_entropy(logits, labels):
    """Mean of -log softmax(logits)[label] over the labels that are not -100."""
    keep = labels != -100
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, np.where(keep, labels, 0)[..., None], axis=-1)[..., 0]
    return -(picked * keep).sum() / max(int(keep.sum()), 1)


def _save_npy(path, array):
    """Writes ``array`` to ``path`` as .npy, atomically."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    safetensors_io.write_bytes_atomic(path, buf.getvalue())


def cmd_forward(args):
    cfg, tensors = _model(args)
    ids = np.load(args.ids, allow_pickle=False)
    dtype = np.float64 if args.dtype == "float64" else np.float32
    adapter, s = _adapter(args.adapter)
    logits = transformer.forward(tensors, cfg, ids, dtype=dtype, lora=adapter, lora_scale=s)
    _save_npy(args.output, logits)
    print(f"wrote {args.output}: {args.dtype} {list(logits.shape)}")
    return 0


def cmd_quantize(args):
    tensors = safetensors_io.load(_weights(args.model))
    overrides = []
    for entry in args.format_of or []:
        name, sep, fmt = entry.partition("=")
        if not sep or not name or fmt not in formats.FORMATS:
            raise SystemExit(f"--format-of '{entry}': expected NAME=FORMAT, FORMAT one of {', '.join(formats.FORMATS)}")
        overrides.append((name, fmt))
    out = checkpoint.quantize_checkpoint(tensors, args.format, args.block_size, args.double_quant,
                                         skip=SKIP, overrides=overrides)
    safetensors_io.save(args.output, out, metadata={"format": "pt"})
    print(f"wrote {args.output}: linear weights as {args.format}")
    return 0


def cmd_make_adapter(args):
    cfg = transformer.Config.load(os.path.join(args.model, "config.json"))
    shapes = {n[: -len(".weight")]: shape for n, shape in transformer.param_names(cfg)
              if n.startswith("model.layers.") and n.endswith("_proj.weight")}
    adapter = lora.random_adapter(shapes, args.rank, seed=args.seed, b_scale=args.b_scale)
    lora.save_peft(args.output, adapter, args.rank, args.alpha)
    print(f"wrote {args.output}: {len(adapter)} LoRA adapters of rank {args.rank}")
    return 0


def cmd_lora_grads(args):
    cfg, tensors = _model(args)
    ids = np.load(args.ids, allow_pickle=False)
    labels = np.load(args.labels, allow_pickle=False)
    adapter, s = _adapter(args.adapter)
    adapter = {k: (a.astype(np.float64), b.astype(np.float64)) for k, (a, b) in adapter.items()}

    def loss():
        return cross_entropy(transformer.forward(tensors, cfg, ids, lora=adapter, lora_scale=s), labels)

    out = {}
    h = args.step
    for layer in sorted(adapter):
        for which, name in ((0, ".lora_A.weight"), (1, ".lora_B.weight")):
            t = adapter[layer][which]
            g = np.zeros_like(t)
            for i in np.ndindex(t.shape):
                keep = t[i]
                t[i] = keep + h
                up = loss()
                t[i] = keep - h
                down = loss()
                t[i] = keep
                g[i] = (up - down) / (2 * h)
            out[layer + name] = g.astype(np.float32)
    value = loss()
    safetensors_io.save(args.output, out, {"loss": repr(value)})
    print(f"loss {value:.9g}")
    print(f"wrote {args.output}: {len(out)} gradients by central differences (step {h})")
    return 0


def cmd_generate(args):
    cfg, tensors = _model(args)
    prompt = np.load(args.ids, allow_pickle=False)
    adapter, s = _adapter(args.adapter)
    ids, logits = transformer.generate(tensors, cfg, prompt, args.max_new_tokens, lora=adapter, lora_scale=s)
    _save_npy(args.output, ids)
    if args.logits_output:
        _save_npy(args.logits_output, logits)
    print(f"wrote {args.output}: ids {list(ids.shape)}")
    return 0


def cmd_check_generation(args):
    """Exit 1 unless a generator's ids and logits are those of the model."""
    cfg, tensors = _model(args)
    prompt = np.load(args.prompt, allow_pickle=False)
    ids = np.load(args.ids, allow_pickle=False)
    logits = np.load(args.logits, allow_pickle=False)
    adapter, s = _adapter(args.adapter)
    b, prompt_len = prompt.shape
    new = ids.shape[1] - prompt_len
    failures = []
    if ids.shape[0] != b or new < 1 or not (ids[:, :prompt_len] == prompt).all():
        print(f"FAIL: the ids {list(ids.shape)} do not continue the prompt {list(prompt.shape)}", file=sys.stderr)
        return 1
    if logits.shape != (b, new, cfg.vocab):
        print(f"FAIL: logits {list(logits.shape)}, expected {[b, new, cfg.vocab]}", file=sys.stderr)
        return 1
    # Teacher forcing: one forward over the generated sequence gives the
    # logits every step should have seen; a left-padded row (--pad) runs
    # alone, without its padding.
    rows = []
    for r in range(b):
        start = 0
        while args.pad is not None and start < prompt_len and prompt[r, start] == args.pad:
            start += 1
        seq = ids[r:r + 1, start:-1]
        rows.append(transformer.forward(tensors, cfg, seq, lora=adapter, lora_scale=s)[0, prompt_len - 1 - start:])
    full = np.stack(rows)
    err = np.abs(logits - full).max() / max(np.abs(full).max(), 1e-30)
    if not err <= args.rtol:
        failures.append(f"logits max_rel {err:.3e} > rtol {args.rtol:g}")
    new_ids = ids[:, prompt_len:]
    if not (new_ids == logits.argmax(axis=-1)).all():
        failures.append("an id is not the argmax of the logits it was picked from")
    # Where the reference's best two differ by more than the tolerance, its
    # choice is certain and must be the generator's.
    top2 = np.sort(full, axis=-1)[..., -2:]
    certain = (top2[..., 1] - top2[..., 0]) > 4 * args.rtol * np.abs(full).max()
    agree = new_ids == full.argmax(axis=-1)
    if not agree[certain].all():
        failures.append("an id differs from the reference's clear greedy choice")
    print(f"logits max_rel={err:.3e}; {int(agree.sum())} of {agree.size} new ids are the reference's "
          f"greedy choice ({int(certain.sum())} clear)")
    if failures:
        print("FAIL: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("OK")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("forward", help="logits of token ids")
    p.add_argument("--model", required=True, help="directory with config.json (and model.safetensors)")
    p.add_argument("--weights", help="weights to use instead of DIR/model.safetensors (e.g. quantized)")
    p.add_argument("--ids", required=True, help="int64 [batch, seq] .npy")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--adapter", help="PEFT LoRA adapter directory")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_forward)
    p = sub.add_parser("make-adapter", help="a random PEFT adapter on every linear layer of the layers")
    p.add_argument("--model", required=True)
    p.add_argument("--rank", type=int, required=True)
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--b-scale", type=float, default=0.05)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_make_adapter)
    p = sub.add_parser("lora-grads", help="cross-entropy gradients of an adapter, by finite differences")
    p.add_argument("--model", required=True)
    p.add_argument("--weights")
    p.add_argument("--ids", required=True)
    p.add_argument("--labels", required=True, help="int64 [batch, seq], -100 ignored")
    p.add_argument("--adapter", required=True)
    p.add_argument("--step", type=float, default=1e-5)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_lora_grads)
    p = sub.add_parser("quantize", help="quantize the linear weights (the embedding and lm_head only with --format-of)")
    p.add_argument("--model", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--format", required=True, choices=formats.FORMATS)
    p.add_argument("--block-size", type=int)
    p.add_argument("--double-quant", action="store_true")
    p.add_argument("--format-of", action="append", metavar="NAME=FORMAT",
                   help="a format of its own for a weight (exact name or prefix ending in '.'), "
                        "the embedding and lm_head included")
    p.set_defaults(func=cmd_quantize)
    p = sub.add_parser("generate", help="greedy generation, a full forward per token")
    p.add_argument("--model", required=True)
    p.add_argument("--weights")
    p.add_argument("--ids", required=True, help="the prompt, int64 [batch, seq] .npy")
    p.add_argument("--max-new-tokens", type=int, required=True)
    p.add_argument("--adapter", help="PEFT LoRA adapter directory")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--logits-output")
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("check-generation", help="check a generator's ids and logits against the model")
    p.add_argument("--model", required=True)
    p.add_argument("--weights")
    p.add_argument("--prompt", required=True)
    p.add_argument("--ids", required=True, help="the generator's ids [batch, seq + new]")
    p.add_argument("--logits", required=True, help="the generator's logits [batch, new, vocab]")
    p.add_argument("--adapter", help="PEFT LoRA adapter directory")
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--pad", type=int, help="the prompts' left padding token (each row's leading ones)")
    p.set_defaults(func=cmd_check_generation)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
