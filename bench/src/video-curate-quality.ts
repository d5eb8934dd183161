/**
 * The video curation pipeline (`curateVideos`, @herd/video) scored against the synthetic world's
 * labelled noise (datasets/, noise.ts): a seeded set of clips is generated into shards, curated
 * in-process with every stage (OCR optional), and each stage's drops are compared with the labels it
 * is meant to catch — precision, and recall over the labelled clips that reached it — plus the
 * issue's motion target (≥ 95 % of static clips removed, ≤ 3 % of moving clips lost) and the
 * runner's clips/s per stage (the first media stage pays for decoding the frames every later stage
 * shares).
 *
 * `--clip`: the two CLIP alignment stages with the committed mini CLIP. Their thresholds are chosen
 * on a validation split (seed + 1000: `--clip-count` clips, 30 % of them with a mismatched caption,
 * scores recorded only), each the highest cosine that loses ≤ `--clip-loss` (2.5 %) of the good clips
 * reaching its stage with `--clip-confidence` (95 %; an order-statistic bound, `thresholdLosing`; 0 =
 * the plain validation quantile, which a 140-clip validation set made unstable); then they are scored on a separate test split (seed + 2000, same make-up) and
 * used in the main run (every noise kind).
 *
 *   node bench/dist/video-curate-quality.js [--count 300] [--seed 7] [--noise 0.5] [--side 96,192] [--seconds 2,6] [--no-ocr] [--clip [--clip-count 200] [--clip-loss 0.025] [--clip-confidence 0.95] [--clip-test-count N] [--clip-only]] [--near-dup-edits rescale,crop,trim] [--noise-kinds static_clip,...] [--keep DIR]
 *
 * Prints tables and writes bench/results/video-curate-quality.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { iterateDataset, isUnreadable, writeDataset } from '@herd/data';
import { generateVideos, type NearDuplicateEdit, type VideoNoise } from '@herd/datasets';
import { clipLabel, curateVideos, readDrops, resolveClipModel, rocAuc, scoreCuration, scoreTable, thresholdLosing, type CurationScore, type LabelledClip, type VideoCurateStagesConfig } from '@herd/video';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const pair = (s: string): [number, number] => {
  const [a, b] = s.split(',').map(Number);
  return [a!, b ?? a!];
};
const cli = benchArgs({
  about: "The video curation pipeline (curateVideos) scored against the synthetic world's labelled noise: each stage's precision and recall, the motion target, and clips/s per stage; --clip: the CLIP alignment stages' thresholds chosen on a validation split and scored on a test split.",
  writes: 'bench/results/video-curate-quality.json (--clip-only: video-curate-quality-clip.json)',
  flags: {
    count: { value: 'N', default: '300', help: 'generated clips of the main run' },
    seed: { value: 'N', default: '7', help: "the main run's seed (CLIP validation: + 1000, test: + 2000)" },
    noise: { value: 'X', default: '0.5', help: 'share of labelled noise' },
    side: { value: 'A,B', default: '96,192', help: 'frame side range in px' },
    seconds: { value: 'A,B', default: '2,6', help: 'clip length range in seconds (8 fps)' },
    'no-ocr': { help: 'without the OCR stage' },
    keep: { value: 'DIR', help: 'work in DIR and keep it (default: a temporary folder, removed)' },
    clip: { help: "choose and score the CLIP stages' thresholds, then use them in the main run" },
    'clip-stored': { help: 'the CLIP stages at the thresholds stored in @herd/video, without new splits' },
    'clip-count': { value: 'N', default: '200', help: '--clip: clips in the validation split' },
    'clip-test-count': { value: 'N', help: '--clip: clips in the test split (default: --clip-count)' },
    'clip-loss': { value: 'X', default: '0.025', help: '--clip: share of good clips a threshold may lose' },
    'clip-confidence': { value: 'X', default: '0.95', help: '--clip: confidence of that bound (0: the plain validation quantile)' },
    'clip-only': { help: '--clip: only the validation and test splits, no main run' },
    'near-dup-edits': { value: 'E,E,…', help: "how the main set's near-duplicates are made (rescale,crop,trim; default: rescale only)" },
    'noise-kinds': { value: 'K,K,…', help: 'only these noise kinds in the main run (default: all)' },
  },
});
const count = cli.number('count');
const seed = cli.number('seed');
const noiseRate = cli.number('noise');
const side = pair(cli.flag('side'));
const seconds = pair(cli.flag('seconds'));
const useOcr = !cli.has('no-ocr');
const keepDir = cli.flag('keep') ?? '';
const useClip = cli.has('clip');
// The CLIP stages at the thresholds stored in @herd/video (chosen by an earlier --clip run), without new splits.
const clipStored = cli.has('clip-stored');
// How the main set's near-duplicates are made (datasets' nearDuplicateEdits); default: rescale only (the old bytes).
const ndEdits = cli.flag('near-dup-edits') ?? '';
const nearDuplicateEdits = ndEdits ? (ndEdits.split(',') as NearDuplicateEdit[]) : undefined;
const clipCount = cli.number('clip-count');
const clipLoss = cli.number('clip-loss');
// Each threshold promises ≤ clipLoss of good clips lost with this confidence (order-statistic bound); 0 = the plain quantile.
const clipConfidence = cli.number('clip-confidence');
const conf = clipConfidence > 0 ? clipConfidence : undefined;
// Only these noise kinds in the main run (e.g. static_clip, for the motion target on many static clips).
const noiseKinds = cli.flag('noise-kinds') ? (cli.flag('noise-kinds')!.split(',') as VideoNoise[]) : undefined;
const clipTestCount = Number(cli.flag('clip-test-count') ?? String(clipCount));
// Only the CLIP validation and test splits (no main run): writes bench/results/video-curate-quality-clip.json.
const clipOnly = cli.has('clip-only');

async function labelsOf(dir: string): Promise<LabelledClip[]> {
  const labels: LabelledClip[] = [];
  for await (const s of iterateDataset(dir)) if (!isUnreadable(s)) labels.push(clipLabel(s.key, s.meta));
  return labels;
}

/** Recorded CLIP scores of the kept clips: key → {frame, video}. */
async function clipScores(dir: string): Promise<Map<string, { frame?: number; video?: number }>> {
  const out = new Map<string, { frame?: number; video?: number }>();
  for await (const s of iterateDataset(dir)) {
    if (isUnreadable(s)) continue;
    const c = (s.meta['curation'] ?? {}) as Record<string, { score?: number }>;
    out.set(s.key, { ...(c['clip_frame']?.score !== undefined ? { frame: c['clip_frame'].score } : {}), ...(c['clip_video']?.score !== undefined ? { video: c['clip_video'].score } : {}) });
  }
  return out;
}

