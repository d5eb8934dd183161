/**
 * The three tiny adapter models on the tiny frozen core, each as the recipe composes it for
 * `trainAdapter` (spec, trained groups, optimizer), with fresh values and batch builders:
 * - vision: mini-preset-shaped encoder at 16-px tiles of 8-px patches (2 tile slots), cross-attention
 *   before core layers 1 and 3, `adapterBatch`;
 * - speech: a one-layer Conformer + the adapter, `featureFeeds`/`audioIndexOf` with the markers;
 * - video: the aggregator (2 layers, 3 latents, 4 frames in groups of 2) + video layers, composed
 *   with the frozen image adapter, `videoBatch`.
 */
import { Rng, encodeF16 } from '@herd/core';
import * as G from '@herd/graph';
import { type LmGraphSpec, headDim } from '@herd/llama3';
import { type HostTensor, hostTensor } from '@herd/runtime';
import { AUDIO_END, AUDIO_START, KEEP_TOKEN, SPEECH_ADAPTER_GROUP, SPEECH_ENCODER_GROUP, type SpeechModelConfig, audioIndexOf, audioTokens, featureFeeds, parseSpeechConfig, speechAdapterSpecs, speechEncoderSpecs, speechSpec } from '@herd/speech';
import { type ClipFeatures, VIDEO_GROUPS, type VideoModelConfig, frameTokens, parseVideoConfig, videoBatch, videoModelSpec, videoParamSpecs } from '@herd/video';
import { ADAPTER_GROUP, ENCODER_GROUPS, type MllamaConfig, PROJECTOR_GROUP, type TiledImage, adapterBatch, adapterParamSpecs, encoderParamSpecs, loadVisionPreset, patchesPerTile, visionTrainingExtension } from '@herd/vision';
import { TINY_TEXT, hostValues, setGates } from './tiny.js';

export { TINY_TEXT };

/** What every recipe passes to `trainAdapter`/`buildLmTraining` as the optimizer. */
export const RECIPE_OPTIMIZER = { weightDecay: 0.01 } as const;

// ─── vision ─────────────────────────────────────────────────────────────────

export const TINY_IMAGE: MllamaConfig = {
  text: TINY_TEXT,
  vision: loadVisionPreset('mini', { tileSize: 16, patchSize: 8, dim: 16, nLayers: 2, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 2 }),
  crossAttentionLayers: [1, 4],
  imageTokenId: TINY_TEXT.vocabSize,
  nLearnableTokens: 2,
};
export const VISION_SPEC: LmGraphSpec = { config: TINY_TEXT, extension: visionTrainingExtension(TINY_IMAGE) };
export const VISION_TRAIN = [...ENCODER_GROUPS, PROJECTOR_GROUP, ADAPTER_GROUP];

/** Fresh encoder + adapter values (std `std`), every gate at `gate`. */
export function visionValues(seed: number, gate: number, std = 0.2): Record<string, HostTensor> {
  return setGates(hostValues(G.initParams([...encoderParamSpecs(TINY_IMAGE.vision), ...adapterParamSpecs(TINY_IMAGE)], seed, { std, layers: 2 })), gate);
}

/** One sequence per image: tokens with one `<|image|>`, targets (−100 = no loss), both of length T. */
export function visionBatch(samples: readonly { image: TiledImage; tokens: readonly number[]; targets: readonly number[] }[], T: number): Record<string, HostTensor> {
  return adapterBatch(TINY_IMAGE, samples, T);
}

// ─── speech ─────────────────────────────────────────────────────────────────

const encoder = parseSpeechConfig({
  nMels: 80, stack: 4, dim: 16, nLayers: 1, nHeads: 2, ffnDim: 32, convKernel: 7, normEps: 1e-5, ropeTheta: 10000,
  bestRq: { codebooks: 1, codebookSize: 16, codeDim: 8, maskProb: 0.025, maskSpan: 8, noiseStd: 0.1 },
});
export const TINY_SPEECH: SpeechModelConfig = { encoder, adapter: { encoderDim: 16, dim: 16, nHeads: 2, ffnDim: 32, coreDim: TINY_TEXT.dim, normEps: 1e-5, ropeTheta: 10000 } };
/** Padded input frames of the speech graphs. */
export const SPEECH_FRAMES = 32;
export const SPEECH_SPEC: LmGraphSpec = speechSpec(TINY_TEXT, TINY_SPEECH, SPEECH_FRAMES);
export const SPEECH_TRAIN = [SPEECH_ENCODER_GROUP, SPEECH_ADAPTER_GROUP];

export function speechValues(seed: number, std = 0.2): Record<string, HostTensor> {
  return hostValues(G.initParams([...speechEncoderSpecs(TINY_SPEECH), ...speechAdapterSpecs(TINY_SPEECH)], seed, { std, layers: 2 }));
}

