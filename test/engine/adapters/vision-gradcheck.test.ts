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
import { hostTensor } from '@herd/runtime';
import { PLACE_GROUP, adapterBatch, placeParamSpecs, tileImage, visionTrainingExtension } from '@herd/vision';
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

  it('learned place embeddings (placeBins 3): the row / column tables get the right gradient, only from the patches of their bin', async () => {
    const core = await frozenTinyCore();
    const m = { ...TINY_IMAGE, placeBins: 3 };
    const placed = { config: spec.config, extension: visionTrainingExtension(m) };
    const train = [...TRAIN, PLACE_GROUP];
    const rng = new Rng(8);
    const tables = Object.fromEntries(placeParamSpecs(m).map((s) => [s.name, hostTensor('f32', [...s.shape], Float32Array.from({ length: s.shape[0]! * s.shape[1]! }, () => 0.2 * rng.normal()))]));
    const values = { ...visionValues(5, 0.5), ...tables };
    const img = TINY_IMAGE.imageTokenId;
    // The 16×16 image fills one 16-px tile with 2×2 patches: rows / columns in bins 0 and 2 of 3 (patch centres 4 and 12 of 16), bin 1 holds none.
    const feeds = adapterBatch(m, [{ image: image(16, 16, 1), tokens: [1, img, 5, 6, 7, 30, 31, 0, 0, 0], targets: [-100, -100, -100, -100, 30, 31, 2, -100, -100, -100] }, { image: image(32, 16, 2), tokens: [1, 3, img, 8, 9, 32, 0, 0, 0, 0], targets: [-100, -100, -100, -100, 32, 2, -100, -100, -100, -100] }], T);
    expect(Array.from(feeds['placeRow']!.data as Int32Array).slice(0, 5)).toEqual([-1, 0, 0, 2, 2]); // class token, then the 2×2 patches row-major
    expect(Array.from(feeds['placeCol']!.data as Int32Array).slice(0, 5)).toEqual([-1, 0, 2, 0, 2]);
    const graphs = buildLmTraining(placed, { ...core.weights, ...values }, { batch: 2, seqLen: T, train, optimizer: OPT });
    expect(graphs.layout.entries.map((e) => e.name).sort()).toEqual(Object.keys(values).sort());
    const r = await checkTrainingGradients(graphs, values, feeds, { optimizer: OPT, only: (n) => n.startsWith('vision_place.') || n === 'multi_modal_projector.bias' });
    const summary = expectGradientsMatch(r.comparisons, RTOL, ATOL);
    console.log(`vision place embeddings: loss ${r.loss.toFixed(4)}, ${summary}`);
    // The 32×16 image (two tiles side by side) has patch-centre columns 4, 12, 20, 28 of 32: bins 0, 1, 1, 2; its rows 0 and 2.
    // So row bin 1 holds no patch of either image: its gradient is zero; every other bin's is not.
    const D = TINY_IMAGE.text.dim;
    const rowGrad = r.gradients['vision_place.row.weight']!;
    const binNorm = (g: ArrayLike<number>, b: number) => norm(Array.from(g).slice(b * D, (b + 1) * D));
    expect(binNorm(rowGrad, 1)).toBe(0);
    for (const b of [0, 2]) expect(binNorm(rowGrad, b)).toBeGreaterThan(0);
    for (const b of [0, 1, 2]) expect(binNorm(r.gradients['vision_place.col.weight']!, b)).toBeGreaterThan(0);
  });
});
