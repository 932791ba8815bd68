#!/usr/bin/env python3
"""Compiles a model for --target=cuda in every weight format, for one GPU
architecture, and assembles each kernel with ptxas.

usage: compile_all.py MODEL.mlir DIR ARCH PTXAS

Writes DIR/ARCH_TAG.ptx (the kernels) and DIR/ARCH_TAG (the executable)
for each format.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FORMATS = [
    ("f32", []),
    ("f16", []),
    ("bf16", []),
    ("int4_b16", ["--format=int4", "--block-size=16"]),
    ("nf4_b64", ["--format=nf4", "--block-size=64"]),
    ("nf4_b64_dq", ["--format=nf4", "--block-size=64", "--double-quant"]),
    ("fp4_b64", ["--format=fp4", "--block-size=64"]),
    ("fp4_b128_dq", ["--format=fp4", "--block-size=128", "--double-quant"]),
    ("int8", ["--format=int8"]),
    # QLoRA inference: adapters on every linear layer of an nf4 + DQ base.
    ("nf4_b64_dq_lora", ["--format=nf4", "--block-size=64", "--double-quant",
                         "--lora-rank=8", "--lora-alpha=16"]),
    # Training steps: QLoRA with AdamW; LoRA on f16 with SGD, dropout,
    # checkpointing and cross-entropy; gradients only.
    ("nf4_b64_dq_train", ["--format=nf4", "--block-size=64", "--double-quant",
                          "--train", "--lora-rank=8", "--lora-alpha=16"]),
    ("f16_train_sgd", ["--format=f16", "--train", "--lora-rank=4",
                       "--optimizer=sgd", "--momentum=0.9",
                       "--lora-dropout=0.1", "--checkpoint=blocks",
                       "--loss=cross_entropy"]),
    ("f32_grads", ["--train", "--optimizer=none", "--lora-rank=4"]),
]


def run(*cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main():
    model, out, arch, ptxas = sys.argv[1:5]
    for tag, opts in FORMATS:
        if not opts and tag != "f32":
            opts = [f"--format={tag}"]
        base = os.path.join(out, f"{arch}_{tag}")
        common = [model, "--target=cuda", f"--gpu-arch={arch}", *opts]
        run("lowmem-compile", *common, "--emit=ptx", "-o", base + ".ptx")
        run(sys.executable, os.path.join(HERE, "ptxas_all.py"), ptxas,
            base + ".ptx", arch)
        run("lowmem-compile", *common, "-o", base)


if __name__ == "__main__":
    main()
