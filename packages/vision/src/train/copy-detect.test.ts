/**
 * The copy-detection embedding at a toy size: the augmentations keep what a copy keeps, a short
 * SSCD-style run pulls augmented copies towards their source (retrieval among unrelated images), and
 * the f16 checkpoint round-trips.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@herd/core';
import { type RgbImage } from '@herd/media';
import { describe, expect, it } from 'vitest';
import { parseVisionConfig } from '../config.js';
import { COPY_AUGMENTATIONS, type CopyDetectConfig, CopyDetector, augmentCopy, colourJitter, cropRgb, loadCopyDetect, saveCopyDetect, trainCopyDetect } from './copy-detect.js';

const CFG: CopyDetectConfig = {
  vision: parseVisionConfig({ tileSize: 16, patchSize: 8, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 1 }),
  embedDim: 16,
  temperature: 0.1,
};

/** A flat background with one coloured block whose place and colours depend on `i`. */
function scene(i: number): RgbImage {
  const w = 40;
  const h = 32;
  const r = new Rng(100 + i);
  const bg = [r.int(256), r.int(256), r.int(256)];
  const fg = [r.int(256), r.int(256), r.int(256)];
  const x0 = 4 + r.int(16);
  const y0 = 4 + r.int(12);
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const c = x >= x0 && x < x0 + 14 && y >= y0 && y < y0 + 12 ? fg : bg;
    data.set(c as number[], (y * w + x) * 3);
  }
  return { data, width: w, height: h };
}

describe('copy-detection augmentations', () => {
  it('a neutral colour jitter leaves pixels within rounding; a crop copies the right rows', () => {
    const img = scene(1);
    const same = colourJitter(img, 1, 1, 0);
    let maxDiff = 0;
    for (let i = 0; i < img.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(same.data[i]! - img.data[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1);
    const c = cropRgb(img, 3, 2, 10, 5);
    expect([c.width, c.height]).toEqual([10, 5]);
    expect(Array.from(c.data.subarray(0, 3))).toEqual(Array.from(img.data.subarray((2 * 40 + 3) * 3, (2 * 40 + 3) * 3 + 3)));
  });

  it('copies keep their aspect ratio and stay within the crop and scale ranges', async () => {
    const rng = new Rng(5);
    const img: RgbImage = { data: new Uint8Array(200 * 120 * 3).fill(90), width: 200, height: 120 };
    for (let k = 0; k < 20; k++) {
      const c = await augmentCopy(img, rng);
      expect(Math.abs(Math.log(c.width / c.height) - Math.log(200 / 120))).toBeLessThan(0.1);
      expect(c.width).toBeLessThanOrEqual(200);
      expect(c.width).toBeGreaterThanOrEqual(Math.floor(200 * COPY_AUGMENTATIONS.cropSide[0] * COPY_AUGMENTATIONS.scale[0]) - 1);
    }
  });
});

describe('copy-detection embedding (toy size)', () => {
  it('InfoNCE on augmented views falls below chance; copies retrieve their source; f16 round-trip', async () => {
    const images = Array.from({ length: 16 }, (_, i) => scene(i));
    const { losses, params } = await trainCopyDetect(images, { steps: 60, batch: 8, lr: 3e-3, seed: 2, config: CFG });
    const head = losses.slice(0, 10).reduce((a, b) => a + b, 0) / 10;
    const tail = losses.slice(-10).reduce((a, b) => a + b, 0) / 10;
    expect(tail).toBeLessThan(0.5 * head);
    const det = new CopyDetector({ config: CFG, params }, 4);
    const src = await det.embed(images);
    const rng = new Rng(77);
    const copies = await det.embed(await Promise.all(images.map((im) => augmentCopy(im, rng))));
    let hits = 0;
    copies.forEach((q, i) => {
      const sims = src.map((s) => s.reduce((a, x, d) => a + x * q[d]!, 0));
      if (sims.indexOf(Math.max(...sims)) === i) hits++;
    });
    expect(hits).toBeGreaterThanOrEqual(14); // of 16 (chance: 1)
    const dir = await mkdtemp(join(tmpdir(), 'herd-cd-'));
    try {
      await saveCopyDetect(dir, { config: CFG, params }, 0.9);
      const back = loadCopyDetect(dir);
      expect(back.minCosine).toBe(0.9);
      const det2 = new CopyDetector(back, 4);
      const again = await det2.embed(images.slice(0, 4));
      again.forEach((e, i) => expect(e.reduce((a, x, d) => a + x * src[i]![d]!, 0)).toBeGreaterThan(0.999)); // f16 weights
      await det2.release();
    } finally {
      await det.release();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
