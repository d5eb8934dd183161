/**
 * The video look loss (`videoLookLoss`, `--look-weight`): vision's look loss on the video cross-attention layers. Its
 * attention is the layer's own (checked against the layer's attention read through fixed values), in the training graph
 * it leaves the answer loss as it was and reaches only where the last layer looks (queries and keys), and trained it
 * moves the attention onto the marked tokens. (The loss formula itself is vision's, tested there.)
 */
import { describe, expect, it } from 'vitest';
import { Rng, encodeF16 } from '@herd/core';
import * as G from '@herd/graph';
import { buildLmTraining } from '@herd/llama3';
import { Session, TrainingRun, hostTensor } from '@herd/runtime';
import { LOOK_EPS, lookedMass } from '@herd/vision';
import { parseVideoConfig, videoTokenCount } from '../config.js';
import { type ClipFeatures } from '../data/features.js';
import { TINY_CLIP, tinyModel } from '../test-support/tiny.js';
import { type VideoSequence, videoBatch } from '../train/batch.js';
import { VIDEO_CROSS_ATTENTION_GROUP, VIDEO_LOOK_ROWS, VIDEO_LOOK_TOKENS, frameTokens, lookPerFrame, videoExtension, videoLayers, videoModelSpec, videoParamSpecs } from './graphs.js';
import { placeDirections } from './resampler.js';
import { placeRead, videoLayerLook, videoLayerPrefix } from './video-cross-attention.js';

const IMG = 40;
const t = tinyModel();
const m = { ...t.m, video: parseVideoConfig({ ...t.m.video, resampler: { ...t.m.video.resampler, motionTokens: true } }) };
const cfg = m.image.text;
const D = cfg.dim;
const S = frameTokens(m.image);
const V = videoTokenCount(m.video, TINY_CLIP, S);
const F = TINY_CLIP.frames;

/** Fresh video values with the gates open (0.5), so an earlier layer writes the stream a later one reads. */
function openValues(seed: number) {
  const values = G.initParams(videoParamSpecs(m), seed, { layers: 2, std: 0.3 });
  for (const [k, w] of Object.entries(values)) if (/_gate$/.test(k)) (w.data as Float32Array).fill(0.5);
  return values;
}

