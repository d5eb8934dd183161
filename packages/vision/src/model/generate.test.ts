/**
 * Generation with images through the core's KV-cache decoder: greedy tokens must be the argmax of
 * full-sequence logits (so the cache, the reused image keys/values and the mask rows of generated
 * tokens agree with a from-scratch run), and a prompt with two images must, before the second image
 * token, score exactly as the same prefix with only the first image.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as G from '@herd/graph';
import { decodeImage } from '@herd/media';
import { type TiledImage, preprocessImage, tileImage } from '../data/tiling.js';
import { VisionGenerator } from './generate.js';
import { buildVisionDecoder } from './graphs.js';
import { type LoadedMllama, loadHfMllama } from './load.js';
import { adapterParamSpecs, encoderParamSpecs } from './params.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'mllama-tiny');
const IMG = 600;

const argmax = (a: Float32Array): number => a.reduce((best, v, i) => (v > a[best]! ? i : best), 0);

describe('generation with images', () => {
  let loaded: LoadedMllama;
  let gen: VisionGenerator;
  let square: TiledImage;
  let wide: TiledImage;
  beforeAll(async () => {
    loaded = loadHfMllama(FIXTURE);
    gen = VisionGenerator.create(loaded.config, loaded.core, loaded.vision);
    square = await preprocessImage(join(FIXTURE, 'square.png'), loaded.config.vision);
    // A wide crop (rows 30..69): 2 tiles of 4, so padding tiles are in play.
    const full = await decodeImage(join(FIXTURE, 'square.png'));
    wide = tileImage({ data: full.data.slice(30 * 90 * 3, 70 * 90 * 3), width: 90, height: 40 }, loaded.config.vision);
  });
  afterAll(async () => gen?.release());

  it('the decoder reads image keys/values as inputs (computed once per image), never pixels', () => {
    const names = buildVisionDecoder(loaded.config, loaded.core, loaded.vision, 68).inputs.map((i) => i.name);
    expect(names).toEqual(expect.arrayContaining(['xattn.k.0', 'xattn.v.0', 'xattn.k.1', 'xattn.v.1', 'xattn.mask', 'learnableIds', 'tokens']));
    expect(names.some((n) => n.includes('pixel'))).toBe(false);
  });

  it('greedy generation with an image equals the argmax of full-sequence logits', async () => {
    expect(wide.nTiles).toBe(2);
    const prompt = [1, IMG, 30, 31, 32];
    const out = await gen.complete(prompt, [wide], { maxNewTokens: 6, temperature: 0 });
    expect(out.length).toBe(6);
    const rows = await gen.logits([...prompt, ...out.slice(0, -1)], [wide]);
    const fromScratch = out.map((_, i) => argmax(rows[prompt.length - 1 + i]!));
    expect(out).toEqual(fromScratch);
  });

  it('two images: before the second image token the logits equal the first image alone', async () => {
    const prompt = [1, IMG, 30, 31, IMG, 32, 33];
    const two = await gen.logits(prompt, [square, wide]);
    const one = await gen.logits(prompt.slice(0, 4), [square]);
    for (let t = 0; t < 4; t++) one[t]!.forEach((x, j) => expect(Math.abs(two[t]![j]! - x)).toBeLessThan(1e-5));
    // …and after it the second image matters: swapping it changes the logits.
    const swapped = await gen.logits(prompt, [square, square]);
    let d = 0;
    for (let t = 4; t < prompt.length; t++) two[t]!.forEach((x, j) => (d = Math.max(d, Math.abs(x - swapped[t]![j]!))));
    expect(d).toBeGreaterThan(1e-4);
  });

  it('a fresh adapter (tanh gates at 0) ignores the image entirely: the frozen core is untouched at init', async () => {
    const fresh = { ...loaded.vision, ...G.initParams([...encoderParamSpecs(loaded.config.vision), ...adapterParamSpecs(loaded.config)], 5, { layers: 4 }) };
    const g0 = VisionGenerator.create(loaded.config, loaded.core, fresh);
    try {
      const prompt = [1, IMG, 30, 31, 32];
      const a = await g0.logits(prompt, [square]);
      const b = await g0.logits(prompt, [wide]);
      a.forEach((row, t) => expect(Array.from(row)).toEqual(Array.from(b[t]!)));
    } finally {
      await g0.release();
    }
  });

  it('refuses a prompt whose <|image|> count differs from the images given', async () => {
    await expect(gen.logits([1, IMG, 30], [])).rejects.toThrow(/1 <\|image\|> token.*0 image/);
  });
});
