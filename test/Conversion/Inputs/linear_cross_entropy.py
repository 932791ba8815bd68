"""lowmem.linear_cross_entropy and its gradient on random inputs.

  linear_cross_entropy.py emit CASE [FORMAT]
                                          an MLIR module whose @main prints
                                          the loss, the rows' lse and the
                                          input gradient of CASE's inputs,
                                          the weight quantized (lowmem.quantize)
                                          to FORMAT if given (a qtensor's
                                          format and options, e.g.
                                          "nf4, block = 32, double_quant")
  linear_cross_entropy.py check CASE OUT  compares mlir-runner's output OUT
                                          with numpy (f32 weights)
  linear_cross_entropy.py same OUT1 OUT2  compares two outputs (the same
                                          quantized weights, two lowerings)

The reference is written from the definition (float64): logits z = x Wᵀ,
lse = log Σ exp z, the loss the mean of lse − z[label] over the rows whose
label is not -100 (whose lse and gradient are 0), and the input gradient
(softmax(z) − onehot(label)) W / count.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attention_grad import dense, printed, ttype  # noqa: E402

# name: (rows, seq, hidden, vocab)
CASES = {
    # 8 runs of 8: lanes 0-7 hold one run each, the others none.
    "narrow": (2, 5, 64, 37),
    # 40 runs: lanes 0-7 hold a second run.
    "ragged": (1, 4, 320, 70),
}


def inputs(case):
    b, s, h, v = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    x = rng.standard_normal((b, s, h)).astype(np.float32)
    w = (rng.standard_normal((v, h)) / np.sqrt(h)).astype(np.float32)
    labels = rng.integers(0, v, (b, s))
    labels[0, 1] = -100
    labels[-1, -1] = v - 1
    return x, w, labels


def emit(case, fmt):
    x, w, labels = inputs(case)
    b, s, h, v = CASES[case]
    lt = f"tensor<{b}x{s}xi64>"
    lines = ["func.func private @printMemrefF32(tensor<*xf32>)", "",
             "func.func @main() {",
             f"  %x = arith.constant {dense(x)}",
             f"  %w0 = arith.constant {dense(w)}"]
    wt = ttype(w)
    if fmt:
        wt = f"!lowmem.qtensor<{v}x{h}xf32, {fmt}>"
        lines.append(f"  %w = lowmem.quantize %w0 : {ttype(w)} -> {wt}")
    else:
        lines.append(f"  %w = tensor.cast %w0 : {wt} to {wt}")
    lines += [
             f"  %labels = arith.constant dense<{labels.tolist()}> : {lt}",
             f"  %loss, %lse = lowmem.linear_cross_entropy %x, %w, %labels : "
             f"{ttype(x)}, {wt}, {lt} -> tensor<f32>, tensor<{b}x{s}xf32>",
             f"  %dx = lowmem.linear_cross_entropy_grad %x, %w, %labels, %lse : "
             f"{ttype(x)}, {wt}, {lt}, tensor<{b}x{s}xf32> -> {ttype(x)}"]
    for name, t in (("loss", "tensor<f32>"), ("lse", f"tensor<{b}x{s}xf32>"),
                    ("dx", ttype(x))):
        lines.append(f"  %{name}_u = tensor.cast %{name} : {t} to tensor<*xf32>")
        lines.append(f"  call @printMemrefF32(%{name}_u) : (tensor<*xf32>) -> ()")
    lines += ["  return", "}"]
    print("\n".join(lines))


def reference(case):
    x, w, labels = inputs(case)
    z = x.astype(np.float64) @ w.astype(np.float64).T
    m = z.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]
    counted = labels != -100
    picked = np.take_along_axis(z, np.where(counted, labels, 0)[..., None],
                                axis=-1)[..., 0]
    count = counted.sum()
    loss = np.where(counted, lse - picked, 0).sum() / count
    g = np.exp(z - lse[..., None])
    onehot = np.zeros_like(g)
    np.put_along_axis(onehot, np.where(counted, labels, 0)[..., None], 1.0, -1)
    g = np.where(counted[..., None], (g - onehot) / count, 0)
    return np.array(loss), np.where(counted, lse, 0), g @ w.astype(np.float64)


def compare(got, want, rtol):
    ok = len(got) == len(want) == 3
    for name, g, w in zip(("loss", "lse", "dx"), got, want):
        g, w = np.asarray(g).reshape(np.shape(w)) if np.size(g) == np.size(w) \
            else g, np.asarray(w)
        if np.shape(g) != np.shape(w):
            print(f"{name}: shape {np.shape(g)}, want {np.shape(w)}")
            ok = False
            continue
        err = np.abs(g - w).max() / np.abs(w).max()
        print(f"{name}: max_rel {err:.3g}")
        ok = ok and err <= rtol and np.abs(w).max() > 0
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["emit", "check", "same"])
    ap.add_argument("args", nargs="+")
    ap.add_argument("--rtol", type=float, default=1e-5)
    args = ap.parse_args()
    if args.command == "emit":
        emit(args.args[0], args.args[1] if len(args.args) > 1 else None)
        return 0
    if args.command == "check":
        case, path = args.args
        with open(path) as f:
            return compare(printed(f.read()), reference(case), args.rtol)
    with open(args.args[0]) as f, open(args.args[1]) as g:
        return compare(printed(f.read()), printed(g.read()), args.rtol)


if __name__ == "__main__":
    sys.exit(main())
