/**
 * The mini CLIP: the CLIP-style image–text model of §7.2 (`model/clip.ts`, trained by `train/clip.ts`)
 * at a size this machine trains in minutes, on the synthetic world's clean scenes and captions. It is
 * what image curation scores pairs with (§7.1.1: "pairs with a low CLIP score are removed") and what
 * other curation stages (video alignment) embed frames and captions with.
 *
 * Captions are tokenised by words over a vocabulary stored with the checkpoint (the synthetic world's
 * words; unknown words share one id). Images are tiled as the encoder expects (one tile here).
 *
 * Legend: B pairs per call, E shared embedding width, L caption length in words.
 */
import { fileURLToPath } from 'node:url';
import { HerdError, Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Graph, type ParamValues, type Params, type Tensor } from '@herd/graph';
import { type HostTensor, Session, type SessionOptions, TrainingRun, hostTensor } from '@herd/runtime';
import { parseVisionConfig } from '../config.js';
import { type TiledImage } from '../data/tiling.js';
import { type VisionConfig } from '../config.js';
import { type ClipConfig, clipParamSpecs, embedTexts, infoNce, scaledSimilarity } from '../model/clip.js';
import { encodeImages } from '../model/encoder.js';
import { loadVisionPreset } from '../presets/index.js';
import { clipBatch, declare, initClipParams } from './clip.js';
import { loadMiniParams, readMiniConfig, saveMiniModel } from './clip-mini-store.js';

/** packages/vision/weights/mini-clip (the same from src/ and dist/). */
export const MINI_CLIP_DIR = fileURLToPath(new URL('../../weights/mini-clip', import.meta.url));

export const PAD_ID = 0;
export const UNKNOWN_ID = 1;

/** Words of a caption as the mini CLIP sees them: lower case, letters only. */
export function captionWords(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+/g) ?? [];
}

/** The vocabulary: 0 = padding, 1 = unknown word, then the words in sorted order. */
export function buildCaptionVocab(captions: Iterable<string>): string[] {
  const words = new Set<string>();
  for (const c of captions) for (const w of captionWords(c)) words.add(w);
  return [...words].sort();
}

/** Word ids of a caption (at most `len`; an empty caption is one unknown word). */
export function captionIds(vocab: ReadonlyMap<string, number>, text: string, len: number): number[] {
  const ids = captionWords(text).slice(0, len).map((w) => vocab.get(w) ?? UNKNOWN_ID);
  return ids.length > 0 ? ids : [UNKNOWN_ID];
}

/**
 * The mini CLIP's shape: the mini vision preset's image encoder (a 48-px single-tile ViT, 8-px
 * patches), so its pre-trained encoder is the mini herd's (§7.2), and a 2-layer word Transformer.
 */
export function miniClipConfig(vocabSize: number): ClipConfig {
  return {
    vision: loadVisionPreset('mini'),
    textVocab: vocabSize + 2,
    textDim: 64,
    textLayers: 2,
    textHeads: 4,
    textLen: 48,
    embedDim: 64,
  };
}

/**
 * Unit image embeddings [B, E] from the MEAN of the patch tokens of every REAL tile (`tileMask`; class
 * tokens and absent tiles left out), projected by `projection` [E, Dv]. The mini models pool instead of
 * reading the class token (as `embedImages` does): at this size and init (std 0.02) the class token is
 * ~1e-3 image-dependent, so every image starts at cosine 1 − 1e-6 of every other and InfoNCE stayed at
 * chance (measured: ln B after 100 steps); the mean of the patch tokens carries the image from the first
 * step (SSCD pools too). (Until round 6 it pooled the first tile only — with 2×2 tiles the often empty
 * top-left quarter; single-tile models, as the committed mini CLIP and copy detector, are unchanged.)
 */
export function pooledImageEmbedding(vision: VisionConfig, p: Params, projection: string, pixels: Tensor, aspectRatioIds: Tensor, tileMask: Tensor): Tensor {
  const feats = encodeImages(vision, p, { pixels, aspectRatioIds, tileMask }); // [B, N, P, Dv]
  const [b, n, P, d] = feats.shape as [number, number, number, number];
  const real = G.cast(tileMask, feats.dtype); // [B, N]
  const patches = G.mul(G.slice(feats, 2, 1, P), G.reshape(real, [b, n, 1, 1])); // [B, N, P − 1, Dv]: no class token, absent tiles zeroed
  const total = G.reshape(G.sum(G.sum(patches, 2), 1), [b, d]); // [B, Dv]
  const tokens = G.mul(G.maximum(G.sum(real, -1, true), 1), P - 1); // [B, 1]: real tiles × patches per tile
  const z = G.linear(G.div(total, tokens), p(projection)); // [B, E]
  return G.div(z, G.sqrt(G.add(G.sum(G.mul(z, z), -1, true), 1e-12)));
}

