/**
 * Image → tiles, as Meta's `image_transform.py` and HF's `MllamaImageProcessor` do it (§7.2: an
 * image is resized without distortion to the best canvas of at most `maxTiles` tiles, padded, split
 * into tiles, and each tile is encoded). Pure functions over 8-bit RGB.
 *
 * Legend: N tiles (maxTiles), C = 3 channels, S tile side.
 */
import { HerdError } from '@herd/core';
import { type DecodeImageOptions, type MediaInput, type RgbImage, decodeImage } from '@herd/media';
import { type VisionConfig } from '../config.js';
import { resizeBilinear } from './resize.js';

/** A tile arrangement: rows × cols tiles. */
export interface Canvas {
  readonly rows: number;
  readonly cols: number;
}

/**
 * The canvas (tile arrangement) for an image of h × w. For each arrangement the largest scale that
 * fits the image without distortion is min(cols·S/w, rows·S/h). If some arrangement lets the image
 * grow (scale ≥ 1), take the smallest such scale (least upscaling); otherwise the largest scale (least
 * downscaling). Among arrangements with exactly that scale, the smallest area (least padding), the
 * first in list order on a tie — HF's `get_optimal_tiled_canvas`, reasoned through, not copied.
 */
export function optimalCanvas(height: number, width: number, tileSize: number, arrangements: readonly (readonly [number, number])[]): Canvas {
  if (!(height > 0 && width > 0)) throw new HerdError('invalid_argument', `optimalCanvas: image size must be positive, got ${width}×${height}`);
  if (arrangements.length === 0) throw new HerdError('invalid_argument', 'optimalCanvas: no tile arrangements to choose from');
  const scales = arrangements.map(([r, c]) => Math.min((c * tileSize) / width, (r * tileSize) / height));
  const up = scales.filter((s) => s >= 1);
  const chosen = up.length > 0 ? Math.min(...up) : Math.max(...scales);
  let best = -1;
  for (let i = 0; i < arrangements.length; i++) {
    if (scales[i] !== chosen) continue;
    const [r, c] = arrangements[i]!;
    if (best < 0 || r * c < arrangements[best]![0] * arrangements[best]![1]) best = i;
  }
  const [rows, cols] = arrangements[best]!;
  return { rows, cols };
}

/** The canvas `tileImage` gives an image of h × w and its aspect-ratio id (1-based into `supportedAspectRatios`). */
export function canvasOf(height: number, width: number, cfg: Pick<VisionConfig, 'tileSize' | 'supportedAspectRatios'>): { canvas: Canvas; aspectRatioId: number } {
  const canvas = optimalCanvas(height, width, cfg.tileSize, cfg.supportedAspectRatios);
  return { canvas, aspectRatioId: cfg.supportedAspectRatios.findIndex(([r, c]) => r === canvas.rows && c === canvas.cols) + 1 };
}

/**
 * The size the image is resized to inside its canvas: each side is first clamped to [S, canvas side],
 * then the side that needs the smaller scale sets it and the other follows by the same scale (floored,
 * never past its own target) — no distortion, and never below one tile (HF's
 * `get_image_size_fit_to_canvas`).
 */
export function fitToCanvas(height: number, width: number, canvasHeight: number, canvasWidth: number, tileSize: number): { height: number; width: number } {
  const targetW = Math.min(Math.max(width, tileSize), canvasWidth);
  const targetH = Math.min(Math.max(height, tileSize), canvasHeight);
  const scaleH = targetH / height;
  const scaleW = targetW / width;
  if (scaleW < scaleH) return { width: targetW, height: Math.min(Math.floor(height * scaleW), targetH) };
  return { height: targetH, width: Math.min(Math.floor(width * scaleH), targetW) };
}

/** One image, tiled and normalised. */
export interface TiledImage {
  /** [maxTiles, 3, S, S], real tiles first, zero tiles after (as HF packs them). */
  readonly pixels: Float32Array;
  /** 1-based index into `supportedAspectRatios` (0 is reserved for "no image"). */
  readonly aspectRatioId: number;
  /** [maxTiles]: 1 for real tiles. */
  readonly aspectRatioMask: Uint8Array;
  readonly nTiles: number;
  readonly canvas: Canvas;
  /** Size the image was resized to before padding. */
  readonly resized: { readonly height: number; readonly width: number };
  /**
   * The encoder's output GIVEN instead of computed, [maxTiles, P, Dv] (P tokens per tile, Dv =
   * `visionOutputDim`). Only the vision oracle sets it (bench/src/vision-oracle.ts: plain codes of the
   * scene's ground truth stand in for what an encoder would see); graphs for such images skip the
   * encoder and feed these values to the projector.
   */
  readonly features?: Float32Array;
  /**
   * The blind control's image (`blindImage`): its tokens get no place embeddings (`packPlaces` feeds −1 for
   * every patch), so that with the pixels / features zeroed nothing of the image's patches reaches the adapter.
   */
  readonly noPlace?: true;
}

