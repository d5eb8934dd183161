/**
 * Scores the image near-duplicate stage against the synthetic world's labels at growing N, and
 * chooses its verification thresholds on a validation split. A set is generated with exact and near
 * duplicates (20 %), its dedup features (`nearDuplicate().prepare`: pHash of the whole image and its
 * centre crops, colour layouts, grey thumbnails) are cached under --cache, and then:
 *
 * - `--sweep`: every candidate pair (loosest thresholds of the grid) is verified once; each grid point
 *   filters those signals and groups them both ways (union-find components, non-chaining stars);
 *   the rule, fixed beforehand, picks the highest recall at precision ≥ 98 % on the validation sets
 *   (both sizes must meet it), else the highest precision at recall ≥ 95 %.
 * - `--residual`: the stage's thresholds as they are, plus a sweep of `maxBlockResidual` (the worst
 *   4×4 tile's residual of the grey thumbnails, `thumbBlockResidual`); prints how true and false
 *   verified pairs spread on it and P/R per value, star groups, computed in memory like `--sweep`.
 *   Rule, fixed beforehand: the largest value (fewest lost copies) at which every set reaches P ≥ 98 %.
 * - `--local-chroma`: the same for `maxLocalChromaDiff` (`layoutChromaDiff` of whole ↔ whole pairs:
 *   the largest one-cell chroma change of the colour layouts, cells below `--min-chroma` of the
 *   layout's length skipped; `--pool P`: the cells pooled P × P first), same rule.
 * - `--score`: the real stage (`nearDuplicate(options).decide`) with the given options on a test set.
 *
 * Precision is by the labels: a drop is right when the dropped sample and the one kept for it share a
 * source (a copy and its original, or two copies of one original). Wrong drops are split by how
 * different the two scenes are (the same scene rendered twice, which the labels call different; the
 * same objects on another background; different objects). Recall: labelled copy–source pairs that end
 * in one group. `labelledDropped` is last round's measure (labelled copies dropped / drops).
 *
 *   nice -n 10 node bench/dist/curate-dedup-eval.js --sweep --sets 2001:1500,6001:10000 [--cache /tmp/herd-dedup-eval]
 *   nice -n 10 node bench/dist/curate-dedup-eval.js --residual --sets 2001:1500,6001:8000,9001:20000
 *   nice -n 10 node bench/dist/curate-dedup-eval.js --local-chroma [--min-chroma 0.04] [--pool 2] --sets 2001:1500,6001:8000,9001:20000
 *   nice -n 10 node bench/dist/curate-dedup-eval.js --score --sets 3001:1500,5001:20000 [--options '{"grouping":"star"}' | --variants '{"A":{…},"B":{…}}']
 *   nice -n 10 node bench/dist/curate-dedup-eval.js --miss --sets 9001:20000 [--ann-k 64]
 *
 * `--table` (variant search): every HNSW candidate (k = the largest `k` of the variants, at least the stage's 16; the pairs k 16 returns marked) within
 * loose bounds, each check's value computed once — raw and after the per-pair colour fit (`fitLayoutColour`) —
 * then each variant of `--variants` (`TableVariant`: a threshold left out is the stage's default constant; the colour
 * fit applies only where a variant names `colourFit: [maxHueDeg, maxGain]`) is the stage's verification on those values
 * plus star grouping, scored in seconds; the first variant's misses are diagnosed as `--miss` does (`--no-miss`: not).
 * Confirm a chosen variant with `--score` (the real stage).
 *   HERD_THREADS=1 nice -n 5 node bench/dist/curate-dedup-eval.js --table --sets 9001:20000 --variants '{"G1":{"maxHamming":28,"cropMinFineCorrelation":0.985},"fit":{"colourFit":[15,1.3]}}'
 *
 * `--miss` (diagnosis): the stage with its default checks on the HNSW path; for every labelled copy it does not
 * group with its source, why: no view pair within the pHash bounds, within them but not returned by the HNSW
 * search (`--ann-k K`: also whether K neighbours would return it), a candidate rejected by a named check (its
 * value), or verified and lost in the grouping. Writes bench/results/curate-dedup-miss<tag>.json.
 *
 * Prints tables and writes bench/results/curate-dedup-eval-{sweep,score}.json. Asserts nothing.
 */
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Components, starGroups } from '@herd/data';
import { generateImages } from '@herd/datasets';
import { ANN_DEFAULTS, annViewPairs, backgroundChroma, CROP_MAX_HAMMING, CROP_MIN_FINE_CORRELATION, CROP_MIN_LAYOUT_COSINE, MAX_ASPECT_LOG_DIFF, MAX_BACKGROUND_CHROMA_DIFF, MIN_LAYOUT_COSINE, MIN_THUMB_CORRELATION, DedupStore, type DedupFeature, exactViewPairs, FINE_CROP_SCALES, FINE_CROP_SIDE, fineMatch, fitLayoutColour, LOCAL_CHROMA_POOL, layoutChromaDiff, layoutCosine, MAX_CONTRAST_LOG_RATIO, MAX_HAMMING, MAX_LOCAL_CHROMA_DIFF, MIN_FINE_CORRELATION, nearDuplicate, type NearDuplicateOptions, thumbBlockResidual, thumbCorrelation } from '@herd/vision';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: "Scores the image near-duplicate stage against the synthetic world's labels and chooses its verification thresholds on validation sets; the mode switches say what runs on the sets (loaded, or generated and cached, first).",
  writes: 'bench/results/curate-dedup-{eval-sweep,eval-residual,eval-local-chroma,eval-score,miss,table}<tag>.json (by mode)',
  flags: {
    sets: { value: 'SEED:N,…', default: '2001:1500', help: 'the labelled sets: generator seed and image count of each' },
    cache: { value: 'DIR', default: '/tmp/herd-dedup-eval', help: "where each set's dedup features are cached" },
    sweep: { help: 'mode: the threshold grid, both groupings, on every candidate pair' },
    residual: { help: "mode: the stage's thresholds plus a sweep of maxBlockResidual" },
    'local-chroma': { help: 'mode: the same for maxLocalChromaDiff' },
    'min-chroma': { value: 'X', default: '0.04', help: "layoutChromaDiff's cells below X of the layout's length skipped" },
    pool: { value: 'P', default: '1', help: 'layoutChromaDiff pools the cells P × P first' },
    score: { help: 'mode: the real stage (nearDuplicate(options).decide) on the sets' },
    options: { value: 'JSON', default: '{}', help: 'nearDuplicate options for --score' },
    variants: { value: 'JSON', help: '{"name": options, …}: several option sets for --score (default: --options alone), or TableVariants for --table (default: {"G1":{}})' },
    miss: { help: 'mode: why the stage misses each labelled copy it does not group with its source' },
    'ann-k': { value: 'K', default: '0', help: '--miss: also whether K HNSW neighbours would return a missed pair (0: not asked)' },
    table: { help: 'mode: every HNSW candidate checked once, then each of --variants scored on those values' },
    'no-miss': { help: "--table: skip the diagnosis of the first variant's misses" },
    tag: { value: 'T', default: '', help: "appended to the result files' names" },
  },
});
const cacheDir = cli.flag('cache');
const sets = cli.flag('sets').split(',').map((s) => s.split(':').map(Number) as [number, number]);
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

