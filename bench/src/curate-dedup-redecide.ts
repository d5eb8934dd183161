/**
 * Re-runs only the near-duplicate decision of a finished image curation run on the features its
 * pass 0 spilled (`<output>/_run/pass-0/*.features.jsonl`), with today's stage code and the options
 * given, and scores it against the generator's labels in the input index — so a change to candidate
 * search or verification is measured at 100k without decoding 100k images again.
 *
 *   HERD_THREADS=1 node bench/dist/curate-dedup-redecide.js --run OUTPUT_DIR --input INPUT_DIR [--expand-ties] [--local-chroma X|off]
 *
 * Scored: a drop `duplicate-of:r` is right when the dropped sample and r come from one labelled
 * source (a copy and its source, or two copies of one); "copies kept beside their source" counts
 * labelled exact / near copies whose source also reached the stage and neither was dropped.
 * Prints one JSON object and writes bench/results/curate-dedup-redecide.json. Asserts nothing.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ANN_DEFAULTS, nearDuplicate } from '@herd/vision';
import { flag, hasFlag } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const run = flag('run', '');
const input = flag('input', '');
if (!run || !input) throw new Error('usage: curate-dedup-redecide --run OUTPUT_DIR --input INPUT_DIR [--expand-ties] [--local-chroma X|off]');
const chroma = flag('local-chroma', '');
const expandTies = hasFlag('expand-ties');

const lines = (file: string): unknown[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
const meta = new Map<string, { noise?: string; duplicateOf?: string }>();
for (const r of lines(join(input, 'index.jsonl')) as { key: string; meta: { noise?: string; duplicateOf?: string } }[]) meta.set(r.key, r.meta);

const spill = mkdtempSync(join(tmpdir(), 'herd-redecide-'));
const stage = nearDuplicate({
  spillDir: spill,
  ann: { ...ANN_DEFAULTS, expandTies },
  ...(chroma ? { maxLocalChromaDiff: chroma === 'off' ? Infinity : Number(chroma) } : {}),
});
const observer = stage.observe!();
const pass0 = join(run, '_run', 'pass-0');
const present = new Set<string>();
for (const f of readdirSync(pass0).filter((n) => n.endsWith('.features.jsonl')).sort()) {
  for (const [key, feature] of lines(join(pass0, f)) as [string, never][]) {
    observer.add(key, feature);
    present.add(key);
  }
}
const t0 = performance.now();
const drops = await observer.finish();
const seconds = (performance.now() - t0) / 1000;
rmSync(spill, { recursive: true, force: true });

const source = (k: string): string => meta.get(k)?.duplicateOf ?? k;
let right = 0;
let wrong = 0;
for (const [k, reason] of drops) {
  const m = /duplicate-of:(\S+)/.exec(reason);
  if (m) source(k) === source(m[1]!) ? right++ : wrong++;
}
const keptBesideSource: Record<string, number> = { exact_duplicate: 0, near_duplicate: 0 };
for (const [k, m] of meta) {
  if ((m.noise === 'exact_duplicate' || m.noise === 'near_duplicate') && m.duplicateOf && present.has(k) && present.has(m.duplicateOf) && !drops.has(k) && !drops.has(m.duplicateOf)) keptBesideSource[m.noise]!++;
}
const result = {
  bench: 'curate-dedup-redecide', run, samples: present.size, options: { expandTies, localChroma: chroma || 'default' },
  decideSeconds: Number(seconds.toFixed(1)), dropped: drops.size, right, wrong, precision: Number((right / Math.max(1, right + wrong)).toFixed(4)), keptBesideSource,
  machine: `${cpus().length} × ${cpus()[0]?.model}`,
};
console.log(JSON.stringify(result, null, 1));
mkdirSync(join(here, '..', 'results'), { recursive: true });
writeFileSync(join(here, '..', 'results', 'curate-dedup-redecide.json'), JSON.stringify(result, null, 2) + '\n');