/** Only what the CLIP stages need before them (caption stages, clip checks). */
const CLIP_ONLY: VideoCurateStagesConfig = { motion: false, ocr: false, dedup: false };

interface ClipChoice {
  checkpoint: string;
  validation: { seed: number; count: number; confidence: number | null; mismatched: number; good: number; frameAuc: number | null; videoAuc: number | null; frameThreshold: number; videoThreshold: number; recall: { frame: number; video: number; both: number }; goodLost: { frame: number; video: number; both: number } };
  test: { seed: number; count: number; seconds: number; score: CurationScore; clipsPerSecond: Record<string, number | null> };
}

async function chooseClipThresholds(work: string): Promise<ClipChoice> {
  const gen = (s: number, count: number) => generateVideos({ seed: s, count, noiseRate: 0.3, noiseKinds: ['mismatched_caption'], side, duration: seconds, fps: 8 });
  const valSeed = seed + 1000;
  const testSeed = seed + 2000;
  const valIn = join(work, 'clip-val-in');
  const valOut = join(work, 'clip-val-out');
  await writeDataset(valIn, gen(valSeed, clipCount), { samplesPerShard: 50, name: 'video-bench-clip-val' });
  await curateVideos(valIn, valOut, { progress: null, ...CLIP_ONLY, clipModel: { frameThreshold: null, videoThreshold: null } });
  const labels = await labelsOf(valIn);
  const scores = await clipScores(valOut);
  const bad = labels.filter((l) => l.noise === 'mismatched_caption' && scores.has(l.key)).map((l) => scores.get(l.key)!);
  const good = labels.filter((l) => l.noise === null && scores.has(l.key)).map((l) => scores.get(l.key)!);
  const frameThreshold = thresholdLosing(good.map((g) => g.frame!), clipLoss, conf);
  // The clip stage sees what the frame stage kept.
  const goodAfterFrame = good.filter((g) => g.frame! >= frameThreshold);
  const videoThreshold = thresholdLosing(goodAfterFrame.map((g) => g.video!), clipLoss, conf);
  const share = (xs: typeof good, f: (x: (typeof good)[number]) => boolean) => (xs.length ? xs.filter(f).length / xs.length : 0);
  const dropsF = (x: (typeof good)[number]) => x.frame! < frameThreshold;
  const dropsV = (x: (typeof good)[number]) => x.video! < videoThreshold;
  const validation: ClipChoice['validation'] = {
    seed: valSeed,
    count: clipCount,
    confidence: conf ?? null,
    mismatched: bad.length,
    good: good.length,
    frameAuc: rocAuc(good.map((g) => g.frame!), bad.map((b) => b.frame!)),
    videoAuc: rocAuc(good.map((g) => g.video!), bad.map((b) => b.video!)),
    frameThreshold,
    videoThreshold,
    recall: { frame: share(bad, dropsF), video: share(bad, dropsV), both: share(bad, (x) => dropsF(x) || dropsV(x)) },
    goodLost: { frame: share(good, dropsF), video: share(good, dropsV), both: share(good, (x) => dropsF(x) || dropsV(x)) },
  };
  const testIn = join(work, 'clip-test-in');
  const testOut = join(work, 'clip-test-out');
  await writeDataset(testIn, gen(testSeed, clipTestCount), { samplesPerShard: 50, name: 'video-bench-clip-test' });
  const t = performance.now();
  const { report } = await curateVideos(testIn, testOut, { progress: null, ...CLIP_ONLY, clipModel: { frameThreshold, videoThreshold } });
  const testSeconds = (performance.now() - t) / 1000;
  const testScore = scoreCuration(await labelsOf(testIn), await readDrops(testOut), report!.stages.map((s) => s.name));
  return {
    checkpoint: resolveClipModel({}).id,
    validation,
    test: { seed: testSeed, count: clipTestCount, seconds: testSeconds, score: testScore, clipsPerSecond: Object.fromEntries(report!.stages.map((s) => [s.name, s.samplesPerSecond])) },
  };
}

