/**
 * 64-bit DCT perceptual hash (pHash): 32×32 grey → 2-D DCT-II → the 8×8 lowest frequencies, each bit
 * "above the median of the 63 non-DC coefficients". Resizing, re-encoding and mild colour changes move
 * few bits; different scenes differ in ~half of them. Hex string so it survives JSON feature spills.
 */
import type { RgbImage } from '@herd/media';
import { resizeBilinear } from '../resize.js';

const N = 32;
const K = 8;

// cos((2x+1)uπ/2N) for the K lowest u, computed once.
const COS: Float64Array = (() => {
  const t = new Float64Array(K * N);
  for (let u = 0; u < K; u++) for (let x = 0; x < N; x++) t[u * N + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * N));
  return t;
})();

/** The 8×8 low-frequency DCT block of a 32×32 grey image (row-major, [v][u]). */
export function lowDct(grey: Uint8Array | Float64Array): Float64Array {
  // Rows first (32 rows × 8 u), then columns (8 v × 8 u): separable, 10k multiplies.
  const rows = new Float64Array(N * K);
  for (let y = 0; y < N; y++) {
    for (let u = 0; u < K; u++) {
      let s = 0;
      for (let x = 0; x < N; x++) s += (grey[y * N + x] as number) * (COS[u * N + x] as number);
      rows[y * K + u] = s;
    }
  }
  const out = new Float64Array(K * K);
  for (let v = 0; v < K; v++) {
    for (let u = 0; u < K; u++) {
      let s = 0;
      for (let y = 0; y < N; y++) s += (rows[y * K + u] as number) * (COS[v * N + y] as number);
      out[v * K + u] = s;
    }
  }
  return out;
}

/** pHash bits from a DCT block: 16 hex digits, bit i (MSB first) = coefficient i > median of coefficients 1..63. */
export function hashFromDct(block: Float64Array): string {
  const ac = Array.from(block.subarray(1)).sort((a, b) => a - b);
  const median = ((ac[30] as number) + (ac[31] as number)) / 2;
  let hex = '';
  for (let nib = 0; nib < 16; nib++) {
    let v = 0;
    for (let b = 0; b < 4; b++) v = (v << 1) | ((block[nib * 4 + b] as number) > median ? 1 : 0);
    hex += v.toString(16);
  }
  return hex;
}

/**
 * The 32×32 colour thumbnail every signal of a view is computed from: the antialiased bilinear resize
 * of `../resize.ts`, in-process (sharp's Lanczos cost ~2.8 ms of CPU per call on these small images,
 * mostly libvips pipeline set-up, and a sample needed eight: whole image and three crops, grey
 * thumbnail and colour layout each).
 */
export function colourThumb(img: RgbImage): RgbImage {
  return resizeBilinear(img, N, N);
}

/** Rec. 601 luma of every pixel of a thumbnail. */
function greyOf(small: RgbImage): Float64Array {
  const out = new Float64Array(small.width * small.height);
  for (let i = 0; i < out.length; i++) out[i] = 0.299 * (small.data[3 * i] as number) + 0.587 * (small.data[3 * i + 1] as number) + 0.114 * (small.data[3 * i + 2] as number);
  return out;
}

/** The 32×32 grey thumbnail pHash is computed from (`colourThumb`, then Rec. 601 luma). */
export async function greyThumb(img: RgbImage): Promise<Float64Array> {
  return greyOf(colourThumb(img));
}

export async function perceptualHash(img: RgbImage): Promise<string> {
  return hashFromDct(lowDct(greyOf(colourThumb(img))));
}

/** The pHash and its 32×32 grey thumbnail (rounded to 8 bits), from one resize. */
export async function hashAndThumb(img: RgbImage): Promise<{ hash: string; thumb: Uint8Array }> {
  const grey = greyOf(colourThumb(img));
  return { hash: hashFromDct(lowDct(grey)), thumb: Uint8Array.from(grey, (v) => Math.round(v)) };
}

