/**
 * Is motion in the frozen image features at all? Linear probes on a clip feature cache (the one
 * `herd video train` makes: `extractClipFeatures`, frozen mini image encoder + projector), trained on
 * the train split and scored on the held-out split — the ceiling a linear read-out of the features
 * reaches, independent of the aggregator and the language model:
 *   - direction (left/right/up/down) of clips with exactly one moving shape;
 *   - moving vs static (clips with no appearing or disappearing shape).
 * Each with three inputs: the late-minus-early frame difference per token (mean of the last two
 * frames minus the first two, every real token: position kept), the same pooled over tokens, and the
 * clip's mean over frames (no order: a control that should not tell direction).
 * Ridge regression one-vs-rest in its dual form (n × n kernel), λ picked by 4-fold cross-validation
 * on the train split.
 *
 *   node bench/dist/video-motion-probe.js [--features out/video/features-<sha>-700]
 *
 * Prints a table and writes bench/results/video-motion-probe.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FEATURES_FLAG, benchArgs, videoFeaturesDir } from './bench-args.js';
import { decodeF16 } from '@herd/core';
import { loadLanguageCore } from '@herd/llama3';
import { MINI_VIDEO_IMAGE_DIR, type VideoExample, readVideoExamples } from '@herd/video';
import { loadMiniVision } from '@herd/vision';

const cli = benchArgs({
  about: 'Is motion in the frozen image features at all? Linear probes (ridge, dual form) on a clip feature cache for direction and moving-vs-static, trained on the train split, scored on the held-out split.',
  writes: 'bench/results/video-motion-probe.json',
  flags: { ...FEATURES_FLAG },
});
const here = dirname(fileURLToPath(import.meta.url));
const dir = videoFeaturesDir(cli.flag('features'));
const vision = loadMiniVision(MINI_VIDEO_IMAGE_DIR, loadLanguageCore());
const D = vision.config.text.dim;
const all = await readVideoExamples(dir, vision.config);
console.log(`${all.length} clips from ${dir} (D ${D})`);

type Input = 'difference per token' | 'difference pooled' | 'mean over frames (no order)';
const INPUTS: Input[] = ['difference per token', 'difference pooled', 'mean over frames (no order)'];

function vectorOf(x: VideoExample, input: Input): Float64Array {
  const f = decodeF16(x.clip.features);
  const F = x.frames;
  const S = x.clip.frameMask.length;
  const real = x.clip.frameMask.reduce((a, b) => a + b, 0);
  const at = (t: number, s: number, d: number) => f[(t * S + s) * D + d]!;
  if (input === 'mean over frames (no order)') {
    const v = new Float64Array(real * D);
    for (let t = 0; t < F; t++) for (let s = 0; s < real; s++) for (let d = 0; d < D; d++) v[s * D + d]! += at(t, s, d) / F;
    return v;
  }
  const diff = new Float64Array(real * D);
  for (let s = 0; s < real; s++) for (let d = 0; d < D; d++) diff[s * D + d] = (at(F - 1, s, d) + at(F - 2, s, d) - at(0, s, d) - at(1, s, d)) / 2;
  if (input === 'difference per token') return diff;
  const pooled = new Float64Array(D);
  for (let s = 0; s < real; s++) for (let d = 0; d < D; d++) pooled[d]! += Math.abs(diff[s * D + d]!) / real;
  return pooled;
}

/** Ridge one-vs-rest, dual form: α = (K + λI)⁻¹ Y, score = k(x)ᵀ α. Vectors of different lengths (tilings) are cut to the shortest. */
function ridge(trainX: Float64Array[], trainY: number[], testX: Float64Array[], classes: number, lambda: number): number[] {
  const len = Math.min(...trainX.map((v) => v.length), ...testX.map((v) => v.length));
  const mean = new Float64Array(len);
  for (const v of trainX) for (let i = 0; i < len; i++) mean[i]! += v[i]! / trainX.length;
  const c = (v: Float64Array) => Float64Array.from({ length: len }, (_, i) => v[i]! - mean[i]!);
  const A = trainX.map(c);
  const B = testX.map(c);
  const dot = (a: Float64Array, b: Float64Array) => {
    let s = 0;
    for (let i = 0; i < len; i++) s += a[i]! * b[i]!;
    return s;
  };
  const n = A.length;
  const K = A.map((a) => A.map((b) => dot(a, b)));
  const scale = K.reduce((s, r, i) => s + r[i]!, 0) / n || 1;
  const M = K.map((r, i) => r.map((v, j) => v / scale + (i === j ? lambda : 0)));
  // Solve M α = Y (one column per class) by Gaussian elimination with partial pivoting.
  const Y = trainY.map((y) => Array.from({ length: classes }, (_, k) => (k === y ? 1 : -1 / (classes - 1))));
  const aug = M.map((r, i) => [...r, ...Y[i]!]);
  for (let col = 0; col < n; col++) {
    let p = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(aug[r]![col]!) > Math.abs(aug[p]![col]!)) p = r;
    [aug[col], aug[p]] = [aug[p]!, aug[col]!];
    const piv = aug[col]![col]!;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const fct = aug[r]![col]! / piv;
      if (fct === 0) continue;
      for (let k = col; k < n + classes; k++) aug[r]![k]! -= fct * aug[col]![k]!;
    }
  }
  const alpha = aug.map((r, i) => r.slice(n).map((v) => v / aug[i]![i]!));
  return B.map((b) => {
    const kb = A.map((a) => dot(a, b) / scale);
    let best = 0;
    let bestScore = -Infinity;
    for (let k = 0; k < classes; k++) {
      const s = kb.reduce((acc, v, i) => acc + v * alpha[i]![k]!, 0);
      if (s > bestScore) (bestScore = s), (best = k);
    }
    return best;
  });
}