interface Item { k: string; d: string | null; tr: string | null; sc: string; ob: string; f: DedupFeature | null }

/**
 * The labelled set with its dedup features, generated once and cached (temp file, then rename); read
 * and written a line at a time (a 100 000-image set is ~1 GB, more than one JS string holds).
 */
async function loadSet(seed: number, count: number): Promise<Item[]> {
  const file = join(cacheDir, `s${seed}-n${count}.jsonl`);
  const items: Item[] = [];
  if (existsSync(file)) {
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) if (line) items.push(JSON.parse(line) as Item);
    return items;
  }
  mkdirSync(cacheDir, { recursive: true });
  const stage = nearDuplicate();
  const out = openSync(file + '.tmp', 'w');
  const t0 = performance.now();
  for await (const s of generateImages({ seed, count, noiseRate: 0.2, noiseKinds: ['exact_duplicate', 'near_duplicate'] })) {
    const scene = s.meta['scene'] as { objects?: unknown; word?: unknown } | undefined;
    items.push({
      k: s.key,
      d: (s.meta['duplicateOf'] as string | undefined) ?? null,
      tr: s.meta['noise'] === 'exact_duplicate' ? 'exact' : ((s.meta['transform'] as string | undefined) ?? null),
      sc: JSON.stringify(scene),
      ob: JSON.stringify([scene?.objects, scene?.word]),
      f: await stage.prepare!(s, { shard: 'bench', pass: 0, worker: 0 }),
    });
    writeSync(out, JSON.stringify(items[items.length - 1]) + '\n');
    if (items.length % 1000 === 0) console.log(`  seed ${seed}: ${items.length}/${count} (${(items.length / ((performance.now() - t0) / 1000)).toFixed(1)}/s)`);
  }
  closeSync(out);
  renameSync(file + '.tmp', file);
  return items;
}

interface Quality { drops: number; right: number; precision: number; recall: number; pairs: number; found: number; wrong: { sameScene: number; sameObjectsOtherBackground: number; differentObjects: number }; precisionCountingSameScene: number; labelledDropped: number; byTransform: Record<string, string> }

/** Scores a grouping: keep[i] is the sample kept for i's group (i itself when kept). */
function scoreKeep(items: readonly Item[], index: ReadonlyMap<string, number>, keep: (i: number) => number): Quality {
  const source = (i: number): string => items[i]!.d ?? items[i]!.k;
  const wrong = { sameScene: 0, sameObjectsOtherBackground: 0, differentObjects: 0 };
  let drops = 0;
  let right = 0;
  let labelledDropped = 0;
  for (let i = 0; i < items.length; i++) {
    const r = keep(i);
    if (r === i) continue;
    drops++;
    if (items[i]!.d !== null) labelledDropped++;
    if (source(i) === source(r)) right++;
    else {
      const a = items[index.get(source(i))!]!;
      const b = items[index.get(source(r))!]!;
      if (a.sc === b.sc) wrong.sameScene++;
      else if (a.ob === b.ob) wrong.sameObjectsOtherBackground++;
      else wrong.differentObjects++;
    }
  }
  let pairs = 0;
  let found = 0;
  const byT: Record<string, [number, number]> = {};
  items.forEach((x, i) => {
    if (x.d === null || x.f === null) return;
    const s = index.get(x.d)!;
    const t = (byT[x.tr ?? '?'] ??= [0, 0]);
    pairs++;
    t[1]++;
    if (keep(i) === keep(s)) {
      found++;
      t[0]++;
    }
  });
  return {
    drops, right, precision: right / Math.max(1, drops), recall: found / Math.max(1, pairs), pairs, found, wrong,
    precisionCountingSameScene: (right + wrong.sameScene) / Math.max(1, drops), labelledDropped: labelledDropped / Math.max(1, drops),
    byTransform: Object.fromEntries(Object.entries(byT).map(([k, [f, n]]) => [k, `${f}/${n}`])),
  };
}

/** The cheap per-candidate signals, computed once at the loosest thresholds. */
interface Signals { a: Int32Array; b: Int32Array; v: Uint8Array; ham: Uint8Array; layout: Float32Array; thumb: Float32Array; chroma: Float32Array; resid: Float32Array; local: Float32Array }

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) as number;
}

