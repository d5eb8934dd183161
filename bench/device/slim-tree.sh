#!/usr/bin/env bash
# Makes the checkout small enough for a device call that carries Node (.device, .gl: ~50 MiB of the 64 MiB a
# call may send, tracked files included): removes from the index and the disk the tracked paths no GPU
# session reads — the datasets sample, the speech and video weights, the vision weights other than the
# committed adapter, every parity fixture, bench/recorded, docs — leaving the mini core, the mini vision
# checkpoint (the video step's frozen image model), the code and the scripts (~14 MiB in round 27).
# A session that needs one of these paths must take it off the list. Undo after the call with
#   git reset --hard HEAD
# which is why it refuses to run with uncommitted changes. Round 27's GPU session ran this way.
# SLIM_KEEP="path …" keeps listed paths of the list; SLIM_ALSO="path …" takes more out (round 29: the
# vision sweep keeps the shape encoder and drops the vision checkpoint it does not read).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -z "$(git status --porcelain --untracked-files=no)" ] || { echo "slim-tree: commit or stash your changes first (the undo is git reset --hard HEAD)" >&2; exit 1; }
PATHS=(datasets/sample packages/video/weights packages/speech/weights packages/speech/fixtures
  packages/vision/weights/mini-clip packages/vision/weights/mini-copy-detect packages/vision/weights/mini-encoder
  packages/vision/weights/mini-shape-encoder packages/vision/fixtures packages/llama3/fixtures bench/recorded docs)
# shellcheck disable=SC2206 # space-separated lists of paths
PATHS+=(${SLIM_ALSO:-})
keep=" ${SLIM_KEEP:-} "
present=()
for p in "${PATHS[@]}"; do [ -e "$p" ] && [[ "$keep" != *" $p "* ]] && present+=("$p"); done
git rm -r -q --cached "${present[@]}"
rm -rf "${present[@]}"
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | awk '$2 == "total" { s += $1 } END { print s + 0 }')
echo "slim-tree: tracked files now $((tracked / 1048576)) MiB; undo with: git reset --hard HEAD"
