/**
 * Learned place embeddings of the image tokens (`MllamaConfig.placeBins` = G; herd's, not Meta's): every
 * PROJECTED patch token (core width D, what the cross-attention keys and values are made from) gets
 * row[r] + col[c], the learned rows of its patch's row and column in a G×G grid over the resized image
 * (`patchPlaces`); class tokens, absent tiles and padding patches get nothing. A categorical place, so
 * that a union of places such as the preposition's "left or right" is linear in what the adapter reads
 * (docs/research-log.md, Vision, rounds 23–24).
 *
 * The place of a token is an input of every graph that computes image tokens: `placeRow` / `placeCol`
 * [I, N, P] int32, the bin or −1 for none (`packPlaces`).
 *
 * Legend: I images (or B sequences), N tile slots, P tokens per tile, D core width.
 */
import * as G from '@herd/graph';
import { type Params, type Tensor } from '@herd/graph';
import { type HostTensor, hostTensor } from '@herd/runtime';
import { type MllamaConfig, patchesPerTile, placeBinsOf } from '../config.js';
import { patchPlaces } from '../data/patch-place.js';
import { type TiledImage } from '../data/tiling.js';
import { PLACE_COL, PLACE_ROW } from './params.js';

/** Names of the place inputs. */
export const PLACE_INPUTS = ['placeRow', 'placeCol'] as const;

/** `tokens` [I, N, P, D] plus each token's row and column embedding (`row` / `col` [I, N, P] int32, −1: none). */
export function addPlaceEmbeddings(p: Params, tokens: Tensor, row: Tensor, col: Tensor): Tensor {
  const look = (table: string, idx: Tensor): Tensor => {
    const has = G.logicalNot(G.less(idx, 0)); // [I, N, P]
    return G.where(G.unsqueeze(has, -1), G.gather(p(table), G.where(has, idx, 0)), 0); // [I, N, P, D]
  };
  return G.add(tokens, G.add(look(PLACE_ROW, row), look(PLACE_COL, col)));
}

/** Feeds `placeRow` / `placeCol` [I, N, P] of the images (nothing when the model has no place embeddings; −1 everywhere for a `noPlace` image). */
export function packPlaces(m: MllamaConfig, images: readonly Pick<TiledImage, 'nTiles' | 'canvas' | 'resized' | 'noPlace'>[]): Record<string, HostTensor> {
  const bins = placeBinsOf(m);
  if (bins === 0) return {};
  const { maxTiles: N } = m.vision;
  const P = patchesPerTile(m.vision);
  const row = new Int32Array(images.length * N * P);
  const col = new Int32Array(images.length * N * P);
  images.forEach((im, i) => {
    if (im.noPlace) {
      row.fill(-1, i * N * P, (i + 1) * N * P);
      col.fill(-1, i * N * P, (i + 1) * N * P);
      return;
    }
    const pl = patchPlaces(im, m.vision, bins);
    row.set(pl.row, i * N * P);
    col.set(pl.col, i * N * P);
  });
  return { placeRow: hostTensor('i32', [images.length, N, P], row), placeCol: hostTensor('i32', [images.length, N, P], col) };
}