/** Everything the near-duplicate check needs of one view (pHash, grey thumbnail, colour layout), from one resize. */
export function viewSignals(img: RgbImage): { hash: string; thumb: Uint8Array; layout: Int8Array } {
  const small = colourThumb(img);
  const grey = greyOf(small);
  return { hash: hashFromDct(lowDct(grey)), thumb: Uint8Array.from(grey, (v) => Math.round(v)), layout: layoutOf(small) };
}

/**
 * Normalised cross-correlation of two grey thumbnails (−1…1; 0 when one is flat). pHash keeps only
 * the 8×8 lowest frequencies, so two simple scenes that differ in a shape's outline or a written
 * word can share it; the full 32×32 correlation sees those, and a brightness change (a·x + b) leaves
 * it unchanged.
 */
export function thumbCorrelation(a: Uint8Array, b: Uint8Array): number {
  const m = centredMoments(a, b, Math.min(a.length, b.length));
  return m.saa === 0 || m.sbb === 0 ? 0 : m.sab / Math.sqrt(m.saa * m.sbb);
}

/** Means of the first n values of a and b, and their centred sums of products (Σxy, Σx², Σy²). */
function centredMoments(a: ArrayLike<number>, b: ArrayLike<number>, n: number): { ma: number; mb: number; sab: number; saa: number; sbb: number } {
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < n; i++) {
    sa += a[i] as number;
    sb += b[i] as number;
  }
  const ma = sa / n;
  const mb = sb / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = (a[i] as number) - ma;
    const y = (b[i] as number) - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return { ma, mb, sab, saa, sbb };
}

/**
 * The worst local mismatch of two 32×32 grey thumbnails: b is fitted to a by least squares (b ≈ αa + β,
 * so a brightness or contrast change costs nothing), and the RMS of the residual in each `block` ×
 * `block` tile, divided by b's standard deviation, is taken at its largest tile. A copy's residual
 * (resampling, JPEG, a crop's offset) is spread thin over the image; two scenes that differ in one small
 * shape or a written word put it all in the tiles of that object, where a whole-image correlation of
 * 0.995 still hides it. 0 when either thumbnail is flat.
 */
export function thumbBlockResidual(a: Uint8Array, b: Uint8Array, block = 4, side = 32): number {
  const n = side * side;
  if (a.length < n || b.length < n) return 0;
  const { ma, mb, sab, saa, sbb } = centredMoments(a, b, n);
  if (saa === 0 || sbb === 0) return 0;
  const alpha = sab / saa;
  let worst = 0;
  for (let by = 0; by < side; by += block) {
    for (let bx = 0; bx < side; bx += block) {
      let e = 0;
      for (let y = by; y < by + block; y++) {
        for (let x = bx; x < bx + block; x++) {
          const i = y * side + x;
          const r = (b[i] as number) - mb - alpha * ((a[i] as number) - ma);
          e += r * r;
        }
      }
      if (e > worst) worst = e;
    }
  }
  return Math.sqrt(worst / (block * block)) / Math.sqrt(sbb / n);
}

const POPCOUNT4 = [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];

/** Hamming distance between two 16-hex-digit hashes. */
export function hammingHex(a: string, b: string): number {
  let d = 0;
  for (let i = 0; i < 16; i++) d += POPCOUNT4[parseInt(a[i] as string, 16) ^ parseInt(b[i] as string, 16)] as number;
  return d;
}

/** Bits as ±1 floats: for 64-d sign vectors, cosine = 1 − 2·hamming/64, so an ANN index over them finds Hamming neighbours. */
export function hashToSigns(hex: string): Float32Array {
  const v = new Float32Array(64);
  for (let nib = 0; nib < 16; nib++) {
    const x = parseInt(hex[nib] as string, 16);
    for (let b = 0; b < 4; b++) v[nib * 4 + b] = (x >> (3 - b)) & 1 ? 1 : -1;
  }
  return v;
}

/** Side of the colour-layout thumbnail. */
export const LAYOUT_SIDE = 16;

