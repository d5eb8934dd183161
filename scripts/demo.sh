#!/usr/bin/env bash
# One command from a fresh clone to the main job: install, build, generate the synthetic world
# (tiny size), then talk to the built-in mini language core.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
# onnxruntime-node's install script would download the CUDA provider; CUDA stays optional.
ONNXRUNTIME_NODE_INSTALL=skip npm ci
npm run build
npx turbo run generate --filter=@herd/datasets
node apps/cli/dist/main.js text eval --n 25
node apps/cli/dist/main.js generate --chat --prompt "Here is a picture. A big red circle on the left and two small blue squares on the right. What colour is the circle?" --max-tokens 40
node apps/cli/dist/main.js generate --prompt "a small green triangle" --max-tokens 24
