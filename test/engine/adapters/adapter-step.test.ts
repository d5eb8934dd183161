/**
 * The optimizer side of `trainAdapter`, per modality: after one step every entry of every trained
 * tensor moved by exactly the first AdamW update computed from the step graph's own gradient g
 * (clipped to global norm 1): p ← p·(1 − lr·wd) − lr·ĝ/(|ĝ| + ε) with ĝ = clip·g, i.e. lr·sign(g)
 * wherever |ĝ| ≫ ε, with decay on matrices only; the learning rate is the recipe schedule's value
 * at step 0; the result holds exactly the trained groups (the core and other frozen groups are graph
 * initializers and never come back).
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '@herd/core';
import { type Batch, type FrozenWeights, type LmGraphSpec, buildLmTraining, trainAdapter } from '@herd/llama3';
import { type HostTensor, checkTrainingGradients } from '@herd/runtime';
import { tileImage } from '@herd/vision';
import {
  RECIPE_OPTIMIZER, SPEECH_SPEC, SPEECH_TRAIN, TINY_IMAGE, VIDEO_SPEC, VIDEO_TRAIN, VISION_SPEC, VISION_TRAIN,
  clipBatch, clipFeatures, frozenImageValues, randomFrames, randomImageKv, speechBatch, speechValues, videoValues, visionBatch, visionValues,
} from './models.js';
import { frozenTinyCore } from './tiny.js';

const LR = 3e-3;
const T = 12;

async function expectFirstAdamStep(spec: LmGraphSpec, train: readonly string[], frozen: FrozenWeights, values: Record<string, HostTensor>, batch: Batch): Promise<void> {
  const weights = { ...frozen, ...values };
  const B = batch['tokens']!.shape[0]!;
  const graphs = buildLmTraining(spec, weights, { batch: B, seqLen: T, train, optimizer: RECIPE_OPTIMIZER });
  const { gradients, gradNorm } = await checkTrainingGradients(graphs, values, batch, { optimizer: RECIPE_OPTIMIZER, only: () => false });
  // The recipes' schedule shape (cosine, 6 % warm-up, floor 10 %) for a one-step stage: step 0 runs at the peak.
  const r = await trainAdapter({
    spec, train, weights, seed: 1, batch: B, seqLen: T, steps: 1,
    schedule: { kind: 'cosine', peak: LR, warmup: Math.round(1 * 0.06), total: 1, floor: 0.1 * LR }, optimizer: RECIPE_OPTIMIZER,
    data: { source: { batchSize: B, batch: () => batch } }, label: 'one-step',
  });
  expect(Object.keys(r.trained).sort()).toEqual(Object.keys(values).sort());
  const clip = Math.min(1 / (gradNorm + 1e-6), 1);
  const wd = RECIPE_OPTIMIZER.weightDecay;
  let signSteps = 0;
  for (const [name, v] of Object.entries(values)) {
    const p0 = v.data as Float32Array;
    const p1 = r.trained[name]!.data as Float32Array;
    const g = gradients[name]!;
    const decay = v.shape.length >= 2 ? 1 - LR * wd : 1;
    let worst = 0;
    for (let i = 0; i < p0.length; i++) {
      const gh = clip * g[i]!;
      const want = p0[i]! * decay - (LR * gh) / (Math.abs(gh) + 1e-8);
      worst = Math.max(worst, Math.abs(p1[i]! - want));
      // Where the gradient is clearly non-zero the step is lr·sign(g), whatever g's size.
      if (Math.abs(gh) > 1e-6) {
        expect(Math.abs((p0[i]! * decay - p1[i]!) - LR * Math.sign(gh)), `${name}[${i}]`).toBeLessThan(LR * 0.01);
        signSteps++;
      }
    }
    expect(worst, name).toBeLessThan(1e-3 * LR + 1e-7);
  }
  expect(signSteps).toBeGreaterThan(0);
}

describe('trainAdapter: one step is the first AdamW update of the step graph\'s gradient', () => {
  it('vision (encoder + adapter groups)', async () => {
    const core = await frozenTinyCore();
    const rng = new Rng(1);
    const image = (w: number) => tileImage({ data: Uint8Array.from({ length: w * 16 * 3 }, () => rng.int(256)), width: w, height: 16 }, TINY_IMAGE.vision);
    const img = TINY_IMAGE.imageTokenId;
    const batch = visionBatch([
      { image: image(16), tokens: [1, img, 5, 30, 31, 0, 0, 0, 0, 0, 0, 0], targets: [-100, -100, 30, 31, 2, -100, -100, -100, -100, -100, -100, -100] },
      { image: image(32), tokens: [1, 3, img, 32, 0, 0, 0, 0, 0, 0, 0, 0], targets: [-100, -100, 32, 2, -100, -100, -100, -100, -100, -100, -100, -100] },
    ], T);
    await expectFirstAdamStep(VISION_SPEC, VISION_TRAIN, core.weights, visionValues(5, 0.5), batch);
  });

  it('speech (encoder + adapter groups)', async () => {
    const core = await frozenTinyCore();
    const rng = new Rng(2);
    const utt = (frames: number) => ({ frames, features: Float32Array.from({ length: frames * 80 }, () => rng.normal()) });
    await expectFirstAdamStep(SPEECH_SPEC, SPEECH_TRAIN, core.weights, speechValues(4), speechBatch([utt(24), utt(16)], [[30], [31]], T));
  });

  it('video (video group; image groups frozen)', async () => {
    const core = await frozenTinyCore();
    const rng = new Rng(3);
    const features = new Map([['a', clipFeatures(randomFrames(rng), 2, randomImageKv(rng))], ['b', clipFeatures(randomFrames(rng), 1, randomImageKv(rng))]]);
    const img = TINY_IMAGE.imageTokenId;
    const batch = clipBatch(features, [
      { clip: 'a', tokens: [1, img, 5, 30, 31, 0, 0, 0, 0, 0, 0, 0], targets: [-100, -100, 30, 31, 2, -100, -100, -100, -100, -100, -100, -100] },
      { clip: 'b', tokens: [1, 3, img, 32, 0, 0, 0, 0, 0, 0, 0, 0], targets: [-100, -100, 32, 2, -100, -100, -100, -100, -100, -100, -100, -100] },
    ], T);
    await expectFirstAdamStep(VIDEO_SPEC, VIDEO_TRAIN, { ...core.weights, ...frozenImageValues(7) }, videoValues(8, 0.5), batch);
  });
});
