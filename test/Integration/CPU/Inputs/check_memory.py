"""Compares the memory of training runs from their --report-json files.

    check_memory.py lower BASE.json OTHER.json [OTHER.json ...]
        every OTHER's activation arena is strictly smaller than BASE's, and
        every run's predicted peak equals its measured peak
    check_memory.py within BUDGET RUN.json
        the run's arena (gradients and activations) fits in BUDGET bytes
"""

import json
import sys


def load(path):
    with open(path) as f:
        report = json.load(f)
    if report["predicted_peak_bytes"] != report["measured_peak_bytes"]:
        sys.exit(f"{path}: predicted peak {report['predicted_peak_bytes']} "
                 f"!= measured {report['measured_peak_bytes']}")
    return report


def main(argv):
    if len(argv) >= 3 and argv[0] == "lower":
        base = load(argv[1])
        for path in argv[2:]:
            other = load(path)
            if not other["arena_bytes"] < base["arena_bytes"]:
                sys.exit(f"{path}: arena {other['arena_bytes']} is not below "
                         f"{argv[1]}'s {base['arena_bytes']}")
            print(f"{path}: arena {other['arena_bytes']} < {base['arena_bytes']}"
                  f" ({100 * (1 - other['arena_bytes'] / base['arena_bytes']):.1f}% less),"
                  f" recompute {other['recompute_flops'] / 1e6:.2f} MFLOP"
                  f" of {other['step_flops'] / 1e6:.2f}")
        return 0
    if len(argv) == 3 and argv[0] == "within":
        budget = int(argv[1])
        run = load(argv[2])
        if run["arena_bytes"] > budget:
            sys.exit(f"{argv[2]}: arena {run['arena_bytes']} > budget {budget}")
        print(f"{argv[2]}: arena {run['arena_bytes']} <= {budget}")
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