function signals(items: readonly Item[], maxHamming: number, cropMaxHamming: number): Signals {
  const st = new DedupStore();
  items.forEach((x, i) => st.add(String(i), x.f ?? { q: 0, a: Number.NaN, h: '0'.repeat(16), c: [] }));
  const cands = exactViewPairs(st, maxHamming, cropMaxHamming, 0.02);
  const hs = Array.from({ length: st.views }, (_, v) => st.hashes(v));
  st.close();
  // Layouts and thumbnails of every view in memory (the stage reads them from its spill file).
  const views = items.map((x) => (x.f?.h === undefined ? null : [{ l: x.f.l!, t: x.f.t! }, ...(x.f.c ?? [])].map((v) => ({ l: new Int8Array(Buffer.from(v.l, 'base64')), t: new Uint8Array(Buffer.from(v.t, 'base64')) }))));
  const n = cands.length;
  const s: Signals = { a: new Int32Array(n), b: new Int32Array(n), v: new Uint8Array(n), ham: new Uint8Array(n), layout: new Float32Array(n), thumb: new Float32Array(n), chroma: new Float32Array(n), resid: new Float32Array(n), local: new Float32Array(n) };
  // Only candidates that pass the loosest grid point are kept (the grid then filters these).
  let m = 0;
  for (const [a, b, v] of cands) {
    const va = views[a]?.[v];
    const vb = views[b]?.[0];
    const layout = va && vb ? layoutCosine(va.l, vb.l) : 1;
    if (layout < (v === 0 ? LOOSEST.minLayoutCosine : LOOSEST.cropMinLayoutCosine)) continue;
    const thumb = va && vb ? thumbCorrelation(va.t, vb.t) : 1;
    if (thumb < (v === 0 ? LOOSEST.minThumbCorrelation : LOOSEST.cropMinThumbCorrelation)) continue;
    s.a[m] = a;
    s.b[m] = b;
    s.v[m] = v;
    s.ham[m] = popcount((hs[v]!.hi[a]! ^ hs[0]!.hi[b]!) >>> 0) + popcount((hs[v]!.lo[a]! ^ hs[0]!.lo[b]!) >>> 0);
    s.layout[m] = layout;
    s.thumb[m] = thumb;
    s.resid[m] = va && vb ? thumbBlockResidual(va.t, vb.t) : 0;
    s.local[m] = va && vb ? layoutChromaDiff(va.l, vb.l, cli.number('min-chroma'), cli.number('pool')) : 0;
    const ca = va ? backgroundChroma(va.l) : null;
    const cb = vb ? backgroundChroma(vb.l) : null;
    s.chroma[m] = ca && cb ? Math.hypot(ca[0] - cb[0], ca[1] - cb[1]) : 0;
    m++;
  }
  console.log(`  ${n} candidates, ${m} pass the loosest checks`);
  return { a: s.a.subarray(0, m), b: s.b.subarray(0, m), v: s.v.subarray(0, m), ham: s.ham.subarray(0, m), layout: s.layout.subarray(0, m), thumb: s.thumb.subarray(0, m), chroma: s.chroma.subarray(0, m), resid: s.resid.subarray(0, m), local: s.local.subarray(0, m) };
}

const LOOSEST = { minLayoutCosine: 0.97, minThumbCorrelation: 0.98, cropMinLayoutCosine: 0.95, cropMinThumbCorrelation: 0.97 };

interface Grid { maxHamming: number; minLayoutCosine: number; minThumbCorrelation: number; cropMaxHamming: number; cropMinLayoutCosine: number; cropMinThumbCorrelation: number; maxBackgroundChromaDiff: number; maxBlockResidual?: number; maxLocalChromaDiff?: number }

function groupBy(items: readonly Item[], s: Signals, g: Grid, grouping: 'components' | 'star'): (i: number) => number {
  const pairs: [number, number][] = [];
  for (let k = 0; k < s.a.length; k++) {
    const whole = s.v[k] === 0;
    if (s.ham[k]! > (whole ? g.maxHamming : g.cropMaxHamming)) continue;
    if (s.layout[k]! < (whole ? g.minLayoutCosine : g.cropMinLayoutCosine)) continue;
    if (s.thumb[k]! < (whole ? g.minThumbCorrelation : g.cropMinThumbCorrelation)) continue;
    if (s.chroma[k]! > g.maxBackgroundChromaDiff) continue;
    if (s.resid[k]! > (g.maxBlockResidual ?? Infinity)) continue;
    if (s.v[k] === 0 && s.local[k]! > (g.maxLocalChromaDiff ?? Infinity)) continue;
    pairs.push([s.a[k]!, s.b[k]!]);
  }
  const q = items.map((x) => x.f?.q ?? 0);
  const better = (a: number, b: number): boolean => q[a]! > q[b]! || (q[a] === q[b] && a < b);
  if (grouping === 'star') {
    const keep = starGroups(items.length, pairs, better);
    return (i) => keep[i]!;
  }
  const c = new Components(items.length, better);
  for (const [a, b] of pairs) c.union(a, b);
  return (i) => c.find(i);
}

const machine = `${cpus().length} × ${cpus()[0]?.model}, nice 10, load ${loadavg()[0]!.toFixed(1)}`;
mkdirSync(join(here, '..', 'results'), { recursive: true });
const loaded = [];
for (const [seed, count] of sets) {
  const items = await loadSet(seed, count);
  loaded.push({ seed, count, items, index: new Map(items.map((x, i) => [x.k, i])) });
}

