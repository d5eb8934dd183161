/**
 * Perceptual de-duplication (Llama 3 paper §7.1.1; SPEC "Data curation"): near-identical images —
 * resized, re-encoded, cropped, colour-shifted copies — are found by nearest-neighbour search over a
 * 64-bit DCT perceptual hash (Hamming distance; a candidate pair must also keep its aspect ratio and
 * colour layout, since grey low frequencies alone confuse simple scenes that differ only in a shape's
 * colour) or over copy-detection embeddings (cosine), linked when within the thresholds, grouped into connected components (union-find), and one sample per
 * component is kept: the highest quality score, then the earliest. The rest are dropped as
 * `duplicate-of:<kept key>`. Small sets are searched exactly; large ones with a usearch HNSW index
 * whose parameters were chosen for recall (see `ANN_DEFAULTS` and the tests).
 *
 * A global stage: `prepare` reads the hash the image-quality stage recorded (or computes it) and
 * the embedding, the runner spills the features to disk, a streaming observer packs them into
 * compact typed arrays (`DedupStore`: ≈ 70 B per sample plus 4 B per embedding dimension, instead of
 * ≈ 1 kB of JSON objects) and links the components once, and `decide` then sees the JSON features
 * one partition at a time. Memory still grows with the dataset (the compact arrays), just ~5–10×
 * more slowly; a disk-based LSH + external union-find would make it flat (not done).
 *
 * Mode `both` (what curation uses when a copy-detection model is given) links a pair when EITHER
 * signal calls it a copy: the verified pHash test (precise on resizes, re-encodes and exact copies)
 * or the learned copy-detection embedding (`train/copy-detect.ts`, trained to see through crops and
 * colour shifts). The union keeps pHash's hits and adds the embedding's; the embedding threshold
 * sets how much precision that costs (see CURATION.md for the measured trade-off).
 */
import { HerdError } from '@herd/core';
import { Components, type FeatureObserver, type GlobalStage, type Sample } from '@herd/data';
import { type RgbImage, decodeImage } from '@herd/media';
import { colourLayout, hammingHex, layoutCosine, perceptualHash } from './phash.js';
import { imageFileOf, scoreOf } from './meta.js';

export { Components } from '@herd/data';

export interface DedupFeature {
  /** Perceptual hash, 16 hex digits (hash mode). */
  h?: string;
  /** Colour layout, int8 as base64 (hash mode), and log(width / height). */
  l?: string;
  a?: number;
  /** Embedding, unit length (embedding mode). */
  e?: number[];
  /** Quality score: the highest of a component is kept. */
  q: number;
}

export interface AnnParams {
  /** HNSW graph degree (usearch `connectivity`). */
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
  /** Neighbours fetched per query before the threshold. */
  k: number;
}

/**
 * Chosen on 10k random 64-bit hashes with 911 planted copies 1–8 bits away (2 threads): pair recall
 * 1.000 at 16/64/64/8 (8 s), 16/128/128/16 (15 s), 32/128/256/16 (30 s), 32/256/512/32 (49 s); the
 * middle setting leaves margin for clustered real hashes (tested against exact search in the tests).
 */
export const ANN_DEFAULTS: AnnParams = { connectivity: 16, expansionAdd: 128, expansionSearch: 128, k: 16 };

export interface NearDuplicateOptions {
  name?: string;
  /** `hash` (default): perceptual hash, Hamming ≤ maxHamming. `embedding`: cosine ≥ minCosine. `both`: either. */
  mode?: 'hash' | 'embedding' | 'both';
  /** Largest Hamming distance between duplicate pHashes (default 14 of 64 bits). */
  maxHamming?: number;
  /** Smallest colour-layout cosine a pHash pair must also have (default 0.97; 0 turns the check off). */
  minLayoutCosine?: number;
  /** Largest |log(aspect a / aspect b)| (default 0.02: copies keep their shape; crops and resizes here do). */
  maxAspectLogDiff?: number;
  /** Smallest cosine similarity between duplicates in embedding mode (default 0.9). */
  minCosine?: number;
  /**
   * Mode `both`: an embedding pair must also keep its aspect ratio (copies here keep it: crops are
   * proportional) and reach this colour-layout cosine (default 0: off; crops move the layout).
   */
  embeddingMinLayoutCosine?: number;
  /** Copy-detection embedding of a sample (embedding mode), e.g. the project's image encoder. */
  embed?: (sample: Sample) => Promise<Float32Array | number[]> | Float32Array | number[];
  /** Copy-detection embedding of a decoded image (embedding or both mode; the stage decodes once for both signals). */
  embedImage?: (img: RgbImage) => Promise<Float32Array | number[]> | Float32Array | number[];
  /** Names the embedding model in the run fingerprint (a new model must not mix with old decisions). */
  embedderId?: string;
  /** Quality score of a sample (default: recorded CLIP score, else pixel count, else 0). */
  quality?: (sample: Sample) => number;
  /** Up to this many samples are compared exactly, all pairs (default 50 000: exact is 1.3 s at 10k here, HNSW 15 s). */
  exactLimit?: number;
  ann?: Partial<AnnParams>;
  /** The stage that recorded `phash` (default `image_quality`). */
  hashFrom?: string;
  /** JSON features per decide() call (default the runner's). */
  featuresPerPartition?: number;
}

