#!/usr/bin/env bash
# Switch the mini herd onto a new language core in one command: check that the new core has the committed
# core's shape and vocabulary rows (so every adapter's tensors still fit), copy it into
# packages/llama3/weights/mini, then re-fit the vision adapters (both image checkpoints: packages/vision/weights/mini and the
# video model's own, packages/video/weights/mini-image), video and speech adapters on it with the re-train
# lines of their model cards, and remake what pins the core (reference logits, the core card's eval section).
# Run it on a machine to itself: 44 min on the 2-core CPU VM in round 12 with the corpora reused (vision 9 min,
# video 15 min of which 10 are the 800 clips' frozen features — cached per encoder + projector since round 17, so a
# refit that keeps them reuses the cache —, speech 15 min, evals ~5 min; one thread, nice 5),
# much less with HERD_DEVICE=cuda where the recipes run there.
# It fits a core of the committed core's lineage (continued with --init … --keep-vocab): the speech stage warm-starts
# from the adapter fitted to the committed core. A core trained from a fresh init has its own embedding space and
# needs each adapter's full recipe (round 15, a from-scratch core: speech joint WER 4.4 → 11.8%, README).
# Round 17's switch to such a core (the drill chain) fitted speech in stages instead: 1,500 steps on its ancestor
# core, then 4 × 600 on it (packages/speech/weights/mini/MODEL_CARD.md) — the single 600-step stage here would not do.
# Round 19's switch to the candidate core (a continuation) took 3 × 600 from the committed adapter, the last two with
# --task-repeat qa=3 (spoken QA 56.4 → 76.9%; the plain recipe got 69.2, 69.2, then 75.6% in its 4th). Round 20's switch
# (shape-by-place stages) took the two 600-step stages this script runs (spoken QA 56.4% unfitted → 85.9 → 88.5%).
#
#   scripts/refit-adapters.sh NEW_CORE_DIR            run everything
#   scripts/refit-adapters.sh NEW_CORE_DIR --dry-run  print the commands only
#
# Environment: VIDEO_DATA (default /work/data/vid6/clips800: 800 clips of writeClipWorld seed 12, the video
# card's data; made when missing), VIDEO_WORK (the video stages' scratch folder; default train/ beside the clips;
# the frozen features are cached beside the clips too), VISION_DATA (the vision card's 3,000 scenes of seed 11;
# default: the CLI's out/vision/images, made when missing), SPEECH_OUT (default out; the speech card's corpora
# SPEECH_OUT/speech-s1 and speech-s3 are generated there, one synthesis thread, unless a generation of the same
# seed, count and noise rate is already there), SPEECH_EVAL_DATA (the seed-2 held-out-voice set; default the
# CLI's out/speech-eval, made when missing), PYTHON (a Python with torch for the reference logits; default the
# first of python3, /usr/bin/python3 that imports torch), VIDEO_STAGE0=1 (re-run the video card's stage 0 even when the
# committed aggregator's frame features still match; it re-runs anyway when they do not, e.g. after a projector refit).
# Afterwards: run the adapters' tests (npx vitest run packages/vision/src/mini.test.ts packages/video/src/mini.test.ts
# packages/speech/src/mini.test.ts packages/llama3/src/mini.test.ts), compare each card's held-out table with the
# previous one against its blind control, and update the README rows; commit only what measured better.
# Like for like: measure both vision checkpoints with `herd vision eval --per-type 50 --count-balance` (the committed one
# from a checkout of the committed tree), as round 12 did (/work/notes/switch12.md) and round 27 (eye27b) did.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/refit-adapters.sh NEW_CORE_DIR [--dry-run]" >&2; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p'; exit 0 ;; esac
CORE=$1
DRY=0
[ $# -le 2 ] || usage
[ $# -lt 2 ] || { [ "$2" = --dry-run ] && DRY=1 || usage; }
VIDEO_DATA=${VIDEO_DATA:-/work/data/vid6/clips800}
SPEECH_OUT=${SPEECH_OUT:-out}
VIDEO_WORK_FLAG=""; [ -z "${VIDEO_WORK:-}" ] || VIDEO_WORK_FLAG=" --work '$VIDEO_WORK'"
VISION_DATA_FLAG=""; [ -z "${VISION_DATA:-}" ] || VISION_DATA_FLAG=" --data '$VISION_DATA'"
SPEECH_EVAL_FLAG=""; [ -z "${SPEECH_EVAL_DATA:-}" ] || SPEECH_EVAL_FLAG=" --eval-data '$SPEECH_EVAL_DATA'"
HERD="node apps/cli/dist/main.js"
MINI=packages/llama3/weights/mini

run() {
  echo "+ $*" >&2
  [ "$DRY" = 1 ] || bash -c "$*"
}
# A package's turbo `train` script (its committed checkpoint's recipe; tests keep it equal to the card's Re-train line), as run
# from the repository root: `$HERD PKG train …`, or an error naming the script.
package_train() { # PKG
  local line
  line=$(node -p "require('./packages/$1/package.json').scripts.train.replace(/^cd \.\.\/\.\. && /, '')")
  case "$line" in "$HERD $1 train "*) printf '%s' "$line" ;; *) echo "refit-adapters: packages/$1's train script is not a '$HERD $1 train' line: $line" >&2; exit 1 ;; esac
}

