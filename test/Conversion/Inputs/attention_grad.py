"""lowmem.attention and lowmem.attention_grad on random inputs, checked
from the math.

  attention_grad.py emit CASE      an MLIR module whose @main prints the
                                   attention's output, then dq, dk and dv,
                                   of CASE's inputs
  attention_grad.py check CASE OUT compares mlir-runner's output OUT with
                                   the numpy forward and backward of the
                                   same inputs

The reference is written from the definition (float64): P = softmax(scale
q kᵀ) under the causal mask (a query that sees no key has P = 0), O = P V,
dV = Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP − D) with D = rowsum(dO ∘ O), dQ =
scale dS K, dK = scale dSᵀ Q, the key and value gradients summed over the
query heads of a kv head. (The gradient's O is the given output, rounded to
f32, as a training step passes the forward's.)
"""
import argparse
import re
import sys

import numpy as np

# name: (batch, queries, keys, heads, kv_heads, head_dim, causal, scale)
CASES = {
    # Grouped-query heads of 40 (32 + a ragged 8), rows with fewer keys
    # than the block has warps.
    "gqa-ragged": (2, 11, 11, 4, 2, 40, True, 0.3),
    # The queries are the last 5 of 13 positions; head dim 16, one kv head.
    "suffix": (1, 5, 13, 2, 1, 16, True, 0.25),
    # Three rows, more keys than warps, groups of 3 heads of 8.
    "rows": (3, 20, 20, 6, 2, 8, True, 0.5),
    # No mask, as many kv heads as heads, head dim 64.
    "full": (1, 7, 9, 3, 3, 64, False, 0.125),
}


def inputs(case):
    b, s, t, h, kvh, d, causal, scale = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    q = rng.standard_normal((b, s, h * d)).astype(np.float32)
    k = rng.standard_normal((b, t, kvh * d)).astype(np.float32)
    v = rng.standard_normal((b, t, kvh * d)).astype(np.float32)
    do = rng.standard_normal((b, s, h * d)).astype(np.float32)
    p = probabilities(case, q, k)
    vh = np.repeat(heads_of(v, kvh), h // kvh, axis=1)
    o = merge(p @ vh).astype(np.float32)
    return q, k, v, do, o


def heads_of(x, n):
    b, s, f = x.shape
    return x.astype(np.float64).reshape(b, s, n, f // n).transpose(0, 2, 1, 3)


def merge(x):
    b, n, s, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, s, n * d)


def probabilities(case, q, k):
    b, s, t, h, kvh, d, causal, scale = CASES[case]
    kh = np.repeat(heads_of(k, kvh), h // kvh, axis=1)
    x = scale * heads_of(q, h) @ kh.transpose(0, 1, 3, 2)
    allowed = np.ones((s, t), bool)
    if causal:
        allowed = np.arange(t)[None, :] <= np.arange(s)[:, None] + (t - s)
    x = np.where(allowed, x, -np.inf)
    m = x.max(axis=-1, keepdims=True)
    e = np.where(allowed, np.exp(x - np.where(np.isfinite(m), m, 0)), 0)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def reference(case, causal=None):
    b, s, t, h, kvh, d, case_causal, scale = CASES[case]
    q, k, v, do, o = inputs(case)
    if causal is not None:
        CASES[case] = (b, s, t, h, kvh, d, causal, scale)
    p = probabilities(case, q, k)
    group = h // kvh
    qh, doh, oh = heads_of(q, h), heads_of(do, h), heads_of(o, h)
    kh = np.repeat(heads_of(k, kvh), group, axis=1)
    vh = np.repeat(heads_of(v, kvh), group, axis=1)
    dp = doh @ vh.transpose(0, 1, 3, 2)
    dsum = (doh * oh).sum(axis=-1, keepdims=True)
    ds = p * (dp - dsum)
    dq = scale * ds @ kh
    dk = scale * ds.transpose(0, 1, 3, 2) @ qh
    dv = p.transpose(0, 1, 3, 2) @ doh
    fold = lambda x: x.reshape(b, kvh, group, t, d).sum(axis=2)
    return merge(p @ vh), merge(dq), merge(fold(dk)), merge(fold(dv))


def dense(x):
    body = np.array2string(x, separator=", ", threshold=sys.maxsize,
                           floatmode="unique", max_line_width=sys.maxsize)
    return f"dense<{body}> : {ttype(x)}"


def ttype(x):
    return "tensor<" + "x".join(map(str, x.shape)) + "xf32>"


def emit(case):
    b, s, t, h, kvh, d, causal, scale = CASES[case]
    q, k, v, do, o = inputs(case)
    names = ["q", "k", "v", "do", "o"]
    lines = ["func.func private @printMemrefF32(tensor<*xf32>)", "",
             "func.func @main() {"]
    for name, x in zip(names, (q, k, v, do, o)):
        lines.append(f"  %{name} = arith.constant {dense(x)}")
    attrs = (f"{{{'causal, ' if causal else ''}num_heads = {h} : i64, "
             f"num_kv_heads = {kvh} : i64, scale = {scale} : f64}}")
    lines.append(f"  %out = lowmem.attention %q, %k, %v {attrs} : {ttype(q)}, "
                 f"{ttype(k)}, {ttype(v)} -> {ttype(q)}")
    lines.append(f"  %dq, %dk, %dv = lowmem.attention_grad %do, %q, %k, %v, %o "
                 f"{attrs} : {ttype(do)}, {ttype(q)}, {ttype(k)}, {ttype(v)}, "
                 f"{ttype(o)} -> {ttype(q)}, {ttype(k)}, {ttype(v)}")
    for name, x in (("out", q), ("dq", q), ("dk", k), ("dv", v)):
        lines.append(f"  %{name}_u = tensor.cast %{name} : {ttype(x)} to "
                     "tensor<*xf32>")
        lines.append(f"  call @printMemrefF32(%{name}_u) : (tensor<*xf32>) -> ()")
    lines += ["  return", "}"]
    print("\n".join(lines))


NUMBER = r"[-+]?(?:nan|inf|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"


def printed(text):
    """The memrefs printMemrefF32 wrote, in order."""
    out = []
    for part in text.split("Unranked Memref")[1:]:
        sizes = [int(n) for n in
                 re.search(r"sizes = \[([^\]]*)\]", part).group(1).split(",")
                 if n.strip()]
        data = part.split("data =", 1)[1]
        out.append(np.array([float(x) for x in re.findall(NUMBER, data)])
                   .reshape(sizes))
    return out


def check(case, path, causal=None):
    with open(path) as f:
        got = printed(f.read())
    want = reference(case, causal)
    ok = len(got) == 4
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want):
        if g.shape != w.shape:
            print(f"{name}: shape {g.shape}, want {w.shape}")
            ok = False
            continue
        err = np.abs(g - w).max() / np.abs(w).max()
        print(f"{name}: max_rel {err:.3g}")
        ok = ok and err <= 1e-5 and np.abs(w).max() > 0
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["emit", "check"])
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("output", nargs="?")
    ap.add_argument("--causal", choices=["yes", "no"],
                    help="check against this mask instead of the case's")
    args = ap.parse_args()
    if args.command == "emit":
        emit(args.case)
        return 0
    causal = None if args.causal is None else args.causal == "yes"
    return check(args.case, args.output, causal)


if __name__ == "__main__":
    sys.exit(main())