export function defaultQuality(sample: Sample): number {
  const clip = scoreOf(sample, 'clip', 'score');
  if (typeof clip === 'number') return clip;
  const w = scoreOf(sample, 'image_quality', 'width');
  const h = scoreOf(sample, 'image_quality', 'height');
  return typeof w === 'number' && typeof h === 'number' ? w * h : 0;
}

/** A 16-hex-digit hash as its two 32-bit halves. */
function hexHalves(h: string): [number, number] {
  return [parseInt(h.slice(0, 8), 16) >>> 0, parseInt(h.slice(8), 16) >>> 0];
}

function popcount(x: number): number {
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

/** A growable typed array. */
class Grow<T extends Float32Array | Float64Array | Uint32Array | Int8Array> {
  private buf: T;
  length = 0;
  constructor(private readonly make: (n: number) => T) {
    this.buf = make(1024);
  }
  push(values: ArrayLike<number>): void {
    while (this.length + values.length > this.buf.length) {
      const next = this.make(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf.set(values, this.length);
    this.length += values.length;
  }
  view(): T {
    return this.buf.subarray(0, this.length) as T;
  }
}

/**
 * Every feature the decision needs, in compact typed arrays (≈ 8 B of hash, 4 B aspect, the colour
 * layout in int8 and 4 B per embedding dimension, plus the key): what the streaming observer keeps
 * instead of the JSON features (≈ 1 kB each as JS objects).
 */
export class DedupStore {
  readonly keys: string[] = [];
  private readonly q = new Grow((n) => new Float64Array(n));
  private readonly hi = new Grow((n) => new Uint32Array(n));
  private readonly lo = new Grow((n) => new Uint32Array(n));
  private readonly aspect = new Grow((n) => new Float32Array(n));
  private readonly layouts = new Grow((n) => new Int8Array(n));
  private readonly emb = new Grow((n) => new Float32Array(n));
  private layoutLen = -1;
  private dims = -1;

  add(key: string, f: DedupFeature | null): void {
    if (f === null) return;
    const i = this.keys.length;
    if (f.e !== undefined) {
      if (this.dims < 0) this.dims = f.e.length;
      if (f.e.length !== this.dims) throw new HerdError('invalid_argument', `near_duplicate: ${key} has a ${f.e.length}-d embedding, expected ${this.dims}`);
      this.emb.push(f.e);
    }
    if (f.h !== undefined) {
      const [h, l] = hexHalves(f.h);
      this.hi.push([h]);
      this.lo.push([l]);
      this.aspect.push([f.a ?? Number.NaN]);
      const buf = f.l === undefined ? undefined : Buffer.from(f.l, 'base64');
      if (buf !== undefined && this.layoutLen < 0) this.layoutLen = buf.length;
      // A missing (or odd-sized) layout is stored as zeros and skipped by the check.
      this.layouts.push(buf !== undefined && buf.length === this.layoutLen ? new Int8Array(buf.buffer, buf.byteOffset, buf.byteLength) : new Int8Array(Math.max(0, this.layoutLen)));
    }
    this.q.push([f.q]);
    this.keys.push(key);
    if ((f.e !== undefined && this.emb.length !== this.keys.length * this.dims) || (f.h !== undefined && this.hi.length !== this.keys.length)) {
      throw new HerdError('invalid_argument', `near_duplicate: ${key}: every feature of one run must carry the same signals (sample ${i})`);
    }
  }
  hashes(): { hi: Uint32Array; lo: Uint32Array } {
    return { hi: this.hi.view(), lo: this.lo.view() };
  }
  aspects(): Float32Array {
    return this.aspect.view();
  }
  layout(i: number): Int8Array | undefined {
    if (this.layoutLen <= 0) return undefined;
    const v = this.layouts.view().subarray(i * this.layoutLen, (i + 1) * this.layoutLen);
    return v.every((x) => x === 0) ? undefined : v;
  }
  embeddings(): { flat: Float32Array; dims: number } {
    return { flat: this.emb.view(), dims: Math.max(0, this.dims) };
  }
  qualities(): Float64Array {
    return this.q.view();
  }
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
  let usearch: typeof import('usearch');
  try {
    usearch = await import('usearch');
  } catch (e) {
    throw new HerdError('tool_missing', `near-duplicate search needs the usearch package (prebuilt binary) for ${n} samples: ${(e as Error).message}`, { cause: e });
  }
  const index = new usearch.Index({
    metric: usearch.MetricKind.Cos,
    dimensions: dims,
    connectivity: params.connectivity,
    expansion_add: params.expansionAdd,
    expansion_search: params.expansionSearch,
    quantization: usearch.ScalarKind.F32,
    multi: false,
  });
  const keys = BigUint64Array.from({ length: n }, (_, i) => BigInt(i));
  index.add(keys, flat, 0);
  const k = Math.min(params.k, n);
  const res = index.search(flat, k, 0) as unknown as { keys: BigUint64Array; distances: Float32Array; counts: BigUint64Array };
  const seen = new Set<string>();
  const pairs: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const count = Number(res.counts[i]);
    for (let r = 0; r < count; r++) {
      const j = Number(res.keys[i * k + r]);
      if (j === i) continue;
      const [a, b] = i < j ? [i, j] : [j, i];
      const id = `${a},${b}`;
      if (seen.has(id)) continue;
      if (dot(flat, a * dims, flat, b * dims, dims) >= minCosine - 1e-6) {
        seen.add(id);
        pairs.push([a, b]);
      }
    }
  }
  return pairs;
}

function unit(v: ArrayLike<number>): number[] {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) ** 2;
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  return Array.from(v, (x) => Number((x * inv).toFixed(6)));
}

export function nearDuplicate(options: NearDuplicateOptions = {}): GlobalStage<DedupFeature | null, Map<string, string>> {
  const mode = options.mode ?? 'hash';
  const maxHamming = options.maxHamming ?? 14;
  const minLayout = options.minLayoutCosine ?? 0.97;
  const maxAspect = options.maxAspectLogDiff ?? 0.02;
  const minCosine = options.minCosine ?? 0.9;
  const embLayout = options.embeddingMinLayoutCosine ?? 0;
  const exactLimit = options.exactLimit ?? 50_000;
  const ann: AnnParams = { ...ANN_DEFAULTS, ...options.ann };
  const hashFrom = options.hashFrom ?? 'image_quality';
  const quality = options.quality ?? defaultQuality;
  if (mode !== 'hash' && typeof options.embed !== 'function' && typeof options.embedImage !== 'function') throw new HerdError('invalid_argument', `nearDuplicate: ${mode} mode needs embed(sample) or embedImage(image)`);
  /** Pairs by the signals of `mode`, union-find, one representative per component. */
  const duplicates = async (st: DedupStore): Promise<Map<string, string>> => {
    const n = st.keys.length;
    let pairs: [number, number][] = [];
    if (mode !== 'embedding') {
      const { hi, lo } = st.hashes();
      if (n <= exactLimit) pairs = exactHiLoPairs(hi, lo, maxHamming);
      else {
        const flat = new Float32Array(n * 64);
        for (let i = 0; i < n; i++) {
          for (let b = 0; b < 64; b++) {
            const word = b < 32 ? (hi[i] as number) : (lo[i] as number);
            flat[i * 64 + b] = ((word >>> (31 - (b % 32))) & 1 ? 1 : -1) / 8;
          }
        }
        // Unit sign vectors: cosine = 1 − 2·hamming/64; candidates are re-checked on the hashes.
        pairs = (await annCosinePairs(flat, 64, 1 - (2 * maxHamming) / 64, ann)).filter(([a, b]) => hiLoHamming(hi, lo, a, b) <= maxHamming);
      }
      // pHash candidates must also keep their shape and colour layout.
      const aspect = st.aspects();
      pairs = pairs.filter(([a, b]) => {
        if (!Number.isNaN(aspect[a]!) && !Number.isNaN(aspect[b]!) && Math.abs(aspect[a]! - aspect[b]!) > maxAspect) return false;
        const la = st.layout(a);
        const lb = st.layout(b);
        return minLayout <= 0 || la === undefined || lb === undefined || layoutCosine(la, lb) >= minLayout;
      });
    }
    if (mode !== 'hash') {
      const { flat, dims } = st.embeddings();
      let emb = n <= exactLimit ? exactCosinePairs(flat, dims, minCosine) : await annCosinePairs(flat, dims, minCosine, ann);
      if (mode === 'both') {
        // The embedding proposes; the cheap shape (and optionally layout) checks verify.
        const aspect = st.aspects();
        emb = emb.filter(([a, b]) => {
          if (!Number.isNaN(aspect[a]!) && !Number.isNaN(aspect[b]!) && Math.abs(aspect[a]! - aspect[b]!) > maxAspect) return false;
          if (embLayout <= 0) return true;
          const la = st.layout(a);
          const lb = st.layout(b);
          return la === undefined || lb === undefined || layoutCosine(la, lb) >= embLayout;
        });
      }
      pairs = pairs.concat(emb);
    }
    const q = st.qualities();
    const comps = new Components(n, (a, b) => q[a]! > q[b]! || (q[a] === q[b] && a < b));
    for (const [a, b] of pairs) comps.union(a, b);
    const drops = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const root = comps.find(i);
      if (root !== i) drops.set(st.keys[i] as string, `duplicate-of:${st.keys[root]}`);
    }
    return drops;
  };
  return {
    kind: 'global',
    name: options.name ?? 'near_duplicate',
    version: JSON.stringify([mode, maxHamming, minLayout, maxAspect, minCosine, exactLimit, ann, ...(mode === 'hash' ? [] : [options.embedderId ?? 'unnamed', embLayout])]),
    async prepare(sample) {
      const q = quality(sample);
      if (mode === 'embedding' && options.embed) return { e: unit(await options.embed(sample)), q };
      const file = imageFileOf(sample);
      if (file === undefined) return null;
      let img: RgbImage;
      try {
        img = await decodeImage(file.bytes, { name: `${sample.key}.${file.ext}` });
      } catch {
        return null; // not an image this stage can judge; the quality filter drops undecodable ones
      }
      const f: DedupFeature = { q };
      if (mode !== 'hash') f.e = unit(options.embedImage ? await options.embedImage(img) : await (options.embed as NonNullable<NearDuplicateOptions['embed']>)(sample));
      if (mode !== 'embedding') {
        const recorded = scoreOf(sample, hashFrom, 'phash');
        f.h = typeof recorded === 'string' && /^[0-9a-f]{16}$/.test(recorded) ? recorded : await perceptualHash(img);
        const layout = await colourLayout(img);
        f.l = Buffer.from(layout.buffer, layout.byteOffset, layout.byteLength).toString('base64');
        f.a = Number(Math.log(img.width / img.height).toFixed(5));
      }
      return f;
    },
    observe(): FeatureObserver<DedupFeature | null, Map<string, string>> {
      const store = new DedupStore();
      return { add: (key, f) => store.add(key, f), finish: () => duplicates(store) };
    },
    ...(options.featuresPerPartition !== undefined ? { featuresPerPartition: options.featuresPerPartition } : {}),
    // Decisions come from the observer's compact arrays; the JSON features only need spreading.
    partitionBy: (f) => (f === null ? null : (f.h ?? String(f.e?.[0] ?? f.q))),
    async decide(features, observed) {
      let drops = observed;
      if (drops === undefined) {
        // Called directly (not by the runner): gather these features first.
        const store = new DedupStore();
        for (const [key, f] of features) store.add(key, f);
        drops = await duplicates(store);
      }
      const mine = new Map<string, string>();
      for (const key of features.keys()) {
        const reason = drops.get(key);
        if (reason !== undefined) mine.set(key, reason);
      }
      return mine;
    },
  };
}
