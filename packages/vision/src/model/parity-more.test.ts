/**
 * Parity with Hugging Face transformers beyond reference.json's one square image (issue 9): the cases of
 * fixtures/mllama-tiny/more_cases.json, made by make_more_cases.py where transformers runs (the GPU
 * session bench/device/gpu-session-4.sh): a wide image (1×3 tiles, shrunk), a tall one (3×1, padded),
 * text before the image (a small image grown to one tile), two images apart and two adjacent.
 * - tiling: herd's canvas, aspect-ratio id, mask, tile count and pixel values against HF's processor;
 * - logits: HF's own pixel values fed, so that only the model and the masks are compared, in HF masking
 *   mode (parity.test.ts says why), at every position.
 * Until more_cases.json and its files are in the fixture, every test here fails, naming what is missing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVisionConfig } from '../config.js';
import { readNpyF32 } from '../data/npy.js';
import { type TiledImage, preprocessImage } from '../data/tiling.js';
import { VisionGenerator } from './generate.js';
import { type LoadedMllama, loadHfMllama } from './load.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'mllama-tiny');
const CASES_FILE = join(FIXTURE, 'more_cases.json');
const CASE_NAMES = ['wide_image', 'tall_image', 'text_before_image', 'two_images', 'two_images_adjacent'] as const;
const MAX_ABS_ERR = 1e-4;
/** Where HF only pads, float rounding alone; where it resizes, one 8-bit level (1/255/std): resize.ts follows Pillow's bilinear. */
const PIXEL_TOL = { padded: 1e-6, resized: 1 / 255 / 0.5 + 1e-6 };

interface MoreCase {
  name: string;
  input_ids: number[];
  images: string[];
  /** [width, height] per image. */
  image_sizes: [number, number][];
  aspect_ratio_ids: number[][];
  aspect_ratio_mask: number[][][];
  num_tiles: number[][];
  pixel_values_shape: number[];
  logits: number[][];
}

function loadCases(): Map<string, MoreCase> {
  if (!existsSync(CASES_FILE)) {
    throw new Error(`${CASES_FILE} is missing: run make_more_cases.py where transformers 5 and torch are installed (bench/device/gpu-session-4.sh does) and copy more_cases.json, wide.png, tall.png, blob.png and the *_pixel_values.npy files into the fixture`);
  }
  const doc = JSON.parse(readFileSync(CASES_FILE, 'utf8')) as { cases: MoreCase[] };
  return new Map(doc.cases.map((c) => [c.name, c]));
}

function maxErr(rows: readonly Float32Array[], ref: readonly (readonly number[])[]): number {
  let e = 0;
  rows.forEach((row, t) => row.forEach((x, j) => (e = Math.max(e, Math.abs(x - ref[t]![j]!)))));
  return e;
}

describe('more parity cases with HF MllamaForConditionalGeneration (mllama-tiny/more_cases.json)', () => {
  let cases: Map<string, MoreCase>;
  let loaded: LoadedMllama;
  let hfMode: VisionGenerator;
  beforeAll(() => {
    cases = loadCases();
    // As parity.test.ts: HF's processor defaults (mean = std = 0.5) and HF 5.17's intermediate features.
    loaded = loadHfMllama(FIXTURE, { intermediateTap: 'layerOutput', imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5] });
    hfMode = VisionGenerator.create(loaded.config, loaded.core, loaded.vision, {}, 'hf');
  });
  afterAll(async () => {
    await hfMode?.release();
  });

  const byName = (name: string): MoreCase => {
    const c = cases.get(name);
    if (!c) throw new Error(`${CASES_FILE} has no case '${name}' (it has ${[...cases.keys()].join(', ')})`);
    return c;
  };
  const tile = (file: string): Promise<TiledImage> => preprocessImage(join(FIXTURE, file), parseVisionConfig(loaded.config.vision));
  /** The case's pixel values as HF's processor made them, [images][maxTiles · 3 · S · S]. */
  const hfPixels = (c: MoreCase): Float32Array[] => {
    const npy = readNpyF32(join(FIXTURE, `${c.name}_pixel_values.npy`));
    expect(npy.shape).toEqual(c.pixel_values_shape);
    const per = npy.data.length / c.images.length;
    return c.images.map((_, j) => npy.data.subarray(j * per, (j + 1) * per));
  };

  it('the pictures cover what square.png does not: 1×3 shrunk, 3×1 padded, one tile grown', async () => {
    const wide = await tile('wide.png'); // 240×100: 1×3 and 1×4 both shrink least (0.56); 1×3 has less area
    expect(wide.canvas).toEqual({ rows: 1, cols: 3 });
    expect(wide.resized).toEqual({ height: 56, width: 134 });
    const tall = await tile('tall.png'); // 40×130: 3×1 grows least (1.29); both sides already in [56, canvas]
    expect(tall.canvas).toEqual({ rows: 3, cols: 1 });
    expect(tall.resized).toEqual({ height: 130, width: 40 });
    const blob = await tile('blob.png'); // 45×38: every canvas grows it; 1×1 least (1.24): width to 56, height 47
    expect(blob.canvas).toEqual({ rows: 1, cols: 1 });
    expect(blob.resized).toEqual({ height: 47, width: 56 });
  });

  for (const name of CASE_NAMES) {
    it(`${name}: herd's tiling is HF's (aspect-ratio id, mask, tiles, pixel values)`, async () => {
      const c = byName(name);
      const hf = hfPixels(c);
      for (const [j, file] of c.images.entries()) {
        const t = await tile(file);
        expect(t.aspectRatioId, file).toBe(c.aspect_ratio_ids[0]![j]);
        expect([...t.aspectRatioMask], file).toEqual(c.aspect_ratio_mask[0]![j]);
        expect(t.nTiles, file).toBe(c.num_tiles[0]![j]);
        const [w, h] = c.image_sizes[j]!;
        const tol = t.resized.width !== w || t.resized.height !== h ? PIXEL_TOL.resized : PIXEL_TOL.padded;
        expect(t.pixels.length).toBe(hf[j]!.length);
        let err = 0;
        t.pixels.forEach((x, i) => (err = Math.max(err, Math.abs(x - hf[j]![i]!))));
        expect(err, `${file}: largest pixel difference`).toBeLessThanOrEqual(tol);
      }
    });

    it(`${name}: logits within ${MAX_ABS_ERR} of HF at every position (HF masking, HF's pixel values)`, async () => {
      const c = byName(name);
      const hf = hfPixels(c);
      const images = await Promise.all(c.images.map(async (file, j) => ({ ...(await tile(file)), pixels: Float32Array.from(hf[j]!) })));
      const rows = await hfMode.logits(c.input_ids, images);
      expect(rows.length).toBe(c.logits.length);
      expect(maxErr(rows, c.logits)).toBeLessThan(MAX_ABS_ERR);
    });
  }
});
