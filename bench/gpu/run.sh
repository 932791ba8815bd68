#!/usr/bin/env bash
# Runs the kit bench/gpu/prepare.sh built on a machine with an NVIDIA GPU,
# PyTorch and transformers, in order of what matters most, each stage under
# a time limit, writing each result as it comes (a stage cut short leaves
# the others'):
#
#   1. tiny Qwen2 and LLaMA checkpoints: the compiled forward's logits (f32,
#      nf4 + double quant) against the numpy reference of the same weights
#      (1e-4) and against transformers' forward (f32, eager; 1e-4);
#      generation with f16 and int8 KV caches checked as the CPU tests check
#      it; a QLoRA run whose loss must fall; predicted peak = measured.
#   2. the 1.5B shape, random bf16 weights made by transformers: generation
#      (prompt 512, 128 new tokens) by lowmem (4-bit, f16 cache) and by
#      transformers (bf16; nf4 too if bitsandbytes is present), tokens/s and
#      peak memory side by side.
#   3. the same, a QLoRA training step at 1024 / 4096 / 16384 tokens, rank
#      8: lowmem's measured peak against transformers + peft with gradient
#      checkpointing (bf16 base; nf4 if bitsandbytes is present).
#
#   bench/gpu/run.sh KIT_DIR OUT_DIR      (OUT_DIR/summary.txt at the end)
#
# On the device tool, with the kit built here into build/gpu-kit:
#   run(command="bench/gpu/run.sh build/gpu-kit $OUT", carry=["build/gpu-kit"],
#       timeout_s=600)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kit=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
out=$(cd "$out" && pwd)
py=${PY:-python3}
hf="$here/hf.py"
work=$(mktemp -d)
status=0
log() { echo "[$(date +%T)] $*" | tee -a "$out/run.log"; }
# The whole run stays within RUN_BUDGET seconds (the device tool allows a
# command 600): a stage's limit is cut to what is left, and a stage that
# would get under 20 seconds is skipped.
budget=${RUN_BUDGET:-540}
# ONLY (an extended regular expression) picks stages by name, e.g.
# ONLY='tiny-|big-weights|big-gen-lowmem' for a short check (the tiny
# checkpoints, with the checked binaries and compute-sanitizer if they fail;
# the 1.5B generation) or
# ONLY='tiny-|big-weights|big-train-lowmem' for the training stages.
only=${ONLY:-.}
# stage NAME SECONDS CMD...: runs CMD under the limit, its output in NAME.log.
stage() {
  local name=$1 limit=$2 left=$((budget - SECONDS))
  shift 2
  grep -Eq -- "$only" <<< "$name" || return 0
  [ "$limit" -le "$left" ] || limit=$left
  if [ "$limit" -lt 20 ]; then
    log "skip $name: ${left}s left of the budget"
    status=1
    return 1
  fi
  log "start $name (limit ${limit}s)"
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  log "end $name: exit $rc"
  [ $rc -eq 0 ] || status=1
  return $rc
}

{ nvidia-smi; $py -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  $py -c "import peft; print('peft', peft.__version__)"
  $py -c "import bitsandbytes; print('bitsandbytes', bitsandbytes.__version__)"
  cat "$kit/commit.txt"; } > "$out/env.log" 2>&1
bnb=0
$py -c "import bitsandbytes" 2>/dev/null && bnb=1

