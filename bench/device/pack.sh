#!/usr/bin/env bash
# Packs what the GPU-session scripts need on the device machine, which has no Node or npm
# (bench/device/setup.sh unpacks it there):
#   .device/base.tar.xz  this machine's node binary as bin/node, and node_modules without what a run
#                        there never loads (other platforms' onnxruntime binaries, onnxruntime-web's
#                        browser builds, the type checker, test and build tools) nor the OCR engine and
#                        speech synthesiser (curation OCR and speech-corpus generation stay on this machine:
#                        carry their output instead)
#   .device/dist.tar.gz  every built dist/ folder (run `npm run build` first)
#   .gl/*.deb            the Vulkan loader (WebGPU there needs it; Debian's libvulkan1)
# Name `.device` and `.gl` in the device tool's `carry`; they must fit in 64 MiB together (printed at
# the end; the script fails above it). Re-run after a rebuild: dist.tar.gz is cheap, base.tar.xz is
# rebuilt only when missing or with FRESH=1 (it takes a few minutes of one core).
set -euo pipefail
cd "$(dirname "$0")/../.."
LIMIT_MIB=64
mkdir -p .device .gl

[ -d packages/llama3/dist ] || { echo "pack: no dist/ folders — run 'npm run build' first" >&2; exit 1; }

if [ ! -f .device/base.tar.xz ] || [ "${FRESH:-0}" = 1 ]; then
  node=$(command -v node)
  # Only what a GPU session loads: linux-x64 onnxruntime-node; no browser, test, type-check or monorepo tools.
  tar -cf - \
    --exclude='node_modules/onnxruntime-node/bin/napi-v*/darwin' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v*/win32' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v*/linux/arm64' \
    --exclude='node_modules/onnxruntime-web/dist' \
    --exclude='node_modules/typescript' --exclude='node_modules/@turbo' --exclude='node_modules/turbo' \
    --exclude='node_modules/playwright-core' --exclude='node_modules/vitest' --exclude='node_modules/@vitest' \
    --exclude='node_modules/vite' --exclude='node_modules/rollup' --exclude='node_modules/@rollup' \
    --exclude='node_modules/@types' --exclude='node_modules/.cache' \
    --exclude='node_modules/tesseract.js-core' --exclude='node_modules/@tesseract.js-data' --exclude='node_modules/espeak-ng' \
    --transform "s,^${node#/},bin/node," \
    -C / "${node#/}" -C "$PWD" node_modules \
    | nice -n 5 xz -T1 -6 > .device/base.tar.xz.tmp
  mv .device/base.tar.xz.tmp .device/base.tar.xz
fi

find . -path ./node_modules -prune -o -type d -name dist -not -path '*/node_modules/*' -print \
  | sed 's,^\./,,' | sort | tar -czf .device/dist.tar.gz.tmp -T -
mv .device/dist.tar.gz.tmp .device/dist.tar.gz

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  (cd .gl && apt-get download libvulkan1 >/dev/null) || { echo "pack: could not fetch libvulkan1 (apt-get update first?)" >&2; exit 1; }
fi

total=$(du -cb .device/base.tar.xz .device/dist.tar.gz .gl/*.deb | tail -1 | cut -f1)
du -h .device/base.tar.xz .device/dist.tar.gz .gl/*.deb
echo "carry: .device .gl — $((total / 1048576)) MiB of ${LIMIT_MIB}"
[ "$total" -le $((LIMIT_MIB * 1048576)) ] || { echo "pack: over the ${LIMIT_MIB} MiB carry limit" >&2; exit 1; }