/**
 * Colour layout: a 16×16 thumbnail (2×2 blocks of `colourThumb`) in YCbCr with chroma weighted ×3, minus the background colour (the
 * median of the border), plus the background itself, unit length, as int8. pHash works on grey low
 * frequencies, so two scenes that differ only in a shape's colour or size can share a hash; this is
 * the check a pHash candidate pair must also pass. Cosine ≈ dot/127².
 */
export async function colourLayout(img: RgbImage): Promise<Int8Array> {
  return layoutOf(colourThumb(img));
}

/** The layout of a 32×32 colour thumbnail: each 2×2 block averaged to one of the 16×16 cells. */
function layoutOf(thumb: RgbImage): Int8Array {
  const S = LAYOUT_SIDE;
  const small = { data: new Float64Array(3 * S * S) };
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      for (let c = 0; c < 3; c++) {
        const at = (yy: number, xx: number): number => thumb.data[3 * (yy * N + xx) + c] as number;
        small.data[3 * (y * S + x) + c] = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
      }
    }
  }
  const ycc = new Float64Array(3 * S * S);
  for (let i = 0; i < S * S; i++) {
    const r = small.data[3 * i] as number;
    const g = small.data[3 * i + 1] as number;
    const b = small.data[3 * i + 2] as number;
    ycc[3 * i] = 0.299 * r + 0.587 * g + 0.114 * b;
    ycc[3 * i + 1] = 3 * (-0.1687 * r - 0.3313 * g + 0.5 * b);
    ycc[3 * i + 2] = 3 * (0.5 * r - 0.4187 * g - 0.0813 * b);
  }
  const border: number[][] = [[], [], []];
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      if (y !== 0 && x !== 0 && y !== S - 1 && x !== S - 1) continue;
      for (let c = 0; c < 3; c++) (border[c] as number[]).push(ycc[3 * (y * S + x) + c] as number);
    }
  }
  const bg = border.map((b) => b.sort((p, q) => p - q)[b.length >> 1] as number);
  const v = new Float64Array(3 * S * S + 3);
  for (let i = 0; i < S * S; i++) for (let c = 0; c < 3; c++) v[3 * i + c] = (ycc[3 * i + c] as number) - (bg[c] as number);
  for (let c = 0; c < 3; c++) v[3 * S * S + c] = 2 * (bg[c] as number);
  let n = 0;
  for (const x of v) n += x * x;
  const scale = n > 0 ? 127 / Math.sqrt(n) : 0;
  return Int8Array.from(v, (x) => Math.round(x * scale));
}

/**
 * The background's chroma relative to its luma, read from a colour layout's last three entries
 * (2·background in YCbCr, chroma ×3): [Cb/Y, Cr/Y], free of the layout's unit scaling. A copy keeps
 * it up to its colour jitter (saturation scales it, a hue shift turns it a little), whereas the same
 * objects on another background (cream, sky, white) move it: the layout cosine, dominated by the
 * objects, does not see that. Null for a layout without a background luma.
 */
export function backgroundChroma(layout: ArrayLike<number>): [number, number] | null {
  const n = layout.length;
  const y = layout[n - 3] as number;
  if (n < 3 || y <= 0) return null;
  return [(layout[n - 2] as number) / y, (layout[n - 1] as number) / y];
}

export function layoutCosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    s += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  return na === 0 || nb === 0 ? 0 : s / Math.sqrt(na * nb);
}

/**
 * The chroma (Cb, Cr) of a layout's cells averaged over `pool` × `pool` blocks (a `side / pool`-square
 * grid, row-major, two values per block), and each block's largest single-cell chroma magnitude.
 */
