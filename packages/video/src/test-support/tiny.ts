/**
 * A tiny random video model for tests: a 4-layer core, a small image encoder and adapter (gates
 * opened so the image matters), and a fresh video group (gates 0). Seeded.
 */
import { type Rng, encodeF16 } from '@herd/core';
import * as G from '@herd/graph';
import { initWeights, parseLlamaConfig } from '@herd/llama3';
import { type MllamaConfig, type TiledImage, adapterParamSpecs, encoderParamSpecs, loadVisionPreset, tileImage } from '@herd/vision';
import { type TiledClip } from '../data/frames.js';
import { parseVideoConfig } from '../config.js';
import { type ClipFeatures } from '../data/features.js';
import { type VideoModelConfig, frameTokens, videoParamSpecs } from '../model/graphs.js';

export const TINY_CLIP = { frames: 4, groupFrames: 2 } as const;

export function tinyModel(): { m: VideoModelConfig; core: ReturnType<typeof initWeights>; vision: ReturnType<typeof G.initParams>; video: ReturnType<typeof G.initParams> } {
  const text = parseLlamaConfig({ dim: 32, nLayers: 4, nHeads: 4, nKvHeads: 2, vocabSize: 40, ffnDim: 48, maxSeqLen: 32 });
  // The tiny video tests were tuned on 56-px tiles of 14-px patches (the former mini shape): pinned here.
  const vision = loadVisionPreset('mini', { tileSize: 56, patchSize: 14, dim: 16, nLayers: 2, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 2 });
  const image: MllamaConfig = { text, vision, crossAttentionLayers: [1, 4], imageTokenId: 40, nLearnableTokens: 2 };
  const video = parseVideoConfig({ pretrain: { frames: 4, groupFrames: 4 }, finetune: TINY_CLIP, resampler: { latents: 3, layers: 2, heads: 2, ffnDim: 24, maxFrames: 4 }, crossEvery: 1, crossFfnDim: 24 });
  const m = { image, video };
  const core = initWeights(text, 1);
  const v = G.initParams([...encoderParamSpecs(vision), ...adapterParamSpecs(image)], 2, { layers: 2 });
  // Open the image model's gates (a trained image model): then "equals the image model" is a real check.
  for (const [k, t] of Object.entries(v)) if (/gate$/.test(k)) (t.data as Float32Array).fill(0.6);
  return { m, core, vision: v, video: G.initParams(videoParamSpecs(m), 3, { layers: 2, std: 0.3 }) };
}

/** F frames of W×H: a bright square at a given position per frame on a dark background. */
export function movingSquare(m: MllamaConfig, positions: readonly (readonly [number, number])[], width = 40, height = 24): TiledClip {
  const frames: TiledImage[] = positions.map(([x0, y0]) => {
    const data = new Uint8Array(width * height * 3).fill(20);
    for (let y = y0; y < Math.min(height, y0 + 6); y++) for (let x = x0; x < Math.min(width, x0 + 6); x++) data.fill(230, (y * width + x) * 3, (y * width + x) * 3 + 3);
    return tileImage({ data, width, height }, m.vision);
  });
  return { frames, frameIndices: positions.map((_, i) => i), width, height, durationS: positions.length / 12 };
}

/**
 * A toy clip only the order of its frames tells apart (for the tiny model, `TINY_CLIP` frames): a
 * blob — its token's position code, strong, as a ViT's position embedding gives each token its own
 * vector — at token 2f (moving right) or 2(F−1−f) (left) of frame f, plus noise; one real tile of
 * two; the middle frame's image keys/values zero, so the image path cannot help.
 */
export function toyMotionClip(m: VideoModelConfig, rng: Rng, right: boolean): ClipFeatures {
  const S = frameTokens(m.image);
  const D = m.image.text.dim;
  const F = TINY_CLIP.frames;
  const code = (i: number, d: number) => Math.sin(0.7 * (i + 1) * (d + 1));
  const f32 = Float32Array.from({ length: F * S * D }, () => rng.normal() * 0.3);
  for (let f = 0; f < F; f++) {
    const at = 2 * (right ? f : F - 1 - f);
    for (let d = 0; d < D; d++) f32[(f * S + at) * D + d]! += 2 * code(at, d);
  }
  const frameMask = new Uint8Array(S).fill(1, 0, S / 2);
  const kv: Record<string, Float32Array> = {};
  const K = m.image.text.nKvHeads;
  const dh = m.image.text.dim / m.image.text.nHeads;
  m.image.crossAttentionLayers.forEach((_, j) => {
    kv[`xattn.k.${j}`] = new Float32Array(K * S * dh);
    kv[`xattn.v.${j}`] = new Float32Array(K * S * dh);
  });
  // Half the tile slots real: the first canvas of that many tiles.
  const aspectRatioId = m.image.vision.supportedAspectRatios.findIndex(([r, c]) => r * c === m.image.vision.maxTiles / 2) + 1;
  return { features: encodeF16(f32), frameMask, kv, aspectRatioId };
}
