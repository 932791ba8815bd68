#!/usr/bin/env bash
# examples/transformer: a small random Qwen2 in Hugging Face's layout (two
# shards and an index), compiled for the CPU in f32 and in QLoRA's formats,
# run, and compared with the numpy reference (float64); greedy generation
# with a KV cache, checked against the reference; then a QLoRA training run
# on it with the memory options on (4-bit embedding and head, checkpoints
# offloaded, the MLP chunked); then the memory plans of the
# DeepSeek-R1-Distill-Qwen-1.5B shape: training at 1024 / 4096 / 16384
# tokens, and generation.
#
#   run.sh OUT_DIR      (lowmem-compile, lowmem-import on PATH; run by the
#                        main job, scripts/run-bignet.sh)
#
# The training run (next-token labels of random ids: LoRA can only memorise
# them so far) must lower its loss by TF_MIN_DROP (1.3x) in TF_STEPS (60)
# steps.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$1"
py=/usr/bin/python3
ref="$here/reference.py"
compare="$root/examples/bignet/reference.py"
steps="${TF_STEPS:-60}"; min_drop="${TF_MIN_DROP:-1.3}"
mkdir -p "$out"

shape=(--layers 2 --hidden 128 --heads 4 --kv-heads 2 --intermediate 352 --vocab 2000)
$py "$here/generate.py" -o "$out/model" "${shape[@]}" --shards 2 \
  --ids-shape 2 64 -x "$out/ids.npy"
weights="$out/model/model.safetensors.index.json"
lowmem-import --config "$out/model/config.json" "$weights" -o "$out/model.mlir"
$py "$ref" forward --model "$out/model" --ids "$out/ids.npy" -o "$out/ref.npy"
$py "$ref" quantize --model "$out/model" -o "$out/nf4.safetensors" --format nf4 \
  --double-quant
$py "$ref" forward --model "$out/model" --weights "$out/nf4.safetensors" \
  --ids "$out/ids.npy" -o "$out/ref-nf4.npy"
$py "$ref" quantize --model "$out/model" -o "$out/4bit.safetensors" --format nf4 \
  --double-quant --format-of lm_head.=nf4 --format-of model.embed_tokens.=nf4
$py "$ref" forward --model "$out/model" --weights "$out/4bit.safetensors" \
  --ids "$out/ids.npy" -o "$out/ref-4bit.npy"

echo
echo "Qwen2-style decoder, 2 layers, hidden 128, vocab 2000, ids [2, 64], CPU backend:"
echo "logits vs the numpy float64 reference of the same (dequantized) weights"
for v in "f32|ref.npy|" \
  "nf4 + double quant, embedding and head kept|ref-nf4.npy|--format=nf4 --double-quant --skip=lm_head." \
  "nf4 + double quant everywhere|ref-4bit.npy|--format=nf4 --double-quant --format-of=lm_head.=nf4,model.embed_tokens.=nf4"; do
  name="${v%%|*}"; rest="${v#*|}"; expect="${rest%%|*}"; flags="${rest#*|}"
  # shellcheck disable=SC2086
  lowmem-compile "$out/model.mlir" -o "$out/infer" $flags --chunk-mlp=16
  "$out/infer" --weights "$weights" --input "$out/ids.npy" --output "$out/y.npy" \
    --report-json "$out/infer.json" > /dev/null
  errors=$($py "$compare" compare "$out/y.npy" "$out/$expect" --rtol 1e-4)
  printf '  %-46s %s\n' "$name" "${errors%%$'\n'*}"
  $py -c "import json, sys; r = json.load(open(sys.argv[1])); print('  %-46s  peak predicted %.2f MB, measured %.2f MB' % ('', r['predicted_peak_bytes'] / 2**20, r['measured_peak_bytes'] / 2**20)); sys.exit(r['predicted_peak_bytes'] != r['measured_peak_bytes'])" "$out/infer.json"
done

