/**
 * Candidate pairs for the near-duplicate decision: Hamming distance between 64-bit perceptual hashes
 * and cosine between unit vectors, all pairs compared (small sets) or through a usearch HNSW index
 * (large ones; candidates re-checked exactly). Deciding which candidates are copies is `./stage.ts`'s.
 */
import { HerdError } from '@herd/core';
import type { AnnParams } from './options.js';
import { type DedupStore, SUMMARY_LEN } from './store.js';

/** A 16-hex-digit hash as its two 32-bit halves. */
export function hexHalves(h: string): [number, number] {
  return [parseInt(h.slice(0, 8), 16) >>> 0, parseInt(h.slice(8), 16) >>> 0];
}

export function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) as number;
}

function hiLoHamming(hi: Uint32Array, lo: Uint32Array, a: number, b: number): number {
  return popcount((hi[a]! ^ hi[b]!) >>> 0) + popcount((lo[a]! ^ lo[b]!) >>> 0);
}

/** Pairs (i < j) of 64-bit hashes (two 32-bit halves) within `maxHamming`, all pairs compared. */
export function exactHiLoPairs(hi: Uint32Array, lo: Uint32Array, maxHamming: number): [number, number][] {
  const n = hi.length;
  const pairs: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const a = hi[i] as number;
    const b = lo[i] as number;
    for (let j = i + 1; j < n; j++) {
      if (popcount((a ^ (hi[j] as number)) >>> 0) + popcount((b ^ (lo[j] as number)) >>> 0) <= maxHamming) pairs.push([i, j]);
    }
  }
  return pairs;
}

/** Pairs (i < j) of hashes within `maxHamming`, all pairs compared: 64-bit popcount on two 32-bit halves. */
export function exactHashPairs(hashes: readonly string[], maxHamming: number): [number, number][] {
  const hi = new Uint32Array(hashes.length);
  const lo = new Uint32Array(hashes.length);
  hashes.forEach((h, i) => ([hi[i], lo[i]] = hexHalves(h)));
  return exactHiLoPairs(hi, lo, maxHamming);
}

function dot(a: Float32Array, ai: number, b: Float32Array, bi: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += (a[ai + t] as number) * (b[bi + t] as number);
  return s;
}

/** Pairs (i < j) of unit vectors (rows of `flat`) with cosine ≥ minCosine, all pairs compared. */
export function exactCosinePairs(flat: Float32Array, dims: number, minCosine: number): [number, number][] {
  const n = flat.length / dims;
  const pairs: [number, number][] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (dot(flat, i * dims, flat, j * dims, dims) >= minCosine) pairs.push([i, j]);
  return pairs;
}

/** Pairs (i < j) with cosine ≥ minCosine found through a usearch HNSW index (candidates re-checked exactly). */
export async function annCosinePairs(flat: Float32Array, dims: number, minCosine: number, params: AnnParams): Promise<[number, number][]> {
  const n = flat.length / dims;
  if (n === 0) return [];
  const index = hnsw(await loadUsearch(n), dims, params);
  index.add(BigUint64Array.from({ length: n }, (_, i) => BigInt(i)), flat, 1);
  const hits = neighboursWithTies(index, n, flat, dims, params.k, params.expandTies ?? false);
  const seen = new Set<string>();
  const pairs: [number, number][] = [];
  hits.forEach((row, i) => {
    for (const j of row) {
      if (j === i) continue;
      const [a, b] = i < j ? [i, j] : [j, i];
      const id = `${a},${b}`;
      if (seen.has(id)) continue;
      if (dot(flat, a * dims, flat, b * dims, dims) >= minCosine - 1e-6) {
        seen.add(id);
        pairs.push([a, b]);
      }
    }
  });
  return pairs;
}

type Hnsw = ReturnType<typeof hnsw>;