for f in config.json model.safetensors vocab.json MODEL_CARD.md training.json; do
  [ -f "$CORE/$f" ] || { echo "refit-adapters: $CORE/$f is missing (a core folder from 'herd train text --out DIR' holds it)" >&2; exit 1; }
done
# Same rows: the vocabulary file must be the committed one, byte for byte, and the architecture the same.
# Tying may go one way: an untied core continued from the tied committed one (train text --untie-embeddings)
# fits every adapter (they read the input embedding, model.embed_tokens.weight; only the output uses lm_head.weight).
cmp -s "$CORE/vocab.json" "$MINI/vocab.json" || { echo "refit-adapters: $CORE/vocab.json differs from $MINI/vocab.json: train the core with --init $MINI --keep-vocab" >&2; exit 1; }
node -e '
const [a, b] = process.argv.slice(1).map((d) => JSON.parse(require("fs").readFileSync(d + "/config.json", "utf8")));
const keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size", "vocab_size", "rope_theta"];
const bad = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
const tie = (c) => c.tie_word_embeddings === true;
if (tie(a) && !tie(b)) bad.push("tie_word_embeddings (the new core is tied, the committed one untied: an untied core cannot be tied again)");
if (bad.length) { console.error(`refit-adapters: the new core differs in ${bad.join(", ")}`); process.exit(1); }
if (!tie(a) && tie(b)) console.error("refit-adapters: the new core is untied (its own lm_head.weight), the committed one tied: fine, the adapters read only the input embedding");
' "$CORE" "$MINI"
# The reference-logits script needs PyTorch; find it before hours of training, not after (a dry run only prints).
if [ "$DRY" = 1 ]; then
  PYTHON=${PYTHON:-python3}
elif [ -n "${PYTHON:-}" ]; then
  "$PYTHON" -c 'import torch' 2>/dev/null || { echo "refit-adapters: PYTHON=$PYTHON cannot import torch (needed by packages/llama3/fixtures/make_mini_torch_reference.py)" >&2; exit 1; }
else
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' 2>/dev/null; then PYTHON=$p; break; fi
  done
  [ -n "${PYTHON:-}" ] || { echo "refit-adapters: no Python with torch found (tried python3, /usr/bin/python3); install python3-torch or set PYTHON=/path/to/python" >&2; exit 1; }
fi
# A speech generation already at DIR is reused when its manifest names the same seed, count and noise rate
# (the generator's output depends only on those); anything else there is an error, not silently overwritten.
speech_generation() { # SEED DIR
  local seed=$1 dir=$2
  if [ -f "$dir/speech/manifest.json" ]; then
    node -e '
const [file, seed] = process.argv.slice(1);
const info = JSON.parse(require("fs").readFileSync(file, "utf8")).info ?? {};
if (info.seed !== Number(seed) || info.count !== 1500 || info.noiseRate !== 0) {
  console.error(`refit-adapters: ${file} is not the seed-${seed} generation of 1500 clean utterances (info: ${JSON.stringify(info)}); move it away or set SPEECH_OUT`);
  process.exit(1);
}' "$dir/speech/manifest.json" "$seed"
    echo "refit-adapters: reusing the seed-$seed speech generation at $dir" >&2
  else
    run "node datasets/dist/cli.js generate --size small --only speech --count speech=1500 --noise-rate 0 --seed $seed --tts-threads 1 --out $dir"
  fi
}

run "npm run build"
# 1. The core itself, its card's eval section and the reference logits the loader test compares against.
# training.json (the run's report) goes too, or the folder would keep the previous core's.
run "cp '$CORE'/config.json '$CORE'/model.safetensors '$CORE'/vocab.json '$CORE'/MODEL_CARD.md '$CORE'/training.json $MINI/"
run "HERD_THREADS=\${HERD_THREADS:-1} $HERD eval text --update-card"
run "$PYTHON packages/llama3/fixtures/make_mini_torch_reference.py $MINI packages/llama3/fixtures/mini-hf-reference.json"
# 2. Vision adapter: the committed checkpoint's own recipe, read from packages/vision's `train` script (the card's Re-train
# line; a test keeps the two equal), so this script cannot drift from it; its eval (n = 50 per type, as the card's table)
# runs at the end.
VISION_TRAIN=$(package_train vision)
run "$VISION_TRAIN$VISION_DATA_FLAG --eval-per-type 50"
# 2b. The video model's own image checkpoint (packages/video/weights/mini-image, the video config's image.dir; round 27):
# a copy of round 20's vision checkpoint, re-fitted with the same line (its card's) so the video model keeps its own frames.
# Both image checkpoints are refitted: packages/vision/weights/mini may since have moved to another recipe (new encoder).
VIDEO_IMAGE=packages/video/weights/mini-image
run "$HERD vision train$VISION_DATA_FLAG --encoder-from packages/vision/weights/mini-encoder --clip-steps 0 --dense-steps 0 --dense-lr 0.003 --freeze-encoder --train-projector --qk-gain 2 --key-word-share 0.75 --key-word-types colour,shape,count,position,word --caption-steps 0 --zoom-steps 0 --single-steps 0 --qa-steps 2500 --gate-init 0.5 --batch 16 --lr 0.003 --seed 1 --out $VIDEO_IMAGE"
# 3. Video adapter (packages/video/weights/mini/MODEL_CARD.md), on its re-fitted image checkpoint (recorded as image.dir ../mini-image).
if [ ! -f "$VIDEO_DATA/manifest.json" ]; then
  run "node --input-type=module -e \"import { writeClipWorld } from '@herd/video'; await writeClipWorld({ out: '$VIDEO_DATA', count: 800, seed: 12 });\""
