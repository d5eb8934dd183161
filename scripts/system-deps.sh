#!/usr/bin/env bash
# System packages herd uses (Debian bookworm). Safe to re-run; does nothing without root/apt.
#   ffmpeg               video clips of the synthetic world (datasets/), frame sampling
#   fonts-dejavu-core    words written into rendered scenes
#   libvulkan1           the Vulkan loader WebGPU needs on Linux
#   mesa-vulkan-drivers  (bookworm-backports, ≥ 25) a software Vulkan driver, so WebGPU runs without a GPU
#   redis-server         the shard-task queue (BullMQ) for curation across machines, and its test
#   chromium             (no recommends) the chat page's browser test, driven by playwright-core; nothing is downloaded
# The backports entry reuses the archive this machine already uses for bookworm (its own mirror or
# proxy), so no mirror host is written here.
set -euo pipefail
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not root or no apt-get; install ffmpeg, fonts-dejavu-core, libvulkan1, redis-server, chromium and mesa-vulkan-drivers (>= 25) yourself" >&2
  exit 0
fi

# Prints "URI<TAB>signed-by" of the first enabled deb source for the suite 'bookworm', from the
# deb822 files (/etc/apt/sources.list.d/*.sources) or the one-line lists (sources.list, *.list).
bookworm_source() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v RS= '
      {
        types = ""; uris = ""; suites = ""; signed = ""; enabled = "yes"
        n = split($0, lines, "\n")
        for (i = 1; i <= n; i++) {
          line = lines[i]
          if (line ~ /^[ \t]*#/) continue
          key = tolower(line); sub(/:.*/, "", key)
          val = line; sub(/^[^:]*:[ \t]*/, "", val)
          if (key == "types") types = val
          else if (key == "uris") uris = val
          else if (key == "suites") suites = val
          else if (key == "signed-by") signed = val
          else if (key == "enabled") enabled = tolower(val)
        }
        if (enabled == "no" || (" " types " ") !~ / deb /) next
        if ((" " suites " ") ~ / bookworm /) { split(uris, u, /[ \t]+/); print u[1] "\t" signed; exit 0 }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '
      $1 == "deb" {
        signed = ""; i = 2
        if ($2 ~ /^\[/) {
          for (; i <= NF; i++) { if ($i ~ /^\[?signed-by=/) { signed = $i; sub(/^\[?signed-by=/, "", signed); sub(/\]$/, "", signed) } if ($i ~ /\]$/) { i++; break } }
        }
        if ($(i + 1) == "bookworm") { print $i "\t" signed; exit 0 }
      }' "$f"
  done
}

if ! grep -Eqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
  src=$(bookworm_source | head -n 1)
  if [ -z "$src" ]; then
    echo "system-deps: no apt source for Debian bookworm found, so bookworm-backports cannot be added; WebGPU tests will be skipped" >&2
  else
    uri=${src%%$'\t'*}
    signed=${src#*$'\t'}
    {
      echo "Types: deb"
      echo "URIs: $uri"
      echo "Suites: bookworm-backports"
      echo "Components: main"
      [ -n "$signed" ] && echo "Signed-By: $signed"
    } > /etc/apt/sources.list.d/herd-backports.sources
    echo "system-deps: added bookworm-backports from $uri" >&2
  fi
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq ffmpeg fonts-dejavu-core libvulkan1 redis-server >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null || echo "system-deps: chromium unavailable; the chat page's browser test will be skipped" >&2
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null || echo "system-deps: mesa-vulkan-drivers from bookworm-backports unavailable; WebGPU tests will be skipped" >&2