/** Resize → pad (bottom/right, black) → rescale to [0, 1] → normalise → split into row-major tiles. */
export function tileImage(img: RgbImage, cfg: Pick<VisionConfig, 'tileSize' | 'maxTiles' | 'supportedAspectRatios' | 'imageMean' | 'imageStd'>): TiledImage {
  const S = cfg.tileSize;
  const { canvas, aspectRatioId: id } = canvasOf(img.height, img.width, cfg);
  const H = canvas.rows * S;
  const W = canvas.cols * S;
  const size = fitToCanvas(img.height, img.width, H, W, S);
  const resized = resizeBilinear(img, size.width, size.height);
  const nTiles = canvas.rows * canvas.cols;
  const pixels = new Float32Array(cfg.maxTiles * 3 * S * S);
  // Padding is black before normalisation, so padded pixels hold −mean/std like HF's.
  const padValue = [0, 1, 2].map((ch) => (0 - cfg.imageMean[ch]!) / cfg.imageStd[ch]!);
  for (let y = 0; y < H; y++) {
    const tr = Math.floor(y / S);
    const ty = y % S;
    for (let x = 0; x < W; x++) {
      const tile = tr * canvas.cols + Math.floor(x / S);
      const tx = x % S;
      const inside = y < resized.height && x < resized.width;
      for (let ch = 0; ch < 3; ch++) {
        const v = inside ? (resized.data[(y * resized.width + x) * 3 + ch]! / 255 - cfg.imageMean[ch]!) / cfg.imageStd[ch]! : padValue[ch]!;
        pixels[((tile * 3 + ch) * S + ty) * S + tx] = v; // [N, C, S, S]
      }
    }
  }
  const aspectRatioMask = new Uint8Array(cfg.maxTiles);
  aspectRatioMask.fill(1, 0, nTiles);
  return { pixels, aspectRatioId: id, aspectRatioMask, nTiles, canvas, resized: size };
}

/** Decodes an image file or buffer (any format `@herd/media` reads, EXIF-oriented, size-limited) and tiles it. */
export async function preprocessImage(input: MediaInput, cfg: Parameters<typeof tileImage>[1], decode: DecodeImageOptions = {}): Promise<TiledImage> {
  return tileImage(await decodeImage(input, decode), cfg);
}

/** Several images of one prompt, packed: pixels [I, N, 3, S, S], ids [I], mask [I, N]. */
export interface PackedImages {
  readonly pixels: Float32Array;
  readonly aspectRatioIds: Int32Array;
  readonly aspectRatioMask: Uint8Array;
  readonly nTiles: readonly number[];
  readonly nImages: number;
}

export function packImages(images: readonly TiledImage[], maxTiles: number, tileSize: number): PackedImages {
  const per = maxTiles * 3 * tileSize * tileSize;
  const pixels = new Float32Array(images.length * per);
  const aspectRatioMask = new Uint8Array(images.length * maxTiles);
  images.forEach((im, i) => {
    if (im.pixels.length !== per) throw new HerdError('shape_mismatch', `packImages: image ${i} has ${im.pixels.length} values, expected ${per} (${maxTiles} tiles of ${tileSize} px)`);
    pixels.set(im.pixels, i * per);
    aspectRatioMask.set(im.aspectRatioMask, i * maxTiles);
  });
  return { pixels, aspectRatioIds: Int32Array.from(images, (im) => im.aspectRatioId), aspectRatioMask, nTiles: images.map((im) => im.nTiles), nImages: images.length };
}

/**
 * The given encoder outputs of several images (`TiledImage.features`), packed [I, N, P, Dv] with `per`
 * = N·P·Dv values each: undefined when no image carries them; an error when only some do (one graph
 * either runs the encoder or reads given features) or a length is wrong.
 */
export function packFeatures(images: readonly TiledImage[], per: number): Float32Array | undefined {
  const given = images.filter((im) => im.features !== undefined).length;
  if (given === 0) return undefined;
  if (given !== images.length) throw new HerdError('invalid_argument', `packFeatures: ${given} of ${images.length} images carry given encoder features; all or none must`);
  const out = new Float32Array(images.length * per);
  images.forEach((im, i) => {
    if (im.features!.length !== per) throw new HerdError('shape_mismatch', `packFeatures: image ${i} has ${im.features!.length} feature values, expected ${per} (tiles × tokens per tile × encoder width)`);
    out.set(im.features!, i * per);
  });
  return out;
}