function clipInputs(g: Graph, c: ClipConfig, B: number) {
  const { maxTiles: N, tileSize: S } = c.vision;
  return {
    pixels: g.input('pixels', 'f32', [B, N, 3, S, S]),
    aspectRatioIds: g.input('aspectRatioIds', 'i32', [B]),
    tileMask: g.input('tileMask', 'bool', [B, N]),
    ids: g.input('ids', 'i32', [B, c.textLen]),
    last: g.input('last', 'i32', [B]),
  };
}

/** One AdamW step of the mini CLIP: pooled image embeddings, text embeddings, symmetric InfoNCE (§7.2). */
export function buildMiniClipTraining(c: ClipConfig, values: ParamValues, batch: number, optimizer: Partial<G.AdamWConfig> = {}) {
  const g = new Graph();
  const p = declare(g, c, values, true);
  const x = clipInputs(g, c, batch);
  const img = pooledImageEmbedding(c.vision, p, 'visual_projection.weight', x.pixels, x.aspectRatioIds, x.tileMask);
  const loss = infoNce(g, scaledSimilarity(p, img, embedTexts(c, p, x.ids, x.last)));
  return G.buildTraining(g, { loss, optimizer, params: g.trainableParams });
}

interface StoredClip {
  readonly format: 'herd-mini-clip';
  readonly clip: ClipConfig;
  readonly vocab: readonly string[];
  /** Cosine below which a pair is called mismatched (chosen on validation pairs when trained). */
  readonly threshold?: number;
}

export interface MiniClipPair {
  readonly image: TiledImage;
  readonly caption: string;
}

export interface MiniClipTrainOptions {
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed: number;
  /** Model shape for a vocabulary size (default `miniClipConfig`). */
  readonly config?: (vocabSize: number) => ClipConfig;
  readonly session?: SessionOptions;
  readonly onStep?: (step: number, loss: number) => void;
}

/** A trained mini CLIP in memory: config, vocabulary, parameters. */
export interface MiniClipModel {
  readonly config: ClipConfig;
  readonly vocab: readonly string[];
  readonly params: ParamValues;
  /** Cosine below which a pair is called mismatched (stored with the checkpoint). */
  readonly threshold?: number;
}

/** Trains a mini CLIP from scratch on image–caption pairs (random batches of distinct pairs). */
export async function trainMiniClip(pairs: readonly MiniClipPair[], o: MiniClipTrainOptions): Promise<MiniClipModel & { losses: number[] }> {
  if (pairs.length < o.batch) throw new HerdError('invalid_argument', `trainMiniClip: ${pairs.length} pairs, fewer than one batch of ${o.batch}`);
  const vocab = buildCaptionVocab(pairs.map((p) => p.caption));
  const config = (o.config ?? miniClipConfig)(vocab.length);
  const ids = new Map(vocab.map((w, i) => [w, i + 2]));
  const tokens = pairs.map((p) => captionIds(ids, p.caption, config.textLen));
  const rng = new Rng(o.seed);
  const order = pairs.map((_, i) => i);
  let cursor = order.length;
  const next = (): number => {
    if (cursor >= order.length) {
      rng.shuffle(order);
      cursor = 0;
    }
    return order[cursor++] as number;
  };
  const init = initClipParams(config, o.seed);
  const run = await TrainingRun.create(buildMiniClipTraining(config, init, o.batch), Object.fromEntries(Object.entries(init).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])), o.session ?? {});
  try {
    const losses: number[] = [];
    for (let s = 0; s < o.steps; s++) {
      const pick = Array.from({ length: o.batch }, next);
      const batch = clipBatch(config, pick.map((i) => (pairs[i] as MiniClipPair).image), pick.map((i) => tokens[i] as number[]));
      // Linear warm-up over the first 5 % of steps, then cosine decay to 10 %.
      const warm = Math.max(1, Math.round(0.05 * o.steps));
      const lr = s < warm ? (o.lr * (s + 1)) / warm : o.lr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (s - warm)) / Math.max(1, o.steps - warm))));
      const loss = (await run.trainStep(batch, lr)).loss;
      losses.push(loss);
      o.onStep?.(s, loss);
    }
    const out = await run.readParams();
    const params: ParamValues = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { dtype: 'f32' as const, shape: [...v.shape], data: v.data as Float32Array }]));
    return { config, vocab, params, losses };
  } finally {
    await run.release();
  }
}

