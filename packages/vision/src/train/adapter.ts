/**
 * Adapter pre-training (§7.3) through the core's shared LM recipe: `buildLmTraining` with the vision
 * extension, training the encoder and adapter groups while every core weight stays a frozen
 * initializer. Loss on the text tokens the caller marks (after the image).
 *
 * Legend: B sequences (one image each), T tokens.
 */
import { HerdError } from '@herd/core';
import { type AdamWConfig, type TrainingGraphs } from '@herd/graph';
import { type FrozenWeights, buildLmTraining } from '@herd/llama3';
import { type HostTensor, hostTensor } from '@herd/runtime';
import { type MllamaConfig, patchesPerTile, placeBinsOf, silhouetteLayersOf, visionOutputDim } from '../config.js';
import { silhouetteView } from '../data/ink.js';
import { patchPlaces } from '../data/patch-place.js';
import { type TiledImage, packFeatures, packImages } from '../data/tiling.js';
import { ADAPTER_GROUP, ENCODER_GROUPS, type ImageSource, PLACE_GROUP, PROJECTOR_GROUP, VISION_STREAMS, type VisionStream, type VisionWeights, visionTrainingExtension } from '../model/graphs.js';
import { crossAttentionMaskRows, imageIntervals } from '../model/image-mask.js';
import { LOOK_ROWS, LOOK_TOKENS } from '../model/look.js';
import { packPlaces } from '../model/place.js';

/**
 * One training step graph for B sequences of T tokens; the core is frozen, encoder + adapter train.
 * Source 'features': the images' given encoder features (the oracle) replace the encoder, so only the
 * projector and adapter train. `lookWeight` > 0 adds the look loss (`lookLoss`) with that weight; its batches then
 * come from `adapterBatch(…, look = true)`.
 */
export function buildAdapterTraining(m: MllamaConfig, core: FrozenWeights, vision: VisionWeights, batch: number, seqLen: number, optimizer: Partial<AdamWConfig> = {}, source: ImageSource = 'pixels', lookWeight = 0): TrainingGraphs {
  return buildLmTraining({ config: m.text, extension: visionTrainingExtension(m, 'meta', source, lookWeight > 0) }, { ...core, ...vision }, { batch, seqLen, train: [...ENCODER_GROUPS, PROJECTOR_GROUP, ...(placeBinsOf(m) > 0 ? [PLACE_GROUP] : []), ADAPTER_GROUP], optimizer, ...(lookWeight > 0 ? { auxiliaryWeight: lookWeight } : {}) });
}

export interface AdapterSample {
  readonly image: TiledImage;
  /** Token ids with one `<|image|>`; length T. */
  readonly tokens: readonly number[];
  /** Next-token targets (−100 = no loss), length T. */
  readonly targets: readonly number[];
  /**
   * With a silhouette stream (`MllamaConfig.silhouetteLayers`): the streams shut for this sequence (default none): their
   * layers add nothing to it and get no gradient from it, so the others answer it alone.
   */
  readonly shut?: readonly VisionStream[];
  /**
   * For the look loss (`lookLoss`): the grid cells (column, row of the world's 3×3 layout) of the object the question
   * names; its reply rows with a target should attend to those cells' image tokens. Absent or empty: no look target.
   */
  readonly look?: readonly (readonly [number, number])[];
}

/**
 * Feeds of one batch: ids past the vocabulary go to `learnableIds` (the core sees 0 there). Images that
 * carry given encoder features (`TiledImage.features`, the oracle) feed `features` instead of the pixels
 * (the graph of `visionTrainingExtension` with source 'features').
 */
