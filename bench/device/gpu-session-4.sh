#!/usr/bin/env bash
# Fourth GPU session (round 27; issues 9 and 12), every part independent and under its own timeout:
#   1. more HF Mllama parity cases (wide, tall, text before the image, two images apart and adjacent) made
#      by packages/vision/fixtures/mllama-tiny/make_more_cases.py with the host's transformers + torch
#      → $OUT/mllama-more.tar.gz (more_cases.json, the PNGs, the pixel values as .npy);
#   2. the mini vision, speech and video adapter steps on WebGPU against PyTorch CUDA;
#   3. the same on the host's CPU cores against PyTorch CPU;
#   → $OUT/adapter-step.tar.gz (bench/results/adapter-step-*.json), $OUT/session.log (every table), $OUT/gpu.txt.
# Parts 2 and 3 need Node, which the device machine lacks: `bash bench/device/pack.sh` here packs it into
# .device/ (+ the Vulkan loader in .gl/), named in the device tool's carry. Without .device/ (it may not fit
# the 64 MiB with the tracked tree: pack.sh prints the sum) those parts time only the PyTorch peers, from
# the shapes in bench/device/adapter-peer/ (`adapter-step.js --peer-config` writes them).
#
#   device run: bash bench/device/gpu-session-4.sh        (carry .device .gl, or nothing)
#
# Environment: DEVICE (webgpu), TORCH_DEVICE (cuda), STEPS (20 timed GPU steps), CPU_STEPS (5), PY (python3:
# the one with torch and transformers), NO_PY=1 (skip the fixture part and every PyTorch peer), OUT.
# Try it here on a clean copy: DEVICE=cpu TORCH_DEVICE=cpu STEPS=1 CPU_STEPS=1 NO_PY=1 OUT=/tmp/out bash bench/device/gpu-session-4.sh
set -u
export OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/session.log") 2>&1
T0=$(date +%s)
DEVICE=${DEVICE:-webgpu}
TORCH_DEVICE=${TORCH_DEVICE:-cuda}
STEPS=${STEPS:-20}
CPU_STEPS=${CPU_STEPS:-5}
PY=$(command -v "${PY:-python3}" || echo python3)
NO_PY=${NO_PY:-0}
WORK=${WORK:-/tmp/gpu-session-4}
rm -rf "$WORK" && mkdir -p "$WORK"
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }

if [ -f .device/base.tar.xz ]; then
  source bench/device/setup.sh
  HERD=1
else
  HERD=0
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
  stamp "no .device/ carried: herd's steps are skipped, the PyTorch peers run alone"
fi

if [ "$NO_PY" != 1 ]; then
  stamp "== 1. more HF Mllama cases ($PY)"
  PYTHONUNBUFFERED=1 timeout 75 "$PY" packages/vision/fixtures/mllama-tiny/make_more_cases.py "$WORK/mllama-more"
  echo "make_more_cases.py: exit $?"
  [ -d "$WORK/mllama-more" ] && tar -czf "$OUT/mllama-more.tar.gz" -C "$WORK" mllama-more && du -h "$OUT/mllama-more.tar.gz"
fi

# One adapter step comparison: herd on $1 against the peer on $2 (or the peer alone without Node).
adapter() {
  local model=$1 device=$2 torch=$3 steps=$4 limit=$5 peer=()
  [ "$NO_PY" = 1 ] && peer=(--no-torch)
  if [ "$HERD" = 1 ]; then
    stamp "== adapter step: $model, herd $device vs pytorch $torch ($steps steps)"
    timeout "$limit" node bench/dist/adapter-step.js --model "$model" --device "$device" --torch-device "$torch" --python "$PY" \
      --steps "$steps" --warmup 3 "${peer[@]}" 2>&1 | grep -v '^Warning: maxDynamicStorageBuffers' | tail -6
  elif [ "$NO_PY" != 1 ]; then
    stamp "== adapter step: $model, pytorch $torch alone ($steps steps)"
    local cfg
    cfg=$("$PY" -c 'import json, os, sys; c = json.load(open(sys.argv[1])); c.update(device=sys.argv[2], steps=int(sys.argv[3]), warmup=3, threads=os.cpu_count()); print(json.dumps(c))' \
      "bench/device/adapter-peer/$model.json" "$torch" "$steps")
    mkdir -p bench/results
    timeout "$limit" "$PY" bench/pytorch/adapter_step.py "$cfg" | tee "bench/results/adapter-step-$model-pytorch-$torch.json"
  fi
}

for m in vision speech video; do adapter "$m" "$DEVICE" "$TORCH_DEVICE" "$STEPS" 70; done
for m in vision speech video; do adapter "$m" cpu cpu "$CPU_STEPS" 40; done

ls bench/results/adapter-step-*.json >/dev/null 2>&1 && tar -czf "$OUT/adapter-step.tar.gz" bench/results/adapter-step-*.json
stamp "done"; ls -la "$OUT"
