#!/usr/bin/env python3
"""numpy reference for BigNet and lowmem's weight formats (integration tests).

Subcommands::

    reference.py forward --weights W.safetensors --input x.npy -o y.npy [--dtype float64|float32]
    reference.py quantize IN.safetensors -o OUT.safetensors --format nf4 [--block-size 64] [--double-quant]
    reference.py compare A.npy B.npy [--rtol 1e-4] [--max-abs X] [--mean-abs Y]
    reference.py compare-checkpoints A.safetensors B.safetensors
    reference.py lora-grads --weights W --input x.npy --target t.npy --adapter DIR -o G.safetensors
                 [--loss mse|cross_entropy] [--dropout P]
    reference.py compare-tensors A.safetensors B.safetensors [--rtol 1e-4]
    reference.py compare-losses R.json losses.npy [--first K] [--rtol 1e-4]
    reference.py train --weights W --input x.npy --target t.npy --adapter DIR --steps N --lr LR
                 [--batch B] [--optimizer adamw|sgd] [--momentum M] [--weight-decay D]
                 [--loss mse|cross_entropy] [--dropout P] -o losses.npy

``forward`` accepts full-precision or quantized weights in any of the names of
``lowmem_ref.checkpoint`` and dequantizes them itself.  ``compare`` prints the
max and mean absolute error and the max relative error ``max|a-b| / max|b|``
and exits 1 when a bound is exceeded.  ``compare-checkpoints`` exits 1 unless
both files hold the same tensors with the same dtype, shape and bytes (the
``__metadata__`` is not compared).  ``lora-grads`` writes the gradients of
the loss (MSE, or cross-entropy against int64 labels; with LoRA dropout, the
masks lowmem draws at step 1) with respect to every adapter tensor (the hand-written backward
of ``lowmem_ref.train``, named ``<layer>.lora_A.weight``);
``compare-tensors`` compares every tensor of two files as ``compare`` does.
``train`` runs the same training as a lowmem training binary (batches of
rows in order, cycling; PyTorch's AdamW or SGD) in float64 and writes the
loss of each step.

Written from DESIGN.md §4-§5 only; uses numpy and the standard library
(run it with Debian's ``/usr/bin/python3``).
"""

import argparse
import io
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from lowmem_ref import bignet, checkpoint, formats, lora, safetensors_io, train  # noqa: E402


def _save_npy(path, array):
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    safetensors_io.write_bytes_atomic(path, buf.getvalue())


def _load_npy(path):
    return np.load(path, allow_pickle=False)


def cmd_forward(args):
    """Run BigNet on an input and write the output."""
    tensors = safetensors_io.load(args.weights)
    x = _load_npy(args.input)
    dtype = np.float64 if args.dtype == "float64" else np.float32
    adapter, s = None, 1.0
    if args.adapter:
        adapter, s = _adapter_and_scale(args.adapter)
    y = bignet.forward(tensors, x, dtype=dtype, lora=adapter, lora_scale=s)
    _save_npy(args.output, y)
    dim, depth = bignet.infer_architecture(tensors)
    print(f"wrote {args.output}: {args.dtype} {list(y.shape)} (BigNet dim={dim} depth={depth})")
    return 0


def cmd_make_adapter(args):
    """Write a random LoRA adapter for a BigNet checkpoint, as PEFT saves one."""
    tensors = safetensors_io.load(args.weights)
    layers = lora.linear_layers(tensors)
    if args.targets:
        layers = [l for l in layers
                  if any(l == t or (t.endswith(".") and l.startswith(t)) for t in args.targets)]
    shapes = {l: tuple(tensors[l + ".weight"].shape) for l in layers}
    adapter = lora.random_adapter(shapes, args.rank, seed=args.seed, b_scale=args.b_scale)
    lora.save_peft(args.output, adapter, args.rank, args.alpha, rslora=args.rslora)
    print(f"wrote {args.output}: {len(adapter)} LoRA adapters of rank {args.rank}")
    return 0