/**
 * Each query's k nearest rows in `index` (n rows); with `expandTies`, also all of its exact matches:
 * a query whose k neighbours are all at distance 0 is searched again with 4× k until one is not (or
 * k reaches n). Why it is there and why it is off: the synthetic world's pHashes come in buckets of
 * hundreds of equal hashes (scenes that differ only in colour), and round 8's 100k run kept labelled
 * exact copies ranked past k = 16 among their ties. Re-deciding that run's 81,837 spilled features
 * with the current checks (local chroma 0.6; bench/src/curate-dedup-redecide.ts): exact copies kept
 * beside their source 166 → 29, near copies 972 → 862, but wrong drops 68 → 225 (precision 97.8% →
 * 93.4%): the verification lets colour-only look-alikes through, and k was hiding them. Round 9's
 * colour-aware index (`layoutWeight`) ranks a copy's source first among its ties instead, so this
 * stays off.
 */
function neighboursWithTies(index: Hnsw, n: number, queries: Float32Array, dims: number, k0: number, expandTies: boolean): number[][] {
  const m = queries.length / dims;
  const out: number[][] = Array.from({ length: m }, () => []);
  let todo = Array.from({ length: m }, (_, q) => q);
  for (let k = Math.min(k0, n); todo.length; k = Math.min(k * 4, n)) {
    const batch = new Float32Array(todo.length * dims);
    todo.forEach((q, r) => batch.set(queries.subarray(q * dims, (q + 1) * dims), r * dims));
    const res = index.search(batch, k, 1) as unknown as { keys: BigUint64Array; distances: Float32Array; counts?: BigUint64Array };
    const again: number[] = [];
    todo.forEach((q, r) => {
      // One query vector gets usearch's single-query result: no counts, only the neighbours found.
      const count = res.counts ? Number(res.counts[r]) : res.keys.length;
      out[q] = Array.from({ length: count }, (_, i) => Number(res.keys[r * k + i]));
      // usearch's cosine distance is 1 − cosine: 0 for an equal hash.
      if (expandTies && count === k && k < n && res.distances[r * k + k - 1]! <= 1e-6) again.push(q);
    });
    if (k >= n) break;
    todo = again;
  }
  return out;
}

/**
 * Candidate pairs by Hamming distance, all pairs of about the same aspect ratio compared (sorted by
 * aspect, a sliding window): whole ↔ whole within maxHamming, and crop v of one ↔ whole of the other
 * within cropMaxHamming. Each candidate is [a, b, v]: view v of a against the whole of b (v = 0: both whole).
 */
export function exactViewPairs(st: DedupStore, maxHamming: number, cropMaxHamming: number, maxAspect: number): [number, number, number][] {
  const n = st.keys.length;
  const views = Array.from({ length: st.views }, (_, v) => st.hashes(v));
  const aspect = st.aspects();
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (aspect[a] as number) - (aspect[b] as number) || a - b);
  const hasAspect = (i: number): boolean => !Number.isNaN(aspect[i]);
  const whole = views[0] as { hi: Uint32Array; lo: Uint32Array };
  const out: [number, number, number][] = [];
  const test = (i: number, j: number): void => {
    if (hiLoHamming(whole.hi, whole.lo, i, j) <= maxHamming) out.push([Math.min(i, j), Math.max(i, j), 0]);
    for (let v = 1; v < views.length; v++) {
      const c = views[v] as { hi: Uint32Array; lo: Uint32Array };
      if (popcount((c.hi[i]! ^ whole.hi[j]!) >>> 0) + popcount((c.lo[i]! ^ whole.lo[j]!) >>> 0) <= cropMaxHamming) out.push([i, j, v]);
      if (popcount((c.hi[j]! ^ whole.hi[i]!) >>> 0) + popcount((c.lo[j]! ^ whole.lo[i]!) >>> 0) <= cropMaxHamming) out.push([j, i, v]);
    }
  };
  for (let x = 0; x < n; x++) {
    const i = order[x] as number;
    if (!hasAspect(i)) {
      // No aspect recorded (not expected from prepare): compared with everyone.
      for (let j = 0; j < n; j++) if (j !== i && (hasAspect(j) || j > i)) test(i, j);
      continue;
    }
    for (let y = x + 1; y < n; y++) {
      const j = order[y] as number;
      if (!hasAspect(j)) continue;
      if ((aspect[j] as number) - (aspect[i] as number) > maxAspect) break;
      test(i, j);
    }
  }
  return out;
}