/** [bos, 2, <start>, a0…, <end>, 3, reply…, pad]; loss on the reply (the position before it predicts its first token). */
function speechSequence(audioFrames: number, reply: readonly number[], T: number): { ids: number[]; codes: number[]; targets: number[] } {
  const codes = [KEEP_TOKEN, KEEP_TOKEN, AUDIO_START, ...Array.from({ length: audioFrames }, (_, a) => a), AUDIO_END, KEEP_TOKEN, ...reply.map(() => KEEP_TOKEN)];
  const ids = codes.map((c, i) => (c === KEEP_TOKEN && i < 2 ? i + 1 : 0));
  const from = audioFrames + 5;
  ids[from - 1] = 3;
  reply.forEach((r, k) => (ids[from + k] = r));
  const targets = new Array<number>(T).fill(-100);
  for (let i = from - 1; i + 1 < ids.length; i++) targets[i] = ids[i + 1]!;
  while (ids.length < T) {
    ids.push(0);
    codes.push(KEEP_TOKEN);
  }
  return { ids, codes, targets };
}

/** Position of the first reply token's prediction in a speech sequence with `frames` input frames. */
export function speechAnswerRow(frames: number): number {
  return audioTokens(encoder, frames) + 4;
}

export function speechBatch(utterances: readonly { features: Float32Array; frames: number }[], replies: readonly (readonly number[])[], T: number): Record<string, HostTensor> {
  const A = audioTokens(encoder, SPEECH_FRAMES);
  const seqs = utterances.map((u, b) => speechSequence(audioTokens(encoder, u.frames), replies[b]!, T));
  const B = seqs.length;
  return {
    tokens: hostTensor('i32', [B, T], seqs.flatMap((s) => s.ids)),
    targets: hostTensor('i32', [B, T], seqs.flatMap((s) => s.targets)),
    positions: hostTensor('i32', [B, T], Int32Array.from({ length: B * T }, (_, i) => i % T)),
    docIds: hostTensor('i32', [B, T]),
    ...featureFeeds(encoder, utterances, SPEECH_FRAMES),
    audioIndex: hostTensor('i32', [B, T], audioIndexOf(seqs.map((s) => s.codes), A, T)),
  };
}

// ─── video ──────────────────────────────────────────────────────────────────

export const TINY_VIDEO: VideoModelConfig = {
  image: TINY_IMAGE,
  video: parseVideoConfig({ pretrain: { frames: 4, groupFrames: 4 }, finetune: { frames: 4, groupFrames: 2 }, resampler: { latents: 3, layers: 2, heads: 2, ffnDim: 24, maxFrames: 4 }, crossEvery: 1, crossFfnDim: 24 }),
};
export const VIDEO_CLIP = TINY_VIDEO.video.finetune;
export const VIDEO_SPEC: LmGraphSpec = videoModelSpec(TINY_VIDEO, VIDEO_CLIP, 'frames');
export const VIDEO_TRAIN = VIDEO_GROUPS;

/** The frozen image model (encoder + adapter, gates open as a trained one's). */
export function frozenImageValues(seed: number): Record<string, HostTensor> {
  return visionValues(seed, 0.6, 0.02);
}

/** Fresh video values (std `std`), every video gate at `gate`. */
export function videoValues(seed: number, gate: number, std = 0.2): Record<string, HostTensor> {
  return setGates(hostValues(G.initParams(videoParamSpecs(TINY_VIDEO), seed, { layers: 2, std })), gate);
}

/** Clip features: frames [F, S, D] (stored f16 as the feature table does), `tiles` real tiles of 2, and middle-frame image keys/values. */
export function clipFeatures(frames: Float32Array, tiles: number, kv: Readonly<Record<string, Float32Array>>): ClipFeatures {
  const S = frameTokens(TINY_IMAGE);
  const P = patchesPerTile(TINY_IMAGE.vision);
  return { features: encodeF16(frames), frameMask: Uint8Array.from({ length: S }, (_, i) => (i < tiles * P ? 1 : 0)), kv, aspectRatioId: TINY_IMAGE.vision.supportedAspectRatios.findIndex(([r, c]) => r * c === tiles) + 1 }; // the first canvas of that many tiles
}

/** Random frame features [F·S·D] and random image keys/values. */
export function randomFrames(rng: Rng, scale = 1): Float32Array {
  return Float32Array.from({ length: VIDEO_CLIP.frames * frameTokens(TINY_IMAGE) * TINY_TEXT.dim }, () => rng.normal() * scale);
}

export function randomImageKv(rng: Rng): Record<string, Float32Array> {
  const S = frameTokens(TINY_IMAGE);
  const n = TINY_TEXT.nKvHeads * S * headDim(TINY_TEXT);
  return Object.fromEntries(TINY_IMAGE.crossAttentionLayers.flatMap((_, j) => [[`xattn.k.${j}`, Float32Array.from({ length: n }, () => rng.normal())], [`xattn.v.${j}`, Float32Array.from({ length: n }, () => rng.normal())]]));
}

export function clipBatch(features: ReadonlyMap<string, ClipFeatures>, seqs: readonly { clip: string; tokens: readonly number[]; targets: readonly number[] }[], T: number, m: VideoModelConfig = TINY_VIDEO): Record<string, HostTensor> {
  return videoBatch(m, VIDEO_CLIP, features, seqs, T);
}
