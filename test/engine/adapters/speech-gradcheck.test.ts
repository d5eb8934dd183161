/**
 * Finite-difference check of the speech adapter's composed training step — the exact graph
 * `trainAdapter` runs for speech fine-tuning (`buildLmTraining` with `speechExtension`, groups
 * speechEncoder + speechAdapter, AdamW with weight decay 0.01 and clip 1) — on a tiny random core
 * stored as f16 and read back. Every trainable tensor (Conformer, adapter conv/block/projection, the
 * two marker rows) and the log-mel features are checked. The batch has 2 utterances of different
 * lengths (padded encoder frames masked, a short one whose last adapter frames are unused), the
 * audio spliced between the markers inside a text prompt, loss on the reply only, right padding.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { buildLmTraining } from '@herd/llama3';
import { checkTrainingGradients, hostTensor } from '@herd/runtime';
import { AUDIO_END, AUDIO_START, KEEP_TOKEN, SPEECH_ADAPTER_GROUP, SPEECH_ENCODER_GROUP, type SpeechModelConfig, audioIndexOf, audioTokens, featureFeeds, parseSpeechConfig, speechAdapterSpecs, speechEncoderSpecs, speechSpec } from '@herd/speech';
import { TINY_TEXT, expectGradientsMatch, frozenTinyCore, hostValues, lmInputGradient } from './tiny.js';

const encoder = parseSpeechConfig({
  nMels: 80, stack: 4, dim: 16, nLayers: 1, nHeads: 2, ffnDim: 32, convKernel: 7, normEps: 1e-5, ropeTheta: 10000,
  bestRq: { codebooks: 1, codebookSize: 16, codeDim: 8, maskProb: 0.025, maskSpan: 8, noiseStd: 0.1 },
});
export const TINY_SPEECH: SpeechModelConfig = { encoder, adapter: { encoderDim: 16, dim: 16, nHeads: 2, ffnDim: 32, coreDim: TINY_TEXT.dim, normEps: 1e-5, ropeTheta: 10000 } };
const FRAMES = 32;
const T = 16;
const TRAIN = [SPEECH_ENCODER_GROUP, SPEECH_ADAPTER_GROUP];
const OPT = { weightDecay: 0.01 };
const RTOL = 2e-2;
const ATOL = 2e-4;
const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

/** [bos, 2, <start>, a0…, <end>, 3, reply…, pad]; loss on the reply. */
function sequence(audioFrames: number, reply: readonly number[]): { ids: number[]; codes: number[]; targets: number[] } {
  const codes = [KEEP_TOKEN, KEEP_TOKEN, AUDIO_START, ...Array.from({ length: audioFrames }, (_, a) => a), AUDIO_END, KEEP_TOKEN, ...reply.map(() => KEEP_TOKEN)];
  const ids = codes.map((c, i) => (c === KEEP_TOKEN ? (i < 2 ? i + 1 : 0) : 0));
  const from = audioFrames + 5;
  reply.forEach((r, k) => (ids[from + k] = r));
  ids[from - 1] = 3;
  const targets = new Array<number>(T).fill(-100);
  for (let i = from - 1; i + 1 < ids.length; i++) targets[i] = ids[i + 1]!;
  while (ids.length < T) {
    ids.push(0);
    codes.push(KEEP_TOKEN);
  }
  return { ids, codes, targets };
}

export function speechBatch(utterances: readonly { features: Float32Array; frames: number }[], replies: readonly (readonly number[])[]) {
  const A = audioTokens(encoder, FRAMES);
  const seqs = utterances.map((u, b) => sequence(audioTokens(encoder, u.frames), replies[b]!));
  const B = seqs.length;
  return {
    tokens: hostTensor('i32', [B, T], seqs.flatMap((s) => s.ids)),
    targets: hostTensor('i32', [B, T], seqs.flatMap((s) => s.targets)),
    positions: hostTensor('i32', [B, T], Int32Array.from({ length: B * T }, (_, i) => i % T)),
    docIds: hostTensor('i32', [B, T]),
    ...featureFeeds(encoder, utterances, FRAMES),
    audioIndex: hostTensor('i32', [B, T], audioIndexOf(seqs.map((s) => s.codes), A, T)),
  };
}

describe('speech adapter training step: gradients vs finite differences (f32, Richardson)', () => {
  it('every trainable tensor and the log-mel features', async () => {
    const core = await frozenTinyCore();
    const spec = speechSpec(TINY_TEXT, TINY_SPEECH, FRAMES);
    const values = hostValues(G.initParams([...speechEncoderSpecs(TINY_SPEECH), ...speechAdapterSpecs(TINY_SPEECH)], 4, { std: 0.2, layers: 2 }));
    const rng = new Rng(3);
    const utt = (frames: number) => ({ frames, features: Float32Array.from({ length: frames * 80 }, () => rng.normal()) });
    const us = [utt(32), utt(20)];
    expect([audioTokens(encoder, 32), audioTokens(encoder, 20)]).toEqual([4, 3]);
    const feeds = speechBatch(us, [[30, 31, 32], [33, 34]]);
    const weights = { ...core.weights, ...values };
    const graphs = buildLmTraining(spec, weights, { batch: 2, seqLen: T, train: TRAIN, optimizer: OPT });
    expect(graphs.layout.entries.map((e) => e.name).sort()).toEqual(Object.keys(values).sort());
    const features = await lmInputGradient(spec, weights, TRAIN, feeds, 'features');
    const r = await checkTrainingGradients(graphs, values, feeds, { optimizer: OPT, inputGradients: { features } });
    const worst = expectGradientsMatch(r.comparisons, RTOL, ATOL);
    console.log(`speech: loss ${r.loss.toFixed(4)}, ${r.comparisons.length} comparisons, worst ${worst.toFixed(3)} of tolerance`);
    for (const n of Object.keys(values)) expect(norm(r.gradients[n]!), n).toBeGreaterThan(0);
    // Padding frames of the short utterance (frames 20…31) do not reach the loss.
    const per = FRAMES * 80;
    expect(norm(features.subarray(per + 20 * 80, 2 * per))).toBe(0);
    expect(norm(features.subarray(per, per + 20 * 80))).toBeGreaterThan(0);
  });
});
