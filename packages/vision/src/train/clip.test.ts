/**
 * The contrastive recipe end to end at a toy size: four colours of noisy images with one-word
 * captions. Symmetric InfoNCE must fall well below chance (ln 4) and the trained similarity must pick
 * the right caption for held-out images (new noise, new shades).
 */
import { Rng } from '@herd/core';
import { describe, expect, it } from 'vitest';
import { parseVisionConfig } from '../config.js';
import { type TiledImage, tileImage } from '../data/tiling.js';
import { type ClipConfig } from '../model/clip.js';
import { clipBatch, imageTextSimilarity, trainClip } from './clip.js';

const CFG: ClipConfig = {
  vision: parseVisionConfig({ tileSize: 28, patchSize: 14, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 1 }),
  textVocab: 8,
  textDim: 16,
  textLayers: 1,
  textHeads: 2,
  textLen: 3,
  embedDim: 8,
};
const COLOURS: [number, number, number][] = [[220, 30, 30], [30, 200, 40], [40, 60, 230], [230, 210, 40]];

function image(colour: number, rng: Rng): TiledImage {
  const [r, g, b] = COLOURS[colour]!;
  const shade = 0.7 + 0.3 * rng.next();
  const data = new Uint8Array(28 * 28 * 3);
  for (let i = 0; i < 28 * 28; i++) {
    const n = () => Math.round((rng.next() - 0.5) * 60);
    data[i * 3] = Math.min(255, Math.max(0, Math.round(r * shade) + n()));
    data[i * 3 + 1] = Math.min(255, Math.max(0, Math.round(g * shade) + n()));
    data[i * 3 + 2] = Math.min(255, Math.max(0, Math.round(b * shade) + n()));
  }
  return tileImage({ data, width: 28, height: 28 }, CFG.vision);
}
const caption = (colour: number): number[] => [1, 2 + colour]; // "a <colour>"

describe('CLIP-style contrastive pre-training (toy size)', () => {
  it('InfoNCE falls far below chance and held-out images match their captions', async () => {
    const rng = new Rng(3);
    const { losses, params } = await trainClip(CFG, 4, () => {
      const order = [0, 1, 2, 3].sort(() => rng.next() - 0.5);
      return clipBatch(CFG, order.map((c) => image(c, rng)), order.map(caption));
    }, { steps: 80, lr: 3e-3, seed: 1 });
    expect(losses[0]).toBeGreaterThan(1.0); // ≈ ln 4 at init
    const tail = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
    expect(tail).toBeLessThan(0.1);
    const held = new Rng(99);
    const sims = await imageTextSimilarity(CFG, params, [0, 1, 2, 3].map((c) => image(c, held)), [0, 1, 2, 3].map(caption));
    sims.forEach((row, i) => {
      const best = row.reduce((b, v, j) => (v > row[b]! ? j : b), 0);
      expect(best).toBe(i);
      row.forEach((v) => expect(Math.abs(v)).toBeLessThanOrEqual(1 + 1e-5)); // cosine
    });
  });
});
