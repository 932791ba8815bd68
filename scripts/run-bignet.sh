#!/usr/bin/env bash
# The main job: installs what is missing, builds lowmem, generates the BigNet
# example (dim 1024, 6 blocks; override with BIGNET_DIM / BIGNET_DEPTH),
# imports it, compiles it for the CPU in every weight format, runs each and
# prints the memory and accuracy table; then fine-tunes BigNet with LoRA and
# QLoRA (examples/bignet/fit: the loss curves, and the training memory under
# each checkpointing policy beside the seed's table; BIGNET_FIT=0 skips it);
# then a small Qwen2-style decoder (examples/transformer/run.sh: logits in
# f32 and 4-bit against numpy, a QLoRA run, the 1.5B memory plan;
# TRANSFORMER=0 skips it). Work files go to out/bignet and out/transformer.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${LOWMEM_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh" lowmem-opt lowmem-compile lowmem-import \
  lowmem-quantize LowMemRuntimeMain
export PATH="$build/bin:$PATH"
py=/usr/bin/python3
ex="$root/examples/bignet"
out="${BIGNET_OUT:-$root/out/bignet}"
mkdir -p "$out"
dim="${BIGNET_DIM:-1024}"; depth="${BIGNET_DEPTH:-6}"; batch="${BIGNET_BATCH:-16}"

$py "$ex/generate.py" --dim "$dim" --depth "$depth" -o "$out/bignet.safetensors" \
  --input-batch "$batch" -x "$out/x.npy"
lowmem-import --arch=bignet "$out/bignet.safetensors" -o "$out/bignet.mlir"
$py "$ex/reference.py" forward --weights "$out/bignet.safetensors" \
  --input "$out/x.npy" -o "$out/reference.npy"

variants=("fp32|--format=f32" "f16|--format=f16" "bf16|--format=bf16"
  "int4 (seed, block 16)|--format=int4 --block-size=16"
  "nf4 (block 64)|--format=nf4 --block-size=64"
  "nf4 + double quant|--format=nf4 --block-size=64 --double-quant"
  "fp4 (block 64)|--format=fp4 --block-size=64"
  "int8 (per row)|--format=int8")
specs=()
i=0
for v in "${variants[@]}"; do
  name="${v%%|*}"; flags="${v#*|}"
  exe="$out/bignet_$i"
  echo "== $name: lowmem-compile $flags"
  # shellcheck disable=SC2086
  lowmem-compile "$out/bignet.mlir" -o "$exe" --target=cpu $flags
  "$exe" --weights "$out/bignet.safetensors" --input "$out/x.npy" \
    --output "$out/y_$i.npy" --report --report-json "$out/report_$i.json"
  specs+=("$name:$out/report_$i.json:$out/y_$i.npy")
  i=$((i + 1))
done
echo
echo "BigNet dim $dim, depth $depth, batch $batch, CPU backend; errors vs the numpy float64 reference of the fp32 model"
$py "$ex/summarize.py" "$out/reference.npy" "${specs[@]}"

if [ "${BIGNET_FIT:-1}" != 0 ]; then
  echo
  "$ex/fit/run.sh" "$out/fit"
fi

if [ "${TRANSFORMER:-1}" != 0 ]; then
  echo
  "$root/examples/transformer/run.sh" "${TRANSFORMER_OUT:-$root/out/transformer}"
fi
