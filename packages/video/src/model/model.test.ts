/**
 * The video model on a tiny random configuration: shapes of the aggregator and the decoder inputs,
 * the placement rule, and the three properties the paper's design promises — a fresh video adapter
 * (gates 0) answers exactly as the image model shown the middle frame; text with no clip in view is
 * never touched by the video layers, even with their gates open; the aggregator ignores padding
 * tiles and does see the order of frames.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLmTraining, composeExtensions } from '@herd/llama3';
import { Session, hostTensor } from '@herd/runtime';
import { visionExtension, withSilhouetteStream } from '@herd/vision';
import { Rng, decodeF16, encodeF16 } from '@herd/core';
import * as G from '@herd/graph';
import { loadVideoPreset } from '../presets/index.js';
import { parseVideoConfig, videoBeforeImageLayers, videoTokenCount } from '../config.js';
import { FrameEncoder, blindClip, clipCanvasFeeds, videoTokensFeeds } from '../data/features.js';
import { videoTokenSpread } from '../eval/token-spread.js';
import { TINY_CLIP, movingSquare, tinyModel } from '../test-support/tiny.js';
import { VideoGenerator } from './generate.js';
import { videoExportModality } from '../export/export.js';
import { MOTION_FEATURES, RESAMPLER_PREFIX, VIDEO_ASPECT_RATIO_ID, canvasPlaces, centreFrameNorms, motionFeatures, motionTokens, placeDirections, tokenPlaces } from './resampler.js';
import { buildFrameGraph, buildVideoDecoder, buildVideoTokensGraph, frameTokens, lookupLoss, videoExtension, videoLayers, videoModelSpec, videoParamSpecs } from './graphs.js';
import { rowsWithVideo, videoCrossAttentionLayer } from './video-cross-attention.js';

const IMG = 40;
const t = tinyModel();
const right = movingSquare(t.m.image, [[2, 9], [12, 9], [22, 9], [32, 9]]);
// The same square moving the other way.
const left = movingSquare(t.m.image, [[32, 9], [22, 9], [12, 9], [2, 9]]);
// The same frames in each group of 2, each pair swapped: only the order inside the groups differs.
const swapped = movingSquare(t.m.image, [[12, 9], [2, 9], [32, 9], [22, 9]]);
const maxDiff = (a: Float32Array[], b: Float32Array[], from = 0) => a.slice(from).reduce((d, row, i) => row.reduce((dd, x, j) => Math.max(dd, Math.abs(x - b[from + i]![j]!)), d), 0);

describe('video model: placement and shapes', () => {
  it('an image checkpoint with place embeddings or a silhouette stream is refused by the frame graph, naming them (the video line does not feed their inputs yet)', () => {
    const t = tinyModel();
    expect(() => buildFrameGraph({ ...t.m.image, placeBins: 6 }, t.vision, 4)).toThrow(/^video frame graph: the image checkpoint has place embeddings \(placeBins 6\), which the video line does not feed to frames yet: give an image checkpoint without them — the video model's own, packages\/video\/weights\/mini-image/);
    expect(() => buildFrameGraph({ ...t.m.image, placeBins: 0 }, t.vision, 4)).not.toThrow();
    // A silhouette stream (round 32) is refused the same way (frames are fed pixels only); both together are named in one message.
    expect(() => buildFrameGraph({ ...t.m.image, ...withSilhouetteStream(t.m.image.crossAttentionLayers) }, t.vision, 4)).toThrow(/^video frame graph: the image checkpoint has a silhouette stream \(silhouetteLayers\), which the video line does not feed to frames yet: give an image checkpoint without them — the video model's own, packages\/video\/weights\/mini-image \(the video commands' default\), or one trained by 'herd vision train' without --silhouette-stream$/);
    expect(() => buildFrameGraph({ ...t.m.image, placeBins: 6, ...withSilhouetteStream(t.m.image.crossAttentionLayers) }, t.vision, 4)).toThrow(/^video frame graph: the image checkpoint has place embeddings \(placeBins 6\) and a silhouette stream \(silhouetteLayers\), which the video line does not feed to frames yet: .* without --place-embeddings and --silhouette-stream$/);
  });

  it('puts a video layer before every 4th image cross-attention layer (the last one when there are fewer)', () => {
    expect(videoBeforeImageLayers(8, 4)).toEqual([3, 7]); // Llama 3 8B: 8 image layers → 2 video layers
    expect(videoBeforeImageLayers(20, 4)).toEqual([3, 7, 11, 15, 19]);
    expect(videoBeforeImageLayers(2, 4)).toEqual([1]);
    expect(videoBeforeImageLayers(2, 1)).toEqual([0, 1]);
    expect(videoLayers(t.m)).toEqual([{ imageLayer: 0, coreLayer: 1 }, { imageLayer: 1, coreLayer: 3 }]);
    const paper = loadVideoPreset('paper');
    expect([paper.pretrain, paper.finetune]).toEqual([{ frames: 16, groupFrames: 16 }, { frames: 64, groupFrames: 32 }]);
    expect(videoTokenCount(paper, paper.finetune, 1601)).toBe(2 * 64);
  });

  it('the video group holds only the aggregator and the video layers; the decoder reads video tokens, never frames', () => {
    const names = videoParamSpecs(t.m).map((s) => s.name);
    expect(names.every((n) => n.startsWith('video.'))).toBe(true);
    expect(names.filter((n) => n.endsWith('_gate'))).toHaveLength(4);
    const inputs = buildVideoDecoder(t.m, TINY_CLIP, t.core, { ...t.vision, ...t.video }).inputs.map((i) => i.name);
    expect(inputs).toEqual(expect.arrayContaining(['video.tokens', 'video.mask', 'xattn.k.0', 'xattn.mask', 'learnableIds']));
    expect(inputs.some((n) => n.includes('frames') || n.includes('pixel'))).toBe(false);
  });

  it('look-up loss (training only): where the named row looks, read through the motion tokens\' place term, scored as left/right/up/down; values and output play no part; declared only when asked', async () => {
    const cfg = t.m.image.text;
    const [B, T, V, D] = [3, 4, 5, cfg.dim];
    const rng = new Rng(5);
    const queries = [0, 1].map(() => Float32Array.from({ length: B * T * D }, () => rng.normal()));
    const tokens = Float32Array.from({ length: B * V * D }, () => rng.normal());
    const row = [1, 2, 3, 3, 0, 0]; // [B, 2]
    const target = [1, 3, 2, 2, -100, -100];
    const base = G.initParams(videoParamSpecs(t.m), 7, { layers: 2 });
    // Query projections at zero: every row attends uniformly, so the read is the tokens' mean place term.
    const zeroQ = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, /q_proj\.weight$/.test(k) ? { ...v, data: new Float32Array(v.data.length) } : v]));
    const otherVo = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, /(v_proj|o_proj)\.weight$/.test(k) ? { ...v, data: Float32Array.from(v.data as Float32Array, (x) => 3 * x + 1) } : v]));
    const run = async (values: Record<string, { shape: readonly number[]; data: unknown }>) => {
      const g = new G.Graph();
      const p = ((name: string) => g.constant(values[name]!.data as Float32Array, 'f32', [...values[name]!.shape])) as G.Params;
      const loss = lookupLoss(cfg, p, [0, 1].map((j) => ({ j, query: g.input(`q${j}`, 'f32', [B, T, D]) })), g.input('tokens', 'f32', [B, V, D]), g.input('row', 'i32', [B, 2]), g.input('target', 'i32', [B, 2]));
      const s = await Session.create(G.toOnnx(g, { outputs: { loss }, name: 'lookup' }));
      try {
        return (await s.run({ q0: hostTensor('f32', [B, T, D], queries[0]!), q1: hostTensor('f32', [B, T, D], queries[1]!), tokens: hostTensor('f32', [B, V, D], tokens), row: hostTensor('i32', [B, 2], Int32Array.from(row)), target: hostTensor('i32', [B, 2], Int32Array.from(target)) }))['loss']!.data[0] as number;
      } finally {
        await s.release();
      }
    };
    // By hand (uniform attention, both layers and both rows of a clip alike): (x, y) = the mean over tokens of their place term, logits [−x, x, −y, y]; the mean over the 4 targets.
    const u = placeDirections(D);
    const ce = [0, 1, 2, 3].reduce((sum, i) => {
      const b = Math.floor(i / 2);
      const [x, y] = [0, 1].map((c) => Array.from({ length: V }, (_, v) => Array.from({ length: D }, (_, d) => tokens[(b * V + v) * D + d]! * u[c * D + d]!).reduce((a, w) => a + w, 0)).reduce((a, w) => a + w, 0) / V);
      const logits = [-x!, x!, -y!, y!];
      return sum + Math.log(logits.reduce((a, w) => a + Math.exp(w), 0)) - logits[target[i]!]!;
    }, 0) / 4;
    expect(await run(zeroQ)).toBeCloseTo(ce, 4);
    // Values and output projections do not enter it; where the row looks (its query) does.
    const trained = await run(base);
    expect(await run(otherVo)).toBeCloseTo(trained, 5);
    expect(Math.abs(trained - ce)).toBeGreaterThan(1e-4);
    const g = new G.Graph();
    expect(() => lookupLoss(cfg, ((n: string) => g.constant(base[n]!.data as Float32Array, 'f32', [...base[n]!.shape])) as G.Params, [], g.input('tokens', 'f32', [B, V, D]), g.input('row', 'i32', [B, 2]), g.input('target', 'i32', [B, 2]))).toThrow(/no video layer ran/);
    // Declared only with the look-up (and only with motion tokens): the generation graphs never see it.
    const withTokens = { ...t.m, video: { ...t.m.video, resampler: { ...t.m.video.resampler, motionTokens: true } } };
    expect(Object.keys(videoExtension(withTokens, TINY_CLIP, 'tokens').inputs!)).not.toContain('video.lookupRow');
    expect(videoExtension(withTokens, TINY_CLIP, 'tokens').auxiliaryLoss).toBeUndefined();
    expect(Object.keys(videoExtension(withTokens, TINY_CLIP, 'tokens', 'lookup').inputs!)).toEqual(expect.arrayContaining(['video.lookupRow', 'video.lookupTarget']));
    expect(() => videoExtension(t.m, TINY_CLIP, 'tokens', 'lookup')).toThrow(/the look-up loss reads the object-motion tokens: it needs resampler\.motionTokens/);
    // The training graph builds with it as the auxiliary loss and reports the answer loss apart.
    const graphs = buildLmTraining(videoModelSpec(withTokens, TINY_CLIP, 'tokens', 'lookup'), { ...t.core, ...t.vision, ...base }, { batch: 2, seqLen: 8, train: ['video.cross_attention'], auxiliaryWeight: 1 });
    expect(graphs.step.inputs.map((i) => i.name)).toEqual(expect.arrayContaining(['video.lookupRow', 'video.lookupTarget']));
    expect(graphs.metricNames).toEqual(expect.arrayContaining(['lmLoss']));
  });

  it('two extensions declaring the same input are refused, naming it', () => {
    const v = visionExtension(t.m.image, frameTokens(t.m.image));
    expect(() => composeExtensions(v, v)).toThrow(/input 'xattn\.mask' is declared by two extensions/);
    expect(Object.keys(composeExtensions(videoExtension(t.m, TINY_CLIP, 'tokens'), v).inputs!)).toContain('video.tokens');
  });
});

describe('video model: behaviour', () => {
  let enc: FrameEncoder;
  let tokens: Session;
  beforeAll(async () => {
    enc = await FrameEncoder.create(t.m.image, t.vision, TINY_CLIP.frames);
    tokens = await Session.create(buildVideoTokensGraph(t.m, TINY_CLIP, t.video));
  });
  afterAll(async () => {
    await enc?.release();
    await tokens?.release();
  });

  const run = async (features: Float32Array, mask: Uint8Array) => {
    const S = frameTokens(t.m.image);
    const out = await tokens.run({ 'video.frames': hostTensor('f32', [1, TINY_CLIP.frames, S, 32], features), 'video.frameMask': hostTensor('bool', [1, S], mask) });
    return out['video.tokens']!;
  };

  it('aggregator: [1, E·L, D] tokens; padding tiles have no effect; the order of frames matters', async () => {
    const x = await enc.encode(right);
    expect(right.frames[0]!.nTiles).toBe(1); // 40×24 → one 56-px tile of the 2 slots
    const f = decodeF16(x.features);
    const a = await run(f, x.frameMask);
    expect(a.shape).toEqual([1, 2 * 3, 32]);
    // Change every value of the padding tile (second slot): nothing changes.
    const S = frameTokens(t.m.image);
    const noisy = Float32Array.from(f, (v, i) => (x.frameMask[i / 32 % S | 0] ? v : v + 5 * Math.sin(i)));
    expect(Array.from((await run(noisy, x.frameMask)).data as Float32Array)).toEqual(Array.from(a.data as Float32Array));
    // Same frames per group in another order: only the time embedding can tell, and it does.
    const b = await run(decodeF16((await enc.encode(swapped)).features), x.frameMask);
    let d = 0;
    (a.data as Float32Array).forEach((v, i) => (d = Math.max(d, Math.abs(v - (b.data as Float32Array)[i]!))));
    expect(d).toBeGreaterThan(1e-3);
  });

  it('aggregator at init: clips whose frame features share one dominant direction give clearly different tokens once the frame norms are centred', async () => {
    // Frozen image features of the synthetic world share one direction across clips (mini image
    // model: LayerNorm'd tokens of different clips at cosine ~0.9). Made here: every token =
    // 4·u (shared) + 0.7·c_clip (the clip) + 0.5·noise (the token).
    const S = frameTokens(t.m.image);
    const D = t.m.image.text.dim;
    const rng = new Rng(11);
    const vec = () => Float32Array.from({ length: D }, () => rng.normal());
    const u = vec();
    const clips = Array.from({ length: 6 }, () => {
      const c = vec();
      const features = new Float32Array(TINY_CLIP.frames * S * D);
      for (let i = 0; i < features.length; i++) features[i] = 4 * u[i % D]! + 0.7 * c[i % D]! + 0.5 * rng.normal();
      return { features, frameMask: new Uint8Array(S).fill(1) };
    });
    const cosOf = (a: Float32Array, b: Float32Array) => {
      let ab = 0, aa = 0, bb = 0;
      for (let i = 0; i < a.length; i++) (ab += a[i]! * b[i]!), (aa += a[i]! ** 2), (bb += b[i]! ** 2);
      return ab / Math.sqrt(aa * bb);
    };
    const tokensOf = async (values: ReturnType<typeof G.initParams>, i: number) => {
      const s = await Session.create(buildVideoTokensGraph(t.m, TINY_CLIP, values));
      try {
        const c = clips[i]!;
        return (await s.run({ 'video.frames': hostTensor('f32', [1, TINY_CLIP.frames, S, D], c.features), 'video.frameMask': hostTensor('bool', [1, S], c.frameMask) }))['video.tokens']!.data as Float32Array;
      } finally {
        await s.release();
      }
    };
    const layers = { layers: t.m.image.text.nLayers };
    // The shared init alone (std 0.02 everywhere): the clip hardly shows.
    const shared = G.initParams(videoParamSpecs(t.m).map((sp) => (sp.name.startsWith(RESAMPLER_PREFIX) && /attn\.(v|o)_proj/.test(sp.name) ? { ...sp, init: sp.name.includes('o_proj') ? ('residual' as const) : ('normal' as const) } : sp)), 5, layers);
    const before = cosOf(await tokensOf(shared, 4), await tokensOf(shared, 5));
    // This package's init: v/o at 1/√D, frame norms centred on four other clips.
    const fresh = centreFrameNorms(t.m.video.resampler, D, G.initParams(videoParamSpecs(t.m), 5, layers), clips.slice(0, 4));
    const after = cosOf(await tokensOf(fresh, 4), await tokensOf(fresh, 5));
    expect(before).toBeGreaterThan(0.95);
    expect(after).toBeLessThan(0.7);
    // The centring is the mean normalised token, with the sign flipped, in every layer's frame norm.
    const bias = fresh[`${RESAMPLER_PREFIX}.layers.1.frames_norm.bias`]!.data;
    expect(cosOf(bias, Float32Array.from(u, (v) => -v))).toBeGreaterThan(0.95);
    expect(() => centreFrameNorms(t.m.video.resampler, D, fresh, [])).toThrow(/no clips/);
  });

  it('frameDifference: a static clip gets the same tokens as without it; a moving one different tokens; a negative weight is refused', async () => {
    const S = frameTokens(t.m.image);
    const D = t.m.image.text.dim;
    const F = TINY_CLIP.frames;
    const rng = new Rng(5);
    const frame = Float32Array.from({ length: S * D }, () => rng.normal());
    const staticClip = new Float32Array(F * S * D);
    for (let f = 0; f < F; f++) staticClip.set(frame, f * S * D);
    const moving = Float32Array.from(staticClip, (v, i) => v + (i >= S * D ? 0.5 * Math.sin(i) : 0));
    const values = G.initParams(videoParamSpecs(t.m), 5, { layers: t.m.image.text.nLayers });
    const tokens = async (weight: number, features: Float32Array) => {
      const m = { ...t.m, video: { ...t.m.video, resampler: { ...t.m.video.resampler, frameDifference: weight } } };
      const s = await Session.create(buildVideoTokensGraph(m, TINY_CLIP, values));
      try {
        return Array.from((await s.run({ 'video.frames': hostTensor('f32', [1, F, S, D], features), 'video.frameMask': hostTensor('bool', [1, S], new Uint8Array(S).fill(1)) }))['video.tokens']!.data as Float32Array);
      } finally {
        await s.release();
      }
    };
    expect(await tokens(2, staticClip)).toEqual(await tokens(0, staticClip));
    const a = await tokens(2, moving);
    const b = await tokens(0, moving);
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(0.05);
    expect(() => parseVideoConfig({ ...loadVideoPreset('mini'), resampler: { ...loadVideoPreset('mini').resampler, frameDifference: -1 } })).toThrow(/frameDifference must be a number ≥ 0/);
  });

  it('position embedding on the frame difference: a static clip gets the same tokens as without it, a moving one different tokens; bad settings refused', async () => {
    const S = frameTokens(t.m.image);
    const D = t.m.image.text.dim;
    const F = TINY_CLIP.frames;
    const rng = new Rng(6);
    const frame = Float32Array.from({ length: S * D }, () => rng.normal());
    const clip = (changed?: number) => {
      const x = new Float32Array(F * S * D);
      for (let f = 0; f < F; f++) x.set(frame, f * S * D);
      // From frame 1 on, tokens changed..changed+3 take other values: the same change wherever it happens.
      if (changed !== undefined) for (let f = 1; f < F; f++) for (let q = 0; q < 4; q++) for (let d = 0; d < D; d++) x[(f * S + changed + q) * D + d] = Math.cos(d + q);
      return x;
    };
    const m = (positionTokens: number) => ({ ...t.m, video: { ...t.m.video, resampler: { ...t.m.video.resampler, frameDifference: 2, positionTokens } } });
    const values = G.initParams(videoParamSpecs(m(S)), 5, { layers: t.m.image.text.nLayers });
    expect(values[`${RESAMPLER_PREFIX}.position_embedding`]!.shape).toEqual([S, D]);
    const tokens = async (positionTokens: number, features: Float32Array, v = values) => {
      const s = await Session.create(buildVideoTokensGraph(m(positionTokens), TINY_CLIP, v));
      try {
        return Array.from((await s.run({ 'video.frames': hostTensor('f32', [1, F, S, D], features), 'video.frameMask': hostTensor('bool', [1, S], new Uint8Array(S).fill(1)) }))['video.tokens']!.data as Float32Array);
      } finally {
        await s.release();
      }
    };
    const gap = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    expect(await tokens(S, clip())).toEqual(await tokens(0, clip()));
    expect(gap(await tokens(S, clip(0)), await tokens(0, clip(0)))).toBeGreaterThan(0.05);
    await expect(tokens(S - 1, clip(), G.initParams(videoParamSpecs(m(S - 1)), 5, { layers: t.m.image.text.nLayers }))).rejects.toThrow(/frames have \d+ tokens, resampler\.positionTokens is/);
    const preset = loadVideoPreset('mini');
    expect(() => parseVideoConfig({ ...preset, resampler: { ...preset.resampler, positionTokens: -1 } })).toThrow(/positionTokens must be an integer in \[0, /);
  });

  it('motionQuery: a blob moving one way gives the opposite motion features of the same blob moving the other way; a static clip gives zeros and the tokens it has without the option', async () => {
    const S = frameTokens(t.m.image);
    const D = t.m.image.text.dim;
    const F = TINY_CLIP.frames;
    const grid = t.m.image.vision; // 2 tiles of 4 × 4 patches, side by side
    const { places, patch } = tokenPlaces(grid);
    expect([places.length, patch.length, patch[0], patch[1]]).toEqual([2 * S, S, 0, 1]);
    const rng = new Rng(7);
    const background = Float32Array.from({ length: S * D }, () => rng.normal());
    const blob = Float32Array.from({ length: D }, (_, d) => 3 * Math.cos(d));
    // A blob over the patch token at (row, col) of tile 0 in each frame; the other tokens stay the background.
    const clip = (cells: readonly (readonly [number, number])[]) => {
      const x = new Float32Array(F * S * D);
      cells.forEach(([row, col], f) => {
        x.set(background, f * S * D);
        x.set(blob, (f * S + 1 + row * 4 + col) * D);
      });
      return x;
    };
    const rightward = clip([[1, 0], [1, 1], [1, 2], [1, 3]]);
    const leftward = clip([[1, 3], [1, 2], [1, 1], [1, 0]]);
    const downward = clip([[0, 2], [1, 2], [2, 2], [3, 2]]);
    const upward = clip([[3, 2], [2, 2], [1, 2], [0, 2]]);
    const still = clip([[2, 2], [2, 2], [2, 2], [2, 2]]);
    const g = new G.Graph();
    const frames = g.input('frames', 'f32', [1, F, S, D]);
    const frameMask = g.input('frameMask', 'bool', [1, S]);
    const session = await Session.create(G.toOnnx(g, { outputs: { motion: motionFeatures(frames, frameMask, grid) }, name: 'motion' }));
    expect(() => motionFeatures(frames, frameMask, { ...grid, maxTiles: 4 })).toThrow(/motion features: frames have \d+ tokens, the image model's tiling gives \d+/);
    const features = async (x: Float32Array) => Array.from((await session.run({ frames: hostTensor('f32', [1, F, S, D], x), frameMask: hostTensor('bool', [1, S], new Uint8Array(S).fill(1)) }))['motion']!.data as Float32Array);
    try {
      const [r, l, d, u, z] = [await features(rightward), await features(leftward), await features(downward), await features(upward), await features(still)];
      expect(r).toHaveLength(MOTION_FEATURES);
      // Directions of displacement and slope: +x for the rightward blob, the exact opposite for the leftward one, no y.
      // (The blob crosses 3 patches = 0.75 tile; its centroid moves ~0.25 tile, pulled in by the saliency its
      // other places keep against the mean background, so a unit direction is ~0.25 / (0.25 + ε) ≈ 0.96.)
      expect(r[0]).toBeGreaterThan(0.9);
      expect(r[2]).toBeGreaterThan(0.9);
      for (const i of [0, 1, 2, 3]) expect(l[i]).toBeCloseTo(-r[i]!, 4);
      expect(Math.abs(r[1]!)).toBeLessThan(1e-3);
      expect(d[1]).toBeGreaterThan(0.9); // y grows downwards
      expect(Math.abs(d[0]!)).toBeLessThan(1e-3);
      for (const i of [0, 1, 2, 3]) expect(u[i]).toBeCloseTo(-d[i]!, 4);
      expect(r[4]).toBeGreaterThan(0.1); // something changes
      expect(r[4]).toBeCloseTo(l[4]!, 5);
      expect(z.every((v) => Math.abs(v) < 1e-5)).toBe(true);
    } finally {
      await session.release();
    }
    // In the aggregator: [1, E·L, D] tokens; a static clip's are those without the option, a moving clip's are not.
    const m = (motionQuery: boolean) => ({ ...t.m, video: { ...t.m.video, resampler: { ...t.m.video.resampler, motionQuery } } });
    const values = G.initParams(videoParamSpecs(m(true)), 5, { layers: t.m.image.text.nLayers });
    expect(values[`${RESAMPLER_PREFIX}.motion_proj.weight`]!.shape).toEqual([D, MOTION_FEATURES]);
    expect(videoParamSpecs(m(false)).some((sp) => sp.name.includes('motion_proj'))).toBe(false);
    const tokens = async (motionQuery: boolean, x: Float32Array) => {
      const s = await Session.create(buildVideoTokensGraph(m(motionQuery), TINY_CLIP, values));
      try {
        const out = (await s.run({ 'video.frames': hostTensor('f32', [1, F, S, D], x), 'video.frameMask': hostTensor('bool', [1, S], new Uint8Array(S).fill(1)) }))['video.tokens']!;
        expect(out.shape).toEqual([1, videoTokenCount(m(motionQuery).video, TINY_CLIP, S), D]);
        return Array.from(out.data as Float32Array);
      } finally {
        await s.release();
      }
    };
    const gap = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    expect(gap(await tokens(true, still), await tokens(false, still))).toBeLessThan(1e-4); // f32 rounding of the mean background only
    expect(gap(await tokens(true, rightward), await tokens(false, rightward))).toBeGreaterThan(0.05);
    const preset = loadVideoPreset('mini');
    expect(preset.resampler.motionQuery).toBe(false);
    expect(() => parseVideoConfig({ ...preset, resampler: { ...preset.resampler, motionQuery: 1 } })).toThrow(/resampler\.motionQuery must be true or false, got 1/);
  });

  it("frameLayout 'canvas': a blob moving down across a tall clip's two tiles reads down (the squarest layout reads it as right); clips on the squarest canvas are unchanged; the aspect-ratio id is fed only then", async () => {
    const S = frameTokens(t.m.image);
    const D = t.m.image.text.dim;
    const F = TINY_CLIP.frames;
    const grid = t.m.image.vision; // at most 2 tiles of 4 × 4 patches: 1 × 1, 1 × 2 (the squarest) or 2 × 1
    const id = (rows: number, cols: number) => grid.supportedAspectRatios.findIndex(([r, c]) => r === rows && c === cols) + 1;
    const [tall, wide] = [id(2, 1), id(1, 2)];
    expect(tall > 0 && wide > 0).toBe(true);
    const rows = tokenPlaces(grid, { rows: 2, cols: 1 }).places;
    const P = 17; // tokens per tile: a class token and 4 × 4 patches
    expect([rows[2 * (P + 1)], rows[2 * (P + 1) + 1]]).toEqual([0.125, 1.125]); // tile 1's first patch: below tile 0, not right of it
    expect(Array.from(tokenPlaces(grid, { rows: 1, cols: 2 }).places)).toEqual(Array.from(tokenPlaces(grid).places));
    expect(() => tokenPlaces(grid, { rows: 2, cols: 2 })).toThrow(/a 2 × 2 canvas has more tiles than maxTiles 2/);
    const rng = new Rng(11);
    const background = Float32Array.from({ length: S * D }, () => rng.normal());
    const blob = Float32Array.from({ length: D }, (_, d) => 3 * Math.cos(d));
    // The blob at (tile, row, col) in each frame: column 1, rows 2, 3 of tile 0, then rows 0, 1 of tile 1.
    const x = new Float32Array(F * S * D);
    ([[0, 2, 1], [0, 3, 1], [1, 0, 1], [1, 1, 1]] as const).forEach(([tile, row, col], f) => {
      x.set(background, f * S * D);
      x.set(blob, (f * S + tile * P + 1 + row * 4 + col) * D);
    });
    const g = new G.Graph();
    const frames = g.input('frames', 'f32', [1, F, S, D]);
    const frameMask = g.input('frameMask', 'bool', [1, S]);
    const ar = g.input('ar', 'i32', [1]);
    const session = await Session.create(G.toOnnx(g, { outputs: { slots: motionFeatures(frames, frameMask, grid), canvas: motionFeatures(frames, frameMask, grid, canvasPlaces(grid, ar)) }, name: 'motion' }));
    const read = async (arId: number) => {
      const out = await session.run({ frames: hostTensor('f32', [1, F, S, D], x), frameMask: hostTensor('bool', [1, S], new Uint8Array(S).fill(1)), ar: hostTensor('i32', [1], [arId]) });
      return { slots: Array.from(out['slots']!.data as Float32Array), canvas: Array.from(out['canvas']!.data as Float32Array) };
    };
    try {
      const onTall = await read(tall);
      expect(onTall.canvas[1]).toBeGreaterThan(0.9); // down: y grows downwards
      expect(Math.abs(onTall.canvas[0]!)).toBeLessThan(1e-3);
      expect(onTall.slots[0]).toBeGreaterThan(0.9); // the squarest layout: tile 1 sits to the right
      const onWide = await read(wide); // the squarest canvas itself: the same features either way
      for (let i = 0; i < MOTION_FEATURES; i++) expect(onWide.canvas[i]).toBeCloseTo(onWide.slots[i]!, 6);
    } finally {
      await session.release();
    }
    // The whole aggregator (motion query and object-motion tokens): the wide clip's tokens are the slots model's; the tall clip's are not.
    const m = (frameLayout?: 'canvas') => ({ ...t.m, video: parseVideoConfig({ ...t.m.video, resampler: { ...t.m.video.resampler, motionQuery: true, motionTokens: true }, ...(frameLayout ? { frameLayout } : {}) }) });
    const values = G.initParams(videoParamSpecs(m('canvas')), 5, { layers: t.m.image.text.nLayers });
    const clip = { features: encodeF16(x), frameMask: new Uint8Array(S).fill(1), kv: {}, aspectRatioId: tall };
    expect(Object.keys(videoTokensFeeds(m(), clip, F))).not.toContain(VIDEO_ASPECT_RATIO_ID);
    expect(Array.from(videoTokensFeeds(m('canvas'), clip, F)[VIDEO_ASPECT_RATIO_ID]!.data as Int32Array)).toEqual([tall]);
    expect(() => clipCanvasFeeds(m('canvas'), [clip, { aspectRatioId: 0 }])).toThrow(/clip 1 has aspect-ratio id 0, the image model's are 1\.\.3/);
    const tokensOf = async (frameLayout: 'canvas' | undefined, arId: number) => {
      const s = await Session.create(buildVideoTokensGraph(m(frameLayout), TINY_CLIP, values));
      try {
        return Array.from((await s.run(videoTokensFeeds(m(frameLayout), { ...clip, features: encodeF16(x), aspectRatioId: arId }, F)))['video.tokens']!.data as Float32Array);
      } finally {
        await s.release();
      }
    };
    const gap = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    const slots = await tokensOf(undefined, wide);
    expect(gap(await tokensOf('canvas', wide), slots)).toBeLessThan(1e-5);
    expect(gap(await tokensOf('canvas', tall), slots)).toBeGreaterThan(0.05);
    // The export's aggregator takes the canvas and its recipe says so; a slots checkpoint's neither.
    const exported = (frameLayout?: 'canvas') => videoExportModality(m(frameLayout), TINY_CLIP, t.vision, values);
    expect(exported('canvas').graphs['aggregator']!.inputs.map((i) => i.name)).toContain(VIDEO_ASPECT_RATIO_ID);
    expect(exported('canvas').recipe['frameLayout']).toBe('canvas');
    expect(JSON.stringify(exported('canvas').recipe['preprocess'])).toContain('video.aspectRatioId [1] int32');
    expect(exported().graphs['aggregator']!.inputs.map((i) => i.name)).not.toContain(VIDEO_ASPECT_RATIO_ID);
    expect('frameLayout' in exported().recipe).toBe(false);
    // The setting: 'slots' is the default and is not stored; anything else is refused; it needs something that places tokens.
    expect('frameLayout' in m().video).toBe(false);
    expect(parseVideoConfig({ ...m().video, frameLayout: 'slots' })).toEqual(m().video);
    expect(() => parseVideoConfig({ ...m().video, frameLayout: 'diagonal' })).toThrow(/frameLayout must be 'slots' or 'canvas', got "diagonal"/);
    expect(() => parseVideoConfig({ ...t.m.video, frameLayout: 'canvas' })).toThrow(/frameLayout 'canvas' places the frame tokens .* it needs resampler\.motionQuery or resampler\.motionTokens/);
  });

  it('motionTokens: in a clip where two shapes move opposite ways, a read by each shape\'s look gives its own direction; static, blinded and padding places give zero tokens', async () => {
    const S = frameTokens(t.m.image);
    const D = t.m.image.text.dim;
    const F = TINY_CLIP.frames;
    const E = F / TINY_CLIP.groupFrames;
    const grid = t.m.image.vision; // 2 tiles of 4 × 4 patches, side by side
    const rng = new Rng(11);
    const background = Float32Array.from({ length: S * D }, () => rng.normal());
    const lookA = Float32Array.from({ length: D }, () => 3 * rng.normal());
    const lookB = Float32Array.from({ length: D }, () => 3 * rng.normal());
    // Each frame: the background, shape A over patch (row, col) of tile 0 and shape B over another patch of tile 1.
    const clip = (a: readonly (readonly [number, number])[], b: readonly (readonly [number, number])[]) => {
      const x = new Float32Array(F * S * D);
      for (let f = 0; f < F; f++) {
        x.set(background, f * S * D);
        x.set(lookA, (f * S + 1 + a[f]![0] * 4 + a[f]![1]) * D);
        x.set(lookB, (f * S + 17 + 1 + b[f]![0] * 4 + b[f]![1]) * D);
      }
      return x;
    };
    const aRightBLeft = clip([[1, 0], [1, 1], [1, 2], [1, 3]], [[2, 3], [2, 2], [2, 1], [2, 0]]);
    const aUpBDown = clip([[3, 1], [2, 1], [1, 1], [0, 1]], [[0, 2], [1, 2], [2, 2], [3, 2]]);
    const still = clip([[1, 1], [1, 1], [1, 1], [1, 1]], [[2, 2], [2, 2], [2, 2], [2, 2]]);
    const g = new G.Graph();
    const frames = g.input('frames', 'f32', [1, F, S, D]);
    const frameMask = g.input('frameMask', 'bool', [1, S]);
    const out = motionTokens(frames, frameMask, grid, TINY_CLIP);
    expect(out.shape).toEqual([1, E * S, D]);
    expect(() => motionTokens(frames, frameMask, { ...grid, maxTiles: 4 }, TINY_CLIP)).toThrow(/motion tokens: frames have \d+ tokens, the image model's tiling gives \d+/);
    const session = await Session.create(G.toOnnx(g, { outputs: { tokens: out }, name: 'motion_tokens' }));
    const run = async (x: Float32Array, mask = new Uint8Array(S).fill(1)) => Float32Array.from((await session.run({ frames: hostTensor('f32', [1, F, S, D], x), frameMask: hostTensor('bool', [1, S], mask) }))['tokens']!.data as Float32Array);
    const u = placeDirections(D);
    const dot = (x: Float32Array, i: number, v: ArrayLike<number>, off = 0) => { let d = 0; for (let j = 0; j < D; j++) d += x[i * D + j]! * v[off + j]!; return d; };
    // What one cross-attention head can do: weight each token by how much it looks like the shape (a ReLU of the
    // dot product), and read the weighted mean of its place along u_x (offset 0) or u_y (offset D).
    const read = (x: Float32Array, look: Float32Array, axis: 0 | 1) => {
      let w = 0;
      let r = 0;
      for (let i = 0; i < E * S; i++) {
        const a = Math.max(0, dot(x, i, look));
        w += a;
        r += a * dot(x, i, u, axis * D);
      }
      return r / w;
    };
    try {
      const h = await run(aRightBLeft);
      expect(read(h, lookA, 0)).toBeGreaterThan(0.05); // A moves right (+x)
      expect(read(h, lookB, 0)).toBeLessThan(-0.05); // B moves left
      const v = await run(aUpBDown);
      expect(read(v, lookA, 1)).toBeLessThan(-0.05); // A moves up (y grows downwards)
      expect(read(v, lookB, 1)).toBeGreaterThan(0.05); // B moves down
      expect(Math.abs(read(v, lookA, 0))).toBeLessThan(0.25 * Math.abs(read(v, lookA, 1)));
      // The two shapes' tokens are not one clip-level summary: A's and B's reads differ in sign.
      expect((await run(still)).every((x) => Math.abs(x) < 1e-4)).toBe(true);
      expect((await run(new Float32Array(F * S * D))).every((x) => Math.abs(x) < 1e-5)).toBe(true); // blinded
      // Class tokens (0 and 17) and a padding tile (tile 1 masked) give zero tokens.
      const padded = await run(aRightBLeft, Uint8Array.from({ length: S }, (_, i) => (i < S / 2 ? 1 : 0)));
      for (let e = 0; e < E; e++) for (const p of [0, 17, 20, 30]) expect(Array.from(padded.subarray((e * S + p) * D, (e * S + p + 1) * D)).every((x) => x === 0)).toBe(true);
      expect(read(padded, lookA, 0)).toBeGreaterThan(0.05);
    } finally {
      await session.release();
    }
    // In the video tokens: the aggregator's E·L tokens unchanged, then the E·S motion tokens; no new parameters.
    const m = (motionTokensOn: boolean) => ({ ...t.m, video: { ...t.m.video, resampler: { ...t.m.video.resampler, motionTokens: motionTokensOn } } });
    expect(videoParamSpecs(m(true)).map((sp) => sp.name)).toEqual(videoParamSpecs(m(false)).map((sp) => sp.name));
    expect(videoTokenCount(m(true).video, TINY_CLIP, S)).toBe(E * (t.m.video.resampler.latents + S));
    const values = G.initParams(videoParamSpecs(m(false)), 5, { layers: t.m.image.text.nLayers });
    const tokens = async (on: boolean) => {
      const s = await Session.create(buildVideoTokensGraph(m(on), TINY_CLIP, values));
      try {
        return (await s.run({ 'video.frames': hostTensor('f32', [1, F, S, D], aRightBLeft), 'video.frameMask': hostTensor('bool', [1, S], new Uint8Array(S).fill(1)) }))['video.tokens']!;
      } finally {
        await s.release();
      }
    };
    const [off, on] = [await tokens(false), await tokens(true)];
    expect(on.shape).toEqual([1, videoTokenCount(m(true).video, TINY_CLIP, S), D]);
    expect(Array.from(on.data as Float32Array).slice(0, off.data.length)).toEqual(Array.from(off.data as Float32Array));
    const preset = loadVideoPreset('mini');
    expect(preset.resampler.motionTokens).toBe(false);
    expect(() => parseVideoConfig({ ...preset, resampler: { ...preset.resampler, motionTokens: 'yes' } })).toThrow(/resampler\.motionTokens must be true or false, got "yes"/);
  });

  it('motionReadout: each layer adds W · (the place term its heads look at); zeros at init = the model without it, bit for bit; rows with no clip untouched; needs motion tokens', async () => {
    const cfg = t.m.image.text;
    const [B, T, V, D, H] = [2, 3, 5, cfg.dim, cfg.nHeads];
    const withTokens = (readout: boolean) => parseVideoConfig({ ...t.m.video, resampler: { ...t.m.video.resampler, motionTokens: true }, ...(readout ? { motionReadout: true } : {}) });
    const m = { ...t.m, video: withTokens(true) };
    const specs = videoParamSpecs(m).filter((sp) => sp.name.includes('motion_readout'));
    expect(specs.map((sp) => [sp.name, sp.shape])).toEqual([0, 1].map((j) => [`video.cross_attention.${j}.motion_readout.weight`, [D, 2 * H]]));
    expect(videoParamSpecs({ ...t.m, video: withTokens(false) }).some((sp) => sp.name.includes('motion_readout'))).toBe(false);
    expect('motionReadout' in withTokens(false)).toBe(false); // configs without it are stored as before
    expect(() => parseVideoConfig({ ...t.m.video, motionReadout: true })).toThrow(/motionReadout reads the object-motion tokens: it needs resampler\.motionTokens true/);
    expect(() => parseVideoConfig({ ...m.video, motionReadout: 'on' })).toThrow(/motionReadout must be true or false, got "on"/);

    // One layer by hand: query projection 0 → uniform attention over the row's visible tokens; both gates 0, so the
    // layer's output is x + W · read, read = per head the mean over visible tokens of (token · u_x, token · u_y).
    const rng = new Rng(9);
    const values = G.initParams(videoParamSpecs(m), 7, { layers: 2 });
    const W = Float32Array.from({ length: D * 2 * H }, () => rng.normal());
    const layerValues = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, /q_proj\.weight$/.test(k) ? { ...v, data: new Float32Array(v.data.length) } : /motion_readout/.test(k) ? { ...v, data: W } : v]));
    const x = Float32Array.from({ length: B * T * D }, () => rng.normal());
    const tokens = Float32Array.from({ length: B * V * D }, () => rng.normal());
    // Row 0 of clip 0 sees no clip; row 1 sees tokens 0..2; every other row sees all 5.
    const visible = (b: number, r: number, v: number) => !(b === 0 && r === 0) && !(b === 0 && r === 1 && v > 2);
    const mask = Uint8Array.from({ length: B * T * V }, (_, i) => (visible(Math.floor(i / (T * V)), Math.floor(i / V) % T, i % V) ? 1 : 0));
    const g = new G.Graph();
    const p = ((name: string) => g.constant(layerValues[name]!.data as Float32Array, 'f32', [...layerValues[name]!.shape])) as G.Params;
    const maskIn = g.input('mask', 'bool', [B, 1, T, V]);
    const out = videoCrossAttentionLayer(cfg, p, 0, { ffnHidden: t.m.video.crossFfnDim, motionReadout: true }, g.input('x', 'f32', [B, T, D]), g.input('tokens', 'f32', [B, V, D]), maskIn, rowsWithVideo(maskIn));
    const s = await Session.create(G.toOnnx(g, { outputs: { out }, name: 'readout' }));
    const y = await s.run({ x: hostTensor('f32', [B, T, D], x), tokens: hostTensor('f32', [B, V, D], tokens), mask: hostTensor('bool', [B, 1, T, V], mask) }).finally(() => s.release());
    const u = placeDirections(D);
    const got = y['out']!.data as Float32Array;
    for (let b = 0; b < B; b++) for (let r = 0; r < T; r++) {
      const seen = Array.from({ length: V }, (_, v) => v).filter((v) => visible(b, r, v));
      const xy = [0, 1].map((c) => seen.reduce((a, v) => a + Array.from({ length: D }, (_, d) => tokens[(b * V + v) * D + d]! * u[c * D + d]!).reduce((q, w) => q + w, 0), 0) / Math.max(1, seen.length));
      for (let d = 0; d < D; d++) {
        const add = seen.length ? Array.from({ length: 2 * H }, (_, i) => W[d * 2 * H + i]! * xy[i % 2]!).reduce((a, w) => a + w, 0) : 0;
        expect(got[(b * T + r) * D + d]).toBeCloseTo(x[(b * T + r) * D + d]! + add, 3);
      }
    }

    // In the exported decoder (the chat path): zeros = the model without the readout, bit for bit; trained, only rows after the clip change.
    const open = (v: typeof values) => Object.fromEntries(Object.entries(v).map(([k, w]) => [k, /_gate$/.test(k) ? { ...w, data: new Float32Array(w.shape[0]!).fill(0.8) } : w]));
    const noReadout = open(Object.fromEntries(Object.entries(values).filter(([k]) => !k.includes('motion_readout'))));
    const trained = { ...open(values), ...Object.fromEntries(Object.entries(values).filter(([k]) => k.includes('motion_readout')).map(([k, w]) => [k, { ...w, data: Float32Array.from({ length: w.data.length }, () => 0.3 * rng.normal()) }])) };
    const prompt = [1, 5, IMG, 7, 8, 9];
    const gens = [VideoGenerator.create({ ...t.m, video: withTokens(false) }, TINY_CLIP, t.core, t.vision, noReadout), VideoGenerator.create(m, TINY_CLIP, t.core, t.vision, open(values)), VideoGenerator.create(m, TINY_CLIP, t.core, t.vision, trained)];
    try {
      const [without, zeros, learnt] = await Promise.all(gens.map(async (gen) => gen.logits(prompt, await gen.contextOfFrames(right))));
      zeros!.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(without![i]!)));
      learnt!.slice(0, 2).forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(without![i]!)));
      expect(maxDiff(learnt!, without!, 2)).toBeGreaterThan(1e-4);
    } finally {
      await Promise.all(gens.map((gen) => gen.release()));
    }
  });

  it('rowGates: each gate is tanh(g + w · the normed row); w at zeros = the scalar gates, bit for bit; rows with no clip untouched', async () => {
    const cfg = t.m.image.text;
    const [B, T, V, D] = [2, 3, 5, cfg.dim];
    const m = { ...t.m, video: parseVideoConfig({ ...t.m.video, rowGates: true }) };
    expect(videoParamSpecs(m).filter((sp) => sp.name.includes('_row.')).map((sp) => [sp.name, sp.shape])).toEqual([0, 1].flatMap((j) => ['attn', 'mlp'].map((k) => [`video.cross_attention.${j}.cross_attn_${k}_gate_row.weight`, [1, D]])));
    expect('rowGates' in t.m.video).toBe(false);
    expect(() => parseVideoConfig({ ...t.m.video, rowGates: 1 })).toThrow(/rowGates must be true or false, got 1/);
    // One layer: the FFN gate shut (g = 0, w = 0); the attention's output a is read off the scalar-gate layer at
    // g = atanh(0.5) (x + a / 2); with the row gate at g = 0 and w ≠ 0 the layer gives x + tanh(w · RMSNorm(x)) · a.
    const rng = new Rng(13);
    const values = G.initParams(videoParamSpecs(m), 7, { layers: 2 });
    const w = Float32Array.from({ length: D }, () => rng.normal());
    const x = Float32Array.from({ length: B * T * D }, () => rng.normal());
    const tokens = Float32Array.from({ length: B * V * D }, () => rng.normal());
    const mask = Uint8Array.from({ length: B * T * V }, (_, i) => (i < V ? 0 : 1)); // row 0 of clip 0 sees no clip
    const layer = async (shape: { ffnHidden: number; rowGates?: boolean }, set: Record<string, Float32Array>) => {
      const g = new G.Graph();
      const p = ((name: string) => g.constant(set[name] ?? (values[name]!.data as Float32Array), 'f32', [...values[name]!.shape])) as G.Params;
      const maskIn = g.input('mask', 'bool', [B, 1, T, V]);
      const out = videoCrossAttentionLayer(cfg, p, 0, shape, g.input('x', 'f32', [B, T, D]), g.input('tokens', 'f32', [B, V, D]), maskIn, rowsWithVideo(maskIn));
      const s = await Session.create(G.toOnnx(g, { outputs: { out }, name: 'row_gates' }));
      return Float32Array.from((await s.run({ x: hostTensor('f32', [B, T, D], x), tokens: hostTensor('f32', [B, V, D], tokens), mask: hostTensor('bool', [B, 1, T, V], mask) }).finally(() => s.release()))['out']!.data as Float32Array);
    };
    const pre = 'video.cross_attention.0';
    const one = (v: number) => Float32Array.of(v);
    const half = await layer({ ffnHidden: t.m.video.crossFfnDim }, { [`${pre}.cross_attn_attn_gate`]: one(Math.atanh(0.5)), [`${pre}.cross_attn_mlp_gate`]: one(0) });
    const zerosRow = await layer({ ffnHidden: t.m.video.crossFfnDim, rowGates: true }, { [`${pre}.cross_attn_attn_gate`]: one(Math.atanh(0.5)), [`${pre}.cross_attn_mlp_gate`]: one(0) });
    expect(Array.from(zerosRow)).toEqual(Array.from(half));
    const rowed = await layer({ ffnHidden: t.m.video.crossFfnDim, rowGates: true }, { [`${pre}.cross_attn_attn_gate`]: one(0), [`${pre}.cross_attn_mlp_gate`]: one(0), [`${pre}.cross_attn_attn_gate_row.weight`]: w });
    const norm = values[`${pre}.input_layernorm.weight`]!.data as Float32Array;
    let opened = 0;
    for (let r = 0; r < B * T; r++) {
      const row = x.subarray(r * D, (r + 1) * D);
      const rms = Math.sqrt(row.reduce((a, v) => a + v * v, 0) / D + cfg.normEps);
      const gate = Math.tanh(row.reduce((a, v, d) => a + w[d]! * (v / rms) * norm[d]!, 0));
      for (let d = 0; d < D; d++) expect(rowed[r * D + d]).toBeCloseTo(row[d]! + gate * 2 * (half[r * D + d]! - row[d]!), 4);
      if (r === 0) expect(Array.from(rowed.subarray(0, D))).toEqual(Array.from(row)); // no clip in view: untouched
      else opened = Math.max(opened, Math.abs(gate));
    }
    expect(opened).toBeGreaterThan(0.1);
  });

  it('collapse measure: video tokens of different clips differ, of the same clip do not; blinded clips all look alike', async () => {
    const S = frameTokens(t.m.image);
    const D = t.m.image.text.dim;
    const kv = (await enc.encode(right)).kv;
    const rng = new Rng(21);
    const clipOf = () => ({ features: encodeF16(Float32Array.from({ length: TINY_CLIP.frames * S * D }, () => rng.normal())), frameMask: new Uint8Array(S).fill(1), kv, aspectRatioId: 1 });
    const a = clipOf();
    const b = clipOf();
    // This package's init (frame norms centred on the two clips).
    const fresh = centreFrameNorms(t.m.video.resampler, D, G.initParams(videoParamSpecs(t.m), 5, { layers: t.m.image.text.nLayers }), [a, b].map((x) => ({ features: decodeF16(x.features), frameMask: x.frameMask })));
    const diff = await videoTokenSpread(t.m, TINY_CLIP, fresh, [a, b]);
    expect(diff.clips).toBe(2);
    expect(diff.cosine.mean).toBeLessThan(0.99);
    expect(diff.relativeDifference).toBeGreaterThan(1e-3);
    const same = await videoTokenSpread(t.m, TINY_CLIP, fresh, [a, a, a]);
    expect(same.cosine.min).toBeCloseTo(1, 5);
    expect(same.relativeDifference).toBe(0);
    // The blind control's input: frame features zeroed, the middle frame's image K/V kept.
    const blindA = blindClip(a);
    expect(blindA.features.every((x) => x === 0)).toBe(true);
    expect(blindA.kv).toBe(a.kv);
    expect(a.features.some((x) => x !== 0)).toBe(true); // the original is untouched
    const blind = await videoTokenSpread(t.m, TINY_CLIP, fresh, [blindA, blindClip(b)]);
    expect(blind.relativeDifference).toBe(0);
    await expect(videoTokenSpread(t.m, TINY_CLIP, t.video, [a])).rejects.toThrow(/at least 2 clips/);
  });

  it('gates at 0: the video model gives the image model\'s logits (middle frame) exactly; opened: only rows after the clip change', async () => {
    const prompt = [1, 5, IMG, 7, 8, 9];
    const fresh = VideoGenerator.create(t.m, TINY_CLIP, t.core, t.vision, t.video);
    const open = { ...t.video };
    for (const [k, v] of Object.entries(open)) if (/_gate$/.test(k)) open[k] = { dtype: 'f32', shape: v.shape, data: new Float32Array(v.shape[0]!).fill(0.8) };
    const opened = VideoGenerator.create(t.m, TINY_CLIP, t.core, t.vision, open);
    try {
      const ctx = await fresh.contextOfFrames(right);
      const image = await fresh.logits(prompt, ctx, { imageOnly: true });
      const video0 = await fresh.logits(prompt, ctx);
      video0.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(image[i]!)));
      const ctxOpen = await opened.contextOfFrames(right);
      const video1 = await opened.logits(prompt, ctxOpen);
      // Before the clip's token: bit-identical (those rows are fully masked); after: the video speaks.
      video1.slice(0, 2).forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(image[i]!)));
      expect(maxDiff(video1, image, 2)).toBeGreaterThan(1e-4);
      // A text-only prompt is the image model's (and the core's) text-only output, bit for bit.
      const text = [1, 5, 6, 7];
      const a = await opened.logits(text, null);
      const b = await opened.logits(text, null, { imageOnly: true });
      a.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(b[i]!)));
      // Greedy generation with the KV cache = argmax of full-sequence logits.
      const out = await opened.complete(prompt, ctxOpen, { maxNewTokens: 4, temperature: 0 });
      const rows = await opened.logits([...prompt, ...out.slice(0, -1)], ctxOpen);
      expect(out).toEqual(out.map((_, i) => rows[prompt.length - 1 + i]!.reduce((best, v, j, r) => (v > r[best]! ? j : best), 0)));
    } finally {
      await fresh.release();
      await opened.release();
    }
  });

  it('streams tokens as they come (= complete); stopping early leaves the shared decoder session ready for the next clip', async () => {
    const prompt = [1, 5, IMG, 7, 8, 9];
    const open = { ...t.video };
    for (const [k, v] of Object.entries(open)) if (/_gate$/.test(k)) open[k] = { dtype: 'f32', shape: v.shape, data: new Float32Array(v.shape[0]!).fill(0.8) };
    const g = VideoGenerator.create(t.m, TINY_CLIP, t.core, t.vision, open);
    try {
      const a = await g.contextOfFrames(right);
      const b = await g.contextOfFrames(left);
      const sampling = { maxNewTokens: 5, temperature: 0 };
      const whole = await g.complete(prompt, a, sampling);
      expect(whole).toHaveLength(5);
      // Tokens arrive one at a time, the same ids in the same order.
      const streamed: number[] = [];
      for await (const id of g.generate(prompt, a, sampling)) streamed.push(id);
      expect(streamed).toEqual(whole);
      // Stop after 2 tokens; another clip, then the first again: per-call feeds, no state left behind.
      const early: number[] = [];
      for await (const id of g.generate(prompt, a, sampling)) if (early.push(id) === 2) break;
      expect(early).toEqual(whole.slice(0, 2));
      const other = await g.complete(prompt, b, sampling);
      const otherLogits = await g.logits(prompt, b);
      expect(other[0]).toBe(otherLogits[prompt.length - 1]!.reduce((best, v, j, r) => (v > r[best]! ? j : best), 0));
      expect(await g.complete(prompt, a, sampling)).toEqual(whole);
      // The image-only route streams too (its own session), = its complete.
      const img: number[] = [];
      for await (const id of g.generate(prompt, a, sampling, { imageOnly: true })) img.push(id);
      expect(img).toEqual(await g.complete(prompt, a, sampling, { imageOnly: true }));
    } finally {
      await g.release();
    }
  });

  it('refuses a prompt with a clip but no <|image|> token', async () => {
    const g = VideoGenerator.create(t.m, TINY_CLIP, t.core, t.vision, t.video);
    try {
      await expect(g.logits([1, 5, 6], await g.contextOfFrames(right))).rejects.toThrow(/0 <\|image\|> token.*a clip needs exactly one/);
    } finally {
      await g.release();
    }
  });
});
