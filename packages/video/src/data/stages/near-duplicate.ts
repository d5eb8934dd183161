/**
 * Video near-duplicates (Llama 3 paper §7.1.2 dedups video–text pairs; SPEC "Data curation"): the
 * same clip re-encoded, rescaled, centre-cropped or trimmed. Each clip is described by `k` frames
 * spread over it, each as a 64-bit pHash (vision's DCT hash) plus an 8×8 grid of mean colours (pHash
 * is grey and low-frequency, so two scenes that differ only in a small shape's colour or place would
 * share it); the frames are also
 * described after centre crops (`cropScales`), so a cropped copy's full frames meet the original's
 * cropped ones. Clip B copies clip A when at least `minShare` of B's frames match frames of A *in
 * order* (a trimmed copy is a stretch of the original, a reversed or shuffled one is not): frames
 * match when their hashes are within `maxHamming` bits, their colour grids within `maxColourDiff`
 * grey levels, their grids' foregrounds point the same way, and their 32×32 grey thumbnails correlate
 * (`minThumbCorrelation`: a small shape elsewhere, or another shape, on a shared plain background
 * passes the hash and the grid but not the thumbnail). Linked clips form components (the shared `Components` union-find of @herd/data);
 * each keeps its best member — the most pixels × seconds (the original over its smaller or shorter
 * copies), then the earliest — and drops the rest as `near_duplicate: like <key> (…)`.
 *
 * Candidate pairs come from a nearest-neighbour search, not from all pairs: every clip's frame hashes
 * (whole and cropped, as ±1 vectors: cosine = 1 − 2·Hamming/64) go into one usearch HNSW index (the
 * one vision's image dedup uses, `annCrossPairs`), each clip's whole frames query it for their
 * `neighbours` nearest frames within `maxHamming`, and two clips are a candidate when any frame of one
 * finds a frame of the other. Only candidates are verified frame by frame (the in-order rule above):
 * O(n·k·log(n·k)) search plus O(candidates·k²) checks, instead of n²/2 clip pairs. `exhaustive: true`
 * verifies all pairs instead (for small sets and to measure the search's recall).
 *
 * Legend: k frames per clip, S crop scales (1 + cropScales.length).
 */
import type { OptionRules } from '@herd/core';
import { Components, type GlobalStage } from '@herd/data';
import { ANN_DEFAULTS, annCrossPairs, hammingHex, hashAndThumb, hashToSigns, thumbCorrelation } from '@herd/vision';
import { CLIP_FRAME_RULES, clipFrames, frameAt, spreadIndices, type ClipFrameOptions } from './frames.js';

export interface VideoNearDuplicateOptions {
  name?: string;
  frames?: ClipFrameOptions;
  /** Frames described per clip, spread over the sampled ones (default 16: a trimmed copy's frames fall between the original's). */
  framesToHash?: number;
  /** Centre crops (kept share of each side) described besides the full frame (default [0.9, 0.8]). */
  cropScales?: readonly number[];
  /** Frames match at most this many differing pHash bits of 64 (default 10). Defaults chosen on a generated dev set (seed 99), not the bench's. */
  maxHamming?: number;
  /** …and colour grids at most this mean absolute difference, in 0–255 levels (default 6). */
  maxColourDiff?: number;
  /** …and no grid cell's colour (mean over its channels) further apart than this (default 40): a shape elsewhere is another scene. */
  maxCellDiff?: number;
  /**
   * …and the grids' foregrounds (each cell minus the frame's background, the median border cell)
   * at least this cosine apart (default 0.8): small shapes on a shared plain background barely move
   * a hash or a grid's levels, but their own cells differ. Frames with (almost) no foreground pass.
   */
  minForegroundCosine?: number;
  /**
   * …and their 32×32 grey thumbnails correlate at least this much (default 0.9, chosen on the dev set,
   * seed 99; −1 turns the check off): pHash and an 8×8 grid blur a small shape away, the thumbnail keeps it.
   */
  minThumbCorrelation?: number;
  /** Nearest frames fetched per query frame in the candidate search (default 32). */
  neighbours?: number;
  /** Verify every pair instead of the search's candidates (quadratic; small sets, recall checks). */
  exhaustive?: boolean;
  /** Side of the colour grid (default 8). */
  grid?: number;
  /** A clip copies another when this share of its frames matches in order (default 0.875). */
  minShare?: number;
}

