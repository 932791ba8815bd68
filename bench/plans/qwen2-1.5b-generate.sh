#!/usr/bin/env bash
# The memory plan of generation with a KV cache (lowmem-compile --generate)
# for the DeepSeek-R1-Distill-Qwen-1.5B shape (qwen2-1.5b-config.json),
# planned from the configuration alone: no weights, no run. Each line is one
# step at BxSxT: B rows, S tokens in the step (a prefill of S prompt tokens,
# or S = 1 for a decode step), T the cache's capacity (a binary generating N
# tokens after a prompt of P allocates P + N - 1 positions).
# Writes the plans to stdout.
#
# Settings (the linear layers nf4 + double quant in all, f16 cache unless
# said):
#   bf16-head  embedding and head bf16, as transformers + bitsandbytes keep
#              them
#   4bit       embedding and head nf4 + double quant too
#   4bit-int8  as 4bit, the cache int8 with an f32 scale per token and head
#              (--kv-cache=int8: 264 bytes a token and layer for keys or
#              values, against 512 in f16)
# The row 1x512x32768 is a 16384-token prompt run 512 tokens a step
# (the binary's --prefill-chunk=512): its activations are a chunk's.
#
#   bench/plans/qwen2-1.5b-generate.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/bin/lowmem-import" --config "$here/qwen2-1.5b-config.json" -o "$tmp/model.mlir"
common=(--generate --format=nf4 --double-quant
  --plan=1x1024x2048,1x1x2048,1x4096x8192,1x1x8192,1x16384x32768,1x512x32768,1x1x32768,8x1x4096,32x1x4096)
settings=(
  "bf16-head|--format-of=lm_head.=bf16,model.embed_tokens.=bf16"
  "4bit|--format-of=lm_head.=nf4,model.embed_tokens.=nf4"
  "4bit-int8|--format-of=lm_head.=nf4,model.embed_tokens.=nf4 --kv-cache=int8")
for setting in "${settings[@]}"; do
  name=${setting%%|*}
  read -r -a flags <<< "${setting#*|}"
  echo "$name: ${flags[*]}"
  "$build/bin/lowmem-compile" "$tmp/model.mlir" "${common[@]}" "${flags[@]}"
done
