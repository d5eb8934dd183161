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
import { audioTokens } from '@herd/speech';
import { RECIPE_OPTIMIZER as OPT, SPEECH_FRAMES as FRAMES, SPEECH_SPEC as spec, SPEECH_TRAIN as TRAIN, TINY_SPEECH, speechBatch, speechValues } from './models.js';
import { expectGradientsMatch, frozenTinyCore, lmInputGradient } from './tiny.js';

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
