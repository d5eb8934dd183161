#!/usr/bin/env bash
# Third GPU session: the engine step after the shared additive mask bias (WebGPU f32 vs PyTorch
# CUDA; 16 CPU cores vs PyTorch CPU) and where a WebGPU step's kernel dispatch time goes.
set -u
source bench/device/setup.sh
echo "== webgpu f32 vs pytorch cuda"
timeout 150 node bench/dist/engine-step.js --device webgpu --torch-device cuda --python python3 --steps 30 2>&1 | tail -6
echo "== cpu 16 cores vs pytorch cpu"
timeout 150 node bench/dist/engine-step.js --device cpu --torch-device cpu --python python3 --steps 10 2>&1 | tail -5
echo "== webgpu profile"
timeout 100 node bench/dist/profile-step.js --device webgpu --steps 3 2>&1 | tail -14
cp bench/results/*.json "$OUT/" 2>/dev/null
