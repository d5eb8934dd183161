/**
 * Finite-difference check of the video adapter's composed training step — the exact graph
 * `trainAdapter` runs for the mini video recipe (`buildLmTraining` with `videoModelSpec(…, 'frames')`:
 * the video extension composed with the frozen image adapter, group `video`, AdamW with weight
 * decay 0.01 and clip 1) — on a tiny random core stored as f16 and read back. Every trainable tensor
 * (aggregator latents, time embedding, layers, norms; video cross-attention layers and gates) and the
 * frame features are checked. The batch has 2 clips (one with a padding tile masked out of the
 * aggregator's keys), a text token before `<|image|>` (a row that sees nothing), loss on the answer only.
 */
import { describe, expect, it } from 'vitest';
import { Rng, encodeF16 } from '@herd/core';
import * as G from '@herd/graph';
import { buildLmTraining, headDim } from '@herd/llama3';
import { checkTrainingGradients } from '@herd/runtime';
import { type ClipFeatures, VIDEO_GROUP, type VideoModelConfig, frameTokens, parseVideoConfig, videoBatch, videoModelSpec, videoParamSpecs } from '@herd/video';
import { type MllamaConfig, adapterParamSpecs, encoderParamSpecs, loadVisionPreset, patchesPerTile } from '@herd/vision';
import { TINY_TEXT, expectGradientsMatch, frozenTinyCore, hostValues, lmInputGradient, setGates } from './tiny.js';

const image: MllamaConfig = {
  text: TINY_TEXT,
  vision: loadVisionPreset('mini', { tileSize: 16, patchSize: 8, dim: 16, nLayers: 2, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 2 }),
  crossAttentionLayers: [1, 4],
  imageTokenId: TINY_TEXT.vocabSize,
  nLearnableTokens: 2,
};
export const TINY_VIDEO: VideoModelConfig = {
  image,
  video: parseVideoConfig({ pretrain: { frames: 4, groupFrames: 4 }, finetune: { frames: 4, groupFrames: 2 }, resampler: { latents: 3, layers: 2, heads: 2, ffnDim: 24, maxFrames: 4 }, crossEvery: 1, crossFfnDim: 24 }),
};
const CLIP = TINY_VIDEO.video.finetune;
const T = 10;
const OPT = { weightDecay: 0.01 };
const RTOL = 2e-2;
const ATOL = 2e-4;
const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

/** Random frame features (f16, as the feature table stores them) and middle-frame image keys/values; `tiles` real tiles of 2. */
export function randomClip(rng: Rng, tiles: number, scale = 1): ClipFeatures {
  const S = frameTokens(image);
  const D = TINY_TEXT.dim;
  const P = patchesPerTile(image.vision);
  const K = TINY_TEXT.nKvHeads;
  const dh = headDim(TINY_TEXT);
  const kv: Record<string, Float32Array> = {};
  image.crossAttentionLayers.forEach((_, j) => {
    kv[`xattn.k.${j}`] = Float32Array.from({ length: K * S * dh }, () => rng.normal());
    kv[`xattn.v.${j}`] = Float32Array.from({ length: K * S * dh }, () => rng.normal());
  });
  return { features: encodeF16(Float32Array.from({ length: CLIP.frames * S * D }, () => rng.normal() * scale)), frameMask: Uint8Array.from({ length: S }, (_, i) => (i < tiles * P ? 1 : 0)), kv };
}

/** Frozen image model (encoder + adapter, gates open as a trained one) and fresh video values. */
export function tinyVideoValues(seed: number) {
  const vision = setGates(hostValues(G.initParams([...encoderParamSpecs(image.vision), ...adapterParamSpecs(image)], seed, { layers: 2 })), 0.6);
  const video = hostValues(G.initParams(videoParamSpecs(TINY_VIDEO), seed + 1, { layers: 2, std: 0.2 }));
  return { vision, video };
}

function batch(rng: Rng) {
  const features = new Map([['a', randomClip(rng, 2)], ['b', randomClip(rng, 1)]]);
  const img = image.imageTokenId;
  const seqs = [
    { clip: 'a', tokens: [1, img, 5, 6, 30, 31, 0, 0, 0, 0], targets: [-100, -100, -100, 30, 31, 2, -100, -100, -100, -100] },
    { clip: 'b', tokens: [1, 3, img, 7, 32, 0, 0, 0, 0, 0], targets: [-100, -100, -100, 32, 2, -100, -100, -100, -100, -100] },
  ];
  return videoBatch(TINY_VIDEO, CLIP, features, seqs, T);
}

describe('video adapter training step: gradients vs finite differences (f32, Richardson)', () => {
  const spec = videoModelSpec(TINY_VIDEO, CLIP, 'frames');

  it('every trainable tensor and the frame features, video gates at 0.5', async () => {
    const core = await frozenTinyCore();
    const { vision, video: fresh } = tinyVideoValues(7);
    const video = setGates(fresh, 0.5);
    const feeds = batch(new Rng(2));
    const weights = { ...core.weights, ...vision, ...video };
    const graphs = buildLmTrainingFor(weights);
    expect(graphs.layout.entries.map((e) => e.name).sort()).toEqual(Object.keys(video).sort());
    const frames = await lmInputGradient(spec, weights, [VIDEO_GROUP], feeds, 'video.frames');
    const r = await checkTrainingGradients(graphs, video, feeds, { optimizer: OPT, inputGradients: { 'video.frames': frames } });
    const worst = expectGradientsMatch(r.comparisons, RTOL, ATOL);
    console.log(`video gates 0.5: loss ${r.loss.toFixed(4)}, ${r.comparisons.length} comparisons, worst ${worst.toFixed(3)} of tolerance`);
    for (const n of Object.keys(video)) expect(norm(r.gradients[n]!), n).toBeGreaterThan(0);
    // Tokens of clip b's padding tile do not reach the loss; its real tile's do.
    const S = frameTokens(image);
    const D = TINY_TEXT.dim;
    const P = patchesPerTile(image.vision);
    const clipB = frames.subarray(CLIP.frames * S * D);
    const pad = Array.from({ length: CLIP.frames }, (_, f) => norm(clipB.subarray((f * S + P) * D, (f + 1) * S * D)));
    expect(Math.max(...pad)).toBe(0);
    expect(norm(clipB)).toBeGreaterThan(0);
  });

  it('at fresh video gates (0) only the video gates get a gradient, and theirs is right', async () => {
    const core = await frozenTinyCore();
    const { vision, video } = tinyVideoValues(7);
    const feeds = batch(new Rng(2));
    const graphs = buildLmTrainingFor({ ...core.weights, ...vision, ...video });
    const live = (n: string) => /gate$/.test(n);
    const r = await checkTrainingGradients(graphs, video, feeds, { optimizer: OPT, only: live });
    expectGradientsMatch(r.comparisons, RTOL, ATOL);
    for (const n of Object.keys(video)) {
      if (live(n)) expect(norm(r.gradients[n]!), n).toBeGreaterThan(1e-4);
      else expect(norm(r.gradients[n]!), n).toBe(0);
    }
  });

  function buildLmTrainingFor(weights: Parameters<typeof buildLmTraining>[1]) {
    return buildLmTraining(spec, weights, { batch: 2, seqLen: T, train: [VIDEO_GROUP], optimizer: OPT });
  }
});