if (cli.has('sweep')) {
  const grid: Grid[] = [];
  for (const maxHamming of [14, 18, 22]) for (const minLayoutCosine of [0.97, 0.98, 0.99]) for (const minThumbCorrelation of [0.98, 0.99, 0.995])
    for (const cropMaxHamming of [10, 14]) for (const cropMinLayoutCosine of [0.95, 0.97]) for (const cropMinThumbCorrelation of [0.97, 0.98])
      for (const maxBackgroundChromaDiff of [Infinity, 0.04, 0.06, 0.08])
        grid.push({ maxHamming, minLayoutCosine, minThumbCorrelation, cropMaxHamming, cropMinLayoutCosine, cropMinThumbCorrelation, maxBackgroundChromaDiff });
  const rows: { grouping: string; grid: Grid; perSet: { seed: number; count: number; precision: number; recall: number }[] }[] = [];
  const sig = loaded.map((x) => {
    const t = performance.now();
    const s = signals(x.items, 22, 14);
    console.log(`seed ${x.seed} (${x.count}): ${s.a.length} candidates verified in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    return s;
  });
  for (const grouping of ['components', 'star'] as const) {
    for (const g of grid) {
      rows.push({ grouping, grid: g, perSet: loaded.map((x, i) => {
        const r = scoreKeep(x.items, x.index, groupBy(x.items, sig[i]!, g, grouping));
        return { seed: x.seed, count: x.count, precision: r.precision, recall: r.recall };
      }) });
    }
  }
  const worst = (r: (typeof rows)[number]) => ({ p: Math.min(...r.perSet.map((x) => x.precision)), r: Math.min(...r.perSet.map((x) => x.recall)) });
  const choose = (xs: typeof rows) => {
    const ok = xs.filter((x) => worst(x).p >= 0.98);
    if (ok.length > 0) return [...ok].sort((a, b) => worst(b).r - worst(a).r || worst(b).p - worst(a).p)[0]!;
    const near = xs.filter((x) => worst(x).r >= 0.95);
    return [...(near.length > 0 ? near : xs)].sort((a, b) => worst(b).p - worst(a).p || worst(b).r - worst(a).r)[0]!;
  };
  const chosen = { components: choose(rows.filter((r) => r.grouping === 'components')), star: choose(rows.filter((r) => r.grouping === 'star')) };
  const current: Grid = { maxHamming: 22, minLayoutCosine: 0.97, minThumbCorrelation: 0.98, cropMaxHamming: 14, cropMinLayoutCosine: 0.95, cropMinThumbCorrelation: 0.97, maxBackgroundChromaDiff: Infinity };
  console.log(`\nvalidation ${loaded.map((x) => `seed ${x.seed} × ${x.count}`).join(', ')} (${machine})`);
  console.log('| grouping | thresholds | ' + loaded.map((x) => `P / R @${x.count}`).join(' | ') + ' |');
  console.log('|---|---|' + loaded.map(() => '---').join('|') + '|');
  for (const r of [...rows.filter((r) => JSON.stringify(r.grid) === JSON.stringify(current)), chosen.components, chosen.star, ...rows.filter((r) => r.grouping === 'star').sort((a, b) => worst(b).p - worst(a).p).slice(0, 3)]) {
    console.log(`| ${r.grouping} | ${JSON.stringify(r.grid)} | ${r.perSet.map((x) => `${pct(x.precision)} / ${pct(x.recall)}`).join(' | ')} |`);
  }
  writeFileSync(join(here, '..', 'results', 'curate-dedup-eval-sweep.json'), JSON.stringify({ machine, sets, chosen, rows }, null, 2) + '\n');
}

for (const check of ['residual', 'local-chroma'] as const) {
  if (!cli.has(check)) continue;
  // The stage's current thresholds (whole: 22 bits, layout 0.97, thumbnail 0.995; crops: 14, 0.97, 0.97; chroma 0.08).
  const stage: Grid = { maxHamming: 22, minLayoutCosine: 0.97, minThumbCorrelation: 0.995, cropMaxHamming: 14, cropMinLayoutCosine: 0.97, cropMinThumbCorrelation: 0.97, maxBackgroundChromaDiff: 0.08 };
  const knob = check === 'residual' ? 'maxBlockResidual' : 'maxLocalChromaDiff';
  const of = (sig: Signals, k: number): number => (check === 'residual' ? sig.resid[k]! : sig.v[k] === 0 ? sig.local[k]! : 0);
  const values = check === 'residual' ? [Infinity, 1.2, 1.0, 0.9, 0.8, 0.7, 0.65, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3] : [Infinity, 1.5, 1.2, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25];
  const q = (xs: number[], p: number): string => {
    const s = [...xs].sort((x, y) => x - y);
    return s.length === 0 ? '–' : s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(3);
  };
  const res = loaded.map((x) => {
    const t = performance.now();
    const sig = signals(x.items, stage.maxHamming, stage.cropMaxHamming);
    const src = (i: number): string => x.items[i]!.d ?? x.items[i]!.k;
    const truth: number[] = [];
    const falsePairs: number[] = [];
    for (let k = 0; k < sig.a.length; k++) {
      const whole = sig.v[k] === 0;
      if (sig.layout[k]! < (whole ? stage.minLayoutCosine : stage.cropMinLayoutCosine) || sig.thumb[k]! < (whole ? stage.minThumbCorrelation : stage.cropMinThumbCorrelation) || sig.chroma[k]! > stage.maxBackgroundChromaDiff) continue;
      if (check === 'local-chroma' && sig.v[k] !== 0) continue; // a whole ↔ whole check
      (src(sig.a[k]!) === src(sig.b[k]!) ? truth : falsePairs).push(of(sig, k));
    }
    console.log(`seed ${x.seed} × ${x.count}: ${truth.length} true and ${falsePairs.length} false verified pairs (${((performance.now() - t) / 1000).toFixed(0)} s); ${check} of true pairs q50 ${q(truth, 0.5)} q99 ${q(truth, 0.99)} q99.9 ${q(truth, 0.999)} max ${q(truth, 1)}; of false pairs q01 ${q(falsePairs, 0.01)} q10 ${q(falsePairs, 0.1)} q50 ${q(falsePairs, 0.5)}`);
    return { seed: x.seed, count: x.count, rows: values.map((v) => ({ [knob]: v, ...scoreKeep(x.items, x.index, groupBy(x.items, sig, { ...stage, [knob]: v }, 'star')) })) };
  });
  console.log(`\n| ${knob} | ${res.map((r) => `P / R @ seed ${r.seed} × ${r.count}`).join(' | ')} |\n|---|${res.map(() => '---').join('|')}|`);
  values.forEach((v, i) => console.log(`| ${v} | ${res.map((r) => `${pct(r.rows[i]!.precision)} / ${pct(r.rows[i]!.recall)}`).join(' | ')} |`));
  const ok = values.filter((_, i) => res.every((r) => r.rows[i]!.precision >= 0.98));
  console.log(`rule (largest value with P ≥ 98 % on every set): ${ok.length > 0 ? Math.max(...ok) : 'none'}`);
  writeFileSync(join(here, '..', 'results', `curate-dedup-eval-${check}${cli.flag('tag')}.json`), JSON.stringify({ machine, stage, res }, null, 2) + '\n');
}

if (cli.has('score')) {
  // `--variants '{"F0":{},"F1":{…}}'`: several option sets scored on the sets loaded once (a 100k cache takes minutes to read).
  const variants = Object.entries(JSON.parse(cli.flag('variants') ?? JSON.stringify({ '': JSON.parse(cli.flag('options')) })) as Record<string, NearDuplicateOptions>);
  const all: unknown[] = [];
  for (const [name, options] of variants) {
    const out = [];
    for (const x of loaded) {
      const stage = nearDuplicate(options);
      const t = performance.now();
      const drops = await stage.decide(new Map(x.items.map((it) => [it.k, it.f])));
      const seconds = (performance.now() - t) / 1000;
      const keep = (i: number): number => {
        const r = drops.get(x.items[i]!.k);
        return r === undefined ? i : x.index.get(r.slice('duplicate-of:'.length))!;
      };
      const q = scoreKeep(x.items, x.index, keep);
      out.push({ variant: name, seed: x.seed, count: x.count, decideSeconds: seconds, ...q });
      console.log(JSON.stringify(out[out.length - 1]));
    }
    console.log(`\n${name} nearDuplicate(${JSON.stringify(options)}), ${machine}`);
    console.log('| set | drops | precision (labels) | recall (pairs) | wrong: same scene / other background / different | precision counting same scene | decide s |\n|---|---|---|---|---|---|---|');
    for (const r of out) console.log(`| seed ${r.seed} × ${r.count} | ${r.drops} | ${pct(r.precision)} | ${pct(r.recall)} (${r.found}/${r.pairs}) | ${r.wrong.sameScene} / ${r.wrong.sameObjectsOtherBackground} / ${r.wrong.differentObjects} | ${pct(r.precisionCountingSameScene)} | ${r.decideSeconds.toFixed(1)} |`);
    all.push({ variant: name, options, rows: out });
  }
  writeFileSync(join(here, '..', 'results', `curate-dedup-eval-score${cli.flag('tag')}.json`), JSON.stringify(variants.length === 1 ? { machine, options: variants[0]![1], rows: (all[0] as { rows: unknown }).rows } : { machine, variants: all }, null, 2) + '\n');
}

type Loaded = { seed: number; count: number; items: Item[]; index: Map<string, number> };

/**
 * Why each labelled copy that `keep` does not group with its source was missed, by the stage's default checks:
 * `isCand(a, b, v)` says whether the stage's search (k 16) returned view v of a ↔ the whole of b, `isWide` the same
 * for a larger k. Prints the table (edit | reason | count) and returns it with every miss's values.
 */
function diagnoseMisses(x: Loaded, keep: (i: number) => number, isCand: (a: number, b: number, v: number) => boolean, isWide?: (a: number, b: number, v: number) => boolean, wideK = 0) {
  const hs = x.items.map((it) => (it.f?.h === undefined ? [] : [it.f.h, ...(it.f.c ?? []).map((v) => v.h)]));
  const ham = (p: string, q: string): number => {
    let d = 0;
    for (let i = 0; i < 16; i += 8) d += popcount((parseInt(p.slice(i, i + 8), 16) ^ parseInt(q.slice(i, i + 8), 16)) >>> 0);
    return d;
  };
  const dec = (b: string): Uint8Array => new Uint8Array(Buffer.from(b, 'base64'));
  /** Every check of the stage's default verification on view v of a against the whole of b: [name, value, ok] in the stage's order. */
  const checks = (a: number, b: number, v: number): [string, number, boolean][] => {
    const fa = x.items[a]!.f!;
    const fb = x.items[b]!.f!;
    const va = v === 0 ? { h: fa.h!, l: fa.l!, t: fa.t! } : fa.c![v - 1]!;
    const la = new Int8Array(dec(va.l).buffer);
    const lb = new Int8Array(dec(fb.l!).buffer);
    const ca = backgroundChroma(la);
    const cb = backgroundChroma(lb);
    const out: [string, number, boolean][] = [];
    const d = ham(va.h, fb.h!);
    out.push(['hamming', d, d <= (v === 0 ? MAX_HAMMING : CROP_MAX_HAMMING)]);
    const asp = Math.abs(fa.a! - fb.a!);
    out.push(['aspect', asp, asp <= MAX_ASPECT_LOG_DIFF]);
    const chroma = ca && cb ? Math.hypot(ca[0] - cb[0], ca[1] - cb[1]) : 0;
    out.push(['backgroundChroma', chroma, chroma <= MAX_BACKGROUND_CHROMA_DIFF]);
    const lc = layoutCosine(la, lb);
    out.push(['layoutCosine', lc, lc >= (v === 0 ? MIN_LAYOUT_COSINE : CROP_MIN_LAYOUT_COSINE)]);
    if (v === 0) {
      const tc = thumbCorrelation(dec(va.t), dec(fb.t!));
      out.push(['thumb', tc, tc >= MIN_THUMB_CORRELATION]);
      const local = layoutChromaDiff(la, lb, 0.04, LOCAL_CHROMA_POOL);
      out.push(['localChroma', local, local <= MAX_LOCAL_CHROMA_DIFF]);
    }
    const m = v === 0 ? fineMatch(dec(fa.g!), dec(fb.g!)) : fineMatch(dec(fa.g!), dec(fb.g!), FINE_CROP_SCALES, FINE_CROP_SIDE);
    out.push([v === 0 ? 'fine' : 'cropFine', m.correlation, m.correlation >= (v === 0 ? MIN_FINE_CORRELATION : CROP_MIN_FINE_CORRELATION)]);
    out.push(['contrast', m.contrast, m.contrast <= MAX_CONTRAST_LOG_RATIO]);
    return out;
  };
  const table: Record<string, Record<string, number>> = {};
  const misses: unknown[] = [];
  x.items.forEach((it, c) => {
    if (it.d === null || it.f === null || it.f.h === undefined) return;
    const s = x.index.get(it.d)!;
    if (keep(c) === keep(s) || x.items[s]!.f?.h === undefined) return;
    const V = hs[c]!.length;
    // Whole ↔ whole, the source's crops ↔ the copy's whole (a cropped copy), and the copy's crops ↔ the source's whole.
    const combos: [number, number, number][] = [[Math.min(c, s), Math.max(c, s), 0]];
    for (let v = 1; v < V; v++) combos.push([s, c, v], [c, s, v]);
    const rows = combos.map(([a, b, v]) => ({ a, b, v, cand: isCand(a, b, v), wide: isWide?.(a, b, v), checks: checks(a, b, v) }));
    const fails = (r: (typeof rows)[number]) => r.checks.filter((k) => !k[2]).map((k) => k[0]);
    let why: string;
    const verified = rows.find((r) => r.cand && fails(r).length === 0);
    const inBound = rows.filter((r) => r.checks[0]![2]);
    if (verified) {
      why = `grouping: ${keep(c) === c ? 'copy kept' : 'copy in another group'}, ${keep(s) === s ? 'source kept' : 'source in another group'}`;
    } else {
      const passAll = inBound.filter((r) => fails(r).length === 0);
      if (passAll.length > 0) why = `not searched (passes every check)${isWide ? (passAll.some((r) => r.wide) ? `; k ${wideK} finds it` : `; k ${wideK} does not`) : ''}`;
      else {
        // The view pair that fails the fewest checks (the pHash bound counted as one), the whole pair first on a tie.
        const best = [...rows].sort((p, q) => fails(p).length - fails(q).length || p.v - q.v)[0]!;
        why = `${best.v === 0 ? 'whole' : 'crop'}: ${fails(best).join(' + ')}${best.cand || !best.checks[0]![2] ? '' : ' (not searched)'}`;
      }
    }
    const t = (table[it.tr ?? '?'] ??= {});
    t[why] = (t[why] ?? 0) + 1;
    misses.push({ copy: it.k, source: it.d, tr: it.tr, why, rows: rows.map((r) => ({ v: r.v, of: r.a === c ? 'copy' : 'source', cand: r.cand, wide: r.wide, checks: Object.fromEntries(r.checks.map((k) => [k[0], Number(k[1].toFixed(4))])) })) });
  });
  console.log(`seed ${x.seed} × ${x.count}: missed copies by edit and reason (stage defaults):`);
  for (const [tr, whys] of Object.entries(table)) for (const [why, k] of Object.entries(whys).sort((p, q2) => q2[1] - p[1])) console.log(`| ${tr} | ${why} | ${k} |`);
  return { table, misses };
}

if (cli.has('miss')) {
  const res: unknown[] = [];
  for (const x of loaded) {
    const n = x.items.length;
    const t0 = performance.now();
    const stage = nearDuplicate({ exactLimit: 0 });
    const drops = await stage.decide(new Map(x.items.map((it) => [it.k, it.f])));
    const keep = (i: number): number => {
      const r = drops.get(x.items[i]!.k);
      return r === undefined ? i : x.index.get(r.slice('duplicate-of:'.length))!;
    };
    const decideS = (performance.now() - t0) / 1000;
    const st = new DedupStore();
    x.items.forEach((it) => st.add(it.k, it.f));
    const candSet = async (k: number): Promise<Set<number>> => {
      const c = await annViewPairs(st, MAX_HAMMING, CROP_MAX_HAMMING, { ...ANN_DEFAULTS, k, expansionSearch: Math.max(ANN_DEFAULTS.expansionSearch, 2 * k) });
      return new Set(c.map(([a, b, v]) => (a * n + b) * 4 + v));
    };
    const cands = await candSet(ANN_DEFAULTS.k);
    const wideK = cli.number('ann-k');
    const wide = wideK > 0 ? await candSet(wideK) : undefined;
    st.close();
    const of = (set: Set<number>) => (a: number, b: number, v: number): boolean => (v === 0 ? set.has((Math.min(a, b) * n + Math.max(a, b)) * 4) : set.has((a * n + b) * 4 + v));
    const q = scoreKeep(x.items, x.index, keep);
    console.log(`\nseed ${x.seed} × ${x.count}: P ${pct(q.precision)} R ${pct(q.recall)} (${q.found}/${q.pairs}), ${cands.size} candidates${wide ? `, ${wide.size} at k ${wideK}` : ''}, decide ${decideS.toFixed(0)} s`);
    const d = diagnoseMisses(x, keep, of(cands), wide && of(wide), wideK);
    res.push({ seed: x.seed, count: x.count, precision: q.precision, recall: q.recall, byTransform: q.byTransform, ...d });
  }
  writeFileSync(join(here, '..', 'results', `curate-dedup-miss${cli.flag('tag')}.json`), JSON.stringify({ machine, res }, null, 1) + '\n');
}

/** A variant of the verification, applied to the `--table` values (every field optional; the stage's defaults otherwise). */
interface TableVariant { k?: number; maxHamming?: number; cropMaxHamming?: number; maxBackgroundChromaDiff?: number; minLayoutCosine?: number; cropMinLayoutCosine?: number; minThumbCorrelation?: number; maxLocalChromaDiff?: number; minFineCorrelation?: number; cropMinFineCorrelation?: number; maxContrastLogRatio?: number; colourFit?: [number, number] | null }

if (cli.has('table')) {
  const variants = Object.entries(JSON.parse(cli.flag('variants') ?? '{"G1":{}}') as Record<string, TableVariant>);
  const fits = [...new Set(variants.map(([, v]) => JSON.stringify(v.colourFit ?? null)))].map((x) => JSON.parse(x) as [number, number] | null).filter((x): x is [number, number] => x !== null);
  const looseHam = Math.max(MAX_HAMMING, ...variants.map(([, v]) => v.maxHamming ?? 0));
  const looseCropHam = Math.max(14, ...variants.map(([, v]) => v.cropMaxHamming ?? 0));
  const bigK = Math.max(ANN_DEFAULTS.k, ...variants.map(([, v]) => v.k ?? 0));
  const all: unknown[] = [];
  const misses: unknown[] = [];
  for (const x of loaded) {
    const n = x.items.length;
    const t0 = performance.now();
    const st = new DedupStore();
    x.items.forEach((it) => st.add(it.k, it.f));
    const V = st.views;
    let firstKeep: ((i: number) => number) | undefined;
    const cand = async (k: number): Promise<[number, number, number][]> => annViewPairs(st, looseHam, looseCropHam, { ...ANN_DEFAULTS, k, expansionSearch: Math.max(ANN_DEFAULTS.expansionSearch, 2 * k) });
    const small = new Set((await cand(ANN_DEFAULTS.k)).map(([a, b, v]) => (a * n + b) * 4 + v));
    // The union of both searches (a larger k need not return every pair a smaller one did).
    const codes = new Set(small);
    if (bigK > ANN_DEFAULTS.k) for (const [a, b, v] of await cand(bigK)) codes.add((a * n + b) * 4 + v);
    const cands = [...codes].map((c) => [Math.floor(c / 4 / n), Math.floor(c / 4) % n, c % 4] as [number, number, number]);
    const hs = Array.from({ length: V }, (_, v) => st.hashes(v));
    st.close();
    console.log(`seed ${x.seed}: ${small.size} candidates at k ${ANN_DEFAULTS.k}, ${cands.length} with k ${bigK} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    // Decoded once: layouts, thumbnails, fine thumbnails.
    const dec = (b: string | undefined): Uint8Array | undefined => (b === undefined ? undefined : new Uint8Array(Buffer.from(b, 'base64')));
    const L = x.items.map((it) => (it.f?.h === undefined ? [] : [it.f.l, ...(it.f.c ?? []).map((c) => c.l)].map((l) => { const u = dec(l)!; return new Int8Array(u.buffer, u.byteOffset, u.length); })));
    const T = x.items.map((it) => (it.f?.h === undefined ? [] : [it.f.t, ...(it.f.c ?? []).map((c) => c.t)].map((t) => dec(t)!)));
    const G = x.items.map((it) => dec(it.f?.g));
    const m = cands.length;
    const F = 3 * fits.length;
    const rec = { a: new Int32Array(m), b: new Int32Array(m), v: new Uint8Array(m), k16: new Uint8Array(m), ham: new Uint8Array(m), chroma: new Float32Array(m), layout: new Float32Array(m), thumb: new Float32Array(m), local: new Float32Array(m), fine: new Float32Array(m), contrast: new Float32Array(m), fit: new Float32Array(m * F) };
    let r = 0;
    for (const [a, b, v] of cands) {
      if (x.items[a]!.f?.h === undefined || x.items[b]!.f?.h === undefined) continue;
      if (Math.abs(x.items[a]!.f!.a! - x.items[b]!.f!.a!) > MAX_ASPECT_LOG_DIFF) continue;
      const la = L[a]![v]!;
      const lb = L[b]![0]!;
      const ca = backgroundChroma(la);
      const cb = backgroundChroma(lb);
      const chroma = ca && cb ? Math.hypot(ca[0] - cb[0], ca[1] - cb[1]) : 0;
      const layout = layoutCosine(la, lb);
      const thumb = v === 0 ? thumbCorrelation(T[a]![0]!, T[b]![0]!) : 1;
      if (thumb < 0.99) continue;
      const fitted = fits.map(([hue, gain]) => fitLayoutColour(la, lb, hue, gain));
      const fitLayout = fitted.map((f) => layoutCosine(f, lb));
      if (Math.max(layout, ...fitLayout) < 0.93) continue;
      const fitChroma = fitted.map((f) => { const c = backgroundChroma(f); return c && cb ? Math.hypot(c[0] - cb[0], c[1] - cb[1]) : 0; });
      if (Math.min(chroma, ...fitChroma) > 0.16) continue;
      rec.a[r] = a;
      rec.b[r] = b;
      rec.v[r] = v;
      rec.k16[r] = small.has((a * n + b) * 4 + v) ? 1 : 0;
      rec.ham[r] = popcount((hs[v]!.hi[a]! ^ hs[0]!.hi[b]!) >>> 0) + popcount((hs[v]!.lo[a]! ^ hs[0]!.lo[b]!) >>> 0);
      rec.chroma[r] = chroma;
      rec.layout[r] = layout;
      rec.thumb[r] = thumb;
      rec.local[r] = v === 0 ? layoutChromaDiff(la, lb, 0.04, LOCAL_CHROMA_POOL) : 0;
      fitted.forEach((f, i) => {
        rec.fit[r * F + 3 * i] = fitLayout[i]!;
        rec.fit[r * F + 3 * i + 1] = fitChroma[i]!;
        rec.fit[r * F + 3 * i + 2] = v === 0 ? layoutChromaDiff(f, lb, 0.04, LOCAL_CHROMA_POOL) : 0;
      });
      const ga = G[a];
      const gb = G[b];
      const fm = ga && gb ? (v === 0 ? fineMatch(ga, gb) : fineMatch(ga, gb, FINE_CROP_SCALES, FINE_CROP_SIDE)) : { correlation: 1, contrast: 0 };
      rec.fine[r] = fm.correlation;
      rec.contrast[r] = fm.contrast;
      r++;
    }
    console.log(`  ${r} candidates kept with their values (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    const rows = variants.map(([name, tv]) => {
      const fitAt = tv.colourFit ? fits.findIndex((f) => JSON.stringify(f) === JSON.stringify(tv.colourFit)) : -1;
      const pairs: [number, number][] = [];
      for (let i = 0; i < r; i++) {
        const whole = rec.v[i] === 0;
        if ((tv.k ?? ANN_DEFAULTS.k) <= ANN_DEFAULTS.k && !rec.k16[i]) continue;
        if (rec.ham[i]! > (whole ? (tv.maxHamming ?? MAX_HAMMING) : (tv.cropMaxHamming ?? CROP_MAX_HAMMING))) continue;
        const [layout, chroma, local] = fitAt < 0 ? [rec.layout[i]!, rec.chroma[i]!, rec.local[i]!] : [rec.fit[i * F + 3 * fitAt]!, rec.fit[i * F + 3 * fitAt + 1]!, rec.fit[i * F + 3 * fitAt + 2]!];
        if (chroma > (tv.maxBackgroundChromaDiff ?? MAX_BACKGROUND_CHROMA_DIFF)) continue;
        if (layout < (whole ? (tv.minLayoutCosine ?? MIN_LAYOUT_COSINE) : (tv.cropMinLayoutCosine ?? CROP_MIN_LAYOUT_COSINE))) continue;
        if (whole && rec.thumb[i]! < (tv.minThumbCorrelation ?? MIN_THUMB_CORRELATION)) continue;
        if (whole && local > (tv.maxLocalChromaDiff ?? MAX_LOCAL_CHROMA_DIFF)) continue;
        if (rec.fine[i]! < (whole ? (tv.minFineCorrelation ?? MIN_FINE_CORRELATION) : (tv.cropMinFineCorrelation ?? CROP_MIN_FINE_CORRELATION))) continue;
        if (rec.contrast[i]! > (tv.maxContrastLogRatio ?? MAX_CONTRAST_LOG_RATIO)) continue;
        pairs.push([rec.a[i]!, rec.b[i]!]);
      }
      const keep = starGroups(n, pairs, (p, q) => (x.items[p]!.f?.q ?? 0) > (x.items[q]!.f?.q ?? 0) || ((x.items[p]!.f?.q ?? 0) === (x.items[q]!.f?.q ?? 0) && p < q));
      firstKeep ??= (i) => keep[i]!;
      const q = scoreKeep(x.items, x.index, (i) => keep[i]!);
      console.log(`| ${name} | seed ${x.seed} × ${x.count} | ${pct(q.precision)} / ${pct(q.recall)} (${q.found}/${q.pairs}) | wrong ${q.drops - q.right}: ${q.wrong.sameScene} / ${q.wrong.sameObjectsOtherBackground} / ${q.wrong.differentObjects} | ${JSON.stringify(q.byTransform)} |`);
      return { variant: name, options: tv, seed: x.seed, count: x.count, ...q };
    });
    all.push(...rows);
    if (!cli.has('no-miss')) {
      // The first variant's misses, diagnosed against the stage's k-16 search and the larger k.
      const code = (a: number, b: number, v: number): number => ((v === 0 ? Math.min(a, b) : a) * n + (v === 0 ? Math.max(a, b) : b)) * 4 + v;
      misses.push({ seed: x.seed, count: x.count, variant: variants[0]![0], ...diagnoseMisses(x, firstKeep!, (a, b, v) => small.has(code(a, b, v)), bigK > ANN_DEFAULTS.k ? (a, b, v) => codes.has(code(a, b, v)) : undefined, bigK) });
    }
  }
  writeFileSync(join(here, '..', 'results', `curate-dedup-table${cli.flag('tag')}.json`), JSON.stringify({ machine, rows: all }, null, 1) + '\n');
  if (misses.length > 0) writeFileSync(join(here, '..', 'results', `curate-dedup-miss${cli.flag('tag')}.json`), JSON.stringify({ machine, res: misses }, null, 1) + '\n');
}
