"""Checks that two printMemrefF32 outputs hold the same shapes and values
within a relative tolerance: the same numbers summed in another order.

usage: close_prints.py A B [--rtol R]   (exit 1, naming the worst, if not)
"""
import argparse
import re
import sys

NUMBER = re.compile(r"-?(?:inf|nan|\d+(?:\.\d*)?(?:e[-+]?\d+)?)")


def parse(path):
    tensors = []
    for line in open(path):
        if "sizes = " in line:
            sizes = line.split("sizes = ")[1].split("]")[0] + "]"
            tensors.append((sizes, []))
            line = line.split("data =", 1)[1] if "data =" in line else ""
        if tensors:
            tensors[-1][1].extend(float(v) for v in NUMBER.findall(line))
    return tensors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rtol", type=float, default=1e-5)
    args = parser.parse_args()
    a, b = parse(args.a), parse(args.b)
    if not a or [s for s, _ in a] != [s for s, _ in b]:
        sys.exit(f"shapes differ: {[s for s, _ in a]} vs {[s for s, _ in b]}")
    for i, ((sizes, x), (_, y)) in enumerate(zip(a, b)):
        if len(x) != len(y):
            sys.exit(f"tensor {i}: {len(x)} vs {len(y)} values")
        scale = max(max(abs(v) for v in x), 1e-30)
        worst = max(abs(u - v) for u, v in zip(x, y)) / scale
        if not worst <= args.rtol:
            sys.exit(f"tensor {i} {sizes}: max_rel {worst:.3e} > {args.rtol}")
    print(f"OK: {len(a)} tensors")


main()
