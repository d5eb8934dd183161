#!/usr/bin/env bash
# Second GPU session: the engine step after packing the training state, f32 and f16 compute on
# WebGPU, against PyTorch CUDA; and the 16-core CPU comparison. Same setup as gpu-session.sh.
set -u
source bench/device/setup.sh
echo "== webgpu f32 vs pytorch cuda"
timeout 150 node bench/dist/engine-step.js --device webgpu --torch-device cuda --python python3 --steps 30 2>&1 | tail -7
echo "== webgpu f16 (mixed precision)"
timeout 120 node bench/dist/engine-step.js --device webgpu --compute f16 --no-torch --steps 30 2>&1 | tail -6
echo "== cpu 16 cores vs pytorch cpu"
timeout 150 node bench/dist/engine-step.js --device cpu --torch-device cpu --python python3 --steps 10 2>&1 | tail -6
cp bench/results/*.json "$OUT/" 2>/dev/null
