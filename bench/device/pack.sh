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
# Name `.device` and `.gl` in the device tool's `carry`. The 64 MiB a device call may send hold the
# tracked files too (36 MiB in round 27, 11 MiB when the packing was first made): the end prints the sum and
# fails above it. Re-run after a rebuild: dist.tar.gz is cheap, base.tar.xz is
# rebuilt only when missing or with FRESH=1 (it takes a few minutes of one core).
set -euo pipefail
cd "$(dirname "$0")/../.."
LIMIT_MIB=64
mkdir -p .device .gl

[ -d packages/llama3/dist ] || { echo "pack: no dist/ folders — run 'npm run build' first" >&2; exit 1; }

if [ ! -f .device/base.tar.xz ] || [ "${FRESH:-0}" = 1 ]; then
  # Symbols are no use there and are a tenth of the binary.
  strip -o /tmp/node-stripped "$(command -v node)"
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
    --exclude='node_modules/esbuild' --exclude='node_modules/@esbuild' --exclude='node_modules/protobufjs/cli' \
    --exclude='node_modules/fluent-ffmpeg/coverage' --exclude='node_modules/fluent-ffmpeg/doc' \
    --exclude='node_modules/usearch/numkong' --exclude='node_modules/usearch/c' --exclude='node_modules/usearch/cpp' \
    --exclude='node_modules/usearch/cmake' --exclude='node_modules/usearch/include' \
    --exclude='node_modules/usearch/prebuilds/darwin*' --exclude='node_modules/usearch/prebuilds/linux-arm64' \
    --transform "s,^tmp/node-stripped,bin/node," \
    -C / tmp/node-stripped -C "$PWD" node_modules \
    | nice -n 5 xz -T1 -6 > .device/base.tar.xz.tmp
  mv .device/base.tar.xz.tmp .device/base.tar.xz
  rm -f /tmp/node-stripped
fi

find . -path ./node_modules -prune -o -type d -name dist -not -path '*/node_modules/*' -print \
  | sed 's,^\./,,' | sort | tar -czf .device/dist.tar.gz.tmp -T -
mv .device/dist.tar.gz.tmp .device/dist.tar.gz

# The Vulkan loader and the GL vendor-neutral dispatch libraries: the H200 host's NVIDIA Vulkan ICD is
# libGLX_nvidia.so.0, which does not load without libglvnd (round 27: with libvulkan1 alone, "Found no drivers").
# The font and fontconfig's configuration: the world's written words are drawn through them (round 29: without them the
# host drew no words and the generator did not notice; it now refuses, datasets/src/fonts.ts).
if ! ls .gl/libvulkan1_*.deb .gl/libglvnd0_*.deb .gl/fonts-dejavu-core_*.deb .gl/fontconfig-config_*.deb >/dev/null 2>&1; then
  (cd .gl && apt-get download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2 fonts-dejavu-core fontconfig-config >/dev/null) || { echo "pack: could not fetch the Vulkan / glvnd packages (apt-get update first?)" >&2; exit 1; }
fi

carry=$(du -cb .device/base.tar.xz .device/dist.tar.gz .gl/*.deb | tail -1 | cut -f1)
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | awk '$2 == "total" { s += $1 } END { print s + 0 }')
du -h .device/base.tar.xz .device/dist.tar.gz .gl/*.deb
total=$((carry + tracked))
echo "carry: .device .gl — $((carry / 1048576)) MiB; with the tracked files ($((tracked / 1048576)) MiB) $((total / 1048576)) MiB of ${LIMIT_MIB}"
[ "$total" -le $((LIMIT_MIB * 1048576)) ] || { echo "pack: tracked files + carry are over the device call's ${LIMIT_MIB} MiB: run bench/device/slim-tree.sh (then git reset --hard HEAD after the call)" >&2; exit 1; }