def cmd_quantize(args):
    """Quantize every 2-D *.weight tensor of a checkpoint."""
    tensors = safetensors_io.load(args.input)
    out = checkpoint.quantize_checkpoint(tensors, args.format, args.block_size, args.double_quant)
    metadata = dict(tensors.metadata)
    metadata.setdefault("format", "pt")
    safetensors_io.save(args.output, out, metadata=metadata)
    nq = sum(1 for n, a in tensors.items() if checkpoint.is_quantizable(n, a))
    print(f"wrote {args.output}: {nq} weights as {args.format}"
          + (f" block={args.block_size or formats.DEFAULT_BLOCK[args.format]}"
             if args.format in formats.DEFAULT_BLOCK else "")
          + (" double-quant" if args.double_quant else ""))
    return 0


def compare_arrays(a, b):
    """``(max_abs, mean_abs, max_rel)`` of a against reference b (float64)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0, 0.0, 0.0
    diff = np.abs(a - b)
    max_abs = float(diff.max())
    mean_abs = float(diff.mean())
    ref = float(np.abs(b).max())
    if ref > 0:
        max_rel = max_abs / ref
    else:
        max_rel = 0.0 if max_abs == 0 else float("inf")
    if np.isnan(diff).any():
        max_abs = mean_abs = max_rel = float("nan")
    return max_abs, mean_abs, max_rel


def cmd_compare(args):
    """Compare two arrays; exit 1 beyond the bounds."""
    a = _load_npy(args.a)
    b = _load_npy(args.b)
    if a.shape != b.shape:
        print(f"FAIL: shapes differ: {args.a} {list(a.shape)} vs {args.b} {list(b.shape)}", file=sys.stderr)
        return 1
    max_abs, mean_abs, max_rel = compare_arrays(a, b)
    print(f"max_abs={max_abs:.6e} mean_abs={mean_abs:.6e} max_rel={max_rel:.6e} "
          f"(shape {list(a.shape)}, {a.dtype} vs {b.dtype})")
    failures = []
    if not max_rel <= args.rtol:
        failures.append(f"max_rel {max_rel:.6e} > rtol {args.rtol:g}")
    if args.max_abs is not None and not max_abs <= args.max_abs:
        failures.append(f"max_abs {max_abs:.6e} > {args.max_abs:g}")
    if args.mean_abs is not None and not mean_abs <= args.mean_abs:
        failures.append(f"mean_abs {mean_abs:.6e} > {args.mean_abs:g}")
    if failures:
        print("FAIL: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("OK")
    return 0


def first_checkpoint_difference(path_a, path_b):
    """A message naming the first difference between two files, or None."""
    ta, _ = safetensors_io.load_raw(path_a)
    tb, _ = safetensors_io.load_raw(path_b)
    for name in sorted(set(ta) | set(tb)):
        if name not in ta:
            return f"tensor '{name}' is only in {path_b}"
        if name not in tb:
            return f"tensor '{name}' is only in {path_a}"
        da, sa, ra = ta[name]
        db, sb, rb = tb[name]
        if da != db:
            return f"tensor '{name}': dtype {da} vs {db}"
        if sa != sb:
            return f"tensor '{name}': shape {list(sa)} vs {list(sb)}"
        if ra != rb:
            va = safetensors_io.from_bytes(ra, da, sa).reshape(-1)
            vb = safetensors_io.from_bytes(rb, db, sb).reshape(-1)
            bad = np.nonzero(va.view(np.uint8).reshape(va.size, -1) != vb.view(np.uint8).reshape(vb.size, -1))[0]
            i = int(bad[0])
            idx = np.unravel_index(i, sa) if sa else ()
            count = np.unique(bad).size
            return (f"tensor '{name}' ({da} {list(sa)}): {count} of {va.size} elements differ; "
                    f"first at {list(map(int, idx))}: {va[i]!r} vs {vb[i]!r}")
    return None


def cmd_compare_checkpoints(args):
    """Exit 1 unless every tensor is equal bit for bit."""
    diff = first_checkpoint_difference(args.a, args.b)
    if diff:
        print(f"FAIL: {diff}", file=sys.stderr)
        return 1
    n = len(safetensors_io.load_raw(args.a)[0])
    print(f"OK: {n} tensors identical")
    return 0


def _adapter_and_scale(path):
    adapter, config = lora.load_peft(path)
    s = lora.scale(config["r"], config["lora_alpha"], config.get("use_rslora", False))
    return adapter, s


def cmd_lora_grads(args):
    """Write the loss gradients of every adapter tensor."""
    tensors = safetensors_io.load(args.weights)
    adapter, s = _adapter_and_scale(args.adapter)
    loss, grads = train.loss_and_lora_grads(tensors, _load_npy(args.input), _load_npy(args.target), adapter, s,
                                            loss=args.loss, dropout=args.dropout)
    out = {}
    for layer, (da, db) in grads.items():
        out[layer + ".lora_A.weight"] = da.astype(np.float32)
        out[layer + ".lora_B.weight"] = db.astype(np.float32)
    safetensors_io.save(args.output, out, {"loss": repr(loss)})
    print(f"loss {loss:.9g}")
    print(f"wrote {args.output}: {len(out)} gradients")
    return 0


def cmd_compare_tensors(args):
    """Compare every tensor of two safetensors files; exit 1 beyond rtol."""
    ta = safetensors_io.load(args.a)
    tb = safetensors_io.load(args.b)
    if sorted(ta) != sorted(tb):
        print(f"FAIL: the files hold different tensors: {sorted(set(ta) ^ set(tb))}", file=sys.stderr)
        return 1
    worst = 0.0
    for name in sorted(ta):
        a, b = np.asarray(ta[name]), np.asarray(tb[name])
        if a.shape != b.shape:
            print(f"FAIL: tensor '{name}': shape {list(a.shape)} vs {list(b.shape)}", file=sys.stderr)
            return 1
        max_abs, _, max_rel = compare_arrays(a, b)
        worst = max(worst, max_rel) if not np.isnan(max_rel) else float("nan")
        if not max_rel <= args.rtol:
            print(f"FAIL: tensor '{name}': max_rel {max_rel:.6e} > rtol {args.rtol:g} "
                  f"(max_abs {max_abs:.6e})", file=sys.stderr)
            return 1
    print(f"OK: {len(ta)} tensors, worst max_rel {worst:.6e}")
    return 0


def cmd_train(args):
    """Train the adapter in float64 as a lowmem training binary does; write the losses."""
    tensors = safetensors_io.load(args.weights)
    adapter, s = _adapter_and_scale(args.adapter)
    x, target = _load_npy(args.input), _load_npy(args.target)
    params = {k: [np.array(a, np.float64), np.array(b, np.float64)] for k, (a, b) in adapter.items()}
    state = {k: [[np.zeros_like(a), np.zeros_like(a)], [np.zeros_like(b), np.zeros_like(b)]]
             for k, (a, b) in params.items()}
    weight_fn = train.cached_weights(tensors)

    rows = x.shape[0]
    batch = min(args.batch or rows, rows)
    batches = (rows + batch - 1) // batch
    losses = []
    for t in range(1, args.steps + 1):
        k = (t - 1) % batches
        sl = slice(k * batch, min(rows, k * batch + batch))
        loss, grads = train.loss_and_lora_grads(tensors, x[sl], target[sl], params, s, weight_fn=weight_fn,
                                                loss=args.loss, dropout=args.dropout, step=t)
        losses.append(loss)
        for layer, g in grads.items():
            for i in (0, 1):
                if args.optimizer == "adamw":
                    train.adamw_step(params[layer][i], g[i], state[layer][i][0], state[layer][i][1], t, args.lr,
                                     weight_decay=args.weight_decay)
                else:
                    train.sgd_step(params[layer][i], g[i], state[layer][i][0], args.lr, momentum=args.momentum,
                                   weight_decay=args.weight_decay)
    _save_npy(args.output, np.array(losses))
    print(f"losses: first {losses[0]:.6g}, last {losses[-1]:.6g} over {len(losses)} steps")
    return 0


def cmd_compare_losses(args):
    """Compare the losses of a training binary's --report-json with reference losses."""
    import json
    with open(args.report) as f:
        got = np.array(json.load(f)["losses"], dtype=np.float64)
    ref = _load_npy(args.losses)[args.first - 1:args.first - 1 + got.size]
    if ref.size != got.size:
        print(f"FAIL: {got.size} losses but only {ref.size} reference losses from step {args.first}", file=sys.stderr)
        return 1
    max_abs, _, max_rel = compare_arrays(got, ref)
    print(f"{got.size} losses from step {args.first}: max_rel {max_rel:.3e} (first {got[0]:.6g}, last {got[-1]:.6g})")
    if not max_rel <= args.rtol:
        print(f"FAIL: max_rel {max_rel:.3e} > rtol {args.rtol:g}", file=sys.stderr)
        return 1
    return 0


