/**
 * What curation buys: trains the mini CLIP (the `clip-mini` recipe, `trainMiniClip`) from scratch on
 * N raw pairs of a noisy generated set and on N pairs of its curated output (same N, steps, batch,
 * learning rate and seed), then evaluates both on the same clean held-out pairs the models never saw:
 * image→caption retrieval (top-1 and top-5 among groups of 100) and how well each separates matched
 * from mismatched captions (AUC; share of mismatched removed when 5 % of good pairs may be lost).
 * Raw pairs are taken as they come, except that an image must decode (a trainer cannot use the rest).
 *
 *   nice -n 10 node bench/dist/curate-vs-raw.js --raw DIR --curated DIR [--n 4000] [--steps 300] [--batch 32] [--lr 2e-3] [--seed 1] [--eval 1000]
 *
 * Prints a table and writes bench/results/curate-vs-raw.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isUnreadable, iterateDataset, type Sample } from '@herd/data';
import { generateImages } from '@herd/datasets';
import { decodeImage } from '@herd/media';
import { MiniClip, type MiniClipPair, miniClipConfig, tileImage, trainMiniClip } from '@herd/vision';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: 'What curation buys: trains the mini CLIP from scratch on N raw pairs of a noisy generated set and on N pairs of its curated output, and evaluates both on the same clean held-out pairs (retrieval top-1/top-5, AUC).',
  writes: 'bench/results/curate-vs-raw.json',
  flags: {
    raw: { value: 'DIR', required: true, help: 'the raw (uncurated) dataset' },
    curated: { value: 'DIR', required: true, help: 'its curated output' },
    n: { value: 'N', default: '4000', help: 'training pairs taken from each' },
    steps: { value: 'N', default: '300', help: 'training steps' },
    batch: { value: 'N', default: '32', help: 'pairs per step' },
    lr: { value: 'X', default: '2e-3', help: 'learning rate' },
    seed: { value: 'N', default: '1', help: 'the training seed (the held-out sets are seeds 7001 and 7002)' },
    eval: { value: 'N', default: '1000', help: 'held-out clean pairs' },
  },
});
const rawDir = cli.flag('raw');
const curatedDir = cli.flag('curated');
const n = cli.number('n');
const steps = cli.number('steps');
const batch = cli.number('batch');
const lr = cli.number('lr');
const seed = cli.number('seed');
const evalCount = cli.number('eval');
const vision = miniClipConfig(0).vision;
const utf8 = new TextDecoder('utf-8', { fatal: true });

async function toPair(s: Sample): Promise<(MiniClipPair & { noise: string }) | null> {
  const bytes = s.files['png'] ?? s.files['jpg'];
  const txt = s.files['txt'];
  if (!bytes || !txt) return null;
  try {
    return { image: tileImage(await decodeImage(bytes), vision), caption: utf8.decode(txt), noise: String(s.meta['noise'] ?? 'clean') };
  } catch {
    return null;
  }
}

async function firstPairs(dir: string, count: number): Promise<(MiniClipPair & { noise: string })[]> {
  const out: (MiniClipPair & { noise: string })[] = [];
  for await (const s of iterateDataset(dir, { tolerant: true })) {
    if (isUnreadable(s)) continue;
    const p = await toPair(s);
    if (p) out.push(p);
    if (out.length >= count) break;
  }
  return out;
}

const curated = await firstPairs(curatedDir, n);
const raw = await firstPairs(rawDir, curated.length);
const size = Math.min(curated.length, raw.length);
const mix = (xs: { noise: string }[]) => Object.fromEntries([...xs.reduce((m, x) => m.set(x.noise, (m.get(x.noise) ?? 0) + 1), new Map<string, number>())].sort());
console.log(`training sets: ${size} pairs each\n  raw: ${JSON.stringify(mix(raw.slice(0, size)))}\n  curated: ${JSON.stringify(mix(curated.slice(0, size)))}`);

// Clean held-out pairs (a seed no training set used), and a mismatched-caption set.
const clean: MiniClipPair[] = [];
for await (const s of generateImages({ seed: 7001, count: evalCount, noiseRate: 0 })) { const p = await toPair(s); if (p) clean.push(p); }
const mixed: (MiniClipPair & { noise: string })[] = [];
for await (const s of generateImages({ seed: 7002, count: evalCount, noiseRate: 0.25, noiseKinds: ['mismatched_caption'] })) { const p = await toPair(s); if (p) mixed.push(p); }

interface Eval { top1: number; top5: number; auc: number; removedAt5: number; lossFirst: number; lossTail: number; trainSeconds: number }

async function evaluate(train: readonly MiniClipPair[]): Promise<Eval> {
  const t0 = performance.now();
  const model = await trainMiniClip(train, { steps, batch, lr, seed });
  const trainSeconds = (performance.now() - t0) / 1000;
  const clip = new MiniClip(model, 32);
  try {
    const r = await clip.run(clean.map((p) => p.image), clean.map((p) => p.caption));
    // Retrieval within groups of 100: the image's own caption must rank first (top-5).
    let top1 = 0;
    let top5 = 0;
    const G = 100;
    for (let g = 0; g + G <= clean.length; g += G) {
      for (let i = g; i < g + G; i++) {
        const own = dotp(r.image[i]!, r.text[i]!);
        let better = 0;
        for (let j = g; j < g + G; j++) if (j !== i && dotp(r.image[i]!, r.text[j]!) > own) better++;
        if (better === 0) top1++;
        if (better < 5) top5++;
      }
    }
    const groups = Math.floor(clean.length / G) * G;
    const scores = await clip.scorePairs(mixed.map((p) => p.image), mixed.map((p) => p.caption));
    const good = scores.filter((_, i) => mixed[i]!.noise === 'clean');
    const bad = scores.filter((_, i) => mixed[i]!.noise === 'mismatched_caption');
    let auc = 0;
    for (const b of bad) for (const x of good) auc += b < x ? 1 : b === x ? 0.5 : 0;
    auc /= Math.max(1, bad.length * good.length);
    const t5 = [...good].sort((a, b) => a - b)[Math.floor(0.05 * good.length)]!;
    const tail = model.losses.slice(-20);
    return { top1: top1 / groups, top5: top5 / groups, auc, removedAt5: bad.filter((b) => b < t5).length / Math.max(1, bad.length), lossFirst: model.losses[0]!, lossTail: tail.reduce((a, b) => a + b, 0) / tail.length, trainSeconds };
  } finally {
    await clip.release();
  }
}

function dotp(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

const load0 = loadavg()[0]!;
const rawEval = await evaluate(raw.slice(0, size));
console.log('raw', JSON.stringify(rawEval));
const curEval = await evaluate(curated.slice(0, size));
console.log('curated', JSON.stringify(curEval));
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
console.log(`\nmini CLIP, ${size} pairs, ${steps} steps × batch ${batch}, lr ${lr}, seed ${seed}; eval: ${clean.length} clean held-out pairs (seed 7001, retrieval in groups of 100) and ${mixed.length} pairs with 25 % mismatched captions (seed 7002)`);
console.log('\n| training set | image→caption top-1 | top-5 | mismatched AUC | mismatched removed at 5 % good lost | loss first → last 20 | train s |\n|---|---|---|---|---|---|---|');
for (const [name, e] of [['raw', rawEval], ['curated', curEval]] as const) console.log(`| ${name} | ${pct(e.top1)} | ${pct(e.top5)} | ${e.auc.toFixed(3)} | ${pct(e.removedAt5)} | ${e.lossFirst.toFixed(2)} → ${e.lossTail.toFixed(2)} | ${e.trainSeconds.toFixed(0)} |`);
mkdirSync(join(here, '..', 'results'), { recursive: true });
writeFileSync(join(here, '..', 'results', 'curate-vs-raw.json'), JSON.stringify({ machine: `${cpus().length} × ${cpus()[0]?.model}`, niced: 10, loadAverage: { start: load0, end: loadavg()[0] }, rawDir, curatedDir, size, steps, batch, lr, seed, rawMix: mix(raw.slice(0, size)), curatedMix: mix(curated.slice(0, size)), raw: rawEval, curated: curEval }, null, 2) + '\n');