/**
 * The same candidates through a usearch HNSW index over whole-image views (k neighbours per query
 * view). Each view's vector is its hash as unit ±1 signs (cosine = 1 − 2·hamming/64) and, with
 * `ann.layoutWeight` w > 0, its pooled colour layout (`layoutSummary`) weighted by w; candidates are
 * re-checked on the hashes.
 */
export async function annViewPairs(st: DedupStore, maxHamming: number, cropMaxHamming: number, ann: AnnParams): Promise<[number, number, number][]> {
  const n = st.keys.length;
  const w = ann.layoutWeight ?? 0;
  const dims = 64 + (w > 0 ? SUMMARY_LEN : 0);
  const norm = 1 / Math.sqrt(1 + w * w);
  const vectors = (v: number): Float32Array => {
    const h = st.hashes(v);
    const flat = new Float32Array(n * dims);
    for (let i = 0; i < n; i++) {
      for (let b = 0; b < 64; b++) {
        const word = b < 32 ? (h.hi[i] as number) : (h.lo[i] as number);
        flat[i * dims + b] = (((word >>> (31 - (b % 32))) & 1 ? 1 : -1) / 8) * norm;
      }
      if (w > 0) {
        const sum = st.summaryOf(i, v);
        for (let c = 0; c < SUMMARY_LEN; c++) flat[i * dims + 64 + c] = (sum[c] as number) * w * norm;
      }
    }
    return flat;
  };
  const whole = st.hashes(0);
  const out: [number, number, number][] = [];
  // One index over the whole views, searched with every view (whole, then each crop). Without the
  // layout part the cosine bounds the Hamming distance, so far pairs are skipped before the re-check.
  const queries = Array.from({ length: st.views }, (_, v) => vectors(v));
  const found = await annCrossPairs(queries[0]!, queries, dims, w > 0 ? -Infinity : 1 - (2 * Math.max(maxHamming, cropMaxHamming)) / 64, ann);
  const seen = new Set<number>(); // whole ↔ whole: each unordered pair once, whichever side found it
  found.forEach((pairs, v) => {
    const c = v === 0 ? whole : st.hashes(v);
    const limit = v === 0 ? maxHamming : cropMaxHamming;
    for (const [q, j] of pairs) {
      if (q === j) continue;
      if (popcount((c.hi[q]! ^ whole.hi[j]!) >>> 0) + popcount((c.lo[q]! ^ whole.lo[j]!) >>> 0) > limit) continue;
      if (v > 0) out.push([q, j, v]);
      else {
        const [a, b] = q < j ? [q, j] : [j, q];
        if (seen.has(a * n + b)) continue;
        seen.add(a * n + b);
        out.push([a, b, 0]);
      }
    }
  });
  return out;
}

async function loadUsearch(n: number): Promise<typeof import('usearch')> {
  try {
    return await import('usearch');
  } catch (e) {
    throw new HerdError('tool_missing', `near-duplicate search needs the usearch package (prebuilt binary) for ${n} samples: ${(e as Error).message}`, { cause: e });
  }
}

function hnsw(usearch: typeof import('usearch'), dims: number, params: AnnParams) {
  return new usearch.Index({
    metric: usearch.MetricKind.Cos,
    dimensions: dims,
    connectivity: params.connectivity,
    expansion_add: params.expansionAdd,
    expansion_search: params.expansionSearch,
    quantization: usearch.ScalarKind.F32,
    multi: false,
  });
}

/** For each query set: pairs [query row, indexed row] with cosine ≥ minCosine (one HNSW index over `indexed`, k neighbours per query). */
export async function annCrossPairs(indexed: Float32Array, querySets: readonly Float32Array[], dims: number, minCosine: number, params: AnnParams): Promise<[number, number][][]> {
  const n = indexed.length / dims;
  if (n === 0) return querySets.map(() => []);
  const index = hnsw(await loadUsearch(n), dims, params);
  index.add(BigUint64Array.from({ length: n }, (_, i) => BigInt(i)), indexed, 1);
  return querySets.map((queries) => {
    const hits = neighboursWithTies(index, n, queries, dims, params.k, params.expandTies ?? false);
    const pairs: [number, number][] = [];
    hits.forEach((row, q) => {
      for (const j of row) if (dot(queries, q * dims, indexed, j * dims, dims) >= minCosine - 1e-6) pairs.push([q, j]);
    });
    return pairs;
  });
}