function pooledChroma(layout: ArrayLike<number>, pool: number): { chroma: Float64Array; peak: Float64Array } {
  const S = LAYOUT_SIDE;
  const P = Math.floor(S / pool);
  const chroma = new Float64Array(2 * P * P);
  const peak = new Float64Array(P * P);
  for (let y = 0; y < P * pool; y++) {
    for (let x = 0; x < P * pool; x++) {
      const c = Math.floor(y / pool) * P + Math.floor(x / pool);
      const cb = layout[3 * (y * S + x) + 1] as number;
      const cr = layout[3 * (y * S + x) + 2] as number;
      chroma[2 * c] = (chroma[2 * c] as number) + cb / (pool * pool);
      chroma[2 * c + 1] = (chroma[2 * c + 1] as number) + cr / (pool * pool);
      peak[c] = Math.max(peak[c] as number, Math.hypot(cb, cr));
    }
  }
  return { chroma, peak };
}

/**
 * The largest chroma change of one layout cell between two colour layouts (both unit length, so the
 * cells are comparable once a pair has passed the layout cosine): max over the cells of
 * |(Cb, Cr)ₐ − (Cb, Cr)ᵦ| relative to the larger of the two, for cells whose chroma reaches
 * `minChroma` of the layout's length (fainter cells are edges and background). The layout cosine is
 * a sum over all cells, so one small object that changes colour (a blue star for a black one) barely
 * moves it; here its cells change by most of their size, while a copy's colour jitter (hue ±12°,
 * saturation ×0.8–1.2) changes a cell by a bounded fraction. (Fitting one hue/saturation gain per
 * pair first was tried and is worse: in a one-object scene a new colour is such a gain.) 0 when no
 * cell has chroma.
 *
 * `pool` > 1 compares the chroma averaged over `pool` × `pool` blocks of cells instead (a block counts
 * when one of its cells reaches `minChroma` in either layout, so a thin object that fills a block only
 * in part still does, and its change is taken relative to at least that floor): a low-quality JPEG (4:2:0, quality 40–69) blurs an object's chroma into the
 * cells beside it and thins it in its own rim cells — a large relative change in single cells — but
 * moves little chroma out of a 2 × 2 block, while a new colour changes the whole object's blocks.
 */
export function layoutChromaDiff(a: ArrayLike<number>, b: ArrayLike<number>, minChroma = 0.04, pool = 1): number {
  if (Math.min(a.length, b.length) < 3 * LAYOUT_SIDE * LAYOUT_SIDE) return 0;
  const pa = pooledChroma(a, pool);
  const pb = pooledChroma(b, pool);
  const floor = minChroma * 127;
  let worst = 0;
  for (let c = 0; c < pa.peak.length; c++) {
    if (Math.max(pa.peak[c] as number, pb.peak[c] as number) < floor) continue;
    const ab = pa.chroma[2 * c] as number;
    const ar = pa.chroma[2 * c + 1] as number;
    const bb = pb.chroma[2 * c] as number;
    const br = pb.chroma[2 * c + 1] as number;
    // Relative to the larger block, but never to less than the floor: a block the object only grazes
    // has little pooled chroma, and a ratio of two small numbers is mostly noise.
    const big = Math.max(Math.hypot(ab, ar), Math.hypot(bb, br), pool > 1 ? floor : 0);
    if (big > 0) worst = Math.max(worst, Math.hypot(ab - bb, ar - br) / big);
  }
  return worst;
}

/**
 * Colour layout `a` with its chroma fitted to `b`'s: every (Cb, Cr) of `a` (each cell's and the
 * background's) multiplied by one complex gain r = s·e^{iθ} relative to the luma — the least-squares
 * fit of b's chroma on a's over the whole layout, θ clamped to ±`maxHueDeg` and s to
 * [1/`maxGain`, `maxGain`] — then scaled back to the layouts' length (127), so the colour checks
 * (`layoutCosine`, `layoutChromaDiff`, `backgroundChroma`) compare the two images after matching one
 * hue rotation and saturation gain. A colour-jittered copy (hue ±12°, saturation ×0.8–1.2) is such a
 * gain; another colour of one object in a scene of several, or another background under the same
 * objects, is not (the objects' fit leaves the background's change, and the reverse). A flat scene
 * (no chroma in `a`) is returned as it is.
 */
