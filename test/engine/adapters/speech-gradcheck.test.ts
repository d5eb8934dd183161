/**
 * Finite-difference check of the speech adapter's composed training step — the exact graph
 * `trainAdapter` runs for speech fine-tuning (`buildLmTraining` with `speechExtension`, groups
 * speechEncoder + speechAdapter, AdamW with weight decay 0.01 and clip 1) — on a tiny random core
 * stored as f16 and read back. Every trainable tensor (Conformer, adapter conv/block/projection, the
 * two marker rows) and the log-mel features are checked. The batch has 2 utterances of different
 * lengths (padded encoder frames masked, a short one whose last adapter frame is unused), the audio
 * spliced between the markers inside a text prompt, loss on the reply only, right padding.
 * Tolerances as in vision-gradcheck.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '@herd/core';
import { buildLmTraining } from '@herd/llama3';
import { checkTrainingGradients } from '@herd/runtime';
import { hostTensor } from '@herd/runtime';
import * as G from '@herd/graph';
import { CTC_BASE_SCALE, CTC_LOG_SCALE_PARAM, SPEECH_CTC_GROUP, audioTokens, speechCtcSpecs, speechSpec } from '@herd/speech';
import { RECIPE_OPTIMIZER as OPT, SPEECH_FRAMES as FRAMES, SPEECH_SPEC as spec, SPEECH_TRAIN as TRAIN, TINY_SPEECH, speechBatch, speechValues } from './models.js';
import { TINY_TEXT, expectGradientsMatch, frozenTinyCore, hostValues, lmInputGradient } from './tiny.js';

const T = 16;
const RTOL = 2e-2;
const ATOL = 2e-4;
const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

describe('speech adapter training step: gradients vs finite differences (f32, Richardson)', () => {
  it('every trainable tensor and the log-mel features', async () => {
    const core = await frozenTinyCore();
    const values = speechValues(4);
    const rng = new Rng(3);
    const utt = (frames: number) => ({ frames, features: Float32Array.from({ length: frames * 80 }, () => rng.normal()) });
    const us = [utt(32), utt(20)];
    expect([audioTokens(TINY_SPEECH.encoder, 32), audioTokens(TINY_SPEECH.encoder, 20)]).toEqual([4, 3]);
    const feeds = speechBatch(us, [[30, 31, 32], [33, 34]], T);
    const weights = { ...core.weights, ...values };
    const graphs = buildLmTraining(spec, weights, { batch: 2, seqLen: T, train: TRAIN, optimizer: OPT });
    expect(graphs.layout.entries.map((e) => e.name).sort()).toEqual(Object.keys(values).sort());
    const features = await lmInputGradient(spec, weights, TRAIN, feeds, 'features');
    const r = await checkTrainingGradients(graphs, values, feeds, { optimizer: OPT, inputGradients: { features } });
    const summary = expectGradientsMatch(r.comparisons, RTOL, ATOL);
    console.log(`speech: loss ${r.loss.toFixed(4)}, ${summary}`);
    for (const n of Object.keys(values)) expect(norm(r.gradients[n]!), n).toBeGreaterThan(0);
    // Padding frames of the short utterance (frames 20…31) do not reach the loss; its real ones do.
    const per = FRAMES * 80;
    expect(norm(features.subarray(per + 20 * 80, 2 * per))).toBe(0);
    expect(norm(features.subarray(per, per + 20 * 80))).toBeGreaterThan(0);
  });
});

describe('speech adapter training step with the CTC alignment objective: gradients vs finite differences', () => {
  it('next-token loss + CTC against the core embedding rows: every trainable tensor incl. the CTC head', async () => {
    const core = await frozenTinyCore();
    const ctcSpec = speechSpec(TINY_TEXT, TINY_SPEECH, FRAMES, { ctc: { maxLabels: 3 } });
    const values = { ...speechValues(4), ...hostValues(G.initParams(speechCtcSpecs(TINY_SPEECH), 5, { std: 0.2 })) };
    // Effective score scale 1 (CTC_BASE_SCALE · exp(log_scale)): the f32 central differences of the
    // training default (16, a sharp softmax over random tiny rows) are too coarse to compare with.
    values[CTC_LOG_SCALE_PARAM] = hostTensor('f32', [1], Float32Array.of(-Math.log(CTC_BASE_SCALE)));
    const rng = new Rng(3);
    const utt = (frames: number) => ({ frames, features: Float32Array.from({ length: frames * 80 }, () => rng.normal()) });
    // 4 and 3 adapter frames; labels [5, 5] need a blank between (3 frames), [7] needs 1.
    const feeds = {
      ...speechBatch([utt(32), utt(20)], [[30, 31, 32], [33, 34]], T),
      ctcLabels: hostTensor('i32', [2, 3], Int32Array.of(5, 5, 0, 7, 0, 0)),
      ctcLabelLengths: hostTensor('i32', [2], Int32Array.of(2, 1)),
    };
    const train = [...TRAIN, SPEECH_CTC_GROUP];
    const weights = { ...core.weights, ...values };
    const graphs = buildLmTraining(ctcSpec, weights, { batch: 2, seqLen: T, train, optimizer: OPT, auxiliaryWeight: 0.5 });
    expect(graphs.metricNames).toEqual(expect.arrayContaining(['lmLoss', 'ctcLoss', 'ctcItems']));
    const r = await checkTrainingGradients(graphs, values, feeds, { optimizer: OPT });
    const summary = expectGradientsMatch(r.comparisons, RTOL, ATOL);
    console.log(`speech + CTC: loss ${r.loss.toFixed(4)}, ${summary}`);
    for (const n of Object.keys(values)) expect(norm(r.gradients[n]!), n).toBeGreaterThan(0);
    // A weight for an objective the extension does not define is refused.
    expect(() => buildLmTraining(spec, weights, { batch: 2, seqLen: T, train: TRAIN, auxiliaryWeight: 1 })).toThrow(/no auxiliaryLoss/);
  });
});
