/**
 * Memory and time of the image near-duplicate decision (`nearDuplicate`'s streaming observer: the
 * compact in-memory store, the spill file of layouts and thumbnails, candidate search, verification,
 * union-find) at growing N, each size in a fresh child process. Features are synthetic but shaped
 * like the real ones (pHash of the whole image and 3 centre crops, a 16×16 colour layout, a 32×32
 * grey thumbnail, 7 aspect ratios); a tenth of the samples are copies of an earlier one (a few hash
 * bits flipped, thumbnail and layout slightly perturbed) so the verification has work to do. The
 * features are made one at a time and not kept, so the child's peak RSS is the decision's own.
 *
 *   nice -n 10 node bench/dist/curate-dedup-scale.js [--sizes 10k,50k,100k] [--exact-limit 20000]
 *
 * Prints a table and writes bench/results/curate-dedup-scale.json. Asserts nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Rng } from '@herd/core';
import { type DedupFeature, nearDuplicate } from '@herd/vision';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const count = (s: string): number => {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  return Math.round(Number(m[1]) * (m[2]?.toLowerCase() === 'k' ? 1e3 : m[2]?.toLowerCase() === 'm' ? 1e6 : 1));
};
const cli = benchArgs({
  about: "Memory and time of the image near-duplicate decision (nearDuplicate's streaming observer) on synthetic features at growing N, each size in a fresh child process.",
  writes: 'bench/results/curate-dedup-scale.json',
  flags: {
    sizes: { value: 'N,N,…', default: '10k,50k,100k', help: 'sample counts, one child each (k and M suffixes)' },
    'exact-limit': { value: 'N', default: '20000', help: "the stage's exactLimit (exact candidate search up to N, HNSW above)" },
  },
  spawnsItself: true,
});
const exactLimit = cli.number('exact-limit');

const ASPECTS = [1, 4 / 3, 3 / 4, 16 / 9, 9 / 16, 3 / 2, 2 / 3].map((a) => Number(Math.log(a).toFixed(5)));
const hex = (rng: Rng): string => Array.from({ length: 16 }, () => rng.int(16).toString(16)).join('');
const flipBits = (rng: Rng, h: string, bits: number): string => {
  const nib = [...h].map((c) => parseInt(c, 16));
  for (let b = 0; b < bits; b++) {
    const k = rng.int(64);
    nib[k >> 2] = nib[k >> 2]! ^ (8 >> (k & 3));
  }
  return nib.map((x) => x.toString(16)).join('');
};
const b64 = (x: Uint8Array | Int8Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');

/** Child: streams N synthetic features through the observer and reports time and peak RSS. */
async function child(n: number): Promise<void> {
  const rng = new Rng(7);
  const stage = nearDuplicate({ exactLimit });
  const obs = stage.observe!();
  // A copy's source is drawn from the last 1000 originals (as the generator does).
  const recent: { h: string; c: string[]; a: number; t: Uint8Array; l: Int8Array }[] = [];
  let planted = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    let base: (typeof recent)[number];
    if (i > 0 && rng.next() < 0.1 && recent.length > 0) {
      const src = recent[rng.int(recent.length)]!;
      base = { h: flipBits(rng, src.h, rng.int(6)), c: src.c.map((h) => flipBits(rng, h, rng.int(6))), a: src.a, t: Uint8Array.from(src.t, (v) => Math.min(255, v + rng.int(3))), l: src.l };
      planted++;
    } else {
      const t = new Uint8Array(1024);
      for (let k = 0; k < t.length; k++) t[k] = rng.int(256);
      const l = new Int8Array(771);
      for (let k = 0; k < l.length; k++) l[k] = rng.int(255) - 127;
      base = { h: hex(rng), c: [hex(rng), hex(rng), hex(rng)], a: ASPECTS[rng.int(ASPECTS.length)]!, t, l };
      recent.push(base);
      if (recent.length > 1000) recent.shift();
    }
    const f: DedupFeature = { h: base.h, l: b64(base.l), a: base.a, t: b64(base.t), c: base.c.map((h) => ({ h, l: b64(base.l), t: b64(base.t) })), q: rng.next() };
    await obs.add(`img-${String(i).padStart(9, '0')}`, f);
  }
  const t1 = performance.now();
  // What the store holds after every feature went in (garbage collected first: the producer's own
  // strings are not the store's), then the peak through the decision.
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  // Live JS objects plus typed-array memory. Not `external`: it also counts transient native buffers
  // (the spill file's 1 MiB write batch, a concat) that V8 accounts lazily — at 10–20k samples those
  // alone read as ~1 kB per sample, which last round's figure mistook for the store.
  const retainedMiB = (m.heapUsed + m.arrayBuffers) / 2 ** 20;
  const rssAfterObserveMiB = m.rss / 2 ** 20;
  const drops = (await obs.finish()) as Map<string, string>;
  const t2 = performance.now();
  process.stdout.write(`REPORT ${JSON.stringify({ n, planted, dropped: drops.size, observeSeconds: (t1 - t0) / 1000, decideSeconds: (t2 - t1) / 1000, retainedMiB, rssAfterObserveMiB, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
}

if (cli.child) {
  await child(Number(cli.child[0]));
  process.exit(0);
}

const sizes = cli.flag('sizes').split(',').map(count);
const rows: { n: number; planted: number; dropped: number; observeSeconds: number; decideSeconds: number; retainedMiB: number; rssAfterObserveMiB: number; maxRssMiB: number }[] = [];
for (const n of sizes) {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...cli.childArgs([String(n)])], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const m = /REPORT (.*)/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`child ${n} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  rows.push(JSON.parse(m[1]!));
  console.log(JSON.stringify(rows[rows.length - 1]));
}
// Baseline: a child that only starts (node + the imports), to subtract.
const base = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...cli.childArgs(['0'])], { encoding: 'utf8' });
const baseReport = JSON.parse(/REPORT (.*)/.exec(base.stdout)![1]!) as { maxRssMiB: number; retainedMiB: number };
const baseRss = baseReport.maxRssMiB;
console.log(`\nnearDuplicate observer, ${cpus().length} × ${cpus()[0]?.model}, nice 10, load ${loadavg()[0]!.toFixed(1)}; exact search up to ${exactLimit}, usearch HNSW above; empty-run RSS ${baseRss.toFixed(0)} MiB`);
console.log('\n| N | copies planted | dropped | observe s | decide s | store after observe (heap + array buffers, above empty), B/sample | RSS after observe MiB | peak RSS MiB (incl. decide) |\n|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.n} | ${r.planted} | ${r.dropped} | ${r.observeSeconds.toFixed(1)} | ${r.decideSeconds.toFixed(1)} | ${(((r.retainedMiB - baseReport.retainedMiB) * 2 ** 20) / r.n).toFixed(0)} | ${r.rssAfterObserveMiB.toFixed(0)} | ${r.maxRssMiB.toFixed(0)} |`);
mkdirSync(join(here, '..', 'results'), { recursive: true });
writeFileSync(join(here, '..', 'results', 'curate-dedup-scale.json'), JSON.stringify({ machine: `${cpus().length} × ${cpus()[0]?.model}`, niced: 10, exactLimit, baseRssMiB: baseRss, rows }, null, 2) + '\n');