export function fitLayoutColour(a: ArrayLike<number>, b: ArrayLike<number>, maxHueDeg: number, maxGain: number): Float64Array {
  const n = Math.min(a.length, b.length) - (Math.min(a.length, b.length) % 3);
  let yab = 0;
  let yaa = 0;
  let re = 0;
  let im = 0;
  let caa = 0;
  for (let i = 0; i < n; i += 3) {
    const ya = a[i] as number;
    const [pa, qa, pb, qb] = [a[i + 1] as number, a[i + 2] as number, b[i + 1] as number, b[i + 2] as number];
    yab += ya * (b[i] as number);
    yaa += ya * ya;
    // conj(ca) · cb, with c = Cb + i·Cr
    re += pa * pb + qa * qb;
    im += pa * qb - qa * pb;
    caa += pa * pa + qa * qa;
  }
  const out = Float64Array.from(a);
  if (caa === 0 || yaa === 0 || yab <= 0) return out;
  const gy = yab / yaa;
  let gain = Math.hypot(re, im) / caa / gy;
  let angle = Math.atan2(im, re);
  const lim = (maxHueDeg * Math.PI) / 180;
  angle = Math.max(-lim, Math.min(lim, angle));
  gain = Math.max(1 / maxGain, Math.min(maxGain, gain));
  const cr = gain * Math.cos(angle);
  const ci = gain * Math.sin(angle);
  let norm = 0;
  for (let i = 0; i < out.length; i += 3) {
    const p = out[i + 1] as number;
    const q = out[i + 2] as number;
    out[i + 1] = cr * p - ci * q;
    out[i + 2] = ci * p + cr * q;
    norm += (out[i] as number) ** 2 + (out[i + 1] as number) ** 2 + (out[i + 2] as number) ** 2;
  }
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] = ((out[i] as number) * 127) / Math.sqrt(norm);
  return out;
}

/** Side of the pooled colour layout (`layoutSummary`) the near-duplicate candidate search indexes. */
export const SUMMARY_SIDE = 4;

/**
 * A colour layout pooled to `SUMMARY_SIDE` × `SUMMARY_SIDE` cells (Y, Cb, Cr relative to the
 * background, the layout's weighting) plus its background entries, unit length: 51 numbers that
 * carry where the colours are, for the candidate search's index (the grey pHash alone puts scenes
 * that differ only in colour at distance 0). Zeros for a layout of the wrong size or with no signal.
 */
export function layoutSummary(layout: Int8Array): Float32Array {
  const S = LAYOUT_SIDE;
  const P = SUMMARY_SIDE;
  const pool = S / P;
  const out = new Float32Array(3 * P * P + 3);
  if (layout.length !== 3 * S * S + 3) return out;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const c = 3 * (Math.floor(y / pool) * P + Math.floor(x / pool));
      for (let k = 0; k < 3; k++) out[c + k] = (out[c + k] as number) + (layout[3 * (y * S + x) + k] as number);
    }
  }
  for (let k = 0; k < 3; k++) out[3 * P * P + k] = layout[3 * S * S + k] as number;
  let n = 0;
  for (const v of out) n += v * v;
  if (n > 0) for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / Math.sqrt(n);
  return out;
}

/** Side of the fine grey thumbnail (`fineThumb`) the near-duplicate verification keeps of every whole image. */
export const FINE_SIDE = 64;

/**
 * The 64 × 64 grey thumbnail of an image (`resizeBilinear`, Rec. 601 luma, 8 bits): four times the
 * pixels of the 32 × 32 one. A small one-object scene that differs in its shape (circle / hexagon /
 * square) or by one size step correlates ≥ 0.995 at 32 × 32 and clearly less here.
 */
export function fineThumb(img: RgbImage): Uint8Array {
  return Uint8Array.from(greyOf(resizeBilinear(img, FINE_SIDE, FINE_SIDE)), (v) => Math.round(v));
}

/**
 * The centred `scale` × `scale` part of a `side` × `side` grey thumbnail, sampled bilinearly onto
 * `out` × `out` pixels (sub-pixel: the crop need not fall on pixel edges). `scale` 1 with
 * `out` = `side` returns the thumbnail itself.
 */
