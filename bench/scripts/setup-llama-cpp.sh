#!/usr/bin/env bash
# Installs node-llama-cpp for the generation benchmark (bench/src/generate-throughput.ts) into
# bench/llama-cpp/node_modules (git-ignored): the locked JavaScript package without its optional
# binaries, then only the prebuilt CPU binary for this platform (~70 MB, not the ~620 MB of CUDA and
# Vulkan builds a plain install brings). Nothing else in herd needs it; `npm ci` leaves it out.
set -euo pipefail
cd "$(dirname "$0")/../llama-cpp"
version=$(node -p "require('./package.json').dependencies['node-llama-cpp']")
platform=$(node -p "({ darwin: 'mac', win32: 'win' })[process.platform] ?? process.platform")-$(node -p process.arch)
[ "$platform" = mac-arm64 ] && platform=mac-arm64-metal
npm ci --omit=optional --ignore-scripts --no-audit --no-fund
npm install --no-save --omit=optional --ignore-scripts --no-audit --no-fund "@node-llama-cpp/$platform@$version"
echo "node-llama-cpp $version with @node-llama-cpp/$platform in $(pwd)/node_modules ($(du -sh node_modules | cut -f1))"
