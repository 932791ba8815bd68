#!/usr/bin/env bash
# The memory plan of a QLoRA training step of the DeepSeek-R1-Distill-Qwen-1.5B
# shape (qwen2-1.5b-config.json: 28 layers, hidden 1536, 12/2 heads, vocab
# 151936), nf4 + double quant linear layers, the head kept full precision,
# LoRA on every projection of the layers, blocks checkpointing, batch 1, at
# seq 1024 / 4096 / 16384 and ranks 1 / 4 / 8. Planned from the configuration
# alone: no weights, no run. Writes the plan to stdout.
#
#   bench/plans/qwen2-1.5b.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/bin/lowmem-import" --config "$here/qwen2-1.5b-config.json" -o "$tmp/model.mlir"
for rank in 1 4 8; do
  echo "rank $rank"
  "$build/bin/lowmem-compile" "$tmp/model.mlir" --train --loss=cross_entropy \
    --format=nf4 --double-quant --skip=lm_head. --lora-rank="$rank" --lora-alpha=16 \
    --lora-targets=model.layers. --checkpoint=blocks --plan=1x1024,1x4096,1x16384
done
