/**
 * The patch-size warm start (`resizeEncoderPatches`): through the real encoder graph, the resized encoder on an
 * image gives the features the source encoder's weights give on that image upsampled r× (nearest) — at the
 * patch embedding and at the encoder's output; the position tables' shapes and an interpolated value; the refusals.
 */
import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Graph, type ParamValues } from '@herd/graph';
import { Session, hostTensor } from '@herd/runtime';
import { describe, expect, it } from 'vitest';
import { type VisionConfig, patchesPerTile } from '../config.js';
import { type TiledImage } from '../data/tiling.js';
import { loadVisionPreset } from '../presets/index.js';
import { encoderFeatures } from '../train/dense-mini.js';
import { encoderParamSpecs } from './params.js';
import { patchResizeRatio, resamplePositions, resizeEncoderPatches } from './patch-resize.js';

const v = 'vision_model';

/** A random encoder of `cfg` with non-zero gates, so the tile-position tables take part. */
function randomEncoder(cfg: VisionConfig, seed: number): ParamValues {
  const enc = G.initParams(encoderParamSpecs(cfg), seed, { std: 0.2, layers: cfg.nLayers });
  for (const [name, val] of Object.entries(enc)) if (name.endsWith('.gate')) val.data.fill(0.7);
  return enc;
}

/** Random normalised pixels for the first `nTiles` tiles of a 2×2 arrangement (id 6 of the mini presets' list). */
function randomImage(cfg: VisionConfig, nTiles: number, seed: number): TiledImage {
  const rng = new Rng(seed);
  const S = cfg.tileSize;
  const pixels = new Float32Array(cfg.maxTiles * 3 * S * S);
  for (let i = 0; i < nTiles * 3 * S * S; i++) pixels[i] = rng.normal();
  const aspectRatioMask = new Uint8Array(cfg.maxTiles).fill(1, 0, nTiles);
  return { pixels, aspectRatioId: 6, aspectRatioMask, nTiles, canvas: { rows: 2, cols: 2 } as TiledImage['canvas'], resized: { height: 2 * S, width: 2 * S } };
}

/** Every tile upsampled r× by repeating each pixel r×r times. */
function upsampleNearest(img: TiledImage, S: number, r: number): TiledImage {
  const N = img.aspectRatioMask.length;
  const R = r * S;
  const pixels = new Float32Array(N * 3 * R * R);
  for (let tc = 0; tc < N * 3; tc++) for (let y = 0; y < R; y++) for (let x = 0; x < R; x++) pixels[(tc * R + y) * R + x] = img.pixels[(tc * S + Math.floor(y / r)) * S + Math.floor(x / r)]!;
  return { ...img, pixels, resized: { height: 2 * R, width: 2 * R } };
}

