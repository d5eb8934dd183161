#!/usr/bin/env bash
# A GPU session for the mini language core, which caps every modality's held-out QA (README, "What does
# not work yet"): the QA-balanced corpus generated on the host's CPU cores, the committed core
# continued through WebGPU for many more steps than the 2-core VM can give it (~1.3–2.2 s a step there:
# 2,600 steps took 97 min), then its scene-QA eval. Everything comes back in $OUT: the core folder
# (f16 weights, card, training.json), the training log, the eval table and answers.
#
#   bash bench/device/pack.sh        # here, once: .device/ and .gl/ (name both in the device tool's carry)
#   device run: STEPS=8000 bash bench/device/core-session.sh
#
# Environment: STEPS (8000), BATCH (16), LR (0.002), KEY_WORD_WEIGHT (5), DOCS (150000: core8's corpus-bal),
# DEVICE (webgpu), TRAIN_SECONDS (420: a run not done by then is stopped — choose fewer STEPS),
# EXTRA (more `herd text train` flags, e.g. "--untie-embeddings"), EVAL_N (100 scene questions per group),
# PER_TYPE (40 per question type and instruction task).
# Try it on the CPU first with a tiny run: DEVICE=cpu STEPS=4 DOCS=2000 EVAL_N=4 PER_TYPE=1 OUT=/tmp/out bash bench/device/core-session.sh
set -u
source bench/device/setup.sh
STEPS=${STEPS:-8000}
BATCH=${BATCH:-16}
LR=${LR:-0.002}
KEY_WORD_WEIGHT=${KEY_WORD_WEIGHT:-5}
DOCS=${DOCS:-150000}
DEVICE=${DEVICE:-webgpu}
TRAIN_SECONDS=${TRAIN_SECONDS:-420}
EVAL_N=${EVAL_N:-100}
PER_TYPE=${PER_TYPE:-40}
WORK=${WORK:-/tmp/core-session}
HERD="node apps/cli/dist/main.js"
rm -rf "$WORK" && mkdir -p "$WORK"
echo "== corpus: $DOCS documents (seed 7, QA-balanced, QA-heavy mix)"
t0=$(date +%s)
node datasets/dist/cli.js generate --size tiny --only text --seed 7 --count text="$DOCS" \
  --text-mix description=0.02,sentence=0.02,motion=0.02,dialogue=0.66,instruction=0.28 --qa-balance --out "$WORK/corpus" 2>&1 | tail -2
echo "corpus: $(( $(date +%s) - t0 )) s"

echo "== train: $STEPS steps of $BATCH × 128 on $DEVICE (stopped after ${TRAIN_SECONDS} s if not done)"
t0=$(date +%s)
# shellcheck disable=SC2086 # EXTRA is a list of flags
timeout "$TRAIN_SECONDS" $HERD text train --device "$DEVICE" --data "$WORK/corpus/text" --init packages/llama3/weights/mini --keep-vocab \
  --reply-loss --key-word-weight "$KEY_WORD_WEIGHT" --steps "$STEPS" --batch "$BATCH" --lr "$LR" ${EXTRA:-} --out "$WORK/run/core" \
  > "$OUT/train.log" 2>&1
rc=$?
echo "train: rc $rc, $(( $(date +%s) - t0 )) s"; tail -4 "$OUT/train.log"
cp "$WORK/run/.mini-checkpoints/train.jsonl" "$OUT/" 2>/dev/null
if [ ! -f "$WORK/run/core/model.safetensors" ]; then
  echo "no finished core (stopped after ${TRAIN_SECONDS} s?): last checkpoint $(ls "$WORK/run/.mini-checkpoints"/step-*.safetensors 2>/dev/null | tail -1); run again with fewer STEPS" | tee "$OUT/unfinished.txt"
  exit 1
fi
cp -r "$WORK/run/core" "$OUT/core"

echo "== eval: $EVAL_N scene questions per group, $PER_TYPE per type (CPU)"
t0=$(date +%s)
$HERD text eval --model "$OUT/core" --n "$EVAL_N" --per-type "$PER_TYPE" --answers "$OUT/answers.jsonl" > "$OUT/eval.txt" 2>&1
echo "eval: rc $?, $(( $(date +%s) - t0 )) s"; tail -30 "$OUT/eval.txt"
ls -la "$OUT" "$OUT/core"