/** What a config file may set (`checkOptions`). */
export const VIDEO_NEAR_DUPLICATE_RULES = {
  name: 'string',
  frames: { options: CLIP_FRAME_RULES },
  framesToHash: 'int',
  cropScales: 'number[]',
  maxHamming: 'int',
  maxColourDiff: 'number',
  maxCellDiff: 'number',
  minForegroundCosine: 'number',
  minThumbCorrelation: 'number',
  neighbours: 'int',
  exhaustive: 'boolean',
  grid: 'int',
  minShare: 'number',
} satisfies OptionRules<VideoNearDuplicateOptions>;

/** One described frame: pHash (16 hex digits), a grid×grid grid of mean RGB, the 32×32 grey thumbnail (base64). */
interface FrameDescriptor {
  h: string;
  c: number[];
  t: string;
}

export interface VideoNearDuplicateFeature {
  /** Width × height × seconds: which member of a component is kept. */
  size: number;
  /** [k] full frames, in time order. */
  full: FrameDescriptor[];
  /** [k][S − 1] the same frames' centre crops. */
  crops: FrameDescriptor[][];
}

type Rgb = { data: Uint8Array; width: number; height: number };

/** The centre `scale` of a frame (a copy; scale 1 returns the frame). */
function centreCrop(f: Rgb, scale: number): Rgb {
  if (scale >= 1) return f;
  const w = Math.max(2, Math.round(f.width * scale));
  const h = Math.max(2, Math.round(f.height * scale));
  const x0 = Math.floor((f.width - w) / 2);
  const y0 = Math.floor((f.height - h) / 2);
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(f.data.subarray(((y0 + y) * f.width + x0) * 3, ((y0 + y) * f.width + x0 + w) * 3), y * w * 3);
  return { data, width: w, height: h };
}

/** Mean RGB of each cell of a GRID×GRID grid (block means by pixel centre), rounded: [GRID·GRID·3]. */
export function colourGrid(f: Rgb, GRID = 8): number[] {
  const sums = new Float64Array(GRID * GRID * 3);
  const counts = new Float64Array(GRID * GRID);
  for (let y = 0; y < f.height; y++) {
    const cy = Math.min(GRID - 1, Math.floor(((y + 0.5) * GRID) / f.height));
    for (let x = 0; x < f.width; x++) {
      const cell = cy * GRID + Math.min(GRID - 1, Math.floor(((x + 0.5) * GRID) / f.width));
      const i = (y * f.width + x) * 3;
      counts[cell]! += 1;
      for (let ch = 0; ch < 3; ch++) sums[cell * 3 + ch]! += f.data[i + ch]!;
    }
  }
  return Array.from(sums, (s, i) => Math.round(s / Math.max(1, counts[Math.floor(i / 3)]!)));
}

async function describe(f: Rgb, grid: number): Promise<FrameDescriptor> {
  const { hash, thumb } = await hashAndThumb(f);
  return { h: hash, c: colourGrid(f, grid), t: Buffer.from(thumb).toString('base64') };
}

/** Colour grids alike: mean absolute difference ≤ maxMean and no cell (its channels' mean) beyond maxCell. */
function coloursMatch(a: readonly number[], b: readonly number[], maxMean: number, maxCell: number): boolean {
  let s = 0;
  for (let i = 0; i < a.length; i += 3) {
    const cell = (Math.abs(a[i]! - b[i]!) + Math.abs(a[i + 1]! - b[i + 1]!) + Math.abs(a[i + 2]! - b[i + 2]!)) / 3;
    if (cell > maxCell) return false;
    s += cell;
  }
  return (3 * s) / a.length <= maxMean;
}