function probe(train: { x: Float64Array; y: number }[], test: { x: Float64Array; y: number }[], classes: number): { accuracy: number; lambda: number; majority: number } {
  const lambdas = [1e-3, 1e-2, 1e-1, 1];
  let best = lambdas[0]!;
  let bestAcc = -1;
  for (const l of lambdas) {
    let right = 0;
    for (let fold = 0; fold < 4; fold++) {
      const tr = train.filter((_, i) => i % 4 !== fold);
      const va = train.filter((_, i) => i % 4 === fold);
      const pred = ridge(tr.map((t) => t.x), tr.map((t) => t.y), va.map((t) => t.x), classes, l);
      right += pred.filter((p, i) => p === va[i]!.y).length;
    }
    if (right > bestAcc) (bestAcc = right), (best = l);
  }
  const pred = ridge(train.map((t) => t.x), train.map((t) => t.y), test.map((t) => t.x), classes, best);
  const counts = new Array(classes).fill(0);
  for (const t of train) counts[t.y]++;
  const major = counts.indexOf(Math.max(...counts));
  return { accuracy: pred.filter((p, i) => p === test[i]!.y).length / test.length, lambda: best, majority: test.filter((t) => t.y === major).length / test.length };
}

const DIRS = ['left', 'right', 'up', 'down'];
const tasks = {
  direction: (x: VideoExample): number | null => {
    const moving = x.objects.filter((o) => o.motion.kind === 'move');
    if (moving.length !== 1 || x.objects.some((o) => o.motion.kind === 'appear' || o.motion.kind === 'disappear')) return null;
    const m = moving[0]!.motion;
    return m.kind === 'move' ? DIRS.indexOf(m.direction) : null;
  },
  moving: (x: VideoExample): number | null => (x.objects.some((o) => o.motion.kind === 'appear' || o.motion.kind === 'disappear') ? null : x.objects.some((o) => o.motion.kind === 'move') ? 1 : 0),
};
const rows: { task: string; input: Input; train: number; test: number; accuracy: number; majority: number; lambda: number }[] = [];
for (const [task, label] of Object.entries(tasks)) {
  const classes = task === 'direction' ? 4 : 2;
  for (const input of INPUTS) {
    const pick = (split: 'train' | 'heldout') => all.filter((x) => x.split === split).flatMap((x) => {
      const y = label(x);
      return y === null ? [] : [{ x: vectorOf(x, input), y }];
    });
    const train = pick('train');
    const test = pick('heldout');
    const r = probe(train, test, classes);
    rows.push({ task, input, train: train.length, test: test.length, ...r });
    console.log(`${task} / ${input}: ${(100 * r.accuracy).toFixed(1)} % held-out (n ${test.length}; majority class ${(100 * r.majority).toFixed(1)} %; λ ${r.lambda})`);
  }
}
console.log('\n| task | input | train | held-out | accuracy | majority class |\n|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.task} | ${r.input} | ${r.train} | ${r.test} | ${(100 * r.accuracy).toFixed(1)} % | ${(100 * r.majority).toFixed(1)} % |`);
const out = join(here, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'video-motion-probe.json'), JSON.stringify({ when: new Date().toISOString(), features: dir, rows }, null, 2) + '\n');
console.log(`wrote ${join(out, 'video-motion-probe.json')}`);
