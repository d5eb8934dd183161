/**
 * The mini CLIP: word ids, batched inference equal to one-at-a-time, the f16 checkpoint round trip,
 * and a toy run of its training (pooled image embedding) that must pick the right caption.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Graph } from '@herd/graph';
import { Session, hostTensor } from '@herd/runtime';
import { describe, expect, it } from 'vitest';
import { parseVisionConfig } from '../config.js';
import { type TiledImage, tileImage } from '../data/tiling.js';
import { type ClipConfig } from '../model/clip.js';
import { packImages } from '../data/tiling.js';
import { encodeImages } from '../model/encoder.js';
import { encoderParamSpecs } from '../model/params.js';
import { initClipParams } from './clip.js';
import { MiniClip, UNKNOWN_ID, buildCaptionVocab, captionIds, loadMiniClip, pooledImageEmbedding, saveMiniClip, trainMiniClip } from './clip-mini.js';

const tiny = (vocabSize: number): ClipConfig => ({
  vision: parseVisionConfig({ tileSize: 16, patchSize: 8, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 1 }),
  textVocab: vocabSize + 2,
  textDim: 16,
  textLayers: 1,
  textHeads: 2,
  textLen: 6,
  embedDim: 8,
});
const COLOURS: Record<string, [number, number, number]> = { red: [220, 30, 30], green: [30, 200, 40], blue: [40, 60, 230], yellow: [230, 210, 40] };
const NAMES = Object.keys(COLOURS);

function image(name: string, rng: Rng): TiledImage {
  const [r, g, b] = COLOURS[name]!;
  const data = new Uint8Array(16 * 16 * 3);
  for (let i = 0; i < 256; i++) {
    const n = () => Math.round((rng.next() - 0.5) * 60);
    data[i * 3] = Math.min(255, Math.max(0, r + n()));
    data[i * 3 + 1] = Math.min(255, Math.max(0, g + n()));
    data[i * 3 + 2] = Math.min(255, Math.max(0, b + n()));
  }
  return tileImage({ data, width: 16, height: 16 }, tiny(0).vision);
}

describe('mini CLIP words', () => {
  it('ids by sorted vocabulary, unknown words share id 1, at most len words, never empty', () => {
    const vocab = buildCaptionVocab(['A red Circle.', 'two blue circles']);
    expect(vocab).toEqual(['a', 'blue', 'circle', 'circles', 'red', 'two']);
    const ids = new Map(vocab.map((w, i) => [w, i + 2]));
    expect(captionIds(ids, 'a red hexagon', 8)).toEqual([2, 6, UNKNOWN_ID]);
    expect(captionIds(ids, 'two two two two', 2)).toEqual([7, 7]);
    expect(captionIds(ids, '!!!', 4)).toEqual([UNKNOWN_ID]);
  });
});

describe('MiniClip inference', () => {
  it('a padded batch gives the one-at-a-time scores; score = image · text; the f16 checkpoint scores alike', async () => {
    const vocab = buildCaptionVocab(NAMES.map((n) => `a ${n} square`));
    const config = tiny(vocab.length);
    const model = { config, vocab, params: initClipParams(config, 4), threshold: 0.25 };
    const rng = new Rng(1);
    const images = NAMES.concat('red').map((n) => image(n, rng));
    const captions = ['a red square', 'a green square', 'a blue thing', 'a yellow square', 'red'];
    const one = new MiniClip(model, 1);
    const three = new MiniClip(model, 3);
    const dir = await mkdtemp(join(tmpdir(), 'herd-miniclip-'));
    try {
      const a = await one.run(images, captions);
      const b = await three.run(images, captions);
      expect(b.score).toHaveLength(5);
      b.score.forEach((s, i) => expect(s).toBeCloseTo(a.score[i]!, 5));
      a.score.forEach((s, i) => expect(s).toBeCloseTo(a.image[i]!.reduce((t, x, d) => t + x * a.text[i]![d]!, 0), 5));
      await saveMiniClip(dir, model);
      const back = loadMiniClip(dir);
      expect(back.vocab).toEqual(vocab);
      expect(back.threshold).toBe(0.25);
      const again = new MiniClip(back, 3);
      (await again.scorePairs(images, captions)).forEach((s, i) => expect(Math.abs(s - a.score[i]!)).toBeLessThan(0.01));
      await again.release();
    } finally {
      await Promise.all([one.release(), three.release(), rm(dir, { recursive: true, force: true })]);
    }
  });
});

describe('pooledImageEmbedding', () => {
  it('is the projected, unit-normalised masked mean of encodeImages\' patch tokens over every REAL tile (not the first tile, not the absent ones)', async () => {
    // Up to 4 tiles of 16 px; a 32×16 image is a 1×2 canvas: 2 real tiles, 2 absent. Left half red, right half blue.
    const v = parseVisionConfig({ tileSize: 16, patchSize: 8, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 4 });
    const rng = new Rng(5);
    const data = new Uint8Array(32 * 16 * 3);
    for (let i = 0; i < 32 * 16; i++) data.set((i % 32) < 16 ? [220, 30 + Math.floor(rng.next() * 40), 30] : [40, 60, 200 + Math.floor(rng.next() * 40)], i * 3);
    const img = tileImage({ data, width: 32, height: 16 }, v);
    expect(img.nTiles).toBe(2);
    const E = 8;
    const specs = [...encoderParamSpecs(v), { name: 'proj.weight', shape: [E, 32], init: 'normal' as const }];
    const values = G.initParams(specs, 7, { std: 0.3, layers: 1 });
    const g = new Graph();
    const p = G.declareParams(g, specs, (name, shape) => g.param(name, 'f32', shape as number[], { trainable: false, value: values[name]!.data }));
    const x = { pixels: g.input('pixels', 'f32', [1, 4, 3, 16, 16]), aspectRatioIds: g.input('aspectRatioIds', 'i32', [1]), tileMask: g.input('tileMask', 'bool', [1, 4]) };
    const feats = encodeImages(v, p, x); // [1, 4, P, 32]
    const pooled = pooledImageEmbedding(v, p, 'proj.weight', x.pixels, x.aspectRatioIds, x.tileMask);
    const sess = await Session.create(G.toOnnx(g, { outputs: { feats, pooled }, name: 'pool_check' }), {}, 'pool_check');
    try {
      const packed = packImages([img], 4, 16);
      const r = await sess.run({ pixels: hostTensor('f32', [1, 4, 3, 16, 16], packed.pixels), aspectRatioIds: hostTensor('i32', [1], packed.aspectRatioIds), tileMask: hostTensor('bool', [1, 4], packed.aspectRatioMask) });
      const f = r['feats']!.data as Float32Array, got = r['pooled']!.data as Float32Array;
      const P = feats.shape[2] as number, D = 32;
      const embed = (tiles: number[]) => {
        const mean = new Float64Array(D);
        for (const t of tiles) for (let k = 1; k < P; k++) for (let d = 0; d < D; d++) mean[d]! += f[(t * P + k) * D + d]! / (tiles.length * (P - 1));
        const W = values['proj.weight']!.data as Float32Array;
        const z = Array.from({ length: E }, (_, e) => mean.reduce((a, m, d) => a + W[e * D + d]! * m, 0));
        const norm = Math.hypot(...z);
        return z.map((a) => a / norm);
      };
      const want = embed([0, 1]);
      const gap = (a: number[]) => Math.max(...a.map((w, i) => Math.abs(w - got[i]!)));
      expect(gap(want)).toBeLessThan(1e-5);
      // The check discriminates: the first tile alone, or all four slots, pool to something else.
      expect(gap(embed([0]))).toBeGreaterThan(1e-3);
      expect(gap(embed([0, 1, 2, 3]))).toBeGreaterThan(1e-3);
    } finally {
      await sess.release();
    }
  });
});

describe('mini CLIP training (toy size)', () => {
  it('InfoNCE falls well below chance and held-out images score their own caption highest', async () => {
    const rng = new Rng(3);
    const pairs = Array.from({ length: 40 }, (_, i) => ({ image: image(NAMES[i % 4]!, rng), caption: `a ${NAMES[i % 4]} square` }));
    const m = await trainMiniClip(pairs, { steps: 80, batch: 4, lr: 3e-3, seed: 1, config: tiny });
    const tail = m.losses.slice(-10).reduce((a, b) => a + b, 0) / 10;
    expect(tail).toBeLessThan(0.5 * Math.log(4));
    const clip = new MiniClip(m, 4);
    try {
      const held = new Rng(99);
      for (const name of NAMES) {
        const img = image(name, held);
        const scores = await clip.scorePairs(NAMES.map(() => img), NAMES.map((n) => `a ${n} square`));
        expect(NAMES[scores.indexOf(Math.max(...scores))]).toBe(name);
      }
    } finally {
      await clip.release();
    }
  });
});