/** A grid's foreground: every cell minus the background (per channel, the median of the border cells). */
export function foreground(grid: readonly number[]): Float32Array {
  const side = Math.round(Math.sqrt(grid.length / 3));
  const border: number[][] = [[], [], []];
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
    if (y !== 0 && y !== side - 1 && x !== 0 && x !== side - 1) continue;
    for (let ch = 0; ch < 3; ch++) border[ch]!.push(grid[(y * side + x) * 3 + ch]!);
  }
  const bg = border.map((v) => v.sort((p, q) => p - q)[v.length >> 1]!);
  return Float32Array.from(grid, (v, i) => v - bg[i % 3]!);
}

/** Cosine of two foregrounds; 1 when both are (almost) empty (plain frames), 0 when only one is. */
function foregroundCosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) (ab += a[i]! * b[i]!), (aa += a[i]! ** 2), (bb += b[i]! ** 2);
  // Under ~2 levels per cell on average: no foreground to speak of.
  const empty = 4 * a.length;
  if (aa < empty && bb < empty) return 1;
  if (aa < empty || bb < empty) return 0;
  return ab / Math.sqrt(aa * bb);
}

export interface FrameMatchOptions {
  maxHamming: number;
  maxColourDiff: number;
  maxCellDiff: number;
  minForegroundCosine: number;
  /** −1 or absent: no thumbnail check. */
  minThumbCorrelation?: number;
}

/**
 * Share of `b`'s full frames that match frames of `a` in order: each of b's frames, in time order,
 * takes the earliest frame of `a` at or after the previous match whose full frame or any crop matches.
 */
export function inOrderShare(b: VideoNearDuplicateFeature, a: VideoNearDuplicateFeature, o: FrameMatchOptions): number {
  const fg = new Map<FrameDescriptor, Float32Array>();
  const fgOf = (d: FrameDescriptor): Float32Array => {
    let f = fg.get(d);
    if (f === undefined) fg.set(d, (f = foreground(d.c)));
    return f;
  };
  const thumbs = new Map<FrameDescriptor, Uint8Array>();
  const thumbOf = (d: FrameDescriptor): Uint8Array => {
    let t = thumbs.get(d);
    if (t === undefined) thumbs.set(d, (t = new Uint8Array(Buffer.from(d.t, 'base64'))));
    return t;
  };
  const minThumb = o.minThumbCorrelation ?? -1;
  const match = (x: FrameDescriptor, y: FrameDescriptor): boolean =>
    hammingHex(x.h, y.h) <= o.maxHamming &&
    coloursMatch(x.c, y.c, o.maxColourDiff, o.maxCellDiff) &&
    (o.minForegroundCosine <= -1 || foregroundCosine(fgOf(x), fgOf(y)) >= o.minForegroundCosine) &&
    (minThumb <= -1 || thumbCorrelation(thumbOf(x), thumbOf(y)) >= minThumb);
  let at = 0;
  let matched = 0;
  for (const fb of b.full) {
    for (let j = at; j < a.full.length; j++) {
      if (match(fb, a.full[j]!) || (a.crops[j] ?? []).some((c) => match(fb, c))) {
        matched++;
        at = j;
        break;
      }
    }
  }
  return b.full.length ? matched / b.full.length : 0;
}

