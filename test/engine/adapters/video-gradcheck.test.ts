/**
 * Finite-difference check of the video adapter's composed training step — the exact graph
 * `trainAdapter` runs for the mini video recipe (`buildLmTraining` with `videoModelSpec(…, 'frames')`:
 * the video extension composed with the frozen image adapter, group `video`, AdamW with weight
 * decay 0.01 and clip 1) — on a tiny random core stored as f16 and read back. Every trainable tensor
 * (aggregator latents, time embedding, layers, norms; video cross-attention layers and gates) and the
 * frame features are checked. The batch has 2 clips (one with a padding tile masked out of the
 * aggregator's keys), a text token before `<|image|>` (a row that sees nothing), loss on the answer
 * only. Tolerances as in vision-gradcheck.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '@herd/core';
import { buildLmTraining } from '@herd/llama3';
import { checkTrainingGradients } from '@herd/runtime';
import * as G from '@herd/graph';
import { hostTensor } from '@herd/runtime';
import { frameTokens, parseVideoConfig, videoModelSpec, videoParamSpecs } from '@herd/video';
import { patchesPerTile } from '@herd/vision';
import { RECIPE_OPTIMIZER as OPT, TINY_IMAGE, TINY_TEXT, TINY_VIDEO, VIDEO_CLIP as CLIP, VIDEO_SPEC as spec, VIDEO_TRAIN as TRAIN, clipBatch, clipFeatures, frozenImageValues, randomFrames, randomImageKv, videoValues } from './models.js';
import { expectGradientsMatch, frozenTinyCore, hostValues, lmInputGradient, setGates } from './tiny.js';

const T = 10;
const RTOL = 2e-2;
const ATOL = 2e-4;
const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

function batch(rng: Rng, m = TINY_VIDEO) {
  const features = new Map([['a', clipFeatures(randomFrames(rng), 2, randomImageKv(rng))], ['b', clipFeatures(randomFrames(rng), 1, randomImageKv(rng))]]);
  const img = TINY_IMAGE.imageTokenId;
  const seqs = [
    { clip: 'a', tokens: [1, img, 5, 6, 30, 31, 0, 0, 0, 0], targets: [-100, -100, -100, 30, 31, 2, -100, -100, -100, -100] },
    { clip: 'b', tokens: [1, 3, img, 7, 32, 0, 0, 0, 0, 0], targets: [-100, -100, -100, 32, 2, -100, -100, -100, -100, -100] },
  ];
  return clipBatch(features, seqs, T, m);
}

describe('video adapter training step: gradients vs finite differences (f32, Richardson)', () => {
  const build = (weights: Parameters<typeof buildLmTraining>[1]) => buildLmTraining(spec, weights, { batch: 2, seqLen: T, train: TRAIN, optimizer: OPT });

  it('every trainable tensor and the frame features, video gates at 0.5', async () => {
    const core = await frozenTinyCore();
    const video = videoValues(8, 0.5);
    const feeds = batch(new Rng(2));
    const weights = { ...core.weights, ...frozenImageValues(7), ...video };
    const graphs = build(weights);
    expect(graphs.layout.entries.map((e) => e.name).sort()).toEqual(Object.keys(video).sort());
    const frames = await lmInputGradient(spec, weights, TRAIN, feeds, 'video.frames');
    const r = await checkTrainingGradients(graphs, video, feeds, { optimizer: OPT, inputGradients: { 'video.frames': frames } });
    const summary = expectGradientsMatch(r.comparisons, RTOL, ATOL);
    console.log(`video gates 0.5: loss ${r.loss.toFixed(4)}, ${summary}`);
    for (const n of Object.keys(video)) expect(norm(r.gradients[n]!), n).toBeGreaterThan(0);
    // Tokens of clip b's padding tile do not reach the loss; its real tile's do.
    const S = frameTokens(TINY_IMAGE);
    const D = TINY_TEXT.dim;
    const P = patchesPerTile(TINY_IMAGE.vision);
    const clipB = frames.subarray(CLIP.frames * S * D);
    const pad = Array.from({ length: CLIP.frames }, (_, f) => norm(clipB.subarray((f * S + P) * D, (f + 1) * S * D)));
    expect(Math.max(...pad)).toBe(0);
    expect(norm(clipB)).toBeGreaterThan(0);
  });

  it('with the object-motion tokens, the motion readout and row gates (all set off zero): every trainable tensor and the frame features', async () => {
    const m = { image: TINY_IMAGE, video: parseVideoConfig({ ...TINY_VIDEO.video, resampler: { ...TINY_VIDEO.video.resampler, motionTokens: true }, motionReadout: true, rowGates: true }) };
    const spec2 = videoModelSpec(m, CLIP, 'frames');
    const rng = new Rng(4);
    // The readout and row-gate weights start at zeros: set them off zero so every path carries a gradient.
    const video = Object.fromEntries(Object.entries(setGates(hostValues(G.initParams(videoParamSpecs(m), 8, { layers: 2, std: 0.2 })), 0.5)).map(([k, v]) => [k, /motion_readout|_row\./.test(k) ? hostTensor('f32', [...v.shape], Float32Array.from({ length: v.data.length }, () => 0.1 * rng.normal())) : v]));
    const core = await frozenTinyCore();
    const weights = { ...core.weights, ...frozenImageValues(7), ...video };
    const graphs = buildLmTraining(spec2, weights, { batch: 2, seqLen: T, train: TRAIN, optimizer: OPT });
    expect(graphs.layout.entries.map((e) => e.name).filter((n) => /motion_readout|_row\./.test(n))).toHaveLength(6);
    const feeds = batch(new Rng(2), m);
    const frames = await lmInputGradient(spec2, weights, TRAIN, feeds, 'video.frames');
    const r = await checkTrainingGradients(graphs, video, feeds, { optimizer: OPT, inputGradients: { 'video.frames': frames } });
    const summary = expectGradientsMatch(r.comparisons, RTOL, ATOL);
    console.log(`motion tokens + readout + row gates: loss ${r.loss.toFixed(4)}, ${summary}`);
    for (const n of Object.keys(video)) expect(norm(r.gradients[n]!), n).toBeGreaterThan(0);
  });

  it('at fresh video gates (0) only the video gates get a gradient, and theirs is right', async () => {
    const core = await frozenTinyCore();
    const video = videoValues(8, 0);
    const graphs = build({ ...core.weights, ...frozenImageValues(7), ...video });
    const live = (n: string) => /gate$/.test(n);
    const r = await checkTrainingGradients(graphs, video, batch(new Rng(2)), { optimizer: OPT, only: live });
    expectGradientsMatch(r.comparisons, RTOL, ATOL);
    for (const n of Object.keys(video)) {
      if (live(n)) expect(norm(r.gradients[n]!), n).toBeGreaterThan(1e-4);
      else expect(norm(r.gradients[n]!), n).toBe(0);
    }
  });
});
