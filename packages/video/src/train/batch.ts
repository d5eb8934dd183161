/**
 * Sequences about clips → the feeds of the video model's training graph (the video extension with
 * `source: 'frames'` composed with the frozen image adapter). A clip enters a sequence as one
 * `<|image|>` token: rows from it on see the middle frame's image keys/values and the whole clip's
 * video tokens; rows before it see nothing. Features come from the clip feature table (frozen
 * encoder outputs, f16, decoded here).
 *
 * Legend: B sequences (one clip each), T tokens, F frames, S image tokens per frame, V video tokens,
 * D core width, K kv heads, Dh head dim.
 */
import { HerdError, decodeF16 } from '@herd/core';
import { headDim } from '@herd/llama3';
import { type HostTensor, hostTensor } from '@herd/runtime';
import { crossAttentionMaskRows, imageIntervals, patchesPerTile } from '@herd/vision';
import { type ClipSampling, effectiveFrames, videoTokenCount } from '../config.js';
import { type ClipFeatures, clipCanvasFeeds } from '../data/features.js';
import { LOOKUP_ROWS, VIDEO_LOOK_ROWS, VIDEO_LOOK_TOKENS, type VideoAuxiliary, type VideoModelConfig, frameTokens, lookTokenCount } from '../model/graphs.js';

/** One training sequence: token ids (one `<|image|>` for the clip) and next-token targets (−100 = no loss), both of length T. */
export interface VideoSequence {
  readonly clip: string;
  readonly tokens: readonly number[];
  readonly targets: readonly number[];
  /** The look-up loss's rows and target (`lookupLoss`): the asked shape's name ends at `rows[0]`, `rows[1]` gives the answer's direction word; it moves `direction` (a `LOOKUP_DIRECTIONS` index). */
  readonly lookup?: { readonly rows: readonly number[]; readonly direction: number };
  /** The look loss's rows and tokens (`videoLookLoss`): at `rows` the video layers should look at the video tokens `tokens` (indices into V). */
  readonly look?: { readonly rows: readonly number[]; readonly tokens: readonly number[] };
}

/** Pads/cuts to T; targets are the next token from `trainFrom` on (−100 elsewhere and on padding). */
export function videoSequence(clip: string, seq: { tokens: readonly number[]; trainFrom: number }, seqLen: number): VideoSequence {
  const tokens = seq.tokens.slice(0, seqLen);
  const targets = new Array<number>(seqLen).fill(-100);
  for (let i = Math.max(0, seq.trainFrom - 1); i + 1 < tokens.length; i++) targets[i] = tokens[i + 1]!;
  while (tokens.length < seqLen) tokens.push(0);
  return { clip, tokens, targets };
}

/**
 * `clipTokens`: the clips' video tokens [V·D] from a frozen aggregator (`videoTokensOf`), fed as
 * `video.tokens` for the graph built with source 'tokens' instead of the frames (the aggregator is
 * then a pure function of the clip, computed once, like the frozen image features). `auxiliary` 'lookup': also
 * `video.lookupRow` / `video.lookupTarget` [B, LOOKUP_ROWS] from the sequences' `lookup` (rows 0 and
 * −100 where a sequence has none), for the graph built with the look-up loss; 'look': `VIDEO_LOOK_TOKENS` [B, E, V]
 * (each marked token in its effective frame's row) and `VIDEO_LOOK_ROWS` [B, T] from the sequences' `look` (zeros where a
 * sequence has none). With the video config's
 * `look`, the second feature input: `video.lookFrames` [B, F, S, D] from each clip's `look` (frames),
 * or with `clipTokens` `video.look` [B, E·S, D] from `clipLook` (the video-tokens graph's look output).
 */
