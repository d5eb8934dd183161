import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Graph } from '@herd/graph';
import { Session, hostTensor } from '@herd/runtime';
import { describe, expect, it } from 'vitest';
import { parseSpeechConfig } from '../config.js';
import { loadSpeechPreset } from '../presets/index.js';
import { conformerEncoder } from './conformer.js';
import { conformerParamSpecs, countParams, initSpeechWeights } from './params.js';

const tiny = parseSpeechConfig({ ...loadSpeechPreset('mini'), nMels: 8, dim: 16, nLayers: 2, nHeads: 2, ffnDim: 24, convKernel: 3 });

/** Runs the encoder on features [B, T, F] with per-row valid lengths (in encoder frames). */
async function encode(features: Float32Array, B: number, T: number, lengths: number[]): Promise<Float32Array> {
  const g = new Graph();
  const w = initSpeechWeights(tiny, conformerParamSpecs(tiny), 7);
  // Non-trivial norms and biases so that every parameter matters.
  const rng = new Rng(3);
  for (const [k, v] of Object.entries(w)) if (k.endsWith('.bias') || k.includes('norm')) v.data.forEach((x, i) => (v.data[i] = x + 0.1 * rng.normal()));
  const p = G.declareParams(g, conformerParamSpecs(tiny), (name, shape) => g.param(name, 'f32', shape as number[], { value: w[name]!.data }));
  const S = T / tiny.stack;
  const x = g.input('features', 'f32', [B, T, tiny.nMels]);
  const valid = g.input('valid', 'bool', [B, S]);
  const h = conformerEncoder(tiny, p, x, valid);
  const s = await Session.create(G.toOnnx(g, { outputs: { h }, name: 'conformer' }));
  const v = new Uint8Array(B * S);
  lengths.forEach((n, b) => v.fill(1, b * S, b * S + n));
  const out = await s.run({ features: hostTensor('f32', [B, T, tiny.nMels], features), valid: hostTensor('bool', [B, S], v) });
  await s.release();
  return out['h']!.data as Float32Array;
}

describe('Conformer encoder', () => {
  it("the paper's shape has ~1B parameters (§7.1: a 1B Conformer)", () => {
    const n = countParams(conformerParamSpecs(loadSpeechPreset('llama3-speech')));
    expect(n).toBeGreaterThan(0.95e9);
    expect(n).toBeLessThan(1.1e9);
  });

  it('padding does not change the real frames: an utterance alone equals the same utterance padded in a batch', async () => {
    const F = tiny.nMels;
    const rng = new Rng(11);
    const short = Float32Array.from({ length: 12 * F }, () => rng.normal()); // 12 input frames = 3 encoder frames
    const long = Float32Array.from({ length: 24 * F }, () => rng.normal());
    const alone = await encode(short, 1, 12, [3]);
    // Batch of 2 padded to 24 frames; the padding holds garbage that must not leak.
    const batch = new Float32Array(2 * 24 * F);
    batch.set(long, 0);
    batch.set(short, 24 * F);
    for (let i = 24 * F + 12 * F; i < 48 * F; i++) batch[i] = 100 * rng.normal();
    const both = await encode(batch, 2, 24, [6, 3]);
    const D = tiny.dim;
    const got = both.subarray(6 * D, 6 * D + 3 * D); // row 1, frames 0..2
    let worst = 0;
    for (let i = 0; i < 3 * D; i++) worst = Math.max(worst, Math.abs(got[i]! - alone[i]!));
    expect(worst).toBeLessThan(1e-4);
    // And the output really depends on the input (not a constant).
    expect(Math.abs(both[0]! - both[6 * D]!)).toBeGreaterThan(1e-3);
  });

  it('rejects features whose length is not a multiple of the stack', () => {
    const g = new Graph();
    const p = G.declareParams(g, conformerParamSpecs(tiny), (name, shape) => g.param(name, 'f32', shape as number[]));
    expect(() => conformerEncoder(tiny, p, g.input('features', 'f32', [1, 10, tiny.nMels]), g.input('valid', 'bool', [1, 2]))).toThrow(/multiple of 4/);
  });
});
