#!/usr/bin/env bash
# BigNet's forward on lowmem's CPU backend against PyTorch's CPU forward of
# the same weights, side by side in one run, on the same threads.
#
#   bench/cpu-bignet.sh [OUT]      (default out/bench-cpu-bignet)
#
# BigNet dim 1024 x 6 blocks (BIGNET_DIM / BIGNET_DEPTH), batches 1, 16, 64
# and 256 (BATCHES). lowmem: f32, int8 (per row), nf4 + double quant; each
# binary runs REPEAT (9) times per batch and the median of the reported
# forward time is taken (weights loaded before the clock starts). PyTorch:
# f32 and its dynamically quantized int8 copy, REPEAT timed calls after a
# warm-up. Threads: LOWMEM_NUM_THREADS, else every core, for both (and for
# OpenBLAS under PyTorch). Needs a built tree (scripts/build.sh) and Debian's
# python3-torch with libopenblas0-pthread (without it, Debian's PyTorch runs
# f32 products on the reference BLAS, ten times slower); the raw output goes
# to OUT/run.log.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${LOWMEM_BUILD_DIR:-$root/build}"
out="${1:-$root/out/bench-cpu-bignet}"
py=/usr/bin/python3
if ! $py -c "import torch" 2>/dev/null; then
  echo "cpu-bignet.sh: needs PyTorch for the peer: apt-get install python3-torch libopenblas0-pthread" >&2
  exit 1
fi
export PATH="$build/bin:$PATH"
export LOWMEM_NUM_THREADS="${LOWMEM_NUM_THREADS:-$(nproc)}"
export OPENBLAS_NUM_THREADS="$LOWMEM_NUM_THREADS" OMP_NUM_THREADS="$LOWMEM_NUM_THREADS"
dim="${BIGNET_DIM:-1024}"; depth="${BIGNET_DEPTH:-6}"
repeat="${REPEAT:-9}"
read -r -a batches <<< "${BATCHES:-1 16 64 256}"
mkdir -p "$out"
exec > >(tee "$out/run.log") 2>&1

echo "== $(date -u +%FT%TZ), lowmem $(git -C "$root" rev-parse --short HEAD), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), $LOWMEM_NUM_THREADS threads"
echo "== libblas.so.3 (PyTorch's BLAS): $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || echo none)"
inputs=()
for b in "${batches[@]}"; do
  $py "$root/examples/bignet/generate.py" --dim "$dim" --depth "$depth" \
    -o "$out/bignet.safetensors" --input-batch "$b" -x "$out/x$b.npy" > /dev/null
  inputs+=("$out/x$b.npy")
done
lowmem-import --arch=bignet "$out/bignet.safetensors" -o "$out/bignet.mlir"

median() { tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
formats=("f32|--format=f32" "int8|--format=int8"
  "nf4+dq|--format=nf4 --block-size=64 --double-quant")
for f in "${formats[@]}"; do
  name="${f%%|*}"; flags="${f#*|}"
  exe="$out/bignet-${name//+/-}"
  # shellcheck disable=SC2086
  lowmem-compile "$out/bignet.mlir" -o "$exe" --target=cpu $flags
  for b in "${batches[@]}"; do
    times=()
    for _ in $(seq "$repeat"); do
      t=$("$exe" --weights "$out/bignet.safetensors" --input "$out/x$b.npy" \
        --output "$out/lowmem-$name-x$b.npy" --report |
        awk '/^  time /{print $2}')
      times+=("$t")
    done
    echo "lowmem $name x$b batch $b: median $(echo "${times[*]}" | median) ms; all ${times[*]}"
  done
done
$py "$root/bench/cpu/torch_bignet.py" --weights "$out/bignet.safetensors" \
  --threads "$LOWMEM_NUM_THREADS" --repeat "$repeat" --output-dir "$out" \
  "${inputs[@]}"
# The two f32 models are the same model.
for b in "${batches[@]}"; do
  $py - "$out/lowmem-f32-x$b.npy" "$out/torch-x$b.npy" <<'PY'
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
print(f"f32 outputs, lowmem vs torch, batch {a.shape[0]}: max_rel "
      f"{float(np.abs(a - b).max() / np.abs(b).max()):.2e}")
PY
done
