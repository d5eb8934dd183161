#!/usr/bin/env bash
# The GPU-machine session: makes the Hugging Face parity fixtures and runs the engine-step benchmark
# through WebGPU (with PyTorch CUDA as the peer) and on the CPU, in one go. The machine has no Node
# or npm: the Node binary, the runtime node_modules and our built dist/ folders travel as
# .device/bundle.tar.xz, and the Vulkan loader as .gl/*.deb (see the README's GPU section).
set -u
source bench/device/setup.sh
node --version
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'

if [ -z "${SKIP_FIXTURES:-}" ]; then echo "== parity fixtures"
mkdir -p /tmp/fx && PYTHONUNBUFFERED=1 python3 packages/llama3/fixtures/make_hf_fixtures.py /tmp/fx 2>&1 | tail -5
(cd /tmp/fx && tar -cf "$OUT/fixtures.tar" .); fi

echo "== engine-step webgpu vs pytorch cuda"
timeout 240 node bench/dist/engine-step.js --device webgpu --torch-device cuda --python python3 --steps 20 2>&1 | tail -12
if [ -z "${SKIP_CPU:-}" ]; then echo "== engine-step cpu (16 cores) vs pytorch cpu"
timeout 150 node bench/dist/engine-step.js --device cpu --torch-device cpu --python python3 --steps 10 2>&1 | tail -8; fi
cp bench/results/*.json "$OUT/" 2>/dev/null
ls -la "$OUT"
