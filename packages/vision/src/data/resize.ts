/**
 * Antialiased bilinear resize of 8-bit RGB, computed the way Pillow's `Image.resize(…, BILINEAR)`
 * does (its `Resample.c`): a triangle filter widened by the downscale factor, coefficients in 22-bit
 * fixed point, a horizontal pass then a vertical pass, each rounded to 8 bits. HF's Mllama processor
 * resizes with that filter, so following it keeps our pixel values at HF's (see tiling.test.ts for
 * the measured difference).
 *
 * Layout: HWC, 3 channels, row-major.
 */
import { HerdError } from '@herd/core';
import { type RgbImage } from '@herd/media';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

interface Coeffs {
  readonly ksize: number;
  /** Per output index: first input index and number of taps. */
  readonly start: Int32Array;
  readonly taps: Int32Array;
  /** Fixed-point weights [out, ksize]. */
  readonly weights: Float64Array;
}

const triangle = (x: number): number => {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
};

function coefficients(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const taps = new Int32Array(outSize);
  const weights = new Float64Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      k[x] = triangle((x + xmin - center + 0.5) / filterScale);
      sum += k[x]!;
    }
    start[xx] = xmin;
    taps[xx] = n;
    for (let x = 0; x < n; x++) {
      const w = sum !== 0 ? k[x]! / sum : k[x]!;
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
  }
  return { ksize, start, taps, weights };
}

const clip8 = (acc: number): number => Math.min(255, Math.max(0, Math.floor(acc / ONE)));

/** Resizes along one axis; `horizontal` walks columns, else rows. */
function pass(src: Uint8Array, w: number, h: number, out: number, horizontal: boolean): Uint8Array {
  const c = coefficients(horizontal ? w : h, out);
  const ow = horizontal ? out : w;
  const oh = horizontal ? h : out;
  const dst = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      const s = c.start[o]!;
      const n = c.taps[o]!;
      let r = HALF, g = HALF, b = HALF;
      for (let t = 0; t < n; t++) {
        const wt = c.weights[o * c.ksize + t]!;
        const i = horizontal ? (y * w + s + t) * 3 : ((s + t) * w + x) * 3;
        r += src[i]! * wt;
        g += src[i + 1]! * wt;
        b += src[i + 2]! * wt;
      }
      const d = (y * ow + x) * 3;
      dst[d] = clip8(r);
      dst[d + 1] = clip8(g);
      dst[d + 2] = clip8(b);
    }
  }
  return dst;
}

/** Pillow-equivalent bilinear resize (antialiased when shrinking). */
export function resizeBilinear(img: RgbImage, width: number, height: number): RgbImage {
  if (img.data.length !== img.width * img.height * 3) {
    throw new HerdError('shape_mismatch', `resize: image data has ${img.data.length} bytes, ${img.width}×${img.height} RGB needs ${img.width * img.height * 3}`);
  }
  if (!(Number.isSafeInteger(width) && width > 0 && Number.isSafeInteger(height) && height > 0)) {
    throw new HerdError('invalid_argument', `resize: target size must be positive integers, got ${width}×${height}`);
  }
  let data = img.data;
  if (width !== img.width) data = pass(data, img.width, img.height, width, true);
  if (height !== img.height) data = pass(data, width, img.height, height, false);
  return { data: data === img.data ? new Uint8Array(data) : data, width, height };
}

/** The width × height window of an image at (left, top). */
export function cropRgb(img: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) out.set(img.data.subarray(((top + y) * img.width + left) * 3, ((top + y) * img.width + left + width) * 3), y * width * 3);
  return { data: out, width, height };
}

/** The centred crop keeping `side` (0–1] of each dimension (at least 8 px). */
export function centreCrop(img: RgbImage, side: number): RgbImage {
  const w = Math.max(8, Math.round(img.width * side));
  const h = Math.max(8, Math.round(img.height * side));
  return w >= img.width && h >= img.height ? img : cropRgb(img, Math.floor((img.width - w) / 2), Math.floor((img.height - h) / 2), Math.min(w, img.width), Math.min(h, img.height));
}
