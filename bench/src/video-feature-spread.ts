/**
 * Where does the clip information go? Measures, on a clip feature cache (`herd video train|eval`
 * makes one: frozen mini image encoder + projector, 8 frames per clip):
 *   1. the raw frame features (the aggregator's input): pairwise cosine between clips of the whole
 *      [F·S·D] features, of the same centred on the mean clip, and of the mean token per clip;
 *   2. motion in them: the relative change between early and late frames (‖late − early‖ / ‖early‖,
 *      mean of the last two frames minus the first two) for moving and for static clips, and how well
 *      that one number tells them apart (ROC AUC: 0.5 = not at all, 1 = perfectly);
 *   3. the aggregator's output (video tokens, `videoTokenSpread`) at init (`freshVideoWeights`) and,
 *      with `--video DIR`, of a trained checkpoint.
 *
 *   node bench/dist/video-feature-spread.js [--features DIR] [--clips 24] [--video DIR]
 *
 * Prints the figures and writes bench/results/video-feature-spread.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FEATURES_FLAG, benchArgs, videoFeaturesDir } from './bench-args.js';
import { decodeF16 } from '@herd/core';
import { loadLanguageCore } from '@herd/llama3';
import { setDefaultThreads } from '@herd/runtime';
import { MINI_VIDEO_IMAGE_DIR, type VideoExample, freshVideoWeights, loadMiniVideo, miniVideoConfig, readVideoExamples, videoTokenSpread } from '@herd/video';
import { loadMiniVision } from '@herd/vision';

const cli = benchArgs({
  about: "Where does the clip information go? On a clip feature cache: pairwise cosine of the raw frame features, motion in them (early vs late frames, ROC AUC moving vs static), and the aggregator's output spread at init and of a trained checkpoint.",
  writes: 'bench/results/video-feature-spread.json',
  flags: {
    ...FEATURES_FLAG,
    clips: { value: 'N', default: '24', help: 'clips compared' },
    video: { value: 'DIR', help: "a trained video checkpoint whose aggregator's output is measured too" },
  },
});
setDefaultThreads(1);
const here = dirname(fileURLToPath(import.meta.url));
const dir = videoFeaturesDir(cli.flag('features'));
const n = cli.number('clips');
const videoDir = cli.flag('video') ?? '';
const core = loadLanguageCore();
const vision = loadMiniVision(MINI_VIDEO_IMAGE_DIR, core);
const m = miniVideoConfig(vision.config);
const D = vision.config.text.dim;
const all = await readVideoExamples(dir, vision.config);
const train = all.filter((x) => x.split === 'train');
const held = all.filter((x) => x.split === 'heldout');
console.log(`${all.length} clips (${train.length} train, ${held.length} held-out) from ${dir}`);

function cosineStats(vs: readonly Float64Array[]): { mean: number; min: number; max: number } {
  const norm = (a: Float64Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
  let sum = 0, min = Infinity, max = -Infinity, pairs = 0;
  for (let i = 0; i < vs.length; i++) for (let j = i + 1; j < vs.length; j++) {
    const a = vs[i]!, b = vs[j]!;
    let dot = 0;
    for (let k = 0; k < a.length; k++) dot += a[k]! * b[k]!;
    const c = dot / Math.max(1e-30, norm(a) * norm(b));
    sum += c; min = Math.min(min, c); max = Math.max(max, c); pairs++;
  }
  return { mean: sum / pairs, min, max };
}

// 1. Raw features of the first n held-out clips with the same tiling (so the flattened vectors line up).
const S = held[0]!.clip.frameMask.length;
const sameTiling = held.filter((x) => x.clip.frameMask.reduce((a, b) => a + b, 0) === held[0]!.clip.frameMask.reduce((a, b) => a + b, 0)).slice(0, n);
const flat = sameTiling.map((x) => Float64Array.from(decodeF16(x.clip.features)));
const meanClip = new Float64Array(flat[0]!.length);
for (const v of flat) for (let i = 0; i < v.length; i++) meanClip[i]! += v[i]! / flat.length;
const centred = flat.map((v) => v.map((x, i) => x - meanClip[i]!));
const meanToken = (x: VideoExample) => {
  const f = decodeF16(x.clip.features);
  const real = x.clip.frameMask.reduce((a, b) => a + b, 0);
  const out = new Float64Array(D);
  for (let t = 0; t < x.frames; t++) for (let s = 0; s < real; s++) for (let d = 0; d < D; d++) out[d]! += f[(t * S + s) * D + d]! / (x.frames * real);
  return out;
};
const raw = { clips: flat.length, whole: cosineStats(flat), centred: cosineStats(centred), meanToken: cosineStats(sameTiling.map(meanToken)) };
console.log(`raw frame features, ${raw.clips} held-out clips: cosine whole ${raw.whole.mean.toFixed(4)} (min ${raw.whole.min.toFixed(4)}), centred on the mean clip ${raw.centred.mean.toFixed(4)} (min ${raw.centred.min.toFixed(4)}), mean token ${raw.meanToken.mean.toFixed(5)} (min ${raw.meanToken.min.toFixed(5)})`);

// 2. Motion: relative change late vs early, moving vs static (clips without appear/disappear).
function change(x: VideoExample): number {
  const f = decodeF16(x.clip.features);
  const F = x.frames;
  const real = x.clip.frameMask.reduce((a, b) => a + b, 0);
  let d2 = 0, e2 = 0;
  for (let s = 0; s < real; s++) for (let d = 0; d < D; d++) {
    const at = (t: number) => f[(t * S + s) * D + d]!;
    const early = (at(0) + at(1)) / 2;
    d2 += ((at(F - 1) + at(F - 2)) / 2 - early) ** 2;
    e2 += early ** 2;
  }
  return Math.sqrt(d2 / Math.max(1e-30, e2));
}
const kind = (x: VideoExample): 'moving' | 'static' | null => (x.objects.some((o) => o.motion.kind === 'appear' || o.motion.kind === 'disappear') ? null : x.objects.some((o) => o.motion.kind === 'move') ? 'moving' : 'static');
const scored = all.flatMap((x) => { const k = kind(x); return k ? [{ k, c: change(x) }] : []; });
const mv = scored.filter((s) => s.k === 'moving').map((s) => s.c);
const st = scored.filter((s) => s.k === 'static').map((s) => s.c);
let wins = 0;
for (const a of mv) for (const b of st) wins += a > b ? 1 : a === b ? 0.5 : 0;
const avg = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const motion = { moving: { n: mv.length, meanChange: avg(mv) }, static: { n: st.length, meanChange: avg(st) }, auc: wins / Math.max(1, mv.length * st.length) };
console.log(`relative late-vs-early change: moving ${motion.moving.meanChange.toExponential(3)} (n ${mv.length}), static ${motion.static.meanChange.toExponential(3)} (n ${st.length}); AUC of that one number, moving vs static: ${motion.auc.toFixed(3)}`);

// 3. The aggregator's output at init (and of a trained checkpoint).
const clipsForSpread = held.slice(0, n).map((x) => x.clip);
const init = await videoTokenSpread(m, m.video.finetune, freshVideoWeights(m, 1, train) as never, clipsForSpread);
console.log(`aggregator at init (fresh, centred on the train clips): cosine ${init.cosine.mean.toFixed(4)} (min ${init.cosine.min.toFixed(4)}), relative difference ${init.relativeDifference.toFixed(4)}`);
let trained: Awaited<ReturnType<typeof videoTokenSpread>> | undefined;
if (videoDir) {
  const v = loadMiniVideo(videoDir);
  trained = await videoTokenSpread(m, m.video.finetune, v.weights, clipsForSpread);
  console.log(`aggregator of ${videoDir}: cosine ${trained.cosine.mean.toFixed(4)} (min ${trained.cosine.min.toFixed(4)}), relative difference ${trained.relativeDifference.toFixed(4)}`);
}
const out = join(here, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'video-feature-spread.json'), JSON.stringify({ when: new Date().toISOString(), features: dir, raw, motion, aggregatorInit: init, ...(trained ? { aggregatorTrained: { dir: videoDir, ...trained } } : {}) }, null, 2) + '\n');
