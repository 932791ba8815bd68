#!/usr/bin/env bash
# examples/bignet/fit: LoRA (f16 base) and QLoRA (nf4 + double quant base)
# fine-tuning of BigNet, compiled training steps on the CPU backend.
#
#   run.sh OUT_DIR      (lowmem-compile, lowmem-import on PATH; run by the
#                        main job, scripts/run-bignet.sh)
#
# The task: regression to a teacher. The teacher is the same base model
# with a rank-8 adapter whose A is the student's starting A and whose B is
# small and random; the student starts from that A with B = 0 (PEFT's
# start), so the teacher is reachable. Targets are the teacher's outputs on
# the variant's own base (f16 or nf4), computed by the numpy reference.
# Every variant must cut its loss by FIT_MIN_DROP (10) within FIT_STEPS
# steps; the curve and the training memory are printed.
#
# Then the seed's memory table: LoRA and QLoRA at the seed's settings
# (rank 32 on every linear layer; f16 base, and the seed's int4 with blocks
# of 16), one training step at FIT_MEMORY_BATCH rows under each
# checkpointing policy, side by side with the seed's PyTorch figures.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ex="$(dirname "$here")"
out="$1"
py=/usr/bin/python3
ref="$ex/reference.py"
dim="${FIT_DIM:-1024}"; depth="${FIT_DEPTH:-6}"
steps="${FIT_STEPS:-120}"; batch="${FIT_BATCH:-32}"; lr="${FIT_LR:-1e-3}"
schedule="${FIT_LR_SCHEDULE:-linear}"
rows="${FIT_ROWS:-256}"; membatch="${FIT_MEMORY_BATCH:-16}"
mkdir -p "$out"

$py "$ex/generate.py" --dim "$dim" --depth "$depth" -o "$out/w.safetensors" \
  --input-batch "$rows" -x "$out/x.npy"
lowmem-import --arch=bignet "$out/w.safetensors" -o "$out/model.mlir"
$py "$ref" make-adapter --weights "$out/w.safetensors" --rank 8 --alpha 16 \
  --seed 3 --b-scale 0 -o "$out/start"
$py "$ref" make-adapter --weights "$out/w.safetensors" --rank 8 --alpha 16 \
  --seed 3 --b-scale 0.01 -o "$out/teacher"

curves=()
for v in "lora (f16 base)|f16|--format=f16" \
  "qlora (nf4 + double quant)|nf4|--format=nf4 --block-size=64 --double-quant"; do
  name="${v%%|*}"; rest="${v#*|}"; tag="${rest%%|*}"; flags="${rest#*|}"
  echo "== fit $name: lowmem-compile --train $flags --lora-rank=8 --lora-alpha=16"
  if [ "$tag" = nf4 ]; then
    $py "$ref" quantize "$out/w.safetensors" -o "$out/base-$tag.safetensors" \
      --format nf4 --block-size 64 --double-quant
  else
    $py "$ref" quantize "$out/w.safetensors" -o "$out/base-$tag.safetensors" \
      --format f16
  fi
  $py "$ref" forward --weights "$out/base-$tag.safetensors" --input "$out/x.npy" \
    --adapter "$out/teacher" --dtype float32 -o "$out/target-$tag.npy"
  # shellcheck disable=SC2086
  lowmem-compile "$out/model.mlir" -o "$out/fit-$tag" --train $flags \
    --lora-rank=8 --lora-alpha=16
  rm -rf "$out/adapter-$tag"
  "$out/fit-$tag" --weights "$out/base-$tag.safetensors" --input "$out/x.npy" \
    --target "$out/target-$tag.npy" --load-adapter "$out/start" \
    --steps "$steps" --lr "$lr" --lr-schedule "$schedule" --batch "$batch" \
    --save-adapter "$out/adapter-$tag" --report \
    --report-json "$out/fit-$tag.json" | grep -v '^step ' || true
  test -s "$out/fit-$tag.json"
  curves+=("$name:$out/fit-$tag.json")
done

mem=()
for v in "lora (f16, r32)|lora|--format=f16" \
  "qlora (int4 b16, r32)|qlora|--format=int4 --block-size=16"; do
  name="${v%%|*}"; rest="${v#*|}"; tag="${rest%%|*}"; flags="${rest#*|}"
  for policy in none blocks sqrt; do
    echo "== memory $name, checkpoint $policy"
    # shellcheck disable=SC2086
    lowmem-compile "$out/model.mlir" -o "$out/mem-$tag-$policy" --train \
      $flags --lora-rank=32 --lora-alpha=32 --checkpoint="$policy"
    "$out/mem-$tag-$policy" --weights "$out/w.safetensors" \
      --input "$out/x.npy" --target "$out/target-f16.npy" --init-adapter \
      --steps 3 --lr "$lr" --batch "$membatch" \
      --report-json "$out/mem-$tag-$policy.json" >/dev/null
    mem+=("$name|$policy|$out/mem-$tag-$policy.json")
  done
done

echo
echo "BigNet dim $dim, depth $depth: LoRA/QLoRA fit, $steps AdamW steps (lr $lr, $schedule schedule), batches of $batch of $rows rows, CPU backend"
$py "$here/summarize.py" curves --min-drop "${FIT_MIN_DROP:-10}" "${curves[@]}"
echo
echo "Training memory at the seed's settings, batch $membatch (MB = 2^20 bytes)"
$py "$here/summarize.py" memory "${mem[@]}"