describe('video look loss', () => {
  it("a video layer's look (videoLayerLook) is its own attention: the head-mean mass on a token weighting equals the layer's attention read through fixed values", async () => {
    const [B, T] = [2, 3];
    const rng = new Rng(35);
    const values = openValues(3);
    const hn = Float32Array.from({ length: B * T * D }, () => rng.normal());
    const tokens = Float32Array.from({ length: B * V * D }, () => rng.normal());
    const mask = Uint8Array.from({ length: B * T * V }, (_, i) => (i % 5 === 2 ? 0 : 1));
    // The weighting: each token's part along u_x — what the layer's place read (placeRead) takes as its value dim 0.
    const u = placeDirections(D);
    const along = Float32Array.from({ length: B * V }, (_, i) => tokens.subarray(i * D, (i + 1) * D).reduce((a, x, d) => a + x * u[d]!, 0));
    const H = cfg.nHeads;
    for (const j of [0, 1]) {
      const g = new G.Graph();
      const p = ((name: string) => g.constant(values[name]!.data as Float32Array, 'f32', [...values[name]!.shape])) as G.Params;
      const [hnT, tokT, maskT] = [g.input('hn', 'f32', [B, T, D]), g.input('tokens', 'f32', [B, V, D]), g.input('mask', 'bool', [B, 1, T, V])];
      const mass = lookedMass(videoLayerLook(cfg, p, j, hnT, tokT, maskT), g.input('along', 'f32', [B, V]));
      const read = placeRead(cfg, p, `${videoLayerPrefix(j)}.cross_attn`, hnT, tokT, maskT);
      const s = await Session.create(G.toOnnx(g, { outputs: { mass, read }, name: 'look' }));
      try {
        const out = await s.run({ hn: hostTensor('f32', [B, T, D], hn), tokens: hostTensor('f32', [B, V, D], tokens), mask: hostTensor('bool', [B, 1, T, V], mask), along: hostTensor('f32', [B, V], along) });
        const m1 = out['mass']!.data as Float32Array;
        const r = out['read']!.data as Float32Array; // [B, T, 2H]: per head (x, y)
        for (let i = 0; i < B * T; i++) {
          const headMean = Array.from({ length: H }, (_, h) => r[i * 2 * H + 2 * h]!).reduce((a, x) => a + x, 0) / H;
          expect(Math.abs(m1[i]! - headMean)).toBeLessThan(1e-5);
        }
        expect(Math.max(...Array.from(m1, Math.abs))).toBeGreaterThan(0.05); // not a degenerate case
      } finally {
        await s.release();
      }
    }
  });

  it('split by effective frame: the mean over frames of −log(head-mean mass on that frame\'s marks); a row that looks at one frame only pays for the other', async () => {
    const [B, H, K, T, E, V, Dh] = [1, 2, 1, 2, 2, 4, 4];
    // Keys: token v points along axis v; a query along axis v looks (almost) only at token v. Tokens 0, 1 are frame 0's marks, 2, 3 frame 1's.
    const k = Float32Array.from({ length: B * K * V * Dh }, (_, i) => (Math.floor(i / Dh) % V === i % Dh ? 1 : 0));
    const q = new Float32Array(B * H * T * Dh);
    for (let h = 0; h < H; h++) {
      q[(h * T + 0) * Dh + 0] = 60; // row 0: both heads on token 0 (frame 0 only)
      q[(h * T + 1) * Dh + (h === 0 ? 1 : 2)] = 60; // row 1: head 0 on token 1 (frame 0), head 1 on token 2 (frame 1)
    }
    const tokens = Float32Array.from([1, 1, 0, 0, 0, 0, 1, 1]); // [B, E, V]
    const g = new G.Graph();
    const layer = { q: g.input('q', 'f32', [B, H, T, Dh]), k: g.input('k', 'f32', [B, K, V, Dh]), mask: g.input('mask', 'bool', [B, 1, T, V]) };
    const out = lookPerFrame([layer], g.input('tokens', 'f32', [B, E, V]), g.input('rows', 'f32', [B, T]));
    const s = await Session.create(G.toOnnx(g, { outputs: { loss: out.loss, mass: out.mass }, name: 'per-frame' }));
    try {
      const run = async (rows: number[]) => {
        const r = await s.run({ q: hostTensor('f32', [B, H, T, Dh], q), k: hostTensor('f32', [B, K, V, Dh], k), mask: hostTensor('bool', [B, 1, T, V], new Uint8Array(B * T * V).fill(1)), tokens: hostTensor('f32', [B, E, V], tokens), rows: hostTensor('f32', [B, T], Float32Array.from(rows)) });
        return { loss: (r['loss']!.data as Float32Array)[0]!, mass: (r['mass']!.data as Float32Array)[0]! };
      };
      const one = await run([1, 0]); // all its mass on frame 0: frame 1's term is −log ε
      const both = await run([0, 1]); // half on each frame
      expect(one.mass).toBeCloseTo(1, 3);
      expect(both.mass).toBeCloseTo(1, 3);
      expect(one.loss).toBeCloseTo((0 - Math.log(LOOK_EPS)) / 2, 1);
      expect(both.loss).toBeCloseTo(-Math.log(0.5), 2);
    } finally {
      await s.release();
    }
  });

  /** Two clips of random features and tokens; each sequence's rows 4 and 5 should look at a few object-motion tokens. */
  function batchOf(rng: Rng) {
    const kv = Object.fromEntries(m.image.crossAttentionLayers.flatMap((_, j) => [[`xattn.k.${j}`, new Float32Array(2 * S * 8)], [`xattn.v.${j}`, new Float32Array(2 * S * 8)]]));
    const frameMask = new Uint8Array(S).fill(1, 0, S / 2);
    const features = new Map<string, ClipFeatures>(['c0', 'c1'].map((k) => [k, { features: encodeF16(Float32Array.from({ length: F * S * D }, () => rng.normal())), frameMask, kv, aspectRatioId: 1 }]));
    const tokens = new Map(['c0', 'c1'].map((k) => [k, Float32Array.from({ length: V * D }, () => rng.normal())]));
    const first = V - 2 * S; // the object-motion tokens follow the latents
    const seqs: VideoSequence[] = [
      { clip: 'c0', tokens: [1, IMG, 5, 6, 7, 8, 9, 3], targets: [-100, -100, -100, -100, 8, 9, 3, -100], look: { rows: [4, 5], tokens: [first + 1, first + 2, first + S + 3, first + S + 4] } },
      { clip: 'c1', tokens: [1, IMG, 5, 6, 7, 10, 9, 3], targets: [-100, -100, -100, -100, 10, 9, 3, -100], look: { rows: [4, 5], tokens: [first + 7, first + S + 8] } },
    ];
    return { features, tokens, seqs };
  }

  it("in the training graph: the answer loss is unchanged (lmLoss), the last video layer's values, output, FFN and gates get the same update, its queries and keys another", async () => {
    const start = openValues(4);
    const { features, tokens, seqs } = batchOf(new Rng(6));
    const step = async (weight: number) => {
      const aux = weight > 0 ? 'look' : undefined;
      // No clipping and a large eps: the first AdamW update is then ≈ lr · gradient, so updates compare as gradients do.
      const graphs = buildLmTraining(videoModelSpec(m, TINY_CLIP, 'tokens', aux), { ...t.core, ...t.vision, ...start }, { batch: 2, seqLen: 8, train: [VIDEO_CROSS_ATTENTION_GROUP], optimizer: { weightDecay: 0, clipNorm: 0, eps: 1 }, ...(aux ? { auxiliaryWeight: weight } : {}) });
      const run = await TrainingRun.create(graphs, Object.fromEntries(Object.entries(start).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])));
      try {
        const feeds = videoBatch(m, TINY_CLIP, features, seqs, 8, tokens, aux);
        const names = new Set(graphs.step.inputs.map((i) => i.name));
        const r = await run.trainStep(Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k))), 1);
        return { ...r, after: await run.readParams() };
      } finally {
        await run.release();
      }
    };
    const [plain, look] = [await step(0), await step(2)];
    expect(Math.abs(look.metrics['lmLoss']! - plain.loss)).toBeLessThan(1e-5);
    // A fresh layer spreads its attention over V tokens, so the marked 2–4 hold little mass: −log of it is large.
    const lookPart = (look.loss - look.metrics['lmLoss']!) / 2;
    expect(lookPart).toBeGreaterThan(1);
    expect(look.metrics['lookMass']!).toBeLessThan(0.3);
    const diff = (name: string) => Math.max(...Array.from(look.after[name]!.data as Float32Array).map((x, i) => Math.abs(x - (plain.after[name]!.data as Float32Array)[i]!)));
    const last = `${videoLayerPrefix(videoLayers(m).length - 1)}.`;
    for (const same of ['cross_attn.v_proj.weight', 'cross_attn.o_proj.weight', 'cross_attn_attn_gate', 'cross_attn_mlp_gate', 'mlp.down_proj.weight']) expect(diff(last + same), same).toBeLessThan(1e-7);
    for (const other of ['cross_attn.q_proj.weight', 'cross_attn.k_proj.weight']) expect(diff(last + other), other).toBeGreaterThan(1e-2);
    // The first video layer writes the stream the last one's queries read: its values do get a look gradient.
    expect(diff(`${videoLayerPrefix(0)}.cross_attn.v_proj.weight`)).toBeGreaterThan(1e-4);
  }, 120_000);

  it('trained, the attention moves onto the marked tokens', async () => {
    const start = openValues(5);
    const { features, tokens, seqs } = batchOf(new Rng(7));
    const graphs = buildLmTraining(videoModelSpec(m, TINY_CLIP, 'tokens', 'look'), { ...t.core, ...t.vision, ...start }, { batch: 2, seqLen: 8, train: [VIDEO_CROSS_ATTENTION_GROUP], optimizer: { weightDecay: 0 }, auxiliaryWeight: 5 });
    const run = await TrainingRun.create(graphs, Object.fromEntries(Object.entries(start).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])));
    try {
      const feeds = videoBatch(m, TINY_CLIP, features, seqs, 8, tokens, 'look');
      expect(Array.from(feeds[VIDEO_LOOK_TOKENS]!.data as Float32Array).reduce((a, x) => a + x, 0)).toBe(6);
      expect(Array.from(feeds[VIDEO_LOOK_ROWS]!.data as Float32Array)).toEqual([0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0]);
      const first = await run.trainStep(feeds, 1e-2);
      let last = first;
      for (let i = 0; i < 40; i++) last = await run.trainStep(feeds, 1e-2);
      expect(last.metrics['lookMass']!).toBeGreaterThan(first.metrics['lookMass']! + 0.3);
    } finally {
      await run.release();
    }
  }, 120_000);

  it('on chosen layers (lookLoss.layers): the look part over both layers is the mean of each layer\'s alone; a bad choice is refused', async () => {
    const start = openValues(9);
    const { features, tokens, seqs } = batchOf(new Rng(10));
    const lookPart = async (layers?: number[]) => {
      const graphs = buildLmTraining(videoModelSpec(m, TINY_CLIP, 'tokens', 'look', layers), { ...t.core, ...t.vision, ...start }, { batch: 2, seqLen: 8, train: [VIDEO_CROSS_ATTENTION_GROUP], auxiliaryWeight: 1 });
      const run = await TrainingRun.create(graphs, Object.fromEntries(Object.entries(start).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])));
      try {
        const r = await run.trainStep(videoBatch(m, TINY_CLIP, features, seqs, 8, tokens, 'look'), 0);
        return { look: r.loss - r.metrics['lmLoss']!, mass: r.metrics['lookMass']! };
      } finally {
        await run.release();
      }
    };
    const [all, first, second] = [await lookPart(), await lookPart([0]), await lookPart([1])];
    expect(Math.abs(all.look - (first.look + second.look) / 2)).toBeLessThan(1e-4);
    expect(Math.abs(all.mass - (first.mass + second.mass) / 2)).toBeLessThan(1e-5);
    expect(Math.abs(first.look - second.look)).toBeGreaterThan(1e-3); // the layers do look differently
    expect(() => videoExtension(m, TINY_CLIP, 'tokens', 'look', [2])).toThrow(/look layers \[2\]: the look loss's layers are distinct indices in 0\.\.1 of the 2 video layers/);
    expect(() => videoExtension(m, TINY_CLIP, 'tokens', 'lookup', [0])).toThrow(/given only with the look loss/);
  }, 120_000);

  it('declared only when asked, and only with the object-motion tokens; bad marks are refused naming the sequence', () => {
    expect(Object.keys(videoExtension(m, TINY_CLIP, 'tokens').inputs!)).not.toContain(VIDEO_LOOK_TOKENS);
    expect(Object.keys(videoExtension(m, TINY_CLIP, 'tokens', 'look').inputs!)).toEqual(expect.arrayContaining([VIDEO_LOOK_TOKENS, VIDEO_LOOK_ROWS]));
    expect(() => videoExtension(t.m, TINY_CLIP, 'tokens', 'look')).toThrow(/the look loss marks the object-motion tokens at the asked shape's places: it needs resampler\.motionTokens/);
    const { features, tokens, seqs } = batchOf(new Rng(8));
    // Without 'look' no feeds; a sequence without `look` gets zeros; a token or row outside the graph is refused.
    expect(videoBatch(m, TINY_CLIP, features, seqs, 8, tokens)[VIDEO_LOOK_TOKENS]).toBeUndefined();
    const bare = videoBatch(m, TINY_CLIP, features, [seqs[0]!, { ...seqs[1]!, look: undefined }], 8, tokens, 'look');
    expect(Array.from(bare[VIDEO_LOOK_ROWS]!.data as Float32Array).slice(8).every((x) => x === 0)).toBe(true);
    expect(() => videoBatch(m, TINY_CLIP, features, [{ ...seqs[0]!, look: { rows: [4], tokens: [V] } }], 8, tokens, 'look')).toThrow(new RegExp(`sequence 0 \\(clip c0\\) has look rows \\[4\\] and 1 look tokens \\[${V}\\]; the graph takes rows in 0\\.\\.7 and tokens in 0\\.\\.${V - 1}`));
    expect(() => videoBatch(m, TINY_CLIP, features, [{ ...seqs[0]!, look: { rows: [], tokens: [3] } }], 8, tokens, 'look')).toThrow(/sequence 0 \(clip c0\) has look rows \[\]/);
  });
});
