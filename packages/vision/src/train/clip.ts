/**
 * The contrastive pre-training recipe of the image encoder (§7.2), in miniature: a training-step
 * graph (forward, symmetric InfoNCE, backward, AdamW), a loop over batches of image–caption pairs,
 * and the image–text similarity of the trained encoders.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type EmittedModel, Graph, type ParamValues, type TrainingGraphs } from '@herd/graph';
import { type HostTensor, Session, type SessionOptions, TrainingRun, hostTensor } from '@herd/runtime';
import { type TiledImage, packImages } from '../data/tiling.js';
import { type ClipConfig, LOGIT_SCALE_INIT, clipParamSpecs, embedImages, embedTexts, infoNce, scaledSimilarity } from '../model/clip.js';

/** Fresh parameters: the shared init, the temperature at CLIP's 1/0.07. */
export function initClipParams(c: ClipConfig, seed: number): ParamValues {
  const v = G.initParams(clipParamSpecs(c), seed, { layers: Math.max(c.vision.nLayers, c.textLayers) });
  v['logit_scale']!.data[0] = LOGIT_SCALE_INIT;
  return v;
}

export function declare(g: Graph, c: ClipConfig, values: ParamValues | undefined, trainable: boolean): G.Params {
  return G.declareParams(g, clipParamSpecs(c), (name, shape) => {
    const v = values?.[name];
    if (!v) throw new HerdError('checkpoint_mismatch', `clip: no value for '${name}'`);
    return g.param(name, 'f32', shape as number[], { trainable, value: v.data });
  });
}

function batchInputs(g: Graph, c: ClipConfig, B: number) {
  const { maxTiles: N, tileSize: S } = c.vision;
  return {
    pixels: g.input('pixels', 'f32', [B, N, 3, S, S]),
    aspectRatioIds: g.input('aspectRatioIds', 'i32', [B]),
    tileMask: g.input('tileMask', 'bool', [B, N]),
    ids: g.input('ids', 'i32', [B, c.textLen]),
    last: g.input('last', 'i32', [B]),
  };
}

/** One AdamW step on a batch of B pairs (all parameters trained; the loss also reported as a metric). */
export function buildClipTraining(c: ClipConfig, values: ParamValues, batch: number, optimizer: Partial<G.AdamWConfig> = {}): TrainingGraphs {
  const g = new Graph();
  const p = declare(g, c, values, true);
  const x = batchInputs(g, c, batch);
  const loss = infoNce(g, scaledSimilarity(p, embedImages(c, p, x.pixels, x.aspectRatioIds, x.tileMask), embedTexts(c, p, x.ids, x.last)));
  return G.buildTraining(g, { loss, optimizer, params: g.trainableParams });
}

/** A batch of pairs as feeds: tiled images and captions (token ids, padded with 0 to textLen). */
export function clipBatch(c: ClipConfig, images: readonly TiledImage[], captions: readonly (readonly number[])[]): Record<string, HostTensor> {
  const B = images.length;
  if (captions.length !== B) throw new HerdError('invalid_argument', `clip batch: ${B} images but ${captions.length} captions`);
  const packed = packImages(images, c.vision.maxTiles, c.vision.tileSize);
  const ids = new Int32Array(B * c.textLen);
  const last = new Int32Array(B);
  captions.forEach((t, i) => {
    if (t.length === 0 || t.length > c.textLen) throw new HerdError('invalid_argument', `clip batch: caption ${i} has ${t.length} tokens, need 1..${c.textLen}`);
    ids.set(t, i * c.textLen);
    last[i] = t.length - 1;
  });
  return {
    pixels: hostTensor('f32', [B, c.vision.maxTiles, 3, c.vision.tileSize, c.vision.tileSize], packed.pixels),
    aspectRatioIds: hostTensor('i32', [B], packed.aspectRatioIds),
    tileMask: hostTensor('bool', [B, c.vision.maxTiles], packed.aspectRatioMask),
    ids: hostTensor('i32', [B, c.textLen], ids),
    last: hostTensor('i32', [B], last),
  };
}

export interface ClipTrainOptions {
  readonly steps: number;
  readonly lr: number;
  readonly seed?: number;
  readonly session?: SessionOptions;
}

/** Trains on batches from `nextBatch(step)` (each B pairs, B fixed); returns the loss per step and the parameters. */
export async function trainClip(c: ClipConfig, batchSize: number, nextBatch: (step: number) => Record<string, HostTensor>, o: ClipTrainOptions): Promise<{ losses: number[]; params: ParamValues }> {
  const init = initClipParams(c, o.seed ?? 0);
  const run = await TrainingRun.create(buildClipTraining(c, init, batchSize), Object.fromEntries(Object.entries(init).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])), o.session ?? {});
  try {
    const losses: number[] = [];
    for (let s = 0; s < o.steps; s++) losses.push((await run.trainStep(nextBatch(s), o.lr)).loss);
    const out = await run.readParams();
    const params: ParamValues = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { dtype: 'f32' as const, shape: [...v.shape], data: v.data as Float32Array }]));
    return { losses, params };
  } finally {
    await run.release();
  }
}

/** The similarity graph for Bi images × Bt captions: cosine similarities [Bi, Bt] (no temperature). */
export function buildClipSimilarity(c: ClipConfig, params: ParamValues, nImages: number, nTexts: number): EmittedModel {
  const g = new Graph();
  const p = declare(g, c, params, false);
  const { maxTiles: N, tileSize: S } = c.vision;
  const img = embedImages(c, p, g.input('pixels', 'f32', [nImages, N, 3, S, S]), g.input('aspectRatioIds', 'i32', [nImages]), g.input('tileMask', 'bool', [nImages, N]));
  const txt = embedTexts(c, p, g.input('ids', 'i32', [nTexts, c.textLen]), g.input('last', 'i32', [nTexts]));
  return G.toOnnx(g, { outputs: { similarity: G.matmul(img, G.transpose(txt, [1, 0])) }, name: 'clip_similarity' });
}

/**
 * Image–text similarity (cosine, in [−1, 1]) of every image with every caption: row i, column j is
 * image i against caption j. What image curation scores pairs with.
 */
export async function imageTextSimilarity(c: ClipConfig, params: ParamValues, images: readonly TiledImage[], captions: readonly (readonly number[])[], session: SessionOptions = {}): Promise<Float32Array[]> {
  const s = await Session.create(buildClipSimilarity(c, params, images.length, captions.length), session, 'clip_similarity');
  try {
    const imgFeeds = clipBatch(c, images, images.map(() => [0]));
    const txtFeeds = clipBatch(c, captions.map(() => images[0]!), captions);
    const out = await s.run({ pixels: imgFeeds['pixels']!, aspectRatioIds: imgFeeds['aspectRatioIds']!, tileMask: imgFeeds['tileMask']!, ids: txtFeeds['ids']!, last: txtFeeds['last']! });
    const sim = out['similarity']!.data as Float32Array;
    return images.map((_, i) => sim.slice(i * captions.length, (i + 1) * captions.length));
  } finally {
    await s.release();
  }
}