sanitizer=$(compgen -G "/usr/local/cuda*/bin/compute-sanitizer" | head -1)
for arch in qwen2 llama; do
  # On a failure, what the next fix needs: the bounds-checked binaries name
  # a kernel's access outside its buffer (kernel, access, model location),
  # and compute-sanitizer the forward's first memory error.
  t="$kit/tiny/$arch"
  stage "tiny-$arch" 90 "$here/tiny.sh" "$kit" "$arch" "$out" || {
    # shellcheck disable=SC2016  # expanded by the inner bash
    stage "tiny-checked-$arch" 60 bash -c '"$1/train-checked" --weights "$1/model/model.safetensors" \
        --input "$1/ids.npy" --target "$1/labels.npy" --init-adapter --steps 1 --lr 1e-2 &&
      "$1/gen-checked" --weights "$1/model/model.safetensors" --input "$1/ids.npy" \
        --max-new-tokens 4 --output "$2/checked-ids.npy"' - "$t" "$work"
    [ -n "$sanitizer" ] &&
    stage "tiny-sanitize-$arch" 60 "$sanitizer" --print-limit 3 "$t/fwd" \
      --weights "$t/model/model.safetensors" --input "$t/ids.npy" \
      --output "$work/sanitized.npy"; }
done

big="$kit/big" bw="$work/big"
mkdir -p "$bw"
if stage big-weights 120 "$py" "$hf" make --config "$big/config.json" -o "$bw/model"; then
  weights="$bw/model/model.safetensors"
  [ -f "$weights" ] || weights="$bw/model/model.safetensors.index.json"
  $py -c "import numpy as np; np.save('$bw/prompt.npy', np.random.default_rng(1).integers(0, 151936, (1, 512), dtype=np.int64))"
  stage big-gen-lowmem 150 env LOWMEM_PROFILE_KERNELS=20 "$big/gen" --weights "$weights" --input "$bw/prompt.npy" --max-new-tokens 128 \
    --output "$bw/ids.npy" --report --report-json "$out/big-gen-lowmem.json"
  stage big-gen-hf-bf16 90 "$py" "$hf" generate --model "$bw/model" --prompt "$bw/prompt.npy" --new 128 \
    -o "$out/big-gen-hf-bf16.json"
  [ $bnb = 1 ] && stage big-gen-hf-nf4 90 "$py" "$hf" generate --model "$bw/model" --prompt "$bw/prompt.npy" \
    --new 128 --format nf4 -o "$out/big-gen-hf-nf4.json"
  for seq in 1024 4096 16384; do
    $py -c "import numpy as np; x = np.random.default_rng(2).integers(0, 151936, (1, $seq), dtype=np.int64); np.save('$bw/ids-$seq.npy', x); y = np.full_like(x, -100); y[:, :-1] = x[:, 1:]; np.save('$bw/labels-$seq.npy', y)"
    # Two steps (the second's time is warm) but at 16384 tokens, where one
    # step measures the peak.
    steps=2; [ $seq = 16384 ] && steps=1
    # The kernels' times go to the stage's log (LOWMEM_PROFILE_KERNELS: the
    # table so far every 20 s, and at exit), so a step cut short still says
    # where its time went.
    stage big-train-lowmem-$seq "${TRAIN_LIMIT:-150}" env LOWMEM_PROFILE_KERNELS=20 "$big/train" --weights "$weights" --input "$bw/ids-$seq.npy" \
      --target "$bw/labels-$seq.npy" --init-adapter --steps $steps --lr 1e-4 --report \
      --report-json "$out/big-train-lowmem-$seq.json"
    fmt=bf16; [ $bnb = 1 ] && fmt=nf4
    stage big-train-hf-$fmt-$seq 120 "$py" "$hf" train --model "$bw/model" --seq $seq --rank 8 \
      --format $fmt -o "$out/big-train-hf-$fmt-$seq.json"
  done
fi

$py - "$out" > "$out/summary.txt" <<'PYEOF'
import glob, json, os, sys
out = sys.argv[1]
MB = 2 ** 20
def get(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except Exception:
        return None
print("stage results (run.log has each exit status):")
print(open(os.path.join(out, "run.log")).read())
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(f))
    keep = {k: v for k, v in r.items() if not isinstance(v, list) or len(v) <= 8}
    print(os.path.basename(f), json.dumps(keep)[:600])
PYEOF
cat "$out/summary.txt"
rm -rf "$work"
exit $status