export function videoBatch(m: VideoModelConfig, clip: ClipSampling, features: ReadonlyMap<string, ClipFeatures>, seqs: readonly VideoSequence[], seqLen: number, clipTokens?: ReadonlyMap<string, Float32Array>, auxiliary?: VideoAuxiliary, clipLook?: ReadonlyMap<string, Float32Array>): Record<string, HostTensor> {
  const img = m.image;
  const B = seqs.length;
  const F = clip.frames;
  const S = frameTokens(img);
  const D = img.text.dim;
  const V = videoTokenCount(m.video, clip, S);
  const K = img.text.nKvHeads;
  const dh = headDim(img.text);
  const vocab = img.text.vocabSize;
  const P = patchesPerTile(img.vision);
  const tokens = new Int32Array(B * seqLen);
  const targets = new Int32Array(B * seqLen);
  const learnable = new Int32Array(B * seqLen);
  const xmask = new Uint8Array(B * seqLen * S);
  const vmask = new Uint8Array(B * seqLen * V);
  const frames = new Float32Array(clipTokens ? 0 : B * F * S * D);
  const videoTokens = new Float32Array(clipTokens ? B * V * D : 0);
  const frameMask = new Uint8Array(B * S);
  const look = m.video.look === true;
  const VL = lookTokenCount(m, clip);
  const lookFeed = new Float32Array(!look ? 0 : clipTokens ? B * VL * D : B * F * S * D);
  const kv: Record<string, Float32Array> = {};
  img.crossAttentionLayers.forEach((_, j) => {
    kv[`xattn.k.${j}`] = new Float32Array(B * K * S * dh);
    kv[`xattn.v.${j}`] = new Float32Array(B * K * S * dh);
  });
  seqs.forEach((s, b) => {
    const x = features.get(s.clip);
    if (!x) throw new HerdError('invalid_argument', `video batch: no features for clip '${s.clip}' (sequence ${b})`);
    if (s.tokens.length !== seqLen || s.targets.length !== seqLen) throw new HerdError('invalid_argument', `video batch: sequence ${b} (clip ${s.clip}) has ${s.tokens.length} tokens / ${s.targets.length} targets, the graph takes ${seqLen}`);
    if (x.features.length !== F * S * D) throw new HerdError('shape_mismatch', `video batch: clip ${s.clip} has ${x.features.length} feature values, the graph takes ${F}×${S}×${D}`);
    const iv = imageIntervals(s.tokens, img.imageTokenId);
    if (iv.length !== 1) throw new HerdError('invalid_argument', `video batch: sequence ${b} (clip ${s.clip}) has ${iv.length} <|image|> tokens; a clip takes exactly one`);
    s.tokens.forEach((t, i) => {
      tokens[b * seqLen + i] = t >= vocab ? 0 : t;
      learnable[b * seqLen + i] = t >= vocab ? t - vocab : -1;
    });
    targets.set(s.targets, b * seqLen);
    const nTiles = x.frameMask.reduce((a, v) => a + v, 0) / P;
    const rows = crossAttentionMaskRows(iv, { nTiles: [nTiles], maxTiles: img.vision.maxTiles, tokensPerTile: P }, 0, seqLen);
    xmask.set(rows, b * seqLen * S);
    for (let r = iv[0]![0]; r < seqLen; r++) vmask.fill(1, (b * seqLen + r) * V, (b * seqLen + r + 1) * V);
    if (clipTokens) {
      const v = clipTokens.get(s.clip);
      if (!v || v.length !== V * D) throw new HerdError('invalid_argument', `video batch: no video tokens [${V}×${D}] for clip '${s.clip}' (sequence ${b})`);
      videoTokens.set(v, b * V * D);
    } else frames.set(decodeF16(x.features), b * F * S * D);
    if (look && clipTokens) {
      const l = clipLook?.get(s.clip);
      if (!l || l.length !== VL * D) throw new HerdError('invalid_argument', `video batch: no look tokens [${VL}×${D}] for clip '${s.clip}' (sequence ${b})`);
      lookFeed.set(l, b * VL * D);
    } else if (look) {
      if (!x.look || x.look.length !== F * S * D) throw new HerdError('invalid_argument', `video batch: clip '${s.clip}' has no second feature input [${F}×${S}×${D}] (the model's look)`);
      lookFeed.set(decodeF16(x.look), b * F * S * D);
    }
    frameMask.set(x.frameMask, b * S);
    for (const [name, arr] of Object.entries(kv)) arr.set(x.kv[name]!, b * K * S * dh);
  });
  const R = LOOKUP_ROWS;
  for (const [b, s] of seqs.entries()) {
    if (s.lookup && (s.lookup.rows.length !== R || s.lookup.rows.some((r) => !(Number.isSafeInteger(r) && r >= 0 && r < seqLen)))) throw new HerdError('invalid_argument', `video batch: sequence ${b} (clip ${s.clip}) has look-up rows [${s.lookup.rows}]; the graph takes ${R} rows in 0..${seqLen - 1}`);
  }
  const lookupFeeds: Record<string, HostTensor> = auxiliary === 'lookup'
    ? {
        'video.lookupRow': hostTensor('i32', [B, R], Int32Array.from({ length: B * R }, (_, i) => seqs[Math.floor(i / R)]!.lookup?.rows[i % R] ?? 0)),
        'video.lookupTarget': hostTensor('i32', [B, R], Int32Array.from({ length: B * R }, (_, i) => seqs[Math.floor(i / R)]!.lookup?.direction ?? -100)),
      }
    : {};
  const lookFeeds: Record<string, HostTensor> = {};
  if (auxiliary === 'look') {
    // Each marked token's effective frame: a latent's from its block of L, an object-motion token's from its block of S.
    const E = effectiveFrames(clip);
    const L = m.video.resampler.latents;
    const frameOf = (v: number) => (v < E * L ? Math.floor(v / L) : Math.floor((v - E * L) / S));
    const at = new Float32Array(B * E * V);
    const rows = new Float32Array(B * seqLen);
    for (const [b, s] of seqs.entries()) {
      if (!s.look) continue;
      const bad = (xs: readonly number[], n: number) => xs.length === 0 || xs.some((r) => !(Number.isSafeInteger(r) && r >= 0 && r < n));
      if (bad(s.look.rows, seqLen) || bad(s.look.tokens, V)) throw new HerdError('invalid_argument', `video batch: sequence ${b} (clip ${s.clip}) has look rows [${s.look.rows}] and ${s.look.tokens.length} look tokens [${s.look.tokens.slice(0, 8)}${s.look.tokens.length > 8 ? ',…' : ''}]; the graph takes rows in 0..${seqLen - 1} and tokens in 0..${V - 1}, at least one of each`);
      for (const r of s.look.rows) rows[b * seqLen + r] = 1;
      for (const v of s.look.tokens) at[(b * E + frameOf(v)) * V + v] = 1;
    }
    lookFeeds[VIDEO_LOOK_TOKENS] = hostTensor('f32', [B, E, V], at);
    lookFeeds[VIDEO_LOOK_ROWS] = hostTensor('f32', [B, seqLen], rows);
  }
  return {
    ...lookupFeeds,
    ...lookFeeds,
    tokens: hostTensor('i32', [B, seqLen], tokens),
    targets: hostTensor('i32', [B, seqLen], targets),
    positions: hostTensor('i32', [B, seqLen], Int32Array.from({ length: B * seqLen }, (_, i) => i % seqLen)),
    docIds: hostTensor('i32', [B, seqLen]),
    learnableIds: hostTensor('i32', [B, seqLen], learnable),
    'xattn.mask': hostTensor('bool', [B, 1, seqLen, S], xmask),
    'video.mask': hostTensor('bool', [B, 1, seqLen, V], vmask),
    ...(clipTokens ? { 'video.tokens': hostTensor('f32', [B, V, D], videoTokens) } : { 'video.frames': hostTensor('f32', [B, F, S, D], frames), 'video.frameMask': hostTensor('bool', [B, S], frameMask), ...clipCanvasFeeds(m, seqs.map((s) => features.get(s.clip)!)) }),
    ...(look ? (clipTokens ? { 'video.look': hostTensor('f32', [B, VL, D], lookFeed) } : { 'video.lookFrames': hostTensor('f32', [B, F, S, D], lookFeed) }) : {}),
    ...Object.fromEntries(Object.entries(kv).map(([n, a]) => [n, hostTensor('f32', [B, K, S, dh], a)])),
  };
}
