#!/usr/bin/env python3
"""Checks one weight format end to end for the CPU integration tests.

usage: check_format.py DIR FORMAT [--block-size N] [--double-quant]
                       [--target cpu|cuda]

DIR holds w.safetensors, x.npy and model.mlir. Runs lowmem-quantize and the
numpy reference's quantizer and requires identical checkpoints; compiles the
model in FORMAT; runs it on the full-precision weights (quantized while
loading) and on the pre-quantized checkpoint; compares both outputs with the
numpy reference forward on the reference's own dequantized weights (1e-4
relative) and requires the report's predicted and measured peaks to agree.
With --target cuda the model runs on the GPU (device memory is what the
report measures).
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
REF = os.path.join(SRC, "examples", "bignet", "reference.py")


def run(*cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("format")
    p.add_argument("--block-size", type=int, default=0)
    p.add_argument("--double-quant", action="store_true")
    p.add_argument("--target", choices=["cpu", "cuda"], default="cpu")
    a = p.parse_args()
    d = a.dir
    tag = a.format + (f"_b{a.block_size}" if a.block_size else "") + (
        "_dq" if a.double_quant else "")
    opts = []
    if a.block_size:
        opts.append(f"--block-size={a.block_size}")
    if a.double_quant:
        opts.append("--double-quant")
    ref_opts = [o.replace("--block-size=", "--block-size ") for o in opts]
    ref_opts = " ".join(ref_opts).split()

    ours = os.path.join(d, f"q_{tag}.safetensors")
    theirs = os.path.join(d, f"ref_{tag}.safetensors")
    run("lowmem-quantize", os.path.join(d, "w.safetensors"), "-o", ours,
        f"--format={a.format}", *opts)
    run(sys.executable, REF, "quantize", os.path.join(d, "w.safetensors"),
        "-o", theirs, "--format", a.format, *ref_opts)
    run(sys.executable, REF, "compare-checkpoints", ours, theirs)

    exe = os.path.join(d, f"m_{tag}_{a.target}")
    run("lowmem-compile", os.path.join(d, "model.mlir"), "-o", exe,
        f"--format={a.format}", f"--target={a.target}", *opts)
    expected = os.path.join(d, f"ref_{tag}.npy")
    run(sys.executable, REF, "forward", "--weights", theirs, "--input",
        os.path.join(d, "x.npy"), "-o", expected)
    for weights, name in ((os.path.join(d, "w.safetensors"), "load"),
                          (ours, "pre")):
        out = os.path.join(d, f"y_{tag}_{name}_{a.target}.npy")
        report = os.path.join(d, f"r_{tag}_{name}_{a.target}.json")
        run(exe, "--weights", weights, "--input", os.path.join(d, "x.npy"),
            "--output", out, "--report-json", report)
        run(sys.executable, REF, "compare", out, expected, "--rtol", "1e-4")
        with open(report) as f:
            r = json.load(f)
        if r["predicted_peak_bytes"] != r["measured_peak_bytes"]:
            sys.exit(f"{tag}: predicted peak {r['predicted_peak_bytes']} != "
                     f"measured {r['measured_peak_bytes']}")
    print(f"{tag} ({a.target}): OK")


if __name__ == "__main__":
    main()
