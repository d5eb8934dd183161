/**
 * 64-bit DCT perceptual hash (pHash): 32×32 grey → 2-D DCT-II → the 8×8 lowest frequencies, each bit
 * "above the median of the 63 non-DC coefficients". Resizing, re-encoding and mild colour changes move
 * few bits; different scenes differ in ~half of them. Hex string so it survives JSON feature spills.
 */
import { resizeRgb, type RgbImage } from '@herd/media';

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

/** The 32×32 grey thumbnail pHash is computed from: sharp's Lanczos resize (through @herd/media), then Rec. 601 luma. */
export async function greyThumb(img: RgbImage): Promise<Float64Array> {
  const small = await resizeRgb(img, N, N, { fit: 'fill' });
  const out = new Float64Array(N * N);
  for (let i = 0; i < N * N; i++) out[i] = 0.299 * (small.data[3 * i] as number) + 0.587 * (small.data[3 * i + 1] as number) + 0.114 * (small.data[3 * i + 2] as number);
  return out;
}

export async function perceptualHash(img: RgbImage): Promise<string> {
  return hashFromDct(lowDct(await greyThumb(img)));
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