export function videoNearDuplicate(options: VideoNearDuplicateOptions = {}): GlobalStage<VideoNearDuplicateFeature | null> {
  const k = options.framesToHash ?? 16;
  const scales = options.cropScales ?? [0.9, 0.8];
  const m: FrameMatchOptions = { maxHamming: options.maxHamming ?? 10, maxColourDiff: options.maxColourDiff ?? 6, maxCellDiff: options.maxCellDiff ?? 40, minForegroundCosine: options.minForegroundCosine ?? 0.8, minThumbCorrelation: options.minThumbCorrelation ?? 0.9 };
  const neighbours = options.neighbours ?? 32;
  const grid = options.grid ?? 8;
  const minShare = options.minShare ?? 0.875;
  const frames = options.frames ?? {};
  return {
    kind: 'global',
    name: options.name ?? 'near_duplicate',
    version: JSON.stringify(['phash+grid+thumb', grid, k, scales, m, minShare, frames.count ?? null, frames.maxSide ?? null]),
    async prepare(sample) {
      let f;
      try {
        f = await clipFrames(sample, frames);
      } catch {
        // video_quality drops undecodable clips with their reason; one that reaches here is not compared.
        return null;
      }
      const full: FrameDescriptor[] = [];
      const crops: FrameDescriptor[][] = [];
      for (const i of spreadIndices(f.count, k)) {
        const frame = frameAt(f, i);
        full.push(await describe(frame, grid));
        crops.push(await Promise.all(scales.map((s) => describe(centreCrop(frame, s), grid))));
      }
      return { size: f.width * f.height * Math.max(f.info.durationS, 1e-3), full, crops };
    },
    async decide(features) {
      const keys = [...features.keys()];
      const feats = keys.map((key) => features.get(key) ?? null);
      // Better member: more pixels × seconds, then earlier in the dataset.
      const better = (a: number, b: number): boolean => {
        const sa = feats[a]?.size ?? 0;
        const sb = feats[b]?.size ?? 0;
        return sa !== sb ? sa > sb : a < b;
      };
      const comps = new Components(keys.length, better);
      const evidence = new Map<number, string>();
      const pairs = options.exhaustive ? allPairs(feats) : await candidatePairs(feats, m.maxHamming, neighbours);
      for (const [i, j] of pairs) {
        const a = feats[i]!;
        const b = feats[j]!;
        const share = Math.max(inOrderShare(b, a, m), inOrderShare(a, b, m));
        if (share >= minShare) {
          comps.union(i, j);
          const note = `${Math.round(share * a.full.length)}/${a.full.length} frames in order`;
          if (!evidence.has(j)) evidence.set(j, note);
          if (!evidence.has(i)) evidence.set(i, note);
        }
      }
      const drops = new Map<string, string>();
      for (let i = 0; i < keys.length; i++) {
        const root = comps.find(i);
        if (root !== i) drops.set(keys[i]!, `near_duplicate: like ${keys[root]} (${evidence.get(i) ?? 'linked'})`);
      }
      return drops;
    },
  };
}

/** Every pair (i < j) of described clips. */
function allPairs(feats: readonly (VideoNearDuplicateFeature | null)[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < feats.length; i++) if (feats[i]) for (let j = i + 1; j < feats.length; j++) if (feats[j]) out.push([i, j]);
  return out;
}

/**
 * Candidate clip pairs (i < j, in order of i then j) from a nearest-neighbour search over frame hashes:
 * every whole and cropped frame hash indexed, every whole frame a query; a pair when some frame of one
 * has a frame of the other among its `neighbours` nearest within `maxHamming` bits.
 */
export async function candidatePairs(feats: readonly (VideoNearDuplicateFeature | null)[], maxHamming: number, neighbours: number): Promise<[number, number][]> {
  const indexedOwner: number[] = [];
  const indexed: Float32Array[] = [];
  const queryOwner: number[] = [];
  const queries: Float32Array[] = [];
  feats.forEach((f, i) => {
    if (!f) return;
    f.full.forEach((d, t) => {
      queries.push(hashToSigns(d.h));
      queryOwner.push(i);
      for (const v of [d, ...(f.crops[t] ?? [])]) {
        indexed.push(hashToSigns(v.h));
        indexedOwner.push(i);
      }
    });
  });
  const flat = (rows: readonly Float32Array[]) => {
    const out = new Float32Array(rows.length * 64);
    rows.forEach((r, i) => out.set(r, i * 64));
    return out;
  };
  // ±1 vectors of 64: cosine = 1 − 2·Hamming/64.
  const [hits] = await annCrossPairs(flat(indexed), [flat(queries)], 64, 1 - (2 * maxHamming) / 64, { ...ANN_DEFAULTS, k: neighbours });
  const seen = new Set<number>();
  const out: [number, number][] = [];
  for (const [q, j] of hits!) {
    const a = queryOwner[q]!;
    const b = indexedOwner[j]!;
    if (a === b) continue;
    const [lo, hi] = a < b ? [a, b] : [b, a];
    const id = lo * feats.length + hi;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push([lo, hi]);
  }
  return out.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}