def build_parser():
    """The argparse parser of this tool."""
    parser = argparse.ArgumentParser(
        description="numpy reference for BigNet and lowmem weight formats (DESIGN.md §4-§5).")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("forward", help="run BigNet (weights full precision or quantized)")
    p.add_argument("--weights", required=True, help="BigNet .safetensors (any lowmem format)")
    p.add_argument("--input", required=True, help="input .npy [batch, dim]")
    p.add_argument("-o", "--output", required=True, help="output .npy")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="compute (and output) dtype (default float64)")
    p.add_argument("--adapter", help="PEFT LoRA adapter directory added to the Linears")
    p.set_defaults(func=cmd_forward)

    p = sub.add_parser("make-adapter", help="write a random PEFT-style LoRA adapter directory")
    p.add_argument("--weights", required=True, help="BigNet .safetensors")
    p.add_argument("--rank", type=int, required=True)
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--rslora", action="store_true")
    p.add_argument("--targets", nargs="*", help="layers (or prefixes ending in '.'); default all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--b-scale", type=float, default=0.05,
                   help="standard deviation of B (0: PEFT's B = 0; A depends on the seed only)")
    p.add_argument("-o", "--output", required=True, help="adapter directory")
    p.set_defaults(func=cmd_make_adapter)

    p = sub.add_parser("quantize", help="quantize every 2-D *.weight tensor of a checkpoint")
    p.add_argument("input", help="full-precision .safetensors")
    p.add_argument("-o", "--output", required=True, help="quantized .safetensors")
    p.add_argument("--format", required=True, choices=formats.FORMATS, help="weight format")
    p.add_argument("--block-size", type=int, help="block size (nf4/fp4 default 64, int4 default 16)")
    p.add_argument("--double-quant", action="store_true", help="quantize nf4/fp4 absmax (double quant)")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("compare", help="compare an array with a reference array")
    p.add_argument("a", help="array under test (.npy)")
    p.add_argument("b", help="reference array (.npy)")
    p.add_argument("--rtol", type=float, default=1e-4,
                   help="bound on max|a-b| / max|b| (default 1e-4)")
    p.add_argument("--max-abs", type=float, help="bound on max|a-b|")
    p.add_argument("--mean-abs", type=float, help="bound on mean|a-b|")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("compare-checkpoints", help="require two safetensors files to hold identical tensors")
    p.add_argument("a", help="first .safetensors")
    p.add_argument("b", help="second .safetensors")
    p.set_defaults(func=cmd_compare_checkpoints)
    p = sub.add_parser("lora-grads", help="write the loss gradients of a LoRA adapter (one step)")
    _add_step_arguments(p)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_lora_grads)

    p = sub.add_parser("compare-tensors", help="compare every tensor of two safetensors files")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--rtol", type=float, default=1e-4)
    p.set_defaults(func=cmd_compare_tensors)

    p = sub.add_parser("train", help="train a LoRA adapter in float64 and write the losses")
    _add_step_arguments(p)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw")
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compare-losses", help="compare a training report's losses with reference losses")
    p.add_argument("report")
    p.add_argument("losses")
    p.add_argument("--first", type=int, default=1, help="the step number of the report's first loss")
    p.add_argument("--rtol", type=float, default=1e-4)
    p.set_defaults(func=cmd_compare_losses)

    return parser


def _add_step_arguments(p):
    """The arguments of a training step: model, data, loss, adapter."""
    p.add_argument("--weights", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--dropout", type=float, default=0.0,
                   help="LoRA dropout, with the masks lowmem draws at each step")
    p.add_argument("--loss", choices=["mse", "cross_entropy"], default="mse",
                   help="mse (target shaped as the output) or cross_entropy (target: int64 class labels)")
    p.add_argument("--adapter", required=True)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "block_size", None) is not None and args.format not in formats.DEFAULT_BLOCK:
        print(f"error: --block-size does not apply to {args.format}", file=sys.stderr)
        return 2
    if getattr(args, "double_quant", False) and args.format not in ("nf4", "fp4"):
        print(f"error: --double-quant applies to nf4/fp4 only, not {args.format}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
