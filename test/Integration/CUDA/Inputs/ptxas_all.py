#!/usr/bin/env python3
"""Assembles every PTX module of a `lowmem-compile --emit=ptx` file.

usage: ptxas_all.py PTXAS FILE ARCH

FILE holds `//--- NAME.ptx` sections (split-file syntax); each section is
given to ptxas for ARCH (sm_80, sm_90, ...). Prints one line per kernel with
its register and shared memory use, and fails on the first rejected module
or when the file holds no kernel.
"""

import os
import re
import subprocess
import sys
import tempfile


def main():
    ptxas, path, arch = sys.argv[1:4]
    with open(path) as f:
        text = f.read()
    sections = re.split(r"^//--- (\S+)\n", text, flags=re.M)[1:]
    if not sections:
        sys.exit(f"{path}: no PTX module")
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in zip(sections[0::2], sections[1::2]):
            src = os.path.join(tmp, name)
            with open(src, "w") as f:
                f.write(body)
            r = subprocess.run([ptxas, f"-arch={arch}", "-v", src, "-o",
                                os.path.join(tmp, name + ".cubin")],
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"ptxas -arch={arch} rejected {name}:\n{r.stderr}")
            info = " ".join(l.split(":", 1)[1].strip()
                            for l in r.stderr.splitlines() if "Used" in l)
            print(f"{name} {arch}: {info}")


if __name__ == "__main__":
    main()
