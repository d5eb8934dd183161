/**
 * Tiling against HF's `MllamaImageProcessor`: the fixture's square.png (90×90, 56-px tiles, max 4)
 * must give HF's canvas, ids, mask and pixel values; wide and tall sizes must get the canvas HF's
 * algorithm picks (worked out by hand in the table's comments).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseVisionConfig, supportedAspectRatios } from '../config.js';
import { readNpyF32 } from './npy.js';
import { resizeBilinear } from './resize.js';
import { fitToCanvas, optimalCanvas, packImages, preprocessImage, tileImage } from './tiling.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'mllama-tiny');

// The fixture was made with HF's processor defaults (mean = std = 0.5), not CLIP's statistics.
const FIXTURE_CFG = parseVisionConfig({
  tileSize: 56, patchSize: 14, dim: 32, nLayers: 4, nGlobalLayers: 2, nHeads: 4, ffnDim: 64,
  intermediateLayers: [1, 3], maxTiles: 4, imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5],
});

/**
 * square.png is padded, not resized, so only float rounding of rescale/normalise separates us from HF:
 * 1e-6. (Where a resize happens, HF uses Pillow's 8-bit bilinear; ours follows the same algorithm, so
 * the bound there would be one 8-bit level, 1/255/std — the fixture has no resized case to check it.)
 */
const PIXEL_TOL = 1e-6;

