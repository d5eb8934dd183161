/**
 * The speech decoder encodes the audio once per prompt (`speechAudioGraph`) and feeds the audio
 * embeddings to every decoder call: its logits and greedy tokens must equal those of the decoder that
 * runs encoder + adapter inside the graph at every call (the training graph's `speechExtension`), and
 * the encoder must run exactly once per prompt with audio and never for a text-only prompt.
 */
import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Generator, buildDecoder, initWeights, parseLlamaConfig } from '@herd/llama3';
import { hostTensor } from '@herd/runtime';
import { describe, expect, it } from 'vitest';
import { parseSpeechConfig } from '../config.js';
import { audioIndexOf, featureFeeds } from '../train/speech-data.js';
import { AUDIO_END, AUDIO_START, KEEP_TOKEN, type SpeechModelConfig, audioTokens, speechAdapterSpecs, speechEncoderSpecs, speechSpec } from './extension.js';
import { SpeechGenerator } from './generate.js';

const core = parseLlamaConfig({ dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, vocabSize: 50, ffnDim: 48, maxSeqLen: 32 });
const encoder = parseSpeechConfig({
  nMels: 80, stack: 4, dim: 16, nLayers: 1, nHeads: 2, ffnDim: 32, convKernel: 7, normEps: 1e-5, ropeTheta: 10000,
  bestRq: { codebooks: 1, codebookSize: 16, codeDim: 8, maskProb: 0.025, maskSpan: 8, noiseStd: 0.1 },
});
const model: SpeechModelConfig = { encoder, adapter: { encoderDim: 16, dim: 16, nHeads: 2, ffnDim: 32, coreDim: 32, normEps: 1e-5, ropeTheta: 10000 } };
const FRAMES = 48;

describe('speech generation', () => {
  it('encodes the audio once per prompt and gives the logits and tokens of the decoder that re-encodes at every call', async () => {
    const weights = { ...initWeights(core, 1), ...G.initParams([...speechEncoderSpecs(model), ...speechAdapterSpecs(model)], 3, { layers: 1 }) };
    const rng = new Rng(4);
    const audio = { frames: 37, features: Float32Array.from({ length: 37 * 80 }, () => rng.normal()) };
    const A = audioTokens(encoder, audio.frames); // ⌈⌈37/4⌉/2⌉ = 5
    expect(A).toBe(5);
    const codes = [KEEP_TOKEN, KEEP_TOKEN, KEEP_TOKEN, AUDIO_START, ...Array.from({ length: A }, (_, a) => a), AUDIO_END, KEEP_TOKEN, KEEP_TOKEN];
    const ids = codes.map((c, i) => (c === KEEP_TOKEN ? 1 + i : 0));
    const layout = { ids, codes };

    // Reference: encoder + adapter inside the decoder graph, fed the features at every call.
    const Aall = audioTokens(encoder, FRAMES);
    const features = featureFeeds(encoder, [audio], FRAMES);
    const reference = await Generator.create(core, buildDecoder(speechSpec(core, model, FRAMES), weights), {}, (start, count) => {
      const row = Array.from({ length: count }, (_, i) => codes[start + i] ?? KEEP_TOKEN);
      return { ...features, audioIndex: hostTensor('i32', [1, count], audioIndexOf([row], Aall, count)) };
    });
    const gen = await SpeechGenerator.create(core, model, weights, FRAMES);
    try {
      const want = await reference.logits(ids);
      const got = await gen.logits(layout, audio);
      expect(gen.encoderRuns).toBe(1);
      expect(got.length).toBe(want.length);
      let worst = 0;
      got.forEach((row, t) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - want[t]![j]!)))));
      expect(worst).toBeLessThan(1e-4);
      // The audio moves the logits (the test would pass vacuously if the splice did nothing).
      const silent = await gen.logits({ ids: ids.map((t, i) => (codes[i] === KEEP_TOKEN ? t : 1)), codes: codes.map(() => KEEP_TOKEN) }, undefined);
      expect(gen.encoderRuns).toBe(1); // text only: no encoder run
      expect(Math.max(...silent[ids.length - 1]!.map((v, j) => Math.abs(v - got[ids.length - 1]![j]!)))).toBeGreaterThan(1e-3);

      // Greedy generation: same tokens; one encoder run for the whole prompt, not one per token.
      const sampling = { maxNewTokens: 8, temperature: 0 };
      const a = await reference.complete(ids, sampling);
      const b = await gen.complete(layout, audio, sampling);
      expect(b).toEqual(a);
      expect(b.length).toBe(8);
      expect(gen.encoderRuns).toBe(2);
    } finally {
      await gen.release();
      await reference.release();
    }
  }, 60_000);
});
