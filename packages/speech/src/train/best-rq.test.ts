import { Rng } from '@herd/core';
import { type HostTensor, TrainingRun, hostTensor } from '@herd/runtime';
import { describe, expect, it } from 'vitest';
import { parseSpeechConfig } from '../config.js';
import { type LogMelFeatures } from '../data/log-mel.js';
import { bestRqHeadSpecs, conformerParamSpecs, initSpeechWeights } from '../model/params.js';
import { loadSpeechPreset } from '../presets/index.js';
import { IGNORE, type BestRqItem, bestRqBatch, buildBestRqTraining } from './best-rq.js';
import { applyMask, spanMask } from './masking.js';
import { RandomProjectionQuantizer, codeEntropy } from './quantizer.js';

const mini = loadSpeechPreset('mini');
const tiny = parseSpeechConfig({ ...mini, nMels: 8, dim: 16, nLayers: 1, nHeads: 2, ffnDim: 32, convKernel: 3, bestRq: { ...mini.bestRq, codebooks: 2, codebookSize: 16, codeDim: 4, maskSpan: 8 } });

function randomFeatures(frames: number, F: number, seed: number): LogMelFeatures {
  const rng = new Rng(seed);
  // Smoothly varying "speech-like" features, so targets have structure to learn.
  const data = new Float32Array(frames * F);
  for (let t = 0; t < frames; t++) for (let f = 0; f < F; f++) data[t * F + f] = Math.sin(0.3 * t * (1 + f / F) + seed) + 0.1 * rng.normal();
  return { data, frames, nMels: F };
}

describe('BEST-RQ quantizer', () => {
  it('is frozen and seeded, one target per codebook per 4 frames, and blind to per-bin gain and offset', () => {
    const q = new RandomProjectionQuantizer(mini, 5);
    const f = randomFeatures(203, 80, 1);
    const t = q.targets(f);
    expect(t.length).toBe(50 * mini.bestRq.codebooks); // ⌊203/4⌋ = 50 frames
    expect(new RandomProjectionQuantizer(mini, 5).targets(f)).toEqual(t);
    expect(new RandomProjectionQuantizer(mini, 6).targets(f)).not.toEqual(t);
    const scaled = { ...f, data: f.data.map((x, i) => 3 * x + (i % 80) * 0.5) };
    expect(q.targets(scaled)).toEqual(t);
    for (const x of t) expect(x >= 0 && x < mini.bestRq.codebookSize).toBe(true);
    expect(new Set(t).size).toBeGreaterThan(10); // uses many codes, not a collapsed few
  });

  it('codeEntropy is log C for uniform codes and 0 for a constant code', () => {
    const uniform = Int32Array.from({ length: 64 }, (_, i) => i % 16);
    expect(codeEntropy([uniform], 1, 16)).toBeCloseTo(Math.log(16), 10);
    expect(codeEntropy([new Int32Array(10).fill(3)], 1, 16)).toBe(0);
  });
});

describe('BEST-RQ masking', () => {
  it('masks whole spans of maskSpan/stack encoder frames, at least one per utterance, ~55% of long audio', () => {
    const cfg = loadSpeechPreset('llama3-speech');
    const short = spanMask(5, cfg, 1);
    expect(short.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    let masked = 0;
    let total = 0;
    for (let seed = 0; seed < 50; seed++) {
      const m = spanMask(1500, cfg, seed); // 60 s
      masked += m.reduce((a, b) => a + b, 0);
      total += m.length;
      // Every run of masked frames is at least one span long (except where clipped at the end).
      let run = 0;
      for (let s = 0; s <= m.length; s++) {
        if (s < m.length && m[s]) run++;
        else {
          if (run > 0 && s < m.length) expect(run).toBeGreaterThanOrEqual(8);
          run = 0;
        }
      }
    }
    // Span starts with p = 0.025 per 10 ms frame over 32-frame spans: 1 − (1 − 0.1)^8 ≈ 57% of frames.
    expect(masked / total).toBeGreaterThan(0.5);
    expect(masked / total).toBeLessThan(0.64);
  });

  it('replaces masked frames with N(0, 0.1²) noise and leaves the rest', () => {
    const cfg = loadSpeechPreset('mini');
    const f = randomFeatures(400, 80, 2);
    const m = spanMask(100, cfg, 3);
    const out = applyMask(f.data, 80, m, cfg, 4);
    let sq = 0;
    let n = 0;
    for (let s = 0; s < 100; s++) {
      for (let i = s * 320; i < (s + 1) * 320; i++) {
        if (m[s]) (sq += out[i]! ** 2), n++;
        else expect(out[i]).toBe(f.data[i]);
      }
    }
    expect(Math.sqrt(sq / n)).toBeGreaterThan(0.09);
    expect(Math.sqrt(sq / n)).toBeLessThan(0.11);
  });
});

describe('BEST-RQ pre-training step', () => {
  it('batches put targets only on masked real frames; training on a fixed set drives the masked loss far below the code entropy', async () => {
    const q = new RandomProjectionQuantizer(tiny, 9);
    const items: BestRqItem[] = [0, 1, 2, 3].map((i) => {
      const features = randomFeatures(40 + 8 * i, tiny.nMels, i);
      return { key: `u${i}`, features, targets: q.targets(features) };
    });
    const shape = { batch: 4, frames: 64 };
    const b = bestRqBatch(tiny, items, shape, 1);
    const valid = b['valid']!.data as Uint8Array;
    const targets = b['targets']!.data as Int32Array;
    const S = 16;
    for (let r = 0; r < 4; r++) {
      const len = Math.min(16, (40 + 8 * r) / 4);
      expect(valid.subarray(r * S, (r + 1) * S).reduce((a, x) => a + x, 0)).toBe(len);
      for (let s = len; s < S; s++) expect(targets[(r * S + s) * 2]).toBe(IGNORE);
    }

    const weights = initSpeechWeights(tiny, [...conformerParamSpecs(tiny), ...bestRqHeadSpecs(tiny)], 1);
    const graphs = buildBestRqTraining(tiny, weights, shape, { weightDecay: 0 });
    const host: Record<string, HostTensor> = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)]));
    const run = await TrainingRun.create(graphs, host);
    const batch = bestRqBatch(tiny, items, shape, 1); // one fixed batch: memorisable
    const losses: number[] = [];
    for (let i = 0; i < 60; i++) losses.push((await run.trainStep(batch, 3e-3)).loss);
    await run.release();
    const entropy = codeEntropy(items.map((it) => it.targets), 2, 16);
    expect(losses[0]!).toBeGreaterThan(0.8 * Math.log(16)); // starts near chance
    expect(losses.at(-1)!).toBeLessThan(0.5 * entropy);
  });
});
