/**
 * The speech curation pipeline (`curateSpeech`, all stages in order) scored against the synthetic
 * world's labelled noise (datasets/src/noise.ts): for each stage, precision and recall of its drops
 * against the noise kinds it is meant to catch (`STAGE_TARGETS`), the clean samples lost, and the
 * pipeline's samples/s (in-process, one thread; generation not counted).
 *
 *   node bench/dist/speech-curate-quality.js [--count 1000] [--seed 7] [--noise 0.5] [--data DIR] [--workers 0]
 *
 * Then the duplicate search alone at scale (`--dedup-scale 10000,50000`): random fingerprints with
 * speech lengths uniform in 1–10 s, the sliding-window exact search's time and comparisons.
 *
 * The generated set is kept in DIR (default out/speech-curate-<count>-<seed>) and reused. Prints a
 * table and writes bench/results/speech-curate-quality.json. Asserts nothing.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DROPS_FILE, MANIFEST_FILE, iterateDataset, isUnreadable, writeDataset, type DropRecord } from '@herd/data';
import { generateSpeech } from '@herd/datasets';
import { Rng } from '@herd/core';
import { curateSpeech, duplicatePairs, fingerprintBits, scoreCuration, type LabelledSample, type UtteranceFeature } from '@herd/speech';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: "The speech curation pipeline (curateSpeech) scored against the synthetic world's labelled noise: each stage's precision and recall, clean samples lost, samples/s; then the duplicate search alone at scale.",
  writes: 'bench/results/speech-curate-quality.json',
  flags: {
    count: { value: 'N', default: '1000', help: 'generated utterances' },
    seed: { value: 'N', default: '7', help: "the generator's seed" },
    noise: { value: 'X', default: '0.5', help: 'share of labelled noise' },
    data: { value: 'DIR', help: 'where the generated set is kept and reused (default: out/speech-curate-<count>-<seed>)' },
    workers: { value: 'N', default: '0', help: "curateSpeech's worker processes (0: in-process)" },
    'dedup-scale': { value: 'N,N,…', default: '10000,50000', help: "sizes of the duplicate search at scale (random fingerprints)" },
  },
});
const count = cli.number('count');
const seed = cli.number('seed');
const noiseRate = cli.number('noise');
const workers = cli.number('workers');
const dedupSizes = cli.flag('dedup-scale').split(',').filter(Boolean).map(Number);
const data = cli.flag('data') ?? join(here, '..', '..', 'out', `speech-curate-${count}-${seed}`);

if (!existsSync(join(data, MANIFEST_FILE))) {
  const t0 = performance.now();
  await writeDataset(data, generateSpeech({ seed, count, noiseRate, threads: Math.max(1, cpus().length) }), { samplesPerShard: 250, name: 'speech-curate-bench' });
  console.log(`generated ${count} utterances in ${((performance.now() - t0) / 1000).toFixed(0)} s → ${data}`);
}
const labels: LabelledSample[] = [];
for await (const s of iterateDataset(data, { tolerant: true })) {
  if (isUnreadable(s)) continue;
  labels.push({ key: s.key, noise: (s.meta['noise'] as string | null) ?? null, ...(typeof s.meta['duplicateOf'] === 'string' ? { duplicateOf: s.meta['duplicateOf'] } : {}) });
}
const output = `${data}.curated`;
rmSync(output, { recursive: true, force: true });
const t0 = performance.now();
const res = await curateSpeech(data, output, { workers, progress: null });
const seconds = (performance.now() - t0) / 1000;
const drops = readFileSync(join(output, DROPS_FILE), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as DropRecord);
const score = scoreCuration(labels, drops);
const report = res.report!;

const pct = (x: number | null): string => (x === null ? '–' : `${(100 * x).toFixed(1)} %`);
console.log(`\n${labels.length} utterances (seed ${seed}, noise rate ${noiseRate}); pipeline ${seconds.toFixed(1)} s = ${(labels.length / seconds).toFixed(1)} samples/s (${workers} workers, load ${loadavg()[0]!.toFixed(1)})\n`);
console.log('| stage | meant to drop | labelled | dropped | right | precision | recall | samples/s |');
console.log('|---|---|---|---|---|---|---|---|');
for (const s of score.stages) {
  const sps = report.stages.find((r) => r.name === s.stage)?.samplesPerSecond ?? null;
  console.log(`| ${s.stage} | ${s.targets.join(', ') || '–'} | ${s.labelled} | ${s.dropped} | ${s.right} | ${pct(s.precision)} | ${pct(s.recall)} | ${sps === null ? '–' : sps.toFixed(0)} |`);
}
console.log(`\nnoisy samples dropped by some stage: ${pct(score.overallRecall)}; clean samples dropped: ${score.cleanDropped} of ${score.clean}; not covered by any stage: ${JSON.stringify(score.uncovered)}`);
const wrong = drops.filter((d) => {
  const l = labels.find((x) => x.key === d.key);
  return l?.noise === null && d.stage !== 'duplicate';
});
for (const d of wrong.slice(0, 20)) console.log(`  clean drop: ${d.key} ${d.stage}: ${d.reason}`);

// The duplicate search at scale: its cost grows with the pairs inside the ±15% length window.
const scale: { n: number; seconds: number; pairs: number }[] = [];
const bits = fingerprintBits();
for (const n of dedupSizes) {
  const rng = new Rng(n);
  const feats: UtteranceFeature[] = Array.from({ length: n }, () => {
    const w = new Uint32Array(Math.ceil(bits / 32)).map(() => rng.int(2 ** 32));
    return { f: Buffer.from(w.buffer).toString('base64'), d: 1 + 9 * rng.next(), q: 0 };
  });
  const t = performance.now();
  const pairs = duplicatePairs(feats, Math.floor(0.1 * bits), 1.15).length;
  scale.push({ n, seconds: (performance.now() - t) / 1000, pairs });
  console.log(`duplicate search over ${n} random fingerprints: ${scale[scale.length - 1]!.seconds.toFixed(1)} s (${pairs} pairs found)`);
}

const out = join(here, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'speech-curate-quality.json'),
  JSON.stringify({ count: labels.length, seed, noiseRate, workers, seconds, samplesPerSecond: labels.length / seconds, loadAverage: loadavg()[0], cpus: cpus().length, score, stages: report.stages, cleanDrops: wrong, dedupScale: scale }, null, 2) + '\n',
);
console.log(`\nwrote ${join(out, 'speech-curate-quality.json')}`);