echo
gflags=(--generate --format=nf4 --double-quant --format-of=lm_head.=nf4,model.embed_tokens.=nf4)
echo "== generation: lowmem-compile ${gflags[*]} (f16 KV cache, greedy)"
lowmem-compile "$out/model.mlir" -o "$out/gen" "${gflags[@]}"
$py -c "import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1])[:, :16])" \
  "$out/ids.npy" "$out/prompt.npy"
"$out/gen" --weights "$out/4bit.safetensors" --input "$out/prompt.npy" --max-new-tokens 48 \
  --output "$out/gen-ids.npy" --logits-output "$out/gen-logits.npy" --report \
  --report-json "$out/gen.json" | grep -E '^  (generation|kv cache|prefill|decode|peak)'
# Each new token's logits against the numpy forward of the same sequence
# (no cache), each id their argmax.
$py "$ref" check-generation --model "$out/model" --weights "$out/4bit.safetensors" \
  --prompt "$out/prompt.npy" --ids "$out/gen-ids.npy" --logits "$out/gen-logits.npy" \
  --rtol 1e-3 | sed 's/^/  /'
$py -c "import json, sys; r = json.load(open(sys.argv[1])); sys.exit(r['predicted_peak_bytes'] != r['measured_peak_bytes'])" "$out/gen.json"

echo
flags=(--train --loss=cross_entropy --format=nf4 --double-quant
  --format-of=lm_head.=nf4,model.embed_tokens.=nf4 --lora-rank=8 --lora-alpha=16
  --lora-targets=model.layers. --checkpoint=blocks --offload-activations --chunk-mlp=16)
echo "== QLoRA: lowmem-compile ${flags[*]}"
lowmem-compile "$out/model.mlir" -o "$out/train" "${flags[@]}"
# Next-token labels: the ids shifted left, the last position ignored.
$py -c "import numpy as np, sys; x = np.load(sys.argv[1]); y = np.full_like(x, -100); y[:, :-1] = x[:, 1:]; np.save(sys.argv[2], y)" \
  "$out/ids.npy" "$out/labels.npy"
rm -rf "$out/adapter"
"$out/train" --weights "$weights" --input "$out/ids.npy" --target "$out/labels.npy" \
  --init-adapter --steps "$steps" --lr 1e-2 --save-adapter "$out/adapter" \
  --report --report-json "$out/train.json" | grep -v '^step '
$py - "$out/train.json" "$min_drop" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
losses, need = r["losses"], float(sys.argv[2])
drop = losses[0] / losses[-1]
print(f"  loss {losses[0]:.4f} -> {losses[-1]:.4f} in {len(losses)} steps ({drop:.1f}x); "
      + ", ".join(f"step {i + 1}: {losses[i]:.3f}" for i in range(0, len(losses), 10)))
if drop < need or r["predicted_peak_bytes"] != r["measured_peak_bytes"]:
    sys.exit(f"the QLoRA run fell {drop:.2f}x (need {need}x), or predicted != measured")
EOF

echo
echo "== the DeepSeek-R1-Distill-Qwen-1.5B shape, QLoRA rank 8 with the same options, planned from config.json alone"
lowmem-import --config "$root/bench/plans/qwen2-1.5b-config.json" -o "$out/1.5b.mlir"
lowmem-compile "$out/1.5b.mlir" "${flags[@]/--chunk-mlp=16/--chunk-mlp=256}" \
  --plan=1x1024,1x4096,1x16384
echo "(the seed: 2.73 GB at 16384 tokens with transformers + bitsandbytes + gradient checkpointing; goal <= 1.5 GB)"
echo
echo "== the same shape generating, 4-bit everywhere, f16 KV cache: prefills (1024, 4096, 16384 tokens"
echo "   512 a step) and decode steps at batch 1 and 8 (bench/plans/qwen2-1.5b-generate.sh has more)"
lowmem-compile "$out/1.5b.mlir" "${gflags[@]}" \
  --plan=1x1024x2048,1x1x2048,1x4096x8192,1x512x32768,1x1x32768,8x1x4096
