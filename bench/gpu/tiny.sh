#!/usr/bin/env bash
# One tiny checkpoint of the GPU kit (bench/gpu/run.sh's first stage): the
# compiled forward's logits (f32, nf4 + double quant) against the numpy
# reference and against transformers, generation with f16 and int8 KV
# caches checked as the CPU tests check it, a QLoRA run whose loss must
# fall, and in every run predicted peak = measured peak.
#
#   bench/gpu/tiny.sh KIT_DIR qwen2|llama OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
kit=$1 arch=$2 out=$3
py=${PY:-python3}
ref="$root/examples/transformer/reference.py"
compare="$root/examples/bignet/reference.py"
hf="$here/hf.py"
d="$kit/tiny/$arch"
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
$py "$ref" forward --model "$d/model" --ids "$d/ids.npy" -o "$w/ref.npy"
$py "$ref" forward --model "$d/model" --weights "$d/nf4.safetensors" --ids "$d/ids.npy" -o "$w/ref-nf4.npy"
"$d/fwd" --weights "$d/model/model.safetensors" --input "$d/ids.npy" --output "$w/y.npy" --report --report-json "$out/$arch-fwd.json"
echo "f32 vs numpy:"; $py "$compare" compare "$w/y.npy" "$w/ref.npy" --rtol 1e-4
"$d/fwd-nf4" --weights "$d/nf4.safetensors" --input "$d/ids.npy" --output "$w/y-nf4.npy" --report-json "$out/$arch-fwd-nf4.json"
echo "nf4 + double quant vs numpy:"; $py "$compare" compare "$w/y-nf4.npy" "$w/ref-nf4.npy" --rtol 1e-4
$py "$hf" logits --model "$d/model" --ids "$d/ids.npy" -o "$w/hf.npy"
echo "f32 vs transformers:"; $py "$hf" compare "$w/y.npy" "$w/hf.npy" --rtol 1e-4
echo "numpy vs transformers:"; $py "$hf" compare "$w/ref.npy" "$w/hf.npy" --rtol 1e-4
for cache in f16 int8; do
  bin=gen rtol=1e-3
  [ $cache = int8 ] && bin=gen-int8 && rtol=1e-2
  "$d/$bin" --weights "$d/model/model.safetensors" --input "$d/ids.npy" --max-new-tokens 20 \
    --output "$w/ids-$cache.npy" --logits-output "$w/logits-$cache.npy" --report --report-json "$out/$arch-gen-$cache.json"
  echo "generation, $cache cache:"
  $py "$ref" check-generation --model "$d/model" --prompt "$d/ids.npy" --ids "$w/ids-$cache.npy" \
    --logits "$w/logits-$cache.npy" --rtol $rtol
done
"$d/train" --weights "$d/model/model.safetensors" --input "$d/ids.npy" --target "$d/labels.npy" \
  --init-adapter --steps 40 --lr 1e-2 --report --report-json "$out/$arch-train.json" | grep -v '^step '
$py - "$out" "$arch" <<'PYEOF'
import json, sys
out, arch = sys.argv[1], sys.argv[2]
bad = []
for name in ["fwd", "fwd-nf4", "gen-f16", "gen-int8", "train"]:
  r = json.load(open(f"{out}/{arch}-{name}.json"))
  if r["predicted_peak_bytes"] != r["measured_peak_bytes"]:
      bad.append(name)
losses = json.load(open(f"{out}/{arch}-train.json"))["losses"]
print(f"train loss {losses[0]:.4f} -> {losses[-1]:.4f}")
if losses[-1] * 1.3 > losses[0]:
  bad.append("the loss did not fall 1.3x")
if bad:
  sys.exit("predicted != measured or no learning: " + ", ".join(bad))
print("predicted peak = measured peak in every run")
PYEOF
