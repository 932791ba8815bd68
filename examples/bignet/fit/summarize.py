#!/usr/bin/env python3
"""Tables of examples/bignet/fit.

usage: summarize.py curves [--min-drop X] NAME:REPORT.json ...
           the loss curve of each run (`--report-json` of a training binary),
           and its drop: the first step's loss over the mean of the last
           eight (one pass over the 256 rows in batches of 32); exits 1 when
           a drop is below --min-drop
       summarize.py memory NAME|POLICY|REPORT.json ...
           the training memory of one step under each checkpointing policy,
           beside the seed's PyTorch table (DESIGN.md section 6)
"""

import argparse
import json
import sys

MB = float(1 << 20)

# The seed's PyTorch figures (DESIGN.md section 6): trainable, frozen
# (millions), weights, forward, backward (MB).
SEED = {
    "lora": (2.00, 18.90, 36.08, 0.04, 8.86),
    "qlora": (1.48, 10.65, 12.60, 0.04, 11.13),
}


def load(path):
    with open(path) as f:
        return json.load(f)


def curves(args):
    failed = False
    runs = []
    for spec in args.runs:
        name, path = spec.rsplit(":", 1)
        runs.append((name, load(path)))
    steps = max(len(r["losses"]) for _, r in runs)
    marks = sorted({1, steps} | set(range(10, steps + 1, 10)))
    print("| step | " + " | ".join(name for name, _ in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for t in marks:
        cells = []
        for _, r in runs:
            losses = r["losses"]
            cells.append(f"{losses[t - 1]:.3e}" if t <= len(losses) else "")
        print(f"| {t} | " + " | ".join(cells) + " |")
    print()
    print("| run | first loss | last eight (mean) | drop | step (median) | "
          "peak predicted | peak measured | gradients | activations |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in runs:
        losses = r["losses"]
        tail = losses[-8:]
        last = sum(tail) / len(tail)
        drop = losses[0] / last if last > 0 else float("inf")
        ok = drop >= args.min_drop
        failed |= not ok
        acts = r["arena_bytes"] - r["gradient_bytes"]
        print(f"| {name} | {losses[0]:.3e} | {last:.3e} | {drop:.1f}x"
              f"{'' if ok else ' (BELOW ' + str(args.min_drop) + 'x)'} | "
              f"{r['median_step_ms']:.0f} ms | "
              f"{r['predicted_peak_bytes'] / MB:.2f} MB | "
              f"{r['measured_peak_bytes'] / MB:.2f} MB | "
              f"{r['gradient_bytes'] / MB:.2f} MB | {acts / MB:.2f} MB |")
        failed |= r["predicted_peak_bytes"] != r["measured_peak_bytes"]
    return 1 if failed else 0


def memory(args):
    print("| model | source | trainable | frozen | weights | grads | "
          "optimizer state | activations | recompute | step | peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    failed = False
    seen = set()
    for spec in args.runs:
        name, policy, path = spec.split("|")
        kind = name.split()[0]
        if kind in SEED and kind not in seen:
            seen.add(kind)
            t, f, w, fwd, bwd = SEED[kind]
            print(f"| {kind} | seed (PyTorch) | {t:.2f} M | {f:.2f} M | "
                  f"{w:.2f} MB | backward {bwd:.2f} MB | | forward "
                  f"{fwd:.2f} MB | | | |")
        r = load(path)
        weights = r["weights_bytes"] + r["trainable_bytes"]
        acts = r["arena_bytes"] - r["gradient_bytes"]
        share = (100.0 * r["recompute_flops"] / r["step_flops"]
                 if r["step_flops"] else 0.0)
        same = r["predicted_peak_bytes"] == r["measured_peak_bytes"]
        failed |= not same
        print(f"| {name} | lowmem, checkpoint {policy} | "
              f"{r['trainable'] / 1e6:.2f} M | {r['frozen'] / 1e6:.2f} M | "
              f"{weights / MB:.2f} MB | {r['gradient_bytes'] / MB:.2f} MB | "
              f"{r['optimizer_state_bytes'] / MB:.2f} MB | {acts / MB:.2f} MB | "
              f"{share:.0f}% of FLOPs | {r['median_step_ms']:.0f} ms | "
              f"{r['predicted_peak_bytes'] / MB:.2f} MB "
              f"{'= measured' if same else '!= measured ' + format(r['measured_peak_bytes'] / MB, '.2f')} |")
    return 1 if failed else 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("curves")
    p.add_argument("--min-drop", type=float, default=10.0)
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=curves)
    p = sub.add_parser("memory")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=memory)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