fi
PREV=$(mktemp -d)
trap 'rm -rf "$PREV"' EXIT
run "mkdir -p $PREV/video && for f in video.safetensors config.json; do git show HEAD:packages/video/weights/mini/\$f > $PREV/video/\$f; done"
# Keep the committed aggregator when it read these very frame features (the vision refit left encoder and projector
# bit for bit: --init, frozen; round 16 on cop15's core: moving vs static 100%); otherwise — since round 17 the vision
# recipe trains the projector — re-run the video card's stage 0 on the new features (round 17: 400 steps; 200 gave a
# less frame-sensitive aggregator; round 18: with the motion query, and 500 QA steps; round 19: object-motion tokens,
# which have no parameters and come with the checkpoint's config under --init, direction questions ×3, 1000 QA steps).
# VIDEO_STAGE0=1 forces stage 0.
STAGE0=${VIDEO_STAGE0:-0}
if [ "$DRY" = 0 ] && [ "$STAGE0" = 0 ]; then
  node --input-type=module -e "import { frameFeaturesSha } from '@herd/video'; import { readFileSync } from 'node:fs'; const c = JSON.parse(readFileSync('$PREV/video/config.json', 'utf8')); process.exit(c.image?.frameFeaturesSha256 === frameFeaturesSha('$VIDEO_IMAGE') ? 0 : 1);" || STAGE0=1
fi
# Stage 0 runs the video card's whole recipe, read from packages/video's `train` script (a test keeps it equal to the card's
# Re-train line); the warm refit keeps the committed aggregator and frame layout (--init) and trains 1,000 QA steps with the
# recipe's look loss.
if [ "$STAGE0" = 1 ]; then
  VIDEO_TRAIN=$(package_train video)
  run "$VIDEO_TRAIN --data '$VIDEO_DATA'$VIDEO_WORK_FLAG --vision $VIDEO_IMAGE"
else
  run "$HERD video train --data '$VIDEO_DATA'$VIDEO_WORK_FLAG --clips 800 --caption-steps 0 --qa-steps 1000 --batch 8 --lr 0.005 --seed 1 --eval-per-type 40 --vision $VIDEO_IMAGE --init $PREV/video --motion-tokens --qa-repeat direction=3 --look-weight 2 --look-layers 1"
fi
# 4. Speech adapter (packages/speech/weights/mini/MODEL_CARD.md, Re-train: --task-repeat qa=3 since round 19), warm-started
# from the committed checkpoint (the card's line starts from its predecessor; on a new core the committed one is the nearer start).
run "git show HEAD:packages/speech/weights/mini/speech.safetensors > $PREV/speech.safetensors && git show HEAD:packages/speech/weights/mini/config.json > $PREV/config.json"
speech_generation 1 "$SPEECH_OUT/speech-s1"
speech_generation 3 "$SPEECH_OUT/speech-s3"
# Two 600-step stages, each in its own work folder (a work folder resumes only the run that made it).
run "$HERD speech train --data $SPEECH_OUT/speech-s1/speech --data $SPEECH_OUT/speech-s3/speech --steps 600 --batch 8 --lr 0.0005 --warmup 10 --seed 1 --max-seconds 6 --train-seconds 6 --seq-len 144 --init $PREV --ctc-weight 1 --ctc-max-labels 40 --eval-ast 0 --spec-augment off --task-repeat qa=3 --work $PREV/speech-work1 --out $PREV/speech-stage1$SPEECH_EVAL_FLAG"
run "$HERD speech train --data $SPEECH_OUT/speech-s1/speech --data $SPEECH_OUT/speech-s3/speech --steps 600 --batch 8 --lr 0.0005 --warmup 10 --seed 1 --max-seconds 6 --train-seconds 6 --seq-len 144 --init $PREV/speech-stage1 --ctc-weight 1 --ctc-max-labels 40 --eval-ast 0 --spec-augment off --task-repeat qa=3 --work $PREV/speech-work2$SPEECH_EVAL_FLAG"
run "$HERD speech eval --data $SPEECH_OUT/speech-s1/speech$SPEECH_EVAL_FLAG --eval-ast 30 --joint-ctc 0.6 --beam 8 --json > packages/speech/weights/mini/eval.json"
echo "refit-adapters: done; now run the adapters' tests and compare each card's held-out table with the previous one (see the header)" >&2
