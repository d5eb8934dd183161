import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Graph } from '@herd/graph';
import { Session, hostTensor } from '@herd/runtime';
import { describe, expect, it } from 'vitest';
import { type SpeechAdapterConfig, adapterFrames, adapterParamSpecs, speechAdapter, spliceEmbeddings } from './adapter.js';

const cfg: SpeechAdapterConfig = { encoderDim: 12, dim: 16, nHeads: 2, ffnDim: 24, coreDim: 10, normEps: 1e-5, ropeTheta: 10000 };

async function runAdapter(h: Float32Array, B: number, S: number, lengths: number[]) {
  const g = new Graph();
  const w = G.initParams(adapterParamSpecs(cfg), 5, { layers: 1 });
  const p = G.declareParams(g, adapterParamSpecs(cfg), (name, shape) => g.param(name, 'f32', shape as number[], { value: w[name]!.data }));
  const { out, valid } = speechAdapter(cfg, p, g.input('h', 'f32', [B, S, cfg.encoderDim]), g.input('valid', 'bool', [B, S]));
  const s = await Session.create(G.toOnnx(g, { outputs: { out, validOut: G.cast(valid, 'i32') }, name: 'adapter' }));
  const v = new Uint8Array(B * S);
  lengths.forEach((n, b) => v.fill(1, b * S, b * S + n));
  const r = await s.run({ h: hostTensor('f32', [B, S, cfg.encoderDim], h), valid: hostTensor('bool', [B, S], v) });
  await s.release();
  return { out: r['out']!, valid: r['validOut']!.data as Int32Array };
}

describe('speech adapter', () => {
  it('halves the frame rate (kernel 3, stride 2), maps to the core width, and ignores padding', async () => {
    expect([adapterFrames(7), adapterFrames(8), adapterFrames(1)]).toEqual([4, 4, 1]);
    const rng = new Rng(1);
    const E = cfg.encoderDim;
    const short = Float32Array.from({ length: 5 * E }, () => rng.normal());
    const alone = await runAdapter(short, 1, 5, [5]);
    expect(alone.out.shape).toEqual([1, 3, cfg.coreDim]);
    const batch = new Float32Array(2 * 9 * E);
    for (let i = 0; i < 9 * E; i++) batch[i] = rng.normal();
    batch.set(short, 9 * E);
    for (let i = 9 * E + 5 * E; i < 18 * E; i++) batch[i] = 50 * rng.normal(); // garbage in the padding
    const both = await runAdapter(batch, 2, 9, [9, 5]);
    expect(both.out.shape).toEqual([2, 5, cfg.coreDim]);
    expect(Array.from(both.valid)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    const a = alone.out.data as Float32Array;
    const b = (both.out.data as Float32Array).subarray(5 * cfg.coreDim, 8 * cfg.coreDim);
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 4);
  });

  it('splices audio frames into the placeholder positions and leaves every token embedding alone', async () => {
    const g = new Graph();
    const B = 2, T = 6, A = 2, D = 3;
    const emb = g.input('emb', 'f32', [B, T, D]);
    const audio = g.input('audio', 'f32', [B, A, D]);
    const idx = g.input('idx', 'i32', [B, T]);
    const s = await Session.create(G.toOnnx(g, { outputs: { x: spliceEmbeddings(emb, audio, idx) }, name: 'splice' }));
    const e = Float32Array.from({ length: B * T * D }, (_, i) => i);
    const au = Float32Array.from({ length: B * A * D }, (_, i) => -1 - i);
    // Row 0: <bos> <audio_start> a0 a1 <audio_end> x; row 1: <bos> <audio_start> a0 <audio_end> x x (its second frame is padding).
    const index = Int32Array.from([-1, -1, 0, 1, -1, -1, -1, -1, 2, -1, -1, -1]);
    const r = (await s.run({ emb: hostTensor('f32', [B, T, D], e), audio: hostTensor('f32', [B, A, D], au), idx: hostTensor('i32', [B, T], index) }))['x']!.data as Float32Array;
    await s.release();
    for (let t = 0; t < B * T; t++) {
      for (let d = 0; d < D; d++) expect(r[t * D + d]).toBe(index[t]! >= 0 ? au[index[t]! * D + d] : e[t * D + d]);
    }
  });
});