export async function saveMiniClip(dir: string, m: MiniClipModel, extra: { eval?: unknown; card?: string } = {}): Promise<void> {
  const stored: StoredClip = { format: 'herd-mini-clip', clip: m.config, vocab: m.vocab, ...(m.threshold !== undefined ? { threshold: m.threshold } : {}) };
  await saveMiniModel(dir, clipParamSpecs(m.config), m.params, stored, extra);
}

export function loadMiniClip(dir: string = MINI_CLIP_DIR): MiniClipModel {
  const stored = readMiniConfig<StoredClip>(dir, 'herd-mini-clip', 'node bench/dist/curate-train-clip.js');
  const config: ClipConfig = { ...stored.clip, vision: parseVisionConfig(stored.clip.vision) };
  return { config, vocab: stored.vocab, params: loadMiniParams(dir, clipParamSpecs(config)), ...(stored.threshold !== undefined ? { threshold: stored.threshold } : {}) };
}

/**
 * Inference with a mini CLIP: unit image and caption embeddings and their cosine, B at a time
 * (one graph, padded batches; B = 1 suits a per-sample curation stage).
 */
export class MiniClip {
  private readonly ids: Map<string, number>;
  private session: Promise<Session> | undefined;

  constructor(
    readonly model: MiniClipModel,
    readonly batch = 1,
    private readonly sessionOptions: SessionOptions = {},
  ) {
    this.ids = new Map(model.vocab.map((w, i) => [w, i + 2]));
  }

  static load(dir: string = MINI_CLIP_DIR, batch = 1, session: SessionOptions = {}): MiniClip {
    return new MiniClip(loadMiniClip(dir), batch, session);
  }

  get config(): ClipConfig {
    return this.model.config;
  }

  tokenize(caption: string): number[] {
    return captionIds(this.ids, caption, this.model.config.textLen);
  }

  private open(): Promise<Session> {
    if (!this.session) {
      const c = this.model.config;
      const B = this.batch;
      const g = new Graph();
      const p = declare(g, c, this.model.params, false);
      const x = clipInputs(g, c, B);
      const img = pooledImageEmbedding(c.vision, p, 'visual_projection.weight', x.pixels, x.aspectRatioIds, x.tileMask); // [B, E]
      const txt = embedTexts(c, p, x.ids, x.last); // [B, E]
      const score = G.sum(G.mul(img, txt), -1); // [B]: cosine of unit vectors
      this.session = Session.create(G.toOnnx(g, { outputs: { image: img, text: txt, score }, name: 'mini_clip' }), this.sessionOptions, 'mini_clip');
    }
    return this.session;
  }

  /** Image embeddings, caption embeddings and pair cosines for equal-length lists. */
  async run(images: readonly TiledImage[], captions: readonly string[]): Promise<{ image: Float32Array[]; text: Float32Array[]; score: number[] }> {
    if (images.length !== captions.length) throw new HerdError('invalid_argument', `MiniClip.run: ${images.length} images but ${captions.length} captions`);
    const s = await this.open();
    const E = this.model.config.embedDim;
    const out = { image: [] as Float32Array[], text: [] as Float32Array[], score: [] as number[] };
    for (let at = 0; at < images.length; at += this.batch) {
      const n = Math.min(this.batch, images.length - at);
      const pad = <T>(xs: readonly T[]): T[] => Array.from({ length: this.batch }, (_, i) => xs[at + Math.min(i, n - 1)] as T);
      const feeds: Record<string, HostTensor> = clipBatch(this.model.config, pad(images), pad(captions).map((c) => this.tokenize(c)));
      const r = await s.run(feeds);
      const img = r['image']!.data as Float32Array;
      const txt = r['text']!.data as Float32Array;
      const sc = r['score']!.data as Float32Array;
      for (let i = 0; i < n; i++) {
        out.image.push(img.slice(i * E, (i + 1) * E));
        out.text.push(txt.slice(i * E, (i + 1) * E));
        out.score.push(sc[i] as number);
      }
    }
    return out;
  }

  /** Cosine similarity of each image with its own caption. */
  async scorePairs(images: readonly TiledImage[], captions: readonly string[]): Promise<number[]> {
    return (await this.run(images, captions)).score;
  }

  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await (await s).release();
  }
}
