/**
 * Ink: the pixels of a synthetic-world image that are not its background (objects and the written word), found from
 * the pixels alone, and the views made from them — the silhouette (`inkSilhouette`), the image the vision model's
 * silhouette stream reads (`MllamaConfig.silhouetteLayers`). The dense stage's labels and colour augments use the
 * same pixel addressing (`pixelIndex`, `paintPixel`).
 */
import { type VisionConfig } from '../config.js';
import { type TiledImage } from './tiling.js';

/** A pixel is ink when some channel differs from the background by more than this (0–255). */
export const INK_DIFF = 60;

/** Index in `TiledImage.pixels` ([tiles, 3, S, S]) of channel `ch` of the resized image's pixel (x, y). */
export function pixelIndex(img: Pick<TiledImage, 'canvas'>, S: number, x: number, y: number, ch: number): number {
  const tile = Math.floor(y / S) * img.canvas.cols + Math.floor(x / S);
  return ((tile * 3 + ch) * S + (y % S)) * S + (x % S);
}

/** Writes an RGB colour (0–1 per channel) at the resized image's pixel (x, y), normalised as the tiling does. */
export function paintPixel(pixels: Float32Array, img: Pick<TiledImage, 'canvas'>, v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>, x: number, y: number, rgb: readonly number[]): void {
  for (let ch = 0; ch < 3; ch++) pixels[pixelIndex(img, v.tileSize, x, y, ch)] = (rgb[ch]! - v.imageMean[ch]!) / v.imageStd[ch]!;
}

/** The resized image's pixel (x, y) as RGB 0–255. */
function rgb255(img: TiledImage, v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>, x: number, y: number, ch: number): number {
  return (img.pixels[pixelIndex(img, v.tileSize, x, y, ch)]! * v.imageStd[ch]! + v.imageMean[ch]!) * 255;
}

/**
 * The image's background colour, RGB 0–255: the mean of the pixels in its most common colour (16 levels per channel).
 */
export function backgroundRgb(img: TiledImage, v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>): [number, number, number] {
  const { width: W, height: H } = img.resized;
  const level = (x: number, y: number) => (Math.min(15, Math.floor(rgb255(img, v, x, y, 0) / 16)) << 8) | (Math.min(15, Math.floor(rgb255(img, v, x, y, 1) / 16)) << 4) | Math.min(15, Math.floor(rgb255(img, v, x, y, 2) / 16));
  const counts = new Map<number, number>();
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) { const key = level(x, y); counts.set(key, (counts.get(key) ?? 0) + 1); }
  const mode = [...counts.entries()].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  const bg: [number, number, number] = [0, 0, 0];
  let nBg = 0;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    if (level(x, y) !== mode) continue;
    for (let ch = 0; ch < 3; ch++) bg[ch]! += rgb255(img, v, x, y, ch);
    nBg++;
  }
  for (let ch = 0; ch < 3; ch++) bg[ch]! /= Math.max(1, nBg);
  return bg;
}

/**
 * Which pixels of the resized image are ink: [H·W] row-major, 1 where some channel differs from the
 * background (`backgroundRgb`) by more than `INK_DIFF`.
 */
export function inkPixels(img: TiledImage, v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>): Uint8Array {
  const { width: W, height: H } = img.resized;
  const bg = backgroundRgb(img, v);
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = [0, 1, 2].some((ch) => Math.abs(rgb255(img, v, x, y, ch) - bg[ch]!) > INK_DIFF) ? 1 : 0;
  return out;
}

const BLACK = [0, 0, 0] as const;
const WHITE = [1, 1, 1] as const;

/**
 * The image's silhouette: every ink pixel (`inkPixels`: differs from the image's most common colour) black, every other
 * pixel white, over the whole resized image (objects and the written word alike); padding is left as it is. A view
 * without colour, computed from the pixels alone: what an object's shape looks like when its colour cannot be read
 * (round 31: the ink encoder's held-out shape probe reads yellow hexagons at 15.5% on the image, 60.7% on this view).
 */
export function inkSilhouette(img: TiledImage, v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>): TiledImage {
  const { width: W, height: H } = img.resized;
  const inked = inkPixels(img, v);
  const pixels = Float32Array.from(img.pixels);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) paintPixel(pixels, img, v, x, y, inked[y * W + x] ? BLACK : WHITE);
  return { ...img, pixels };
}

/**
 * One image's `silhouettePixels` (its `inkSilhouette`, [maxTiles, 3, tileSize, tileSize] like its pixels) from an export's
 * vision recipe (`preprocess.silhouette`): what the chat's server-side runner and the page (through the web bundle) feed
 * the `vision.encoder` graph of a checkpoint with a silhouette stream; nothing for a recipe without one.
 */
export function recipeSilhouettePixels(
  im: TiledImage,
  r: { readonly preprocess: { readonly silhouette?: boolean } & Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'> },
): Float32Array | undefined {
  return r.preprocess.silhouette === true ? inkSilhouette(im, r.preprocess).pixels : undefined;
}

/** Silhouettes already made, by image (an image's pixels never change after tiling): each batch that shows an image again reuses its view. */
const silhouettes = new WeakMap<TiledImage, TiledImage>();

/** `inkSilhouette`, computed once per image object. */
export function silhouetteView(img: TiledImage, v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>): TiledImage {
  let s = silhouettes.get(img);
  if (!s) silhouettes.set(img, (s = inkSilhouette(img, v)));
  return s;
}