/** The patch embedding alone (the encoder's own conv), [N, D, g, g] for the image's tiles. */
async function patchEmbedding(cfg: VisionConfig, weight: { shape: number[]; data: Float32Array }, img: TiledImage): Promise<Float32Array> {
  const g = new Graph();
  const S = cfg.tileSize;
  const out = G.conv(g.input('tiles', 'f32', [cfg.maxTiles, 3, S, S]), g.param(`${v}.patch_embedding.weight`, 'f32', weight.shape, { trainable: false, value: weight.data }), { strides: [cfg.patchSize, cfg.patchSize] });
  const sess = await Session.create(G.toOnnx(g, { outputs: { out }, name: 'patch_embedding' }), {}, 'patch_embedding');
  try {
    return (await sess.run({ tiles: hostTensor('f32', [cfg.maxTiles, 3, S, S], img.pixels) }))['out']!.data as Float32Array;
  } finally {
    await sess.release();
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('resizeEncoderPatches (patch-size warm start)', () => {
  it.each([2, 3])('ratio %i: the resized encoder on x is the source encoder on x upsampled r× (nearest), at the patch embedding and at the output', async (r) => {
    const fine = loadVisionPreset('mini-patch4'); // 48-px tiles, 4-px patches: 12×12 per tile
    const coarse = loadVisionPreset('mini', { patchSize: 4 * r }); // 6×6 (r 2) or 4×4 (r 3) per tile
    const src = randomEncoder(coarse, 5 + r);
    const resized = resizeEncoderPatches(coarse, src, fine);
    // The source weights at r×-size tiles: same patch side as the source, the fine grid, the resized position tables.
    const big = loadVisionPreset('mini', { patchSize: 4 * r, tileSize: 48 * r });
    const bigEnc: ParamValues = { ...resized, [`${v}.patch_embedding.weight`]: src[`${v}.patch_embedding.weight`]! };
    const x = randomImage(fine, 3, 11); // 3 real tiles of 4: padding tiles and padded tokens take part too
    const up = upsampleNearest(x, 48, r);
    const e4 = await patchEmbedding(fine, resized[`${v}.patch_embedding.weight`]!, x);
    const e8 = await patchEmbedding(big, src[`${v}.patch_embedding.weight`]!, up);
    expect(maxAbsDiff(e4, e8)).toBeLessThan(2e-5); // measured 3e-6 (r 2), 8e-6 (r 3): f32 summation order
    const [f4] = await encoderFeatures(fine, resized, [x], 1);
    const [f8] = await encoderFeatures(big, bigEnc, [up], 1);
    expect(maxAbsDiff(f4!, f8!)).toBeLessThan(2e-5); // measured 3e-6, 4e-6
    // The control: the source's weights on x itself (no upsampling, the coarse grid) are another thing entirely.
    const [plain] = await encoderFeatures(coarse, src, [x], 1);
    expect(plain!.length).toBeLessThan(f4!.length);
    // And a patch embedding that keeps only each block's top-left weight (×r²) does not satisfy the identity.
    const W = src[`${v}.patch_embedding.weight`]!;
    const q = 4;
    const topLeft = Float32Array.from({ length: 64 * 3 * q * q }, (_, k) => r * r * W.data[Math.floor(k / (q * q)) * (4 * r) ** 2 + r * Math.floor((k % (q * q)) / q) * 4 * r + r * (k % q)]!);
    expect(maxAbsDiff(await patchEmbedding(fine, { shape: [64, 3, q, q], data: topLeft }, x), e8)).toBeGreaterThan(1e-2);
  });

  it('gives every tensor of the finer config its shape: class row kept, patch rows bilinear at the fine centres, other tensors copied', () => {
    const [from, to] = [loadVisionPreset('mini'), loadVisionPreset('mini-patch4')];
    const src = randomEncoder(from, 3);
    const out = resizeEncoderPatches(from, src, to);
    expect(Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.shape]))).toEqual(Object.fromEntries(encoderParamSpecs(to).map((s) => [s.name, [...s.shape]])));
    const D = 64;
    const pos = src[`${v}.gated_positional_embedding.embedding`]!.data;
    const got = out[`${v}.gated_positional_embedding.embedding`]!.data;
    expect(got.length).toBe(145 * D);
    expect(Array.from(got.subarray(0, D))).toEqual(Array.from(pos.subarray(0, D))); // class token
    const at = (t: Float32Array, g: number, i: number, j: number, d: number) => t[(1 + i * g + j) * D + d]!;
    // Fine patch (5, 0) sits at coarse row (5.5)/2 − .5 = 2.25, column −.25 → clamped to 0: ¾ of row 2, ¼ of row 3.
    expect(at(got, 12, 5, 0, 7)).toBeCloseTo(0.75 * at(pos, 6, 2, 0, 7) + 0.25 * at(pos, 6, 3, 0, 7), 6);
    // Fine patch (3, 10): coarse (1.25, 4.75).
    const want = 0.75 * 0.25 * at(pos, 6, 1, 4, 3) + 0.75 * 0.75 * at(pos, 6, 1, 5, 3) + 0.25 * 0.25 * at(pos, 6, 2, 4, 3) + 0.25 * 0.75 * at(pos, 6, 2, 5, 3);
    expect(at(got, 12, 3, 10, 3)).toBeCloseTo(want, 6);
    // A constant table stays constant (the weights of each fine row sum to one).
    expect(Array.from(new Set(resamplePositions(new Float32Array(37 * 2).fill(0.5), 6, 2, 2)))).toEqual([0.5]);
    // The tile-position table: each (aspect id, tile slot) block resampled the same way.
    const tileSrc = src[`${v}.gated_positional_embedding.tile_embedding.weight`]!.data;
    const tileOut = out[`${v}.gated_positional_embedding.tile_embedding.weight`]!.data;
    const block = 5 * 4 + 2; // aspect id 5, tile slot 2
    expect(Array.from(tileOut.subarray(block * 145 * D, (block + 1) * 145 * D))).toEqual(Array.from(resamplePositions(tileSrc.subarray(block * 37 * D, (block + 1) * 37 * D), 6, D, 2)));
    // The patch weight: each 2×2 block summed.
    const w8 = src[`${v}.patch_embedding.weight`]!.data, w4 = out[`${v}.patch_embedding.weight`]!.data;
    const c = 9, ch = 2, i = 1, j = 3;
    const w = (y: number, x: number) => w8[((c * 3 + ch) * 8 + y) * 8 + x]!;
    expect(w4[((c * 3 + ch) * 4 + i) * 4 + j]).toBeCloseTo(w(2, 6) + w(2, 7) + w(3, 6) + w(3, 7), 6);
    for (const name of [`${v}.class_embedding`, `${v}.pre_tile_positional_embedding.embedding.weight`, `${v}.transformer.layers.1.self_attn.q_proj.weight`, `${v}.global_transformer.layers.0.gate_attn`]) {
      expect(name in out, name).toBe(true);
      expect(Array.from(out[name]!.data)).toEqual(Array.from(src[name]!.data));
      expect(out[name]!.data).not.toBe(src[name]!.data); // a copy, not the source's array
    }
    expect(patchesPerTile(to)).toBe(145);
  });

  it('refuses configs that differ in more than the patch size, a ratio that is not a whole number ≥ 2, and a missing or misshapen tensor', () => {
    const mini = loadVisionPreset('mini');
    expect(() => patchResizeRatio(mini, loadVisionPreset('mini-patch4', { dim: 32, nHeads: 4 }))).toThrow(/patch resize 8 → 4 px:\n {2}- dim differs \(64 vs 32\); only patchSize may/);
    expect(() => patchResizeRatio(mini, loadVisionPreset('mini', { patchSize: 3 }))).toThrow(/source patch size 8 must be an integer multiple \(≥ 2×\) of the target's 3/);
    expect(() => patchResizeRatio(mini, mini)).toThrow(/source patch size 8 must be an integer multiple \(≥ 2×\) of the target's 8/);
    expect(() => patchResizeRatio(loadVisionPreset('mini-patch4'), mini)).toThrow(/source patch size 4 must be an integer multiple/);
    const src = randomEncoder(mini, 1);
    const { [`${v}.class_embedding`]: _gone, ...missing } = src;
    expect(() => resizeEncoderPatches(mini, missing, loadVisionPreset('mini-patch4'))).toThrow(/the source encoder:\n {2}- missing tensor 'vision_model.class_embedding'/);
    const p4 = randomEncoder(loadVisionPreset('mini-patch4'), 1);
    expect(() => resizeEncoderPatches(mini, p4, loadVisionPreset('mini-patch4'))).toThrow(/tensor 'vision_model.patch_embedding.weight' has shape \[64,3,4,4\], a 8-px encoder needs \[64,3,8,8\]/);
  });
});
