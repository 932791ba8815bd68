#!/usr/bin/env bash
# shellcheck disable=SC2054  # the commas are inside option values
# Builds the kit that bench/gpu/run.sh runs on a machine with an NVIDIA GPU
# (which has CUDA, PyTorch and transformers but no LLVM): every binary is
# compiled here (--target=cuda; at run time they need only libc, libstdc++
# and libcuda), with the small checkpoints they run on.
#
#   bench/gpu/prepare.sh KIT_DIR [BUILD_DIR]
#
# KIT_DIR/tiny/{qwen2,llama}: a random 2-layer checkpoint (hidden 64, 4
#   heads, 2 KV heads, vocab 500), ids, its nf4 + double-quant weights, and
#   binaries: the forward in f32 and nf4, generation with f16 and int8 KV
#   caches, a QLoRA training step; generation and the training step again
#   with bounds-checked kernels (--check-bounds).
# KIT_DIR/big: the DeepSeek-R1-Distill-Qwen-1.5B shape (config.json only;
#   run.sh makes random weights there): generation (4-bit everywhere, f16
#   cache), the QLoRA training step of bench/plans/qwen2-1.5b.sh's
#   lowmem-4bit setting at rank 8, and their plans.
# About 5 minutes on 2 cores (the 1.5B training step compiles in 3); the
# kit is about 32 MB, under the device tool's 64 MiB.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
kit=$1
build=${2:-$root/build}
py=/usr/bin/python3
compile="$build/bin/lowmem-compile"
rm -rf "$kit"
mkdir -p "$kit/tiny" "$kit/big"

for arch in qwen2 llama; do
  d="$kit/tiny/$arch"
  mkdir -p "$d"
  $py "$root/examples/transformer/generate.py" -o "$d/model" --arch "$arch" \
    --layers 2 --hidden 64 --heads 4 --kv-heads 2 --intermediate 128 --vocab 500 \
    --ids-shape 3 11 -x "$d/ids.npy"
  "$build/bin/lowmem-import" --config "$d/model/config.json" \
    "$d/model/model.safetensors" -o "$d/model.mlir"
  $py "$root/examples/transformer/reference.py" quantize --model "$d/model" \
    -o "$d/nf4.safetensors" --format nf4 --double-quant
  # Next-token labels: the ids shifted left, the last position ignored.
  $py -c "import numpy as np, sys; x = np.load(sys.argv[1]); y = np.full_like(x, -100); y[:, :-1] = x[:, 1:]; np.save(sys.argv[2], y)" \
    "$d/ids.npy" "$d/labels.npy"
  "$compile" "$d/model.mlir" --target=cuda -o "$d/fwd"
  "$compile" "$d/model.mlir" --target=cuda --format=nf4 --double-quant \
    --skip=lm_head. -o "$d/fwd-nf4"
  "$compile" "$d/model.mlir" --target=cuda --generate -o "$d/gen"
  "$compile" "$d/model.mlir" --target=cuda --generate --kv-cache=int8 -o "$d/gen-int8"
  "$compile" "$d/model.mlir" --target=cuda --train --loss=cross_entropy \
    --format=nf4 --double-quant --lora-rank=8 --lora-alpha=16 \
    --checkpoint=blocks --offload-activations --chunk-mlp=4 -o "$d/train"
  # The same with every kernel access checked (--check-bounds): run.sh runs
  # them when a tiny stage fails, for the kernel and access at fault.
  "$compile" "$d/model.mlir" --target=cuda --generate --check-bounds -o "$d/gen-checked"
  "$compile" "$d/model.mlir" --target=cuda --train --loss=cross_entropy \
    --format=nf4 --double-quant --lora-rank=8 --lora-alpha=16 \
    --checkpoint=blocks --offload-activations --chunk-mlp=4 --check-bounds \
    -o "$d/train-checked"
  rm "$d/model.mlir"
done

big="$kit/big"
cp "$root/bench/plans/qwen2-1.5b-config.json" "$big/config.json"
"$build/bin/lowmem-import" --config "$big/config.json" -o "$big/model.mlir"
gen=(--generate --format=nf4 --double-quant --format-of=lm_head.=nf4,model.embed_tokens.=nf4)
train=(--train --loss=cross_entropy --format=nf4 --double-quant
  --format-of=lm_head.=nf4,model.embed_tokens.=nf4 --lora-rank=8 --lora-alpha=16
  --lora-targets=model.layers. --checkpoint=blocks --offload-activations --chunk-mlp=256)
"$compile" "$big/model.mlir" --target=cuda "${gen[@]}" -o "$big/gen"
"$compile" "$big/model.mlir" --target=cuda "${gen[@]}" --plan=1x512x640 > "$big/gen-plan.txt"
"$compile" "$big/model.mlir" --target=cuda "${train[@]}" -o "$big/train"
"$compile" "$big/model.mlir" --target=cuda "${train[@]}" \
  --plan=1x1024,1x4096,1x16384 > "$big/train-plan.txt"
rm "$big/model.mlir"
printf '%s\n' "${gen[*]}" > "$big/gen-flags.txt"
printf '%s\n' "${train[*]}" > "$big/train-flags.txt"
git -C "$root" rev-parse HEAD > "$kit/commit.txt"
du -sh "$kit"
