#!/usr/bin/env bash
# The short GPU check: the tiny stages of run.sh, compute-sanitizer on the
# tiny forward when they fail, then the 1.5B generation by lowmem.
#   bench/gpu/quick.sh KIT_DIR OUT_DIR
here=$(cd "$(dirname "$0")" && pwd)
kit=$1 out=$2
mkdir -p "$out"
py=${PY:-python3}
for arch in qwen2 llama; do
  if ! timeout 60 "$here/tiny.sh" "$kit" "$arch" "$out" > "$out/tiny-$arch.log" 2>&1; then
    echo "== tiny $arch failed:"; tail -15 "$out/tiny-$arch.log"
    k="$kit/tiny/$arch"
    s=$(ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
    [ -n "$s" ] && timeout 60 "$s" --print-limit 2 "$k/fwd" --weights "$k/model/model.safetensors" \
      --input "$k/ids.npy" --output /tmp/y.npy 2>&1 | head -30
  else
    echo "== tiny $arch passed:"; grep -v "^wrote" "$out/tiny-$arch.log" | tail -40
  fi
done
w=$(mktemp -d)
timeout 40 "$py" "$here/hf.py" make --config "$kit/big/config.json" -o "$w/model" > /dev/null 2>&1 || exit 0
weights="$w/model/model.safetensors"
[ -f "$weights" ] || weights="$w/model/model.safetensors.index.json"
"$py" -c "import numpy as np; np.save('$w/prompt.npy', np.random.default_rng(1).integers(0, 151936, (1, 512), dtype=np.int64))"
timeout 100 "$kit/big/gen" --weights "$weights" --input "$w/prompt.npy" --max-new-tokens 128 \
  --output "$w/ids.npy" --report --report-json "$out/big-gen-lowmem.json" 2>&1 | tail -14
