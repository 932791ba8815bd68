#!/usr/bin/env bash
# The memory plan of a QLoRA training step of the DeepSeek-R1-Distill-Qwen-1.5B
# shape (qwen2-1.5b-config.json: 28 layers, hidden 1536, 12/2 heads,
# intermediate 8960, vocab 151936, untied head), batch 1, at seq 1024 / 4096 /
# 16384 and ranks 1 / 4 / 8 (alpha 16, LoRA on every projection of the
# layers), the linear layers nf4 + double quant. Planned from the
# configuration alone: no weights, no run. Writes the plans to stdout.
#
# Three settings:
#   seed-like  embedding and head bf16 (as transformers + bitsandbytes keep
#              them), blocks checkpointing: the checkpoints stay on the GPU,
#              the MLP runs whole.
#   lowmem     the same precisions; the checkpoints wait in host memory
#              (--offload-activations) and the MLPs run 256 positions at a
#              time (--chunk-mlp=256).
#   lowmem-4bit  as lowmem, with the embedding and the head nf4 + double
#              quant too (--format-of).
#
#   bench/plans/qwen2-1.5b.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/bin/lowmem-import" --config "$here/qwen2-1.5b-config.json" -o "$tmp/model.mlir"
common=(--train --loss=cross_entropy --format=nf4 --double-quant --lora-alpha=16
  --lora-targets=model.layers. --checkpoint=blocks --plan=1x1024,1x4096,1x16384)
settings=(
  "seed-like|--format-of=lm_head.=bf16,model.embed_tokens.=bf16"
  "lowmem|--format-of=lm_head.=bf16,model.embed_tokens.=bf16 --offload-activations --chunk-mlp=256"
  "lowmem-4bit|--format-of=lm_head.=nf4,model.embed_tokens.=nf4 --offload-activations --chunk-mlp=256")
for setting in "${settings[@]}"; do
  name=${setting%%|*}
  read -r -a flags <<< "${setting#*|}"
  for rank in 1 4 8; do
    echo "$name, rank $rank: ${flags[*]}"
    "$build/bin/lowmem-compile" "$tmp/model.mlir" "${common[@]}" "${flags[@]}" \
      --lora-rank="$rank"
  done
done
