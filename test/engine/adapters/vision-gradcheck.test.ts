/**
 * Finite-difference check of the vision adapter's composed training step — the exact graph
 * `trainAdapter` runs for the mini vision recipe (`buildLmTraining` with `visionTrainingExtension`,
 * groups vision.encoder + vision.projector + vision.adapter, AdamW with weight decay 0.01 and clip 1) — on a tiny
 * random core stored as f16 and read back. Every trainable tensor (ViT, projector, cross-attention
 * layers, gates, learnable `<|image|>` row) and the pixels are checked. The batch has 2 sequences
 * with a text token before `<|image|>` (a fully masked cross-attention row), a 1-tile and a 2-tile
 * image (a padding tile), loss only on the answer, right padding with ignored targets.
 *
 * Tolerance: |analytic − numeric| ≤ 2e-2·max(|a|, |n|) + 2e-4. The graphs are f32; the Richardson
 * differences at h = 1e-2 leave rounding noise of order 1e-5 on these losses (≈ 4, f32 ulp ≈ 5e-7),
 * and the measured median relative error on gradients ≥ 2e-2 is ~1e-4 (printed); a 5 % error in one
 * op's VJP (tanh) fails the check.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '@herd/core';
import { buildLmTraining } from '@herd/llama3';
import { checkTrainingGradients } from '@herd/runtime';
import { tileImage } from '@herd/vision';
import { RECIPE_OPTIMIZER as OPT, TINY_IMAGE, VISION_SPEC as spec, VISION_TRAIN as TRAIN, visionBatch, visionValues } from './models.js';
import { expectGradientsMatch, frozenTinyCore, lmInputGradient } from './tiny.js';

const T = 10;
const RTOL = 2e-2;
const ATOL = 2e-4;
const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));
const ADAPTER_GATE = /cross_attn_(attn|mlp)_gate$/;

function image(w: number, h: number, seed: number) {
  const rng = new Rng(seed);
  return tileImage({ data: Uint8Array.from({ length: w * h * 3 }, () => rng.int(256)), width: w, height: h }, TINY_IMAGE.vision);
}

/** [text, <|image|>, question…, answer, pad…]: loss on the answer tokens only. */
function batch() {
  const img = TINY_IMAGE.imageTokenId;
  const a = { image: image(16, 16, 1), tokens: [1, img, 5, 6, 7, 30, 31, 0, 0, 0], targets: [-100, -100, -100, -100, 30, 31, 2, -100, -100, -100] };
  const b = { image: image(32, 16, 2), tokens: [1, 3, img, 8, 9, 32, 0, 0, 0, 0], targets: [-100, -100, -100, -100, 32, 2, -100, -100, -100, -100] };
  expect(a.image.nTiles).toBe(1);
  expect(b.image.nTiles).toBe(2);
  return visionBatch([a, b], T);
}

describe('vision adapter training step: gradients vs finite differences (f32, Richardson)', () => {
  it('every trainable tensor and the pixels, every gate at 0.5', async () => {
    const core = await frozenTinyCore();
    const values = visionValues(5, 0.5);
    const feeds = batch();
    const weights = { ...core.weights, ...values };
    const graphs = buildLmTraining(spec, weights, { batch: 2, seqLen: T, train: TRAIN, optimizer: OPT });
    expect(graphs.layout.entries.map((e) => e.name).sort()).toEqual(Object.keys(values).sort());
    const pixels = await lmInputGradient(spec, weights, TRAIN, feeds, 'pixels');
    const r = await checkTrainingGradients(graphs, values, feeds, { optimizer: OPT, inputGradients: { pixels } });
    const summary = expectGradientsMatch(r.comparisons, RTOL, ATOL);
    console.log(`vision gates 0.5: loss ${r.loss.toFixed(4)}, ${summary}`);
    // Every tensor reaches the loss (nothing disconnected), the pixels too.
    for (const n of Object.keys(values)) expect(norm(r.gradients[n]!), n).toBeGreaterThan(0);
    expect(norm(pixels)).toBeGreaterThan(0);
  });

  it('at fresh gates (0) only the adapter gates and the <|image|> row get a gradient, and theirs is right', async () => {
    const core = await frozenTinyCore();
    const values = visionValues(5, 0);
    const graphs = buildLmTraining(spec, { ...core.weights, ...values }, { batch: 2, seqLen: T, train: TRAIN, optimizer: OPT });
    const live = (n: string) => ADAPTER_GATE.test(n) || n === 'learnable_embedding.weight';
    const r = await checkTrainingGradients(graphs, values, batch(), { optimizer: OPT, only: live });
    expectGradientsMatch(r.comparisons, RTOL, ATOL);
    for (const n of Object.keys(values)) {
      if (live(n)) expect(norm(r.gradients[n]!), n).toBeGreaterThan(1e-4);
      else expect(norm(r.gradients[n]!), n).toBe(0);
    }
  });
});
