/**
 * The video near-duplicate stage (`videoNearDuplicate`, @herd/video) on a labelled generated set:
 * clips with rescaled, cropped and trimmed copies (`generateVideos({ nearDuplicateEdits })`). Every
 * clip is described once (the stage's `prepare`); then `decide` runs with several settings and each
 * is scored on the clips the stage would see in the pipeline (clean clips and labelled copies; the
 * other noise kinds are dropped by earlier stages): precision and recall of its drops, and the clip
 * pairs it verified. Also the candidate search's recall: the share of the pairs the exhaustive pass
 * links that the nearest-neighbour search proposes.
 *
 *   node bench/dist/video-near-duplicate.js [--count 300] [--seed 99] [--noise 0.5] [--edits rescale,crop,trim] [--thumbs -1,0.8,0.85,0.9,0.95]
 *
 * Prints a table and writes bench/results/video-near-duplicate-<seed>.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type StageContext } from '@herd/data';
import { generateVideos, type NearDuplicateEdit } from '@herd/datasets';
import { type FrameMatchOptions, type VideoNearDuplicateFeature, candidatePairs, inOrderShare, videoNearDuplicate } from '@herd/video';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: 'The video near-duplicate stage (videoNearDuplicate) on a labelled generated set with rescaled, cropped and trimmed copies: precision and recall of its drops at several settings, and the candidate search recall.',
  writes: 'bench/results/video-near-duplicate-<seed>.json',
  flags: {
    count: { value: 'N', default: '300', help: 'generated clips' },
    seed: { value: 'N', default: '99', help: "the generator's seed" },
    noise: { value: 'X', default: '0.5', help: 'share of labelled noise' },
    edits: { value: 'E,E,…', default: 'rescale,crop,trim', help: 'how the near-duplicate copies are made' },
    thumbs: { value: 'X,X,…', default: '-1,0.8,0.85,0.9,0.95', help: "minThumbCorrelation settings of the exhaustive pass (the search runs at 0.9, else the last)" },
  },
});
const count = cli.number('count');
const seed = cli.number('seed');
const noiseRate = cli.number('noise');
const edits = cli.flag('edits').split(',') as NearDuplicateEdit[];
const thumbs = cli.flag('thumbs').split(',').map(Number);
const ctx: StageContext = { shard: 'bench', pass: 0, worker: 0 };

const t0 = performance.now();
const keys: string[] = [];
const labels = new Map<string, { noise: string | null; edit: string | null }>();
const feats = new Map<string, VideoNearDuplicateFeature | null>();
const describe = videoNearDuplicate();
let described = 0;
for await (const s of generateVideos({ seed, count, noiseRate, side: [96, 192], duration: [2, 6], fps: 8, nearDuplicateEdits: edits })) {
  const noise = (s.meta['noise'] as string | null) ?? null;
  // What reaches the stage in the pipeline: clean clips and copies (the other noise kinds go earlier).
  if (noise !== null && noise !== 'near_duplicate') continue;
  keys.push(s.key);
  labels.set(s.key, { noise, edit: (s.meta['edit'] as string | undefined) ?? null });
  feats.set(s.key, await describe.prepare!(s, ctx));
  described++;
}
const describeSeconds = (performance.now() - t0) / 1000;
const copies = keys.filter((k) => labels.get(k)!.noise === 'near_duplicate');
console.log(`${count} clips generated (seed ${seed}, noise ${noiseRate}, edits ${edits.join(',')}); ${described} reach the stage (${copies.length} labelled copies); generated + described in ${describeSeconds.toFixed(0)} s`);

interface Row {
  setting: string;
  exhaustive: boolean;
  minThumbCorrelation: number;
  pairsVerified: number;
  dropped: number;
  right: number;
  precision: number | null;
  recall: number;
  byEdit: Record<string, string>;
  decideSeconds: number;
}
const rows: Row[] = [];
const list = keys.map((k) => feats.get(k) ?? null);
const n = list.filter(Boolean).length;
for (const exhaustive of [true, false]) {
  for (const thumb of exhaustive ? thumbs : [thumbs.includes(0.9) ? 0.9 : thumbs[thumbs.length - 1]!]) {
    const stage = videoNearDuplicate({ minThumbCorrelation: thumb, exhaustive });
    const t = performance.now();
    const drops = await stage.decide(feats);
    const decideSeconds = (performance.now() - t) / 1000;
    const right = [...drops.keys()].filter((k) => labels.get(k)!.noise === 'near_duplicate').length;
    const byEdit: Record<string, string> = {};
    for (const e of edits) {
      const of = copies.filter((k) => labels.get(k)!.edit === e);
      byEdit[e] = `${of.filter((k) => drops.has(k)).length}/${of.length}`;
    }
    const pairsVerified = exhaustive ? (n * (n - 1)) / 2 : (await candidatePairs(list, 10, 32)).length;
    rows.push({ setting: `${exhaustive ? 'all pairs' : 'ANN candidates'}, thumb ≥ ${thumb}`, exhaustive, minThumbCorrelation: thumb, pairsVerified, dropped: drops.size, right, precision: drops.size ? right / drops.size : null, recall: copies.length ? right / copies.length : 0, byEdit, decideSeconds });
  }
}
const pct = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(1)} %`);
console.log('\n| setting | pairs verified | dropped | right | precision | recall | by edit (dropped/labelled) | decide s |\n|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.setting} | ${r.pairsVerified} | ${r.dropped} | ${r.right} | ${pct(r.precision)} | ${pct(r.recall)} | ${Object.entries(r.byEdit).map(([e, v]) => `${e} ${v}`).join(', ')} | ${r.decideSeconds.toFixed(2)} |`);

// Candidate recall: of the pairs the exhaustive pass links (default frame checks), how many the search proposes.
const m: FrameMatchOptions = { maxHamming: 10, maxColourDiff: 6, maxCellDiff: 40, minForegroundCosine: 0.8, minThumbCorrelation: -1 };
const cands = new Set((await candidatePairs(list, 10, 32)).map(([i, j]) => `${i},${j}`));
let linked = 0;
let proposed = 0;
for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) {
  const a = list[i];
  const b = list[j];
  if (!a || !b) continue;
  if (Math.max(inOrderShare(a, b, m), inOrderShare(b, a, m)) >= 0.875) {
    linked++;
    if (cands.has(`${i},${j}`)) proposed++;
  }
}
console.log(`\ncandidate search: ${cands.size} candidate pairs of ${(n * (n - 1)) / 2}; proposes ${proposed}/${linked} of the pairs the exhaustive pass links (no thumbnail check)`);

const dir = join(here, '..', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `video-near-duplicate-${seed}.json`);
writeFileSync(file, JSON.stringify({ when: new Date().toISOString(), machine: { cores: cpus().length, cpu: cpus()[0]?.model, load: loadavg()[0] }, set: { count, seed, noiseRate, edits, reachingStage: described, copies: copies.length }, describeSeconds, rows, candidates: { pairs: cands.size, allPairs: (n * (n - 1)) / 2, linkedExhaustive: linked, proposed } }, null, 2) + '\n');
console.log(`wrote ${file}`);
