/**
 * The mini CLIP curation stage, one image–caption pair per ONNX call vs B per call (the runner's
 * batch hook): the stage's images per CPU-second (decode + tile + score, what the stage costs in a
 * curation run) for each B, and how far the batched scores are from the unbatched ones.
 *
 *   HERD_THREADS=1 nice -n 5 node bench/dist/curate-clip-batch.js [--count 1024] [--seed 8] [--batches 1,4,8,16,32]
 *
 * Prints a table and writes bench/results/curate-clip-batch.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type Sample, type StageResult } from '@herd/data';
import { generateImages } from '@herd/datasets';
import { setDefaultThreads } from '@herd/runtime';
import { clipScore, MiniClip, miniClipBatchScorer, miniClipScorer } from '@herd/vision';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: "The mini CLIP curation stage, one image–caption pair per ONNX call vs B per call: images per CPU-second for each B, and how far batched scores are from unbatched ones (ONNX threads: HERD_THREADS, default 1).",
  writes: 'bench/results/curate-clip-batch.json',
  flags: {
    count: { value: 'N', default: '1024', help: 'generated images scored' },
    seed: { value: 'N', default: '8', help: "the generator's seed" },
    batches: { value: 'B,B,…', default: '1,4,8,16,32', help: 'batch sizes measured (B = 1 always runs first, as the reference)' },
  },
});
const count = cli.number('count');
const seed = cli.number('seed');
const batches = cli.flag('batches').split(',').map(Number);
const threads = Number(process.env['HERD_THREADS'] ?? '1');
setDefaultThreads(threads);

const samples: Sample[] = [];
for await (const s of generateImages({ seed, count, noiseRate: 0 })) samples.push(s);
const one = MiniClip.load();
const ctx = { shard: 'bench', pass: 0, worker: 0 };

const scoreOf = (r: StageResult): number | null => (r.keep ? ((r.sample.meta as { curation: { clip: { score: number } } }).curation.clip.score) : null);

async function measure(b: number): Promise<{ batch: number; seconds: number; cpuSeconds: number; perCpuSecond: number; scores: (number | null)[]; reasons: string[] }> {
  const clip = b === 1 ? one : new MiniClip(one.model, b);
  const stage = clipScore({ score: miniClipScorer(clip), ...(b > 1 ? { scoreBatch: miniClipBatchScorer(clip), batchSize: b } : {}), threshold: one.model.threshold });
  // Warm-up: the session is built on the first call.
  if (stage.processBatch) await stage.processBatch(samples.slice(0, b), ctx);
  else await stage.process(samples[0]!, ctx);
  const results: StageResult[] = [];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  if (stage.processBatch) for (let at = 0; at < samples.length; at += b) results.push(...(await stage.processBatch(samples.slice(at, at + b), ctx)));
  else for (const s of samples) results.push(await stage.process(s, ctx));
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpuSeconds = (c.user + c.system) / 1e6;
  if (clip !== one) await clip.release();
  return { batch: b, seconds, cpuSeconds, perCpuSecond: count / cpuSeconds, scores: results.map(scoreOf), reasons: results.map((r) => (r.keep ? 'keep' : r.reason.split(':')[0]!)) };
}

const rows = [];
let base: Awaited<ReturnType<typeof measure>> | undefined;
console.log(`mini CLIP stage, ${count} images (seed ${seed}), ${cpus()[0]?.model} ×${cpus().length}, ORT threads ${threads}, load ${loadavg()[0]!.toFixed(1)}`);
console.log('B  | wall s | CPU s | images per CPU-s | max |score − B=1| | same keep/drop');
for (const b of [1, ...batches.filter((x) => x !== 1)]) {
  const m = await measure(b);
  base ??= m;
  let maxDiff = 0;
  let same = 0;
  m.scores.forEach((s, i) => {
    const r = base!.scores[i] ?? null;
    if (s !== null && r !== null) maxDiff = Math.max(maxDiff, Math.abs(s - r));
    if (m.reasons[i] === base!.reasons[i]) same++;
  });
  console.log(`${String(b).padEnd(2)} | ${m.seconds.toFixed(1).padStart(6)} | ${m.cpuSeconds.toFixed(1).padStart(5)} | ${m.perCpuSecond.toFixed(1).padStart(16)} | ${maxDiff.toExponential(1).padStart(19)} | ${same}/${count}`);
  rows.push({ batch: b, seconds: m.seconds, cpuSeconds: m.cpuSeconds, imagesPerCpuSecond: m.perCpuSecond, imagesPerSecond: count / m.seconds, maxScoreDiff: maxDiff, sameDecision: same });
}
await one.release();
const out = join(here, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'curate-clip-batch.json'), JSON.stringify({ count, seed, threads, cpu: cpus()[0]?.model, cores: cpus().length, load: loadavg()[0], rows }, null, 2) + '\n');
