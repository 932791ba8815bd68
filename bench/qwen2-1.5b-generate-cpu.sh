#!/usr/bin/env bash
# Generation at the DeepSeek-R1-Distill-Qwen-1.5B shape on the CPU backend,
# measured: random bf16 weights in Hugging Face's layout (four shards and an
# index; 1.78 B parameters), imported, compiled with --generate in 4 bits
# everywhere (layers, embedding and head nf4 + double quant, quantized while
# loading), run on a prompt of 16 tokens for 8 new tokens with an f16 and an
# int8 KV cache. Records each run's report (predicted and measured peak,
# prefill and decode tokens/s) and the plan at the same sizes. No peer runs
# here: Debian packages no Hugging Face transformers.
#
#   bench/qwen2-1.5b-generate-cpu.sh OUT_DIR [BUILD_DIR]
#
# About 5 minutes on 2 cores and 4 GB of disk for the weights.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
build=${2:-$here/../build}
py=/usr/bin/python3
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$py "$here/../examples/transformer/generate.py" -o "$work/model" --layers 28 \
  --hidden 1536 --heads 12 --kv-heads 2 --intermediate 8960 --vocab 151936 \
  --dtype bf16 --shards 4 --ids-shape 1 16 -x "$work/prompt.npy"
weights="$work/model/model.safetensors.index.json"
"$build/bin/lowmem-import" --config "$work/model/config.json" "$weights" -o "$work/model.mlir"
flags=(--generate --format=nf4 --double-quant --format-of=lm_head.=nf4,model.embed_tokens.=nf4)
for cache in f16 int8; do
  echo "== --kv-cache=$cache: lowmem-compile ${flags[*]}"
  "$build/bin/lowmem-compile" "$work/model.mlir" -o "$work/gen-$cache" "${flags[@]}" \
    --kv-cache="$cache"
  "$build/bin/lowmem-compile" "$work/model.mlir" "${flags[@]}" --kv-cache="$cache" \
    --plan=1x16x23
  "$work/gen-$cache" --weights "$weights" --input "$work/prompt.npy" --max-new-tokens 8 \
    --output "$work/ids-$cache.npy" --report --report-json "$out/report-$cache.json"
  $py -c "import numpy as np, sys; print('ids', np.load(sys.argv[1]).tolist())" "$work/ids-$cache.npy"
done
