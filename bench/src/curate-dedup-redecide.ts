/**
 * Re-runs only the near-duplicate decision of a finished image curation run on the features its
 * pass 0 spilled (`<output>/_run/pass-0/*.features.jsonl`), with today's stage code and the options
 * given, and scores it against the generator's labels in the input index — so a change to candidate
 * search or verification is measured at 100k without decoding 100k images again.
 *
 *   HERD_THREADS=1 node bench/dist/curate-dedup-redecide.js --run OUTPUT_DIR --input INPUT_DIR [--expand-ties] [--local-chroma X|off]
 *     [--options JSON] [--dump FILE] [--tag T]
 *
 * Scored: a drop `duplicate-of:r` is right when the dropped sample and r come from one labelled
 * source (a copy and its source, or two copies of one); "copies kept beside their source" counts
 * labelled exact / near copies whose source also reached the stage and neither was dropped; recall
 * is the eval bench's: labelled copy–source pairs (both reached the stage) that end in one group.
 * `--options` are further `nearDuplicate` options (JSON); `--dump` writes every wrong drop and every
 * missed copy–source pair with both scenes (JSON lines) for a look by hand.
 * Prints one JSON object and writes bench/results/curate-dedup-redecide{tag}.json. Asserts nothing.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ANN_DEFAULTS, nearDuplicate, type NearDuplicateOptions } from '@herd/vision';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: "Re-runs only the near-duplicate decision of a finished image curation run on the features its pass 0 spilled, with today's stage code and the options given, scored against the generator's labels in the input index.",
  writes: 'bench/results/curate-dedup-redecide<tag>.json (and one JSON object to stdout)',
  flags: {
    run: { value: 'OUTPUT_DIR', required: true, help: 'the finished curation run (its _run/pass-0/*.features.jsonl)' },
    input: { value: 'INPUT_DIR', required: true, help: "the run's input dataset (its index.jsonl holds the labels)" },
    'expand-ties': { help: "the HNSW search's expandTies" },
    'local-chroma': { value: 'X|off', help: "maxLocalChromaDiff (off: Infinity; default: the stage's)" },
    options: { value: 'JSON', default: '{}', help: 'further nearDuplicate options' },
    dump: { value: 'FILE', help: 'write every wrong drop and missed copy–source pair with both scenes (JSON lines)' },
    tag: { value: 'T', default: '', help: "appended to the result file's name" },
  },
});
const run = cli.flag('run');
const input = cli.flag('input');
const chroma = cli.flag('local-chroma') ?? '';
const expandTies = cli.has('expand-ties');
const extra = JSON.parse(cli.flag('options')) as NearDuplicateOptions;
const dump = cli.flag('dump') ?? '';

const lines = (file: string): unknown[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
type Meta = { noise?: string; duplicateOf?: string; transform?: string; scene?: unknown };
const meta = new Map<string, Meta>();
for (const r of lines(join(input, 'index.jsonl')) as { key: string; meta: Meta }[]) meta.set(r.key, r.meta);

const spill = mkdtempSync(join(tmpdir(), 'herd-redecide-'));
const stage = nearDuplicate({
  spillDir: spill,
  ...(chroma ? { maxLocalChromaDiff: chroma === 'off' ? Infinity : Number(chroma) } : {}),
  ...extra,
  ann: { ...ANN_DEFAULTS, expandTies, ...extra.ann },
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
const keptFor = (k: string): string => /duplicate-of:(\S+)/.exec(drops.get(k) ?? '')?.[1] ?? k;
const dumped: string[] = [];
const describe = (k: string) => ({ key: k, transform: meta.get(k)?.noise === 'exact_duplicate' ? 'exact' : (meta.get(k)?.transform ?? null), scene: meta.get(source(k))?.scene });
let right = 0;
let wrong = 0;
for (const [k] of drops) {
  if (source(k) === source(keptFor(k))) right++;
  else {
    wrong++;
    dumped.push(JSON.stringify({ kind: 'wrong-drop', dropped: describe(k), kept: describe(keptFor(k)) }));
  }
}
let pairs = 0;
let found = 0;
for (const [k, m] of meta) {
  if (!m.duplicateOf || !present.has(k) || !present.has(m.duplicateOf)) continue;
  pairs++;
  if (keptFor(k) === keptFor(m.duplicateOf)) found++;
  else dumped.push(JSON.stringify({ kind: 'missed', copy: describe(k), source: describe(m.duplicateOf), copyKeptFor: keptFor(k), sourceKeptFor: keptFor(m.duplicateOf) }));
}
if (dump) writeFileSync(dump, dumped.join('\n') + '\n');
const keptBesideSource: Record<string, number> = { exact_duplicate: 0, near_duplicate: 0 };
for (const [k, m] of meta) {
  if ((m.noise === 'exact_duplicate' || m.noise === 'near_duplicate') && m.duplicateOf && present.has(k) && present.has(m.duplicateOf) && !drops.has(k) && !drops.has(m.duplicateOf)) keptBesideSource[m.noise]!++;
}
const result = {
  bench: 'curate-dedup-redecide', run, samples: present.size, options: { expandTies, localChroma: chroma || 'default', ...extra },
  decideSeconds: Number(seconds.toFixed(1)), dropped: drops.size, right, wrong, precision: Number((right / Math.max(1, right + wrong)).toFixed(4)),
  recall: Number((found / Math.max(1, pairs)).toFixed(4)), pairsFound: found, pairs, keptBesideSource,
  machine: `${cpus().length} × ${cpus()[0]?.model}`,
};
console.log(JSON.stringify(result, null, 1));
mkdirSync(join(here, '..', 'results'), { recursive: true });
writeFileSync(join(here, '..', 'results', `curate-dedup-redecide${cli.flag('tag')}.json`), JSON.stringify(result, null, 2) + '\n');
