/**
 * Where each image token's patch lies in the IMAGE (not the canvas): the tiling resizes an image without
 * distortion and pads it bottom/right (HF's `get_image_size_fit_to_canvas` never upscales past the
 * original size), so the same canvas position is the middle of one image and the edge of another. The
 * row and column of the patch centre in a G×G grid laid over the resized image give a categorical place:
 * any union of places ("left or right") is a linear function of one-hot codes of it, which it is not of
 * a smooth x/y code (docs/research-log.md, Vision, round 23: the adapter reads the place word of a position
 * answer but not its preposition, a union of opposite places).
 *
 * Legend: N tile slots (maxTiles), P = g² + 1 tokens per tile (class token first), g = tileSize / patchSize.
 */
import { HerdError } from '@herd/core';
import { type VisionConfig } from '../config.js';
import { type TiledImage } from './tiling.js';

/** Row and column bins (0…G−1) of every token, [N·P] each; −1 for class tokens, absent tiles and padding patches. */
export interface PatchPlaces {
  readonly row: Int8Array;
  readonly col: Int8Array;
}

export function patchPlaces(img: Pick<TiledImage, 'nTiles' | 'canvas' | 'resized'>, v: Pick<VisionConfig, 'tileSize' | 'patchSize' | 'maxTiles'>, bins: number): PatchPlaces {
  if (!Number.isInteger(bins) || bins < 1 || bins > 64) throw new HerdError('invalid_argument', `patchPlaces: bins must be a whole number from 1 to 64, got ${bins}`);
  const S = v.tileSize, ps = v.patchSize, g = S / ps, P = g * g + 1;
  const { width: W, height: H } = img.resized;
  const row = new Int8Array(v.maxTiles * P).fill(-1);
  const col = new Int8Array(v.maxTiles * P).fill(-1);
  for (let t = 0; t < img.nTiles; t++) {
    const [tr, tc] = [Math.floor(t / img.canvas.cols), t % img.canvas.cols];
    for (let r = 0; r < g; r++) for (let c = 0; c < g; c++) {
      const cx = tc * S + c * ps + ps / 2, cy = tr * S + r * ps + ps / 2;
      if (cx >= W || cy >= H) continue; // a padding patch
      const tok = t * P + 1 + r * g + c;
      row[tok] = Math.min(bins - 1, Math.floor((bins * cy) / H));
      col[tok] = Math.min(bins - 1, Math.floor((bins * cx) / W));
    }
  }
  return { row, col };
}

/**
 * One image's `placeRow` / `placeCol` [1, maxTiles, tokensPerTile] from an export's vision recipe (its
 * `preprocess.placeBins` / `patchSize`): what the chat's server-side runner and the page (through the web
 * bundle) feed the `vision.encoder` graph; nothing for a recipe without place embeddings.
 */
export function recipePlaceInputs(
  im: Pick<TiledImage, 'nTiles' | 'canvas' | 'resized'>,
  r: { readonly maxTiles: number; readonly preprocess: { readonly tileSize: number; readonly placeBins?: number; readonly patchSize?: number } },
): { placeRow: Int32Array; placeCol: Int32Array; dims: [number, number, number] } | undefined {
  const bins = r.preprocess.placeBins ?? 0;
  if (bins === 0) return undefined;
  const { tileSize, patchSize } = r.preprocess;
  if (patchSize === undefined) throw new HerdError('invalid_config', 'vision recipe: placeBins without patchSize');
  const pl = patchPlaces(im, { tileSize, patchSize, maxTiles: r.maxTiles }, bins);
  const P = (tileSize / patchSize) ** 2 + 1;
  return { placeRow: Int32Array.from(pl.row), placeCol: Int32Array.from(pl.col), dims: [1, r.maxTiles, P] };
}
