/**
 * Which image each text token sees, beyond the fixture's single image: intervals reasoned from HF's
 * `get_cross_attention_token_mask` (and Meta's vision-mask intervals), dense rows, and — through the
 * real cross-attention layer of the fixture's adapter — that a text span after image B attends to B
 * only, that padding tiles are never attended to, and that rows before the first image are zeroed.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Graph } from '@herd/graph';
import { Session, hostTensor } from '@herd/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { crossAttentionLayer, rowsWithImage } from './cross-attention.js';
import { crossAttentionMaskRows, imageIntervals } from './image-mask.js';
import { type LoadedMllama, loadHfMllama } from './load.js';
import { adapterParamSpecs } from './params.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'mllama-tiny');
const IMG = 600;

describe('image intervals', () => {
  it('one image: from its token to the end (generated tokens included)', () => {
    expect(imageIntervals([1, IMG, 5, 6], IMG)).toEqual([[1, Infinity]]);
  });
  it('no image: nothing to see', () => {
    expect(imageIntervals([1, 5, 6], IMG)).toEqual([]);
  });
  it('two separated images: each span sees only the image before it', () => {
    // <|image|>A x y <|image|>B z w: tokens 1..3 see A, tokens 4.. see B only.
    expect(imageIntervals([1, IMG, 5, 6, IMG, 7, 8], IMG)).toEqual([[1, 4], [4, Infinity]]);
  });
  it('consecutive images share the end of the last one: the text after them sees both', () => {
    expect(imageIntervals([1, IMG, IMG, 5, 6], IMG)).toEqual([[1, Infinity], [2, Infinity]]);
    expect(imageIntervals([IMG, IMG, 5, IMG, 6], IMG)).toEqual([[0, 3], [1, 3], [3, Infinity]]);
  });
  it('dense rows: real tiles only, padded tiles and other spans masked', () => {
    const layout = { nTiles: [2, 1], maxTiles: 4, tokensPerTile: 3 }; // S = 2 · 4 · 3 = 24
    const rows = crossAttentionMaskRows(imageIntervals([1, IMG, 5, IMG, 7], IMG), layout, 0, 6);
    const row = (t: number): string => Array.from(rows.subarray(t * 24, (t + 1) * 24)).join('');
    expect(row(0)).toBe('0'.repeat(24)); // before any image
    expect(row(1)).toBe('1'.repeat(6) + '0'.repeat(6) + '0'.repeat(12)); // image 0: tiles 0-1 real, 2-3 padding
    expect(row(2)).toBe(row(1));
    expect(row(3)).toBe('0'.repeat(12) + '1'.repeat(3) + '0'.repeat(9)); // image 1: one real tile
    expect(row(5)).toBe(row(3)); // a generated token continues the last span
  });
});

describe('the cross-attention layer honours the mask (fixture adapter weights)', () => {
  let loaded: LoadedMllama;
  beforeAll(() => {
    loaded = loadHfMllama(FIXTURE);
  });

  /** Runs adapter layer 0 alone on x [1, T, D] against image keys/values [1, K, S, Dh]. */
  async function layer(x: Float32Array, T: number, k: Float32Array, v: Float32Array, S: number, mask: Uint8Array): Promise<Float32Array> {
    const m = loaded.config;
    const g = new Graph();
    const p = G.declareParams(g, adapterParamSpecs(m), (name, shape) => g.param(name, 'f32', shape as number[], { value: loaded.vision[name]!.data }));
    const dh = m.text.dim / m.text.nHeads;
    const xi = g.input('x', 'f32', [1, T, m.text.dim]);
    const kv = { k: g.input('k', 'f32', [1, m.text.nKvHeads, S, dh]), v: g.input('v', 'f32', [1, m.text.nKvHeads, S, dh]) };
    const mi = g.input('mask', 'bool', [1, 1, T, S]);
    const out = crossAttentionLayer(m.text, p, m.crossAttentionLayers[0]!, xi, kv, mi, rowsWithImage(mi));
    const s = await Session.create(G.toOnnx(g, { outputs: { out } }));
    try {
      const r = await s.run({
        x: hostTensor('f32', [1, T, m.text.dim], x),
        k: hostTensor('f32', [1, m.text.nKvHeads, S, dh], k),
        v: hostTensor('f32', [1, m.text.nKvHeads, S, dh], v),
        mask: hostTensor('bool', [1, 1, T, S], mask),
      });
      return r['out']!.data as Float32Array;
    } finally {
      await s.release();
    }
  }

  const rand = (n: number, rng: Rng): Float32Array => Float32Array.from({ length: n }, () => rng.normal());

  it('two images: the span after image B gives exactly what B alone gives; text before any image is unchanged', async () => {
    const m = loaded.config;
    const D = m.text.dim;
    const K = m.text.nKvHeads;
    const dh = D / m.text.nHeads;
    const per = 2 * 3; // keys per image in this test: 2 tile slots × 3 tokens
    const layout = { nTiles: [2, 2], maxTiles: 2, tokensPerTile: 3 };
    const tokens = [1, IMG, 5, 6, IMG, 7, 8];
    const T = tokens.length;
    const rng = new Rng(7);
    const x = rand(T * D, rng);
    const kAll = rand(K * 2 * per * dh, rng); // [1, K, 2·per, Dh]: image A keys then image B keys per head
    const vAll = rand(K * 2 * per * dh, rng);
    const both = await layer(x, T, kAll, vAll, 2 * per, crossAttentionMaskRows(imageIntervals(tokens, IMG), layout, 0, T));
    // Image B alone, seen by every row.
    const onlyB = (a: Float32Array): Float32Array => {
      const out = new Float32Array(K * per * dh);
      for (let h = 0; h < K; h++) out.set(a.subarray((h * 2 * per + per) * dh, (h * 2 * per + 2 * per) * dh), h * per * dh);
      return out;
    };
    const b = await layer(x, T, onlyB(kAll), onlyB(vAll), per, new Uint8Array(T * per).fill(1));
    for (let t = 4; t < T; t++) for (let d = 0; d < D; d++) expect(both[t * D + d]).toBeCloseTo(b[t * D + d]!, 5);
    // The span of image A differs from B's (it sees A), and the BOS row is passed through untouched.
    let diff = 0;
    for (let d = 0; d < D; d++) diff = Math.max(diff, Math.abs(both[2 * D + d]! - b[2 * D + d]!));
    expect(diff).toBeGreaterThan(1e-3);
    for (let d = 0; d < D; d++) expect(both[d]).toBe(x[d]); // Meta: attention and FFN of the row zeroed
  });

  it('fewer than 4 tiles: keys/values of padding tiles have no effect', async () => {
    const m = loaded.config;
    const D = m.text.dim;
    const K = m.text.nKvHeads;
    const dh = D / m.text.nHeads;
    const layout = { nTiles: [2], maxTiles: 4, tokensPerTile: 3 };
    const S = 4 * 3;
    const tokens = [1, IMG, 5, 6];
    const rng = new Rng(11);
    const x = rand(tokens.length * D, rng);
    const k = rand(K * S * dh, rng);
    const v = rand(K * S * dh, rng);
    const mask = crossAttentionMaskRows(imageIntervals(tokens, IMG), layout, 0, tokens.length);
    const a = await layer(x, tokens.length, k, v, S, mask);
    const k2 = Float32Array.from(k);
    const v2 = Float32Array.from(v);
    for (let h = 0; h < K; h++) for (let s = 6; s < S; s++) for (let d = 0; d < dh; d++) {
      k2[(h * S + s) * dh + d] = 100;
      v2[(h * S + s) * dh + d] = -100;
    }
    const b = await layer(x, tokens.length, k2, v2, S, mask);
    expect(Array.from(b)).toEqual(Array.from(a));
  });
});
