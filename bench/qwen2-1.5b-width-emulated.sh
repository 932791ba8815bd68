#!/usr/bin/env bash
# shellcheck disable=SC2054  # the commas are inside option values
# The 1.5B QLoRA step's kernels at their real widths, before any GPU: a
# random 2-layer checkpoint of the DeepSeek-R1-Distill-Qwen-1.5B shape
# (hidden 1536, 12 heads and 2 KV heads of 128, intermediate 8960, vocab
# 151936; 0.56 B parameters, bf16) and 40 tokens, compiled with the flags
# of bench/gpu's 1.5B training step (--chunk-mlp=36 so that one chunk runs
# the tiled product and one the warp kernel; --optimizer=none to write the
# gradients) twice: --target=cuda --emulate-gpu (the CUDA pipeline's
# kernels run as host loops, every access checked against its buffer) and
# --target=cpu. Both runs' loss and LoRA gradients must agree (rtol 1e-4),
# and no kernel may read or write outside a buffer.
#
#   bench/qwen2-1.5b-width-emulated.sh OUT_DIR [BUILD_DIR]
#
# About 6 minutes on 2 cores and 1.2 GB of disk for the weights.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
build=${2:-$here/../build}
py=/usr/bin/python3
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$py "$here/../examples/transformer/generate.py" -o "$work/model" --layers 2 \
  --hidden 1536 --heads 12 --kv-heads 2 --intermediate 8960 --vocab 151936 \
  --eps 1e-6 --dtype bf16 --ids-shape 1 40 -x "$work/ids.npy"
# Next-token labels, one more position ignored inside the sequence.
$py -c "import numpy as np, sys; x = np.load(sys.argv[1]); y = np.full_like(x, -100); y[:, :-1] = x[:, 1:]; y[0, 5] = -100; np.save(sys.argv[2], y)" \
  "$work/ids.npy" "$work/labels.npy"
$py "$here/../examples/transformer/reference.py" make-adapter --model "$work/model" \
  --rank 8 --alpha 16 -o "$work/adapter"
"$build/bin/lowmem-import" --config "$work/model/config.json" \
  "$work/model/model.safetensors" -o "$work/model.mlir"
flags=(--train --loss=cross_entropy --format=nf4 --double-quant
  --format-of=lm_head.=nf4,model.embed_tokens.=nf4 --lora-rank=8 --lora-alpha=16
  --lora-targets=model.layers. --checkpoint=blocks --offload-activations
  --chunk-mlp=36 --optimizer=none)
for target in emulated cpu; do
  opts=(--target=cpu)
  [ $target = emulated ] && opts=(--target=cuda --emulate-gpu)
  echo "== $target: lowmem-compile ${opts[*]} ${flags[*]}"
  /usr/bin/time -f "compiled in %e s" "$build/bin/lowmem-compile" "$work/model.mlir" \
    "${opts[@]}" "${flags[@]}" -o "$work/$target"
  "$work/$target" --weights "$work/model/model.safetensors" --input "$work/ids.npy" \
    --target "$work/labels.npy" --load-adapter "$work/adapter" \
    --grads-output "$work/grads-$target.safetensors" --report \
    --report-json "$out/report-$target.json"
done
echo "== LoRA gradients, emulated CUDA kernels vs the CPU backend"
$py "$here/../examples/bignet/reference.py" compare-tensors \
  "$work/grads-emulated.safetensors" "$work/grads-cpu.safetensors" --rtol 1e-4
$py - "$out" <<'PYEOF'
import json, sys
r = {t: json.load(open(f"{sys.argv[1]}/report-{t}.json")) for t in ("emulated", "cpu")}
losses = [r[t]["losses"][0] for t in r]
print(f"loss: emulated {losses[0]:.7f}, cpu {losses[1]:.7f}")
if abs(losses[0] - losses[1]) > 1e-4 * abs(losses[1]):
    sys.exit("the losses differ")
PYEOF