const work = keepDir || (await mkdtemp(join(tmpdir(), 'herd-video-bench-')));
try {
  const input = join(work, 'in');
  const output = join(work, 'out');
  const tc = performance.now();
  const clip = useClip ? await chooseClipThresholds(work) : null;
  const clipSeconds = (performance.now() - tc) / 1000;
  if (clip) {
    const v = clip.validation;
    const pct = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(1)} %`);
    console.log(`\nCLIP thresholds (mini CLIP ${clip.checkpoint}) chosen on the validation split (seed ${v.seed}: ${v.good} good, ${v.mismatched} mismatched clips reaching the stages; ≤ ${pct(clipLoss)} of good clips lost per stage${conf ? ` with ${pct(conf)} confidence` : ', plain quantile'}):`);
    console.log(`  frame ≥ ${v.frameThreshold.toFixed(4)} (AUC ${v.frameAuc?.toFixed(3)}), clip ≥ ${v.videoThreshold.toFixed(4)} (AUC ${v.videoAuc?.toFixed(3)}); on validation: mismatched removed ${pct(v.recall.both)}, good lost ${pct(v.goodLost.both)}`);
    console.log(`\ntest split (seed ${clip.test.seed}, ${clip.test.count} clips, ${clip.test.seconds.toFixed(0)} s):\n${scoreTable(clip.test.score)}`);
    console.log(`(${clipSeconds.toFixed(0)} s for both CLIP splits)`);
  }
  if (clipOnly) {
    if (!clip) throw new Error('--clip-only needs --clip');
    const dir = join(here, '..', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'video-curate-quality-clip.json');
    writeFileSync(file, JSON.stringify({ when: new Date().toISOString(), machine: { cores: cpus().length, cpu: cpus()[0]?.model, load: loadavg()[0] }, clipLoss, clip, clipSeconds }, null, 2) + '\n');
    console.log(`\nwrote ${file}`);
  } else {
  const t0 = performance.now();
  await writeDataset(input, generateVideos({ seed, count, noiseRate, side, duration: seconds, fps: 8, ...(nearDuplicateEdits ? { nearDuplicateEdits } : {}), ...(noiseKinds ? { noiseKinds } : {}) }), { samplesPerShard: 50, name: 'video-bench' });
  const genSeconds = (performance.now() - t0) / 1000;
  const labels = await labelsOf(input);
  const load0 = loadavg()[0]!;
  const t1 = performance.now();
  const { report } = await curateVideos(input, output, { progress: null, ...(useOcr ? {} : { ocr: false }), ...(clip ? { clipModel: { frameThreshold: clip.validation.frameThreshold, videoThreshold: clip.validation.videoThreshold } } : clipStored ? { clipModel: {} } : {}) });
  const curateSeconds = (performance.now() - t1) / 1000;
  const r = report!;
  const drops = await readDrops(output);
  const score = scoreCuration(labels, drops, r.stages.map((s) => s.name));

  const kinds = new Map<string, number>();
  for (const l of labels) kinds.set(l.noise ?? 'clean', (kinds.get(l.noise ?? 'clean') ?? 0) + 1);
  console.log(`\n${count} clips (seed ${seed}, noise ${noiseRate}, side ${side.join('–')} px, ${seconds.join('–')} s at 8 fps): ${[...kinds].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`generated in ${genSeconds.toFixed(0)} s; curated in ${curateSeconds.toFixed(0)} s (${r.samplesPerSecond.toFixed(2)} clips/s end to end, 1 thread, OCR ${useOcr ? 'on' : 'off'}, CLIP ${clip ? 'on' : clipStored ? 'on (stored thresholds)' : 'off'}); ${cpus().length} cores, load ${load0.toFixed(1)} at start\n`);
  console.log(scoreTable(score));
  console.log('\n| stage | in | kept | dropped | clips/s | drops by reason |\n|---|---|---|---|---|---|');
  for (const s of r.stages) console.log(`| ${s.name} | ${s.in} | ${s.kept} | ${s.dropped} | ${s.samplesPerSecond === null ? '–' : s.samplesPerSecond.toFixed(2)} | ${Object.entries(s.droppedByReason).map(([k, v]) => `${k} ${v}`).join(', ')} |`);
  const edits = new Map<string, string>();
  for await (const s of iterateDataset(input)) if (!isUnreadable(s) && s.meta['noise'] === 'near_duplicate') edits.set(s.key, String(s.meta['edit'] ?? 'rescale'));
  const byEdit: Record<string, { labelled: number; removedByNearDuplicate: number; removedEarlier: number }> = {};
  for (const [key, e] of edits) {
    const b = (byEdit[e] ??= { labelled: 0, removedByNearDuplicate: 0, removedEarlier: 0 });
    b.labelled++;
    const d = drops.get(key);
    if (d?.stage === 'near_duplicate') b.removedByNearDuplicate++;
    else if (d) b.removedEarlier++;
  }
  console.log(`\nnear-duplicates by edit (removed by near_duplicate / by an earlier stage / labelled): ${Object.entries(byEdit).map(([e, b]) => `${e} ${b.removedByNearDuplicate}/${b.removedEarlier}/${b.labelled}`).join(', ')}`);
  console.log('\nwrong drops (stage → reason → label):');
  for (const s of score.stages) for (const [reason, labelsOf] of Object.entries(s.confusion)) {
    const wrong = Object.entries(labelsOf).filter(([l]) => !s.meantFor.includes(l));
    if (wrong.length) console.log(`  ${s.stage} ${reason}: ${wrong.map(([l, n]) => `${l} ${n}`).join(', ')}`);
  }

  const dir = join(here, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'video-curate-quality.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        when: new Date().toISOString(),
        machine: { cores: cpus().length, cpu: cpus()[0]?.model, loadAtStart: load0 },
        set: { count, seed, noiseRate, noiseKinds: noiseKinds ?? 'all', side, seconds, fps: 8, kinds: Object.fromEntries(kinds), nearDuplicateEdits: nearDuplicateEdits ?? ['rescale'] },
        ocr: useOcr,
        clip,
        clipStored,
        nearDuplicatesByEdit: byEdit,
        generateSeconds: genSeconds,
        curateSeconds,
        clipsPerSecond: r.samplesPerSecond,
        score,
        stages: r.stages,
        pending: r.pending,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${file}`);
  }
} finally {
  if (!keepDir) await rm(work, { recursive: true, force: true });
}