describe('tiling', () => {
  it('supported aspect ratios are HF\'s list and order for 4 tiles', () => {
    expect(supportedAspectRatios(4)).toEqual([[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]]);
    expect(supportedAspectRatios(1)).toEqual([[1, 1]]);
    expect(supportedAspectRatios(6).length).toBe(14);
  });

  it('square.png: HF\'s canvas, aspect-ratio id, mask, tile count and pixel values', async () => {
    const ref = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as { cases: { name: string; aspect_ratio_ids?: number[][]; aspect_ratio_mask?: number[][][]; num_tiles?: number[][]; pixel_values_sum?: number }[] };
    const hf = ref.cases.find((c) => c.name === 'one_image_square')!;
    const t = await preprocessImage(join(FIXTURE, 'square.png'), FIXTURE_CFG); // decoded by @herd/media
    expect(t.canvas).toEqual({ rows: 2, cols: 2 }); // only 2×2 (112 px) could hold it grown (scale 1.24)
    // …but sides are only clamped into [tile, canvas]: 90 px already is, so it is padded, not resized.
    expect(t.resized).toEqual({ height: 90, width: 90 });
    expect(t.aspectRatioId).toBe(hf.aspect_ratio_ids![0]![0]);
    expect([...t.aspectRatioMask]).toEqual(hf.aspect_ratio_mask![0]![0]);
    expect(t.nTiles).toBe(hf.num_tiles![0]![0]);
    const npy = readNpyF32(join(FIXTURE, 'one_image_square_pixel_values.npy'));
    expect(npy.shape).toEqual([1, 1, 4, 3, 56, 56]);
    let maxErr = 0;
    let sum = 0;
    for (let i = 0; i < npy.data.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(t.pixels[i]! - npy.data[i]!));
      sum += t.pixels[i]!;
    }
    expect(maxErr).toBeLessThanOrEqual(PIXEL_TOL);
    expect(Math.abs(sum - hf.pixel_values_sum!)).toBeLessThan(1e-2);
  });

  // Tiles of 560 px, at most 4 (Llama 3.2 Vision). [w, h] → expected [rows, cols] and resized [h, w].
  const AR4 = supportedAspectRatios(4);
  const table: { w: number; h: number; canvas: [number, number]; resized: [number, number]; why: string }[] = [
    { w: 800, h: 600, canvas: [2, 2], resized: [600, 800], why: 'only 2×2 can grow it (scale 1.4); both sides already lie in [560, 1120]: padded, not resized' },
    { w: 1000, h: 200, canvas: [1, 2], resized: [200, 1000], why: '1×2 and 2×2 both grow it by 1.12; 1×2 has less area; it fits inside, so no resize' },
    { w: 200, h: 1000, canvas: [2, 1], resized: [1000, 200], why: 'the transpose: 2×1' },
    { w: 4000, h: 500, canvas: [1, 4], resized: [280, 2240], why: 'none can grow it; 1×4 shrinks least (0.56)' },
    { w: 500, h: 4000, canvas: [4, 1], resized: [2240, 280], why: 'the transpose: 4×1' },
    { w: 1200, h: 600, canvas: [1, 2], resized: [560, 1120], why: '1×2, 1×3, 1×4, 2×2 all shrink by 14/15; 1×2 has the least area' },
    { w: 300, h: 300, canvas: [1, 1], resized: [560, 560], why: 'every canvas grows it; 1×1 the least (1.87)' },
    { w: 1500, h: 400, canvas: [1, 3], resized: [400, 1500], why: '1×3 grows 1.12, 1×4 1.4, 2×2 0.75: least growth is 1×3; width is in range, so no resize' },
    { w: 280, h: 1000, canvas: [2, 1], resized: [1000, 280], why: '2×1 grows 1.12: the narrow side is not widened — only sides under one tile are clamped up, and that one needs the smaller scale' },
    { w: 400, h: 200, canvas: [1, 1], resized: [280, 560], why: '1×1 grows 1.4; height is clamped up to 560 but width (scale 1.4) limits: 280×560' },
    { w: 560, h: 1680, canvas: [3, 1], resized: [1680, 560], why: 'exactly 3×1 at scale 1' },
  ];
  for (const r of table) {
    it(`${r.w}×${r.h} → ${r.canvas[0]}×${r.canvas[1]} tiles (${r.why})`, () => {
      const c = optimalCanvas(r.h, r.w, 560, AR4);
      expect([c.rows, c.cols]).toEqual(r.canvas);
      const s = fitToCanvas(r.h, r.w, c.rows * 560, c.cols * 560, 560);
      expect([s.height, s.width]).toEqual(r.resized);
    });
  }

  it('a wide image uses fewer than 4 tiles: id, mask and zero tiles after the real ones', () => {
    const cfg = { ...FIXTURE_CFG };
    const img = { data: new Uint8Array(120 * 50 * 3).fill(200), width: 120, height: 50 };
    const t = tileImage(img, cfg);
    // scales: 1×2 → min(112/120, 56/50) = 0.933, 1×3 → 1.12, 1×4 → 1.12, 2×2 → 0.933: least growth 1×3.
    expect(t.canvas).toEqual({ rows: 1, cols: 3 });
    expect(t.aspectRatioId).toBe(3);
    expect([...t.aspectRatioMask]).toEqual([1, 1, 1, 0]);
    expect(t.resized).toEqual({ height: 50, width: 120 }); // fits inside 56×168 as it is
    const S = 56;
    const tile = (n: number, ch: number, y: number, x: number): number => t.pixels[((n * 3 + ch) * S + y) * S + x]!;
    const grey = (200 / 255 - 0.5) / 0.5;
    expect(tile(0, 0, 0, 0)).toBeCloseTo(grey, 6);
    expect(tile(2, 1, 49, 7)).toBeCloseTo(grey, 6); // column 112+7 = 119: last real column
    expect(tile(2, 1, 49, 8)).toBeCloseTo(-1, 6); // column 120: padding (black → −mean/std)
    expect(tile(1, 2, 50, 0)).toBeCloseTo(-1, 6); // row 50: padding
    expect(t.pixels.subarray(3 * 3 * S * S).every((v) => v === 0)).toBe(true); // the 4th tile is absent
    const packed = packImages([t, t], 4, S);
    expect(packed.pixels.length).toBe(2 * 4 * 3 * S * S);
    expect([...packed.aspectRatioIds]).toEqual([3, 3]);
  });

  it('resize: identity at the same size, averages when shrinking by 2, constant images stay constant', () => {
    const img = { data: Uint8Array.from({ length: 4 * 2 * 3 }, (_, i) => (i * 37) % 256), width: 4, height: 2 };
    expect([...resizeBilinear(img, 4, 2).data]).toEqual([...img.data]);
    const half = resizeBilinear({ data: Uint8Array.from([0, 0, 0, 100, 100, 100, 50, 50, 50, 150, 150, 150]), width: 2, height: 2 }, 1, 1);
    expect([...half.data]).toEqual([75, 75, 75]); // the 2×2 box average (triangle of support 2)
    const flat = resizeBilinear({ data: new Uint8Array(7 * 5 * 3).fill(93), width: 7, height: 5 }, 19, 3);
    expect(flat.data.every((v) => v === 93)).toBe(true);
  });
});
