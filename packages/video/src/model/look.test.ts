/**
 * The second feature input (video config `look`): the object-motion tokens get a learned map of a
 * second image checkpoint's frame change at the same place. One input keeps today's graphs byte for
 * byte; the map at zeros gives the one-input model's logits bit for bit; trained, only rows after the
 * clip change; the look never reads as a place; frames and precomputed-tokens paths agree.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildLmEval, buildLmTraining } from '@herd/llama3';
import { type HostTensor, Session, hostTensor } from '@herd/runtime';
import { Rng, decodeF16, encodeF16 } from '@herd/core';
import * as G from '@herd/graph';
import { parseVideoConfig } from '../config.js';
import { FrameEncoder, type VideoExample, withLook } from '../data/features.js';
import { TINY_CLIP, movingSquare, tinyModel } from '../test-support/tiny.js';
import { videoBatch } from '../train/batch.js';
import { videoExportModality } from '../export/export.js';
import { VideoGenerator } from './generate.js';
import { LOOK_PROJ, addLook, lookTokens, placeDirections, tokenPlaces } from './resampler.js';
import { rowsWithVideo, videoCrossAttentionLayer } from './video-cross-attention.js';
import { VIDEO_CROSS_ATTENTION_GROUP, buildVideoDecoder, buildVideoTokensGraph, frameTokens, lookTokenCount, videoModelSpec, videoParamSpecs } from './graphs.js';

const IMG = 40;
const t = tinyModel();
const withTokens = (look: boolean, lookKeys = false) => parseVideoConfig({ ...t.m.video, resampler: { ...t.m.video.resampler, motionTokens: true }, ...(look ? { look: true } : {}), ...(lookKeys ? { lookKeys: true } : {}) });
const one = { ...t.m, video: withTokens(false) };
const two = { ...t.m, video: withTokens(true) };
const keysOnly = { ...t.m, video: withTokens(true, true) };
const S = frameTokens(t.m.image);
const D = t.m.image.text.dim;
const F = TINY_CLIP.frames;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('video model: the look input (a second feature input)', () => {
  it('one feature input: the decoder, video-tokens and training graphs are those before the look input existed, byte for byte', () => {
    // Digests of the graphs as emitted before the look input was added (round 24, this tiny model with motion tokens).
    // A deliberate change to the graph code elsewhere changes them too: re-pin then, after checking that change alone did.
    const video = G.initParams(videoParamSpecs(one), 3, { layers: 2, std: 0.3 });
    const w = { ...t.core, ...t.vision, ...video };
    expect(videoParamSpecs(one).some((s) => s.name === LOOK_PROJ)).toBe(false);
    expect('look' in one.video).toBe(false); // configs without it are stored as before
    expect(sha(buildVideoDecoder(one, TINY_CLIP, t.core, { ...t.vision, ...video }).bytes)).toBe('d695f63a42ee665c0c33fecbc31cd16d4bfb68ed17fad8774e497ddd07cfafdb');
    expect(sha(buildVideoTokensGraph(one, TINY_CLIP, video).bytes)).toBe('dbe6634c9a86f4a12cb9bba58b28336cbc8f6af977fa5f290d4480524f6746c2');
    expect(sha(buildLmTraining(videoModelSpec(one, TINY_CLIP, 'frames'), w, { batch: 2, seqLen: 8, train: ['video.aggregator', 'video.cross_attention'] }).step.bytes)).toBe('142dc5ab164385cf6344a42eb7cd9116cedd3eb7de50584a00437bb79887911d');
    expect(sha(buildLmTraining(videoModelSpec(one, TINY_CLIP, 'tokens'), w, { batch: 2, seqLen: 8, train: ['video.cross_attention'] }).step.bytes)).toBe('c1035aadca1f203f7431555e68d71fe4913ddef5e6d361bb18dcedbbad6a1470');
  });

  it('config: look needs the object-motion tokens and is true or false; its map is [D, D], zeros, in the cross-attention group (trains on a frozen aggregator)', () => {
    expect(() => parseVideoConfig({ ...t.m.video, look: true })).toThrow(/look adds to the object-motion tokens: it needs resampler\.motionTokens true/);
    expect(() => parseVideoConfig({ ...two.video, look: 'yes' })).toThrow(/look must be true or false, got "yes"/);
    const spec = videoParamSpecs(two).find((s) => s.name === LOOK_PROJ);
    expect(spec).toEqual({ name: LOOK_PROJ, shape: [D, D], init: 'zeros' });
    const graphs = buildLmTraining(videoModelSpec(two, TINY_CLIP, 'tokens'), { ...t.core, ...t.vision, ...G.initParams(videoParamSpecs(two), 3, { layers: 2 }) }, { batch: 2, seqLen: 8, train: [VIDEO_CROSS_ATTENTION_GROUP] });
    expect(graphs.layout.entries.map((s) => s.name)).toContain(LOOK_PROJ);
    expect(graphs.step.inputs.map((i) => i.name)).toEqual(expect.arrayContaining(['video.tokens', 'video.look']));
    expect(buildLmTraining(videoModelSpec(two, TINY_CLIP, 'frames'), { ...t.core, ...t.vision, ...G.initParams(videoParamSpecs(two), 3, { layers: 2 }) }, { batch: 2, seqLen: 8, train: [VIDEO_CROSS_ATTENTION_GROUP] }).step.inputs.map((i) => i.name)).toEqual(expect.arrayContaining(['video.frames', 'video.lookFrames']));
  });

  it('lookKeys: the look only in the keys — with uniform attention (no query) the layer reads the same as without it; with a query it looks elsewhere; needs look', async () => {
    expect(() => parseVideoConfig({ ...two.video, lookKeys: 1 })).toThrow(/lookKeys must be true or false, got 1/);
    expect(() => parseVideoConfig({ ...one.video, lookKeys: true })).toThrow(/lookKeys says where the look input goes: it needs look true/);
    expect('lookKeys' in two.video).toBe(false);
    const cfg = t.m.image.text;
    const [B, T, V] = [2, 3, 5];
    const rng = new Rng(6);
    const values = G.initParams(videoParamSpecs(keysOnly), 7, { layers: 2, std: 0.3 });
    for (const [k, w] of Object.entries(values)) if (/_gate$/.test(k)) values[k] = { ...w, data: new Float32Array(1).fill(0.8) };
    const x = Float32Array.from({ length: B * T * D }, () => rng.normal());
    const video = Float32Array.from({ length: B * V * D }, () => rng.normal());
    const keys = Float32Array.from({ length: B * V * D }, () => rng.normal());
    const layer = async (noQuery: boolean, withKeys: boolean) => {
      const g = new G.Graph();
      const p = ((name: string) => g.constant(/q_proj\.weight$/.test(name) && noQuery ? new Float32Array(values[name]!.data.length) : (values[name]!.data as Float32Array), 'f32', [...values[name]!.shape])) as G.Params;
      const mask = g.constant(new Uint8Array(B * T * V).fill(1), 'bool', [B, 1, T, V]);
      const out = videoCrossAttentionLayer(cfg, p, 0, { ffnHidden: t.m.video.crossFfnDim }, g.input('x', 'f32', [B, T, D]), g.input('video', 'f32', [B, V, D]), mask, rowsWithVideo(mask), undefined, withKeys ? g.input('keys', 'f32', [B, V, D]) : undefined);
      const s = await Session.create(G.toOnnx(g, { outputs: { out }, name: 'layer' }));
      const feeds = { x: hostTensor('f32', [B, T, D], x), video: hostTensor('f32', [B, V, D], video), ...(withKeys ? { keys: hostTensor('f32', [B, V, D], keys) } : {}) };
      return Array.from((await s.run(feeds).finally(() => s.release()))['out']!.data as Float32Array);
    };
    const [plain, keyed] = [await layer(true, false), await layer(true, true)];
    keyed.forEach((v, i) => expect(v).toBeCloseTo(plain[i]!, 4)); // values from `video`: the same mean whatever the keys
    const [plainQ, keyedQ] = [await layer(false, false), await layer(false, true)];
    expect(keyedQ.some((v, i) => Math.abs(v - plainQ[i]!) > 1e-3)).toBe(true); // keys decide where it looks
  });

  it('lookTokens: per effective frame and place the change against the clip\'s mean frame; class tokens, padding tiles and a static clip give zeros', async () => {
    const g = new G.Graph();
    const look = g.input('look', 'f32', [1, F, S, D]);
    const mask = g.input('mask', 'bool', [1, S]);
    const s = await Session.create(G.toOnnx(g, { outputs: { l: lookTokens(look, mask, t.m.image.vision, TINY_CLIP) }, name: 'look' }));
    const rng = new Rng(3);
    const x = Float32Array.from({ length: F * S * D }, () => rng.normal());
    const frameMask = new Uint8Array(S).fill(1, 0, S / 2); // one real tile of two
    const { patch } = tokenPlaces(t.m.image.vision);
    const k = TINY_CLIP.groupFrames;
    const E = F / k;
    try {
      const got = (await s.run({ look: hostTensor('f32', [1, F, S, D], x), mask: hostTensor('bool', [1, S], frameMask) }))['l']!;
      expect(got.shape).toEqual([1, E * S, D]);
      for (let e = 0; e < E; e++) for (let p = 0; p < S; p++) for (let d = 0; d < D; d += 5) {
        const at = (f: number) => x[(f * S + p) * D + d]!;
        const mean = Array.from({ length: F }, (_, f) => at(f)).reduce((a, v) => a + v, 0) / F;
        const want = frameMask[p] && patch[p] ? Array.from({ length: k }, (_, i) => at(e * k + i) - mean).reduce((a, v) => a + v, 0) / k : 0;
        expect((got.data as Float32Array)[(e * S + p) * D + d]).toBeCloseTo(want, 4);
      }
      const still = new Float32Array(F * S * D);
      for (let f = 0; f < F; f++) still.set(x.subarray(0, S * D), f * S * D);
      expect(Array.from((await s.run({ look: hostTensor('f32', [1, F, S, D], still), mask: hostTensor('bool', [1, S], frameMask) }))['l']!.data as Float32Array).every((v) => Math.abs(v) < 1e-5)).toBe(true);
      expect(() => lookTokens(look, mask, { ...t.m.image.vision, maxTiles: 4 }, TINY_CLIP)).toThrow(/look tokens: frames have \d+ tokens, the image model's tiling gives \d+/);
    } finally {
      await s.release();
    }
  });

  it('addLook: W · look added to the last tokens (the motion tokens) only, with no part along the place directions', async () => {
    const [B, V, n] = [2, 7, 4];
    const rng = new Rng(4);
    const W = Float32Array.from({ length: D * D }, () => rng.normal());
    const tokens = Float32Array.from({ length: B * V * D }, () => rng.normal());
    const look = Float32Array.from({ length: B * n * D }, () => rng.normal());
    const g = new G.Graph();
    const p = ((name: string) => (name === LOOK_PROJ ? g.constant(W, 'f32', [D, D]) : undefined)) as G.Params;
    const out = addLook(p, g.input('tokens', 'f32', [B, V, D]), g.input('look', 'f32', [B, n, D]));
    expect(() => addLook(p, g.input('t2', 'f32', [B, 2, D]), g.input('l2', 'f32', [B, n, D]))).toThrow(/look: \[2,4,32\] does not fit the last tokens of the video tokens \[2,2,32\]/);
    const s = await Session.create(G.toOnnx(g, { outputs: { out }, name: 'add_look' }));
    const got = (await s.run({ tokens: hostTensor('f32', [B, V, D], tokens), look: hostTensor('f32', [B, n, D], look) }).finally(() => s.release()))['out']!.data as Float32Array;
    const u = placeDirections(D);
    for (let b = 0; b < B; b++) for (let v = 0; v < V; v++) {
      const added = Array.from({ length: D }, (_, d) => got[(b * V + v) * D + d]! - tokens[(b * V + v) * D + d]!);
      if (v < V - n) expect(added.every((a) => a === 0)).toBe(true);
      else {
        const mapped = Array.from({ length: D }, (_, o) => Array.from({ length: D }, (_, i) => W[o * D + i]! * look[(b * n + v - (V - n)) * D + i]!).reduce((a, w) => a + w, 0));
        for (const c of [0, 1]) expect(added.reduce((a, x, d) => a + x * u[c * D + d]!, 0)).toBeCloseTo(0, 3); // not a place
        const along = [0, 1].map((c) => mapped.reduce((a, x, d) => a + x * u[c * D + d]!, 0));
        for (let d = 0; d < D; d++) expect(added[d]).toBeCloseTo(mapped[d]! - along[0]! * u[d]! - along[1]! * u[D + d]!, 3);
      }
    }
  });

  it('in the decoder: the map at zeros = the one-input model, bit for bit; trained, only rows after the clip change; a clip without the look is refused', async () => {
    const rng = new Rng(8);
    const values = G.initParams(videoParamSpecs(two), 7, { layers: 2, std: 0.3 });
    const open = (v: typeof values) => Object.fromEntries(Object.entries(v).map(([k, w]) => [k, /_gate$/.test(k) ? { ...w, data: new Float32Array(w.shape[0]!).fill(0.8) } : w]));
    const oneValues = open(Object.fromEntries(Object.entries(values).filter(([k]) => k !== LOOK_PROJ)));
    const trained = { ...open(values), [LOOK_PROJ]: { dtype: 'f32' as const, shape: [D, D], data: Float32Array.from({ length: D * D }, () => 0.3 * rng.normal()) } };
    const right = movingSquare(t.m.image, [[2, 9], [12, 9], [22, 9], [32, 9]]);
    const left = movingSquare(t.m.image, [[32, 9], [22, 9], [12, 9], [2, 9]]);
    const prompt = [1, 5, IMG, 7, 8, 9];
    const gens = [VideoGenerator.create(one, TINY_CLIP, t.core, t.vision, oneValues), VideoGenerator.create(two, TINY_CLIP, t.core, t.vision, open(values)), VideoGenerator.create(two, TINY_CLIP, t.core, t.vision, trained), VideoGenerator.create(keysOnly, TINY_CLIP, t.core, t.vision, open(values)), VideoGenerator.create(keysOnly, TINY_CLIP, t.core, t.vision, trained)];
    try {
      // The clip's features, and as its look the other clip's (another checkpoint would give other features of the same clip).
      const enc = await FrameEncoder.create(t.m.image, t.vision, F);
      const [a, b] = [await enc.encode(right), await enc.encode(left)];
      await enc.release();
      const clip = { ...a, look: b.features };
      const [without, zeros, learnt, keysZeros, keysLearnt] = await Promise.all(gens.map(async (gen) => gen.logits(prompt, await gen.context(clip))));
      for (const [z, l] of [[zeros, learnt], [keysZeros, keysLearnt]]) {
        z!.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(without![i]!)));
        l!.slice(0, 2).forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(without![i]!)));
        expect(l!.slice(2).some((row, i) => row.some((v, j) => Math.abs(v - without![i + 2]![j]!) > 1e-4))).toBe(true);
      }
      expect(keysLearnt!.slice(2).some((row, i) => row.some((v, j) => Math.abs(v - learnt![i + 2]![j]!) > 1e-4))).toBe(true);
      await expect(gens[1]!.context(a)).rejects.toThrow(/this video model takes a second feature input \(look\), the clip has none/);
    } finally {
      await Promise.all(gens.map((gen) => gen.release()));
    }
  });

  it.each([['keys and values', two], ['keys only', keysOnly]] as const)('training feeds (%s): the frames path takes each clip\'s look frames, the frozen-aggregator path its look tokens; the two give the same loss', async (_, two) => {
    const rng = new Rng(12);
    const f16 = () => encodeF16(Float32Array.from({ length: F * S * D }, () => rng.normal()));
    const kv = Object.fromEntries(t.m.image.crossAttentionLayers.flatMap((_, j) => [[`xattn.k.${j}`, new Float32Array(2 * S * 8)], [`xattn.v.${j}`, new Float32Array(2 * S * 8)]]));
    const frameMask = new Uint8Array(S).fill(1, 0, S / 2);
    const features = new Map([['c0', { features: f16(), frameMask, kv, look: f16(), aspectRatioId: 1 }], ['c1', { features: f16(), frameMask, kv, look: f16(), aspectRatioId: 1 }]]);
    const seq = (clip: string) => ({ clip, tokens: [1, IMG, 5, 6, 7, 8, 9, 3], targets: [-100, -100, 6, 7, 8, 9, 3, -100] });
    const seqs = [seq('c0'), seq('c1')];
    const values = { ...G.initParams(videoParamSpecs(two), 7, { layers: 2, std: 0.3 }) };
    for (const [k, w] of Object.entries(values)) if (/_gate$/.test(k) || k === LOOK_PROJ) values[k] = { ...w, data: Float32Array.from({ length: w.data.length }, () => 0.5 * rng.normal()) };
    const fromFrames = videoBatch(two, TINY_CLIP, features, seqs, 8);
    expect(fromFrames['video.lookFrames']!.shape).toEqual([2, F, S, D]);
    // The frozen-aggregator path: tokens and look tokens from the video-tokens graph.
    const s = await Session.create(buildVideoTokensGraph(two, TINY_CLIP, values));
    const tokens = new Map<string, Float32Array>();
    const looks = new Map<string, Float32Array>();
    for (const [key, x] of features) {
      const out = await s.run({ 'video.frames': hostTensor('f32', [1, F, S, D], decodeF16(x.features)), 'video.frameMask': hostTensor('bool', [1, S], x.frameMask), 'video.lookFrames': hostTensor('f32', [1, F, S, D], decodeF16(x.look)) });
      tokens.set(key, out['video.tokens']!.data as Float32Array);
      looks.set(key, out['video.look']!.data as Float32Array);
    }
    await s.release();
    const fromTokens = videoBatch(two, TINY_CLIP, features, seqs, 8, tokens, undefined, looks);
    expect(fromTokens['video.look']!.shape).toEqual([2, lookTokenCount(two, TINY_CLIP), D]);
    expect(() => videoBatch(two, TINY_CLIP, features, seqs, 8, tokens)).toThrow(/video batch: no look tokens \[\d+×32\] for clip 'c0'/);
    const bare = new Map([...features].map(([k, x]) => [k, { features: x.features, frameMask: x.frameMask, kv: x.kv, aspectRatioId: x.aspectRatioId }]));
    expect(() => videoBatch(two, TINY_CLIP, bare, seqs, 8)).toThrow(/video batch: clip 'c0' has no second feature input/);
    const loss = async (source: 'frames' | 'tokens', feeds: Record<string, HostTensor>) => {
      const e = await Session.create(buildLmEval(videoModelSpec(two, TINY_CLIP, source), { ...t.core, ...t.vision, ...values }, { batch: 2, seqLen: 8 }));
      const names = new Set(e.inputs.map((i) => i.name));
      const out = await e.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k)))).finally(() => e.release());
      return (out['lossSum']!.data as Float32Array)[0]!;
    };
    expect(await loss('tokens', fromTokens)).toBeCloseTo(await loss('frames', fromFrames), 4);
  });

  it('export: a checkpoint with the look input is refused in one line (the export carries one feature input)', () => {
    const values = G.initParams(videoParamSpecs(two), 7, { layers: 2 });
    expect(() => videoExportModality(two, TINY_CLIP, t.vision, values)).toThrow(/video export: this video checkpoint has a second feature input \(look/);
  });

  it('withLook: each clip gets the second cache\'s features by key; a missing clip or another shape is refused', () => {
    const ex = (key: string, n: number): VideoExample => ({ key, split: 'train', caption: '', objects: [], static: false, frames: F, clip: { features: new Uint16Array(n), frameMask: new Uint8Array(S), kv: {}, aspectRatioId: 1 } });
    const joined = withLook([ex('a', 8), ex('b', 8)], [ex('b', 8), ex('a', 8)]);
    expect(joined.map((x) => [x.key, x.clip.look?.length])).toEqual([['a', 8], ['b', 8]]);
    expect(() => withLook([ex('a', 8), ex('c', 8)], [ex('a', 8)])).toThrow(/look features: no clip 'c' \(made from other clips\?\)/);
    expect(() => withLook([ex('a', 8)], [ex('a', 4)])).toThrow(/look features: clip 'a' has \d+ frames \/ 4 values, the first features \d+ \/ 8/);
  });
});