export function adapterBatch(m: MllamaConfig, samples: readonly AdapterSample[], seqLen: number, look = false): Record<string, HostTensor> {
  const B = samples.length;
  const V = m.text.vocabSize;
  const { maxTiles: N, tileSize: S } = m.vision;
  const layout = (s: AdapterSample) => ({ nTiles: [s.image.nTiles], maxTiles: N, tokensPerTile: patchesPerTile(m.vision) });
  const K = N * patchesPerTile(m.vision);
  const tokens = new Int32Array(B * seqLen);
  const targets = new Int32Array(B * seqLen);
  const learnable = new Int32Array(B * seqLen);
  const mask = new Uint8Array(B * seqLen * K);
  samples.forEach((s, b) => {
    if (s.tokens.length !== seqLen || s.targets.length !== seqLen) throw new HerdError('invalid_argument', `adapter batch: sample ${b} has ${s.tokens.length} tokens / ${s.targets.length} targets, the graph takes ${seqLen}`);
    const iv = imageIntervals(s.tokens, m.imageTokenId);
    if (iv.length !== 1) throw new HerdError('invalid_argument', `adapter batch: sample ${b} has ${iv.length} <|image|> tokens; training takes exactly one per sequence`);
    s.tokens.forEach((t, i) => {
      tokens[b * seqLen + i] = t >= V ? 0 : t;
      learnable[b * seqLen + i] = t >= V ? t - V : -1;
    });
    targets.set(s.targets, b * seqLen);
    mask.set(crossAttentionMaskRows(iv, layout(s), 0, seqLen), b * seqLen * K);
  });
  const features = packFeatures(samples.map((s) => s.image), K * visionOutputDim(m.vision));
  const packed = features ? undefined : packImages(samples.map((s) => s.image), N, S);
  const image: Record<string, HostTensor> = packed
    ? { pixels: hostTensor('f32', [B, N, 3, S, S], packed.pixels), aspectRatioIds: hostTensor('i32', [B], packed.aspectRatioIds), tileMask: hostTensor('bool', [B, N], packed.aspectRatioMask) }
    : { features: hostTensor('f32', [B, N, patchesPerTile(m.vision), visionOutputDim(m.vision)], features!) };
  // A silhouette stream reads each image's silhouette (made once per image) through the same encoder.
  const streams: Record<string, HostTensor> = silhouetteLayersOf(m).length === 0 ? {} : {
    silhouettePixels: hostTensor('f32', [B, N, 3, S, S], packImages(samples.map((s) => silhouetteView(s.image, m.vision)), N, S).pixels),
    ...Object.fromEntries(VISION_STREAMS.map((st) => [`xattn.open.${st}`, hostTensor('f32', [B], Float32Array.from(samples, (s) => (s.shut?.includes(st) ? 0 : 1)))])),
  };
  return {
    ...streams,
    ...(look ? lookFeeds(m, samples, seqLen) : {}),
    tokens: hostTensor('i32', [B, seqLen], tokens),
    targets: hostTensor('i32', [B, seqLen], targets),
    positions: hostTensor('i32', [B, seqLen], Int32Array.from({ length: B * seqLen }, (_, i) => i % seqLen)),
    docIds: hostTensor('i32', [B, seqLen]),
    'xattn.mask': hostTensor('bool', [B, 1, seqLen, K], mask),
    learnableIds: hostTensor('i32', [B, seqLen], learnable),
    ...image,
    ...packPlaces(m, samples.map((s) => s.image)),
  };
}

/**
 * The look loss's feeds (`LOOK_TOKENS` [B, S], `LOOK_ROWS` [B, T]): a sample's image tokens whose patch centre lies in one of
 * its `look` cells (`patchPlaces` with 3 bins: the world's 3×3 grid over the image), and its rows with a target, where both
 * exist; zeros for a sample without a look target.
 */
export function lookFeeds(m: MllamaConfig, samples: readonly AdapterSample[], seqLen: number): Record<string, HostTensor> {
  const S = m.vision.maxTiles * patchesPerTile(m.vision);
  const tokens = new Float32Array(samples.length * S);
  const rows = new Float32Array(samples.length * seqLen);
  samples.forEach((s, b) => {
    if (!s.look?.length) return;
    const cells = patchPlaces(s.image, m.vision, 3);
    let marked = 0;
    for (let t = 0; t < S; t++) {
      if (s.look.some(([c, r]) => cells.col[t] === c && cells.row[t] === r)) {
        tokens[b * S + t] = 1;
        marked++;
      }
    }
    if (marked > 0) s.targets.forEach((t, i) => { if (t !== -100) rows[b * seqLen + i] = 1; });
  });
  return { [LOOK_TOKENS]: hostTensor('f32', [samples.length, S], tokens), [LOOK_ROWS]: hostTensor('f32', [samples.length, seqLen], rows) };
}
