#!/usr/bin/env python3
"""Prints the memory and accuracy table of the BigNet main job.

usage: summarize.py REFERENCE.npy VARIANT:REPORT.json:OUTPUT.npy ...

REFERENCE.npy is the numpy float64 forward of the full-precision BigNet;
each variant's report comes from `./model --report-json` and its output from
the same run. Sizes are in MB of 2^20 bytes, as in the seed's table.
"""

import json
import sys

import numpy as np

MB = float(1 << 20)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ref = np.load(sys.argv[1]).astype(np.float64)
    rows = []
    for spec in sys.argv[2:]:
        name, report, output = spec.split(":")
        with open(report) as f:
            r = json.load(f)
        y = np.load(output).astype(np.float64)
        err = np.abs(y - ref)
        rows.append((name, r, err.max(), err.mean()))
    header = ("| variant | trainable | frozen | weights theor. | weights held "
              "| forward act. | peak predicted | peak measured | max err | "
              "mean err | time |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, r, emax, emean in rows:
        act = r["input_bytes"] + r["arena_bytes"] + r["output_bytes"]
        print(f"| {name} | {r['trainable'] / 1e6:.2f} M | "
              f"{r['frozen'] / 1e6:.2f} M | "
              f"{r['weights_theoretical_bytes'] / MB:.2f} MB | "
              f"{r['weights_bytes'] / MB:.2f} MB | {act / MB:.2f} MB | "
              f"{r['predicted_peak_bytes'] / MB:.2f} MB | "
              f"{r['measured_peak_bytes'] / MB:.2f} MB | {emax:.5f} | "
              f"{emean:.6f} | {r['time_ms']:.1f} ms |")
    mismatched = [n for n, r, _, _ in rows
                  if r["predicted_peak_bytes"] != r["measured_peak_bytes"]]
    if mismatched:
        sys.exit("predicted and measured peaks differ for " +
                 ", ".join(mismatched))


if __name__ == "__main__":
    main()
