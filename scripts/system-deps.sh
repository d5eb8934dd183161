#!/usr/bin/env bash
# System packages herd uses (Debian bookworm). Safe to re-run; does nothing without root/apt.
#   ffmpeg               video clips of the synthetic world (datasets/), frame sampling
#   fonts-dejavu-core    words written into rendered scenes
#   libvulkan1           the Vulkan loader WebGPU needs on Linux
#   mesa-vulkan-drivers  (bookworm-backports, ≥ 25) a software Vulkan driver, so WebGPU runs without a GPU
#   redis-server         the shard-task queue (BullMQ) for curation across machines, and its test
set -euo pipefail
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not root or no apt-get; install ffmpeg, fonts-dejavu-core, libvulkan1, redis-server and mesa-vulkan-drivers (>= 25) yourself" >&2
  exit 0
fi
if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > /etc/apt/sources.list.d/herd-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq ffmpeg fonts-dejavu-core libvulkan1 redis-server >/dev/null
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null || echo "system-deps: mesa-vulkan-drivers from bookworm-backports unavailable; WebGPU tests will be skipped" >&2
