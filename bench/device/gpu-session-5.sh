#!/usr/bin/env bash
# Fifth GPU session (round 29; issue 9): the mini vision line trained on the GPU, many runs side by side
# (bench/device/vision-sweep.mjs schedules them against a deadline): the ink encoder I (made on the VM; committed after the session)
# under the shipped adapter line, seeds 1–3; a patch-4 encoder (`mini-patch4`, ink + word head) trained there
# in a time box and, if its probes pass the gate, the shipped line on it; more seeds of EWI; E seed 1 (the
# shipped checkpoint's line) as a check that WebGPU training lands where the CPU's did.
# The checkpoints come back in $OUT/ck-N.tar (three each) and are scored on the VM with `herd vision eval`;
# $OUT/sweep.tar.gz holds the encoders, every run's timestamped log, the GPU's utilisation and summary.json.
#
#   here:  bash bench/device/pack.sh; mkdir -p .device/enc && cp -r EWI .device/enc/;   (I is packages/vision/weights/mini-ink-encoder since round 29)
#          SLIM_KEEP=packages/vision/weights/mini-shape-encoder SLIM_ALSO=packages/vision/weights/mini bash bench/device/slim-tree.sh
#   device run (timeout_s 600, carry .device .gl): bash bench/device/gpu-session-5.sh
#   here, after: git reset --hard HEAD
#
# Environment: SWEEP_SECONDS (from this script's start to the sweep's deadline; 490), IMAGES (3000: the vision
# card's world, seed 11), OUT, WORK, and vision-sweep.mjs's own (DEVICE, QA_STEPS, ENC_SECONDS, …).
# Try it here: DEVICE=cpu IMAGES=300 SWEEP_SECONDS=240 QA_STEPS=40 MIN_QA_STEPS=20 ENC_SECONDS=20 CAL_STEPS=100 \
#   QA_BATCH=2 EXTRA_ENC="--batch 2" I_DIR=… EWI_DIR=… NO_SETUP=1 OUT=/tmp/out bash bench/device/gpu-session-5.sh
set -u
T0=$(date +%s)
export OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/session.log") 2>&1
WORK=${WORK:-/tmp/gpu-session-5}
IMAGES=${IMAGES:-3000}
SWEEP_SECONDS=${SWEEP_SECONDS:-490}
rm -rf "$WORK" && mkdir -p "$WORK/sweep"
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }

# NO_SETUP=1 for a try on the VM (setup.sh unpacks Node and the dist/ folders over the checkout).
[ -f .device/base.tar.xz ] && [ -z "${NO_SETUP:-}" ] && source bench/device/setup.sh
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > "$WORK/sweep/gpu-utilisation.csv" 2>&1 &
  SMI=$!
fi
stamp "setup done; node $(node --version)"

node datasets/dist/cli.js generate --size tiny --only images --count images="$IMAGES" --noise-rate 0 --seed 11 --out "$WORK/world" | tail -1
# The VM's world of the same command (the vision card's): a host that draws the words otherwise differs here.
WORLD_SHA=${WORLD_SHA:-a65eac7e60feedc7b8e003c88b5917efc80e5e730dd44d5777e9939a8ff9cc3f}
sha=$(sha256sum "$WORK/world/images/index.jsonl" | cut -d' ' -f1)
[ "$IMAGES" != 3000 ] || { [ "$sha" = "$WORLD_SHA" ] && echo "world index $sha: the VM's" || echo "world index $sha DIFFERS from the VM's $WORLD_SHA"; }
stamp "world made"

DATA=$WORK/world/images WORK=$WORK/sweep DEADLINE=$((T0 + SWEEP_SECONDS)) \
  I_DIR=${I_DIR:-packages/vision/weights/mini-ink-encoder} EWI_DIR=${EWI_DIR:-.device/enc/EWI} node bench/device/vision-sweep.mjs
stamp "sweep ended (rc $?)"
[ -n "${SMI:-}" ] && kill "$SMI" 2>/dev/null

# Three checkpoints a tar (≤ 16 MiB a file comes back), without the tiny in-training eval.
cd "$WORK/sweep/ck" 2>/dev/null && ls | xargs -r -n 3 | nl -w1 -s' ' | while read -r n names; do
  # shellcheck disable=SC2086 # a list of folder names
  tar -cf "$OUT/ck-$n.tar" $names
done
cd "$WORK/sweep" && tar -czf "$OUT/sweep.tar.gz" --exclude=ck --exclude='*-calibration' . && cp summary.json "$OUT/" 2>/dev/null
stamp "done"; ls -la "$OUT"