export function sampleCentre(t: Uint8Array, side: number, scale: number, out: number): Float64Array {
  const o = new Float64Array(out * out);
  const w = scale * side;
  const x0 = (side - w) / 2;
  const at = (p: number): [number, number, number] => {
    const f = Math.min(side - 1, Math.max(0, x0 + ((p + 0.5) * w) / out - 0.5));
    const i = Math.floor(f);
    return [i, Math.min(side - 1, i + 1), f - i];
  };
  const cols = Array.from({ length: out }, (_, x) => at(x));
  for (let y = 0; y < out; y++) {
    const [y0, y1, ay] = at(y);
    for (let x = 0; x < out; x++) {
      const [c0, c1, ax] = cols[x] as [number, number, number];
      const top = (1 - ax) * (t[y0 * side + c0] as number) + ax * (t[y0 * side + c1] as number);
      const bottom = (1 - ax) * (t[y1 * side + c0] as number) + ax * (t[y1 * side + c1] as number);
      o[y * out + x] = (1 - ay) * top + ay * bottom;
    }
  }
  return o;
}

/** Correlation and |log| standard-deviation ratio of two equally long grey images (0 and Infinity when one is flat). */
function corrAndContrast(a: ArrayLike<number>, b: ArrayLike<number>): { correlation: number; contrast: number } {
  const { sab, saa, sbb } = centredMoments(a, b, Math.min(a.length, b.length));
  if (saa === 0 || sbb === 0) return { correlation: 0, contrast: Infinity };
  return { correlation: sab / Math.sqrt(saa * sbb), contrast: Math.abs(0.5 * Math.log(sbb / saa)) };
}

/** Centre-crop scales the crop ↔ whole fine check searches (0.83–0.955, step 0.005): a crop keeps 85–93 % of each side. */
export const FINE_CROP_SCALES: readonly number[] = Array.from({ length: 26 }, (_, i) => Number((0.83 + 0.005 * i).toFixed(3)));

/**
 * Side the crop ↔ whole fine check compares at (both thumbnails sampled down to it; the stage's
 * `fineCropSide`): 48 × 48, chosen in round 10 — a probe of a centred pair of small circles, its 0.9 crop
 * and the same with squares gave crop ↔ whole 0.9947 / 0.9934 at 32 × 32 but 0.9930 / 0.9842 at 48.
 */
export const FINE_CROP_SIDE = 48;

/**
 * How well two fine thumbnails (`fineThumb`) match: `correlation` (normalised cross-correlation) and
 * `contrast` (|log| of the ratio of their standard deviations: a copy keeps its contrast up to the
 * brightness jitter, while one object drawn in a near hue — orange for yellow — on the same
 * background changes it, and a correlation cannot see that in a one-object scene).
 *
 * Whole ↔ whole (`scales` undefined): the 64 × 64 thumbnails as they are. Crop ↔ whole (`scales`
 * given): a's centre at each scale and b whole, both sampled to `cropSide` (default `FINE_CROP_SIDE`), at the scale
 * with the highest correlation: the stored crop views sit at three fixed scales, and a copy cropped
 * between them is misaligned by up to 2 % of its side there, which the 32 × 32 check paid for in recall.
 */
export function fineMatch(a: Uint8Array, b: Uint8Array, scales?: readonly number[], cropSide = FINE_CROP_SIDE): { correlation: number; contrast: number; scale: number } {
  const side = FINE_SIDE;
  if (a.length !== side * side || b.length !== side * side) return { correlation: 0, contrast: Infinity, scale: 1 };
  if (scales === undefined) return { ...corrAndContrast(a, b), scale: 1 };
  const whole = sampleCentre(b, side, 1, cropSide);
  let best = { correlation: -Infinity, contrast: Infinity, scale: 1 };
  for (const s of scales) {
    const m = corrAndContrast(sampleCentre(a, side, s, cropSide), whole);
    if (m.correlation > best.correlation) best = { ...m, scale: s };
  }
  return best;
}
