/**
 * A copy-detection embedding in miniature, trained as SSCD does it (Pizzi et al. 2022, "A
 * Self-Supervised Descriptor for Image Copy Detection"): two randomly augmented views of the same
 * image must be each other's nearest neighbour among the batch (InfoNCE on unit embeddings at a
 * fixed temperature). The augmentations are the copy transforms the near-duplicate stage must see
 * through — random (often centred) crops, rescaling, colour jitter, JPEG re-encoding — drawn a
 * little wider than the synthetic world's near-duplicate noise so the model does not learn its
 * exact ranges. The image side is the project's ViT encoder (`model/encoder.ts`) at a tiny size; the
 * class token is projected and L2-normalised. SSCD's entropy regulariser and mixup are left out.
 *
 * Legend: B images per view, E embedding width, N tile slots (1), S tile side.
 */
import { fileURLToPath } from 'node:url';
import { HerdError, Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Graph, type ParamSpec, type ParamValues, type Params, type Tensor } from '@herd/graph';
import { type RgbImage, decodeImage, encodeRgb } from '@herd/media';
import { type HostTensor, Session, type SessionOptions, TrainingRun, hostTensor } from '@herd/runtime';
import { type VisionConfig, parseVisionConfig, visionOutputDim } from '../config.js';
import { cropRgb, resizeBilinear } from '../data/resize.js';
import { type TiledImage, packImages, tileImage } from '../data/tiling.js';
import { infoNce } from '../model/clip.js';
import { encoderParamSpecs } from '../model/params.js';
import { loadMiniParams, readMiniConfig, saveMiniModel } from './clip-mini-store.js';
import { pooledImageEmbedding } from './clip-mini.js';

// The crop moved beside the resize (near-duplicate search crops too); still exported from here.
export { cropRgb } from '../data/resize.js';

/** packages/vision/weights/mini-copy-detect (the same from src/ and dist/). */
export const MINI_COPY_DETECT_DIR = fileURLToPath(new URL('../../weights/mini-copy-detect', import.meta.url));

export interface CopyDetectConfig {
  readonly vision: VisionConfig;
  readonly embedDim: number;
  /** InfoNCE temperature (SSCD: 0.05). */
  readonly temperature: number;
}

export function miniCopyDetectConfig(): CopyDetectConfig {
  return {
    vision: parseVisionConfig({ tileSize: 48, patchSize: 8, dim: 64, nLayers: 3, nGlobalLayers: 1, nHeads: 4, ffnDim: 128, intermediateLayers: [1], maxTiles: 1 }),
    embedDim: 64,
    temperature: 0.05,
  };
}

export function copyDetectParamSpecs(c: CopyDetectConfig): ParamSpec[] {
  return [...encoderParamSpecs(c.vision), { name: 'projection.weight', shape: [c.embedDim, visionOutputDim(c.vision)], init: 'normal' }];
}

/** Unit embeddings [B, E] of tiles [B, N, 3, S, S]: the mean of the first tile's patch tokens, projected (SSCD pools too). */
export function copyDetectEmbed(c: CopyDetectConfig, p: Params, pixels: Tensor, aspectRatioIds: Tensor, tileMask: Tensor): Tensor {
  return pooledImageEmbedding(c.vision, p, 'projection.weight', pixels, aspectRatioIds, tileMask);
}

function declare(g: Graph, c: CopyDetectConfig, values: ParamValues, trainable: boolean): Params {
  return G.declareParams(g, copyDetectParamSpecs(c), (name, shape) => {
    const v = values[name];
    if (!v) throw new HerdError('checkpoint_mismatch', `copy-detect: no value for '${name}'`);
    return g.param(name, 'f32', shape as number[], { trainable, value: v.data });
  });
}

function viewInputs(g: Graph, c: CopyDetectConfig, B: number, view: string) {
  const { maxTiles: N, tileSize: S } = c.vision;
  return { pixels: g.input(`${view}_pixels`, 'f32', [B, N, 3, S, S]), aspectRatioIds: g.input(`${view}_aspectRatioIds`, 'i32', [B]), tileMask: g.input(`${view}_tileMask`, 'bool', [B, N]) };
}

function viewFeeds(c: CopyDetectConfig, images: readonly TiledImage[], view: string): Record<string, HostTensor> {
  const B = images.length;
  const packed = packImages(images, c.vision.maxTiles, c.vision.tileSize);
  return {
    [`${view}_pixels`]: hostTensor('f32', [B, c.vision.maxTiles, 3, c.vision.tileSize, c.vision.tileSize], packed.pixels),
    [`${view}_aspectRatioIds`]: hostTensor('i32', [B], packed.aspectRatioIds),
    [`${view}_tileMask`]: hostTensor('bool', [B, c.vision.maxTiles], packed.aspectRatioMask),
  };
}

/** One AdamW step: symmetric InfoNCE between the embeddings of view a and view b of B images. */
export function buildCopyDetectTraining(c: CopyDetectConfig, values: ParamValues, batch: number, optimizer: Partial<G.AdamWConfig> = {}) {
  const g = new Graph();
  const p = declare(g, c, values, true);
  const a = viewInputs(g, c, batch, 'a');
  const b = viewInputs(g, c, batch, 'b');
  const za = copyDetectEmbed(c, p, a.pixels, a.aspectRatioIds, a.tileMask);
  const zb = copyDetectEmbed(c, p, b.pixels, b.aspectRatioIds, b.tileMask);
  const logits = G.mul(G.matmul(za, G.transpose(zb, [1, 0])), 1 / c.temperature); // [B, B]
  return G.buildTraining(g, { loss: infoNce(g, logits), optimizer, params: g.trainableParams });
}

/** Ranges of the training augmentations. */
export interface CopyAugmentations {
  /** Side fraction kept by a crop (same for both sides: copies keep their aspect). */
  readonly cropSide: readonly [number, number];
  /** Probability that the crop is centred (else placed at random). */
  readonly centreCrop: number;
  /** Rescale factor before the encoder's own resize. */
  readonly scale: readonly [number, number];
  readonly brightness: readonly [number, number];
  readonly saturation: readonly [number, number];
  /** Hue rotation in degrees, ±. */
  readonly hue: number;
  /** Probability and quality range of a JPEG re-encode. */
  readonly jpeg: number;
  readonly jpegQuality: readonly [number, number];
}

/** A little wider than the synthetic world's near-duplicates (crop 0.85–0.93, scale 0.5–0.9, JPEG q40–70, brightness ±10 %, saturation ±20 %, hue ±12°). */
export const COPY_AUGMENTATIONS: CopyAugmentations = {
  cropSide: [0.75, 1],
  centreCrop: 0.5,
  scale: [0.35, 1],
  brightness: [0.85, 1.15],
  saturation: [0.7, 1.3],
  hue: 20,
  jpeg: 0.5,
  jpegQuality: [30, 90],
};

const clamp8 = (x: number): number => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));
const uniform = (rng: Rng, [lo, hi]: readonly [number, number]): number => lo + (hi - lo) * rng.next();

/** Brightness, saturation (towards grey) and a hue rotation about the grey axis (YIQ), per pixel. */
export function colourJitter(img: RgbImage, brightness: number, saturation: number, hueDegrees: number): RgbImage {
  const th = (hueDegrees * Math.PI) / 180;
  const cos = Math.cos(th);
  const sin = Math.sin(th);
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < img.data.length; i += 3) {
    const r = img.data[i]!;
    const g = img.data[i + 1]!;
    const b = img.data[i + 2]!;
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    let ii = 0.596 * r - 0.274 * g - 0.322 * b;
    let q = 0.211 * r - 0.523 * g + 0.312 * b;
    [ii, q] = [(ii * cos - q * sin) * saturation, (ii * sin + q * cos) * saturation];
    out[i] = clamp8((y + 0.956 * ii + 0.621 * q) * brightness);
    out[i + 1] = clamp8((y - 0.272 * ii - 0.647 * q) * brightness);
    out[i + 2] = clamp8((y - 1.106 * ii + 1.703 * q) * brightness);
  }
  return { data: out, width: img.width, height: img.height };
}

/** One random copy of an image under the augmentations (what a near-duplicate may look like). */
export async function augmentCopy(img: RgbImage, rng: Rng, a: CopyAugmentations = COPY_AUGMENTATIONS): Promise<RgbImage> {
  const s = uniform(rng, a.cropSide);
  const w = Math.max(8, Math.round(img.width * s));
  const h = Math.max(8, Math.round(img.height * s));
  const centred = rng.next() < a.centreCrop;
  const left = centred ? Math.floor((img.width - w) / 2) : rng.int(img.width - w + 1);
  const top = centred ? Math.floor((img.height - h) / 2) : rng.int(img.height - h + 1);
  let out = s < 1 ? cropRgb(img, left, top, w, h) : img;
  const k = uniform(rng, a.scale);
  out = resizeBilinear(out, Math.max(8, Math.round(out.width * k)), Math.max(8, Math.round(out.height * k)));
  out = colourJitter(out, uniform(rng, a.brightness), uniform(rng, a.saturation), (2 * rng.next() - 1) * a.hue);
  if (rng.next() < a.jpeg) out = await decodeImage(await encodeRgb(out, 'jpeg', Math.round(uniform(rng, a.jpegQuality))));
  return out;
}

export interface CopyDetectTrainOptions {
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed: number;
  readonly augment?: CopyAugmentations;
  /** Model shape (default `miniCopyDetectConfig()`). */
  readonly config?: CopyDetectConfig;
  readonly session?: SessionOptions;
  readonly onStep?: (step: number, loss: number) => void;
}

export interface CopyDetectModel {
  readonly config: CopyDetectConfig;
  readonly params: ParamValues;
}

/**
 * Trains the embedding from scratch on unlabelled images: each step takes B distinct images, makes
 * two augmented views of each and pulls the views of one image together (the next batch's views are
 * made while the current step runs).
 */
export async function trainCopyDetect(images: readonly RgbImage[], o: CopyDetectTrainOptions): Promise<CopyDetectModel & { losses: number[] }> {
  if (images.length < o.batch) throw new HerdError('invalid_argument', `trainCopyDetect: ${images.length} images, fewer than one batch of ${o.batch}`);
  const config = o.config ?? miniCopyDetectConfig();
  const rng = new Rng(o.seed);
  const order = images.map((_, i) => i);
  let cursor = order.length;
  const next = (): number => {
    if (cursor >= order.length) {
      rng.shuffle(order);
      cursor = 0;
    }
    return order[cursor++] as number;
  };
  const makeBatch = async (): Promise<Record<string, HostTensor>> => {
    const pick = Array.from({ length: o.batch }, next);
    const va: TiledImage[] = [];
    const vb: TiledImage[] = [];
    for (const i of pick) {
      va.push(tileImage(await augmentCopy(images[i]!, rng, o.augment), config.vision));
      vb.push(tileImage(await augmentCopy(images[i]!, rng, o.augment), config.vision));
    }
    return { ...viewFeeds(config, va, 'a'), ...viewFeeds(config, vb, 'b') };
  };
  const init = G.initParams(copyDetectParamSpecs(config), o.seed, { layers: config.vision.nLayers });
  const run = await TrainingRun.create(buildCopyDetectTraining(config, init, o.batch), Object.fromEntries(Object.entries(init).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])), o.session ?? {});
  try {
    const losses: number[] = [];
    let pending = makeBatch();
    for (let s = 0; s < o.steps; s++) {
      const batch = await pending;
      if (s + 1 < o.steps) pending = makeBatch();
      const warm = Math.max(1, Math.round(0.05 * o.steps));
      const lr = s < warm ? (o.lr * (s + 1)) / warm : o.lr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (s - warm)) / Math.max(1, o.steps - warm))));
      const loss = (await run.trainStep(batch, lr)).loss;
      losses.push(loss);
      o.onStep?.(s, loss);
    }
    const out = await run.readParams();
    const params: ParamValues = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { dtype: 'f32' as const, shape: [...v.shape], data: v.data as Float32Array }]));
    return { config, params, losses };
  } finally {
    await run.release();
  }
}

interface StoredCopyDetect {
  readonly format: 'herd-mini-copy-detect';
  readonly copyDetect: CopyDetectConfig;
  /** Cosine at or above which two images are called copies (chosen on validation data). */
  readonly minCosine: number;
  /** The colour-layout cosine an embedding pair must also reach (chosen with minCosine). */
  readonly embeddingMinLayoutCosine?: number;
}

export async function saveCopyDetect(dir: string, m: CopyDetectModel, minCosine: number, extra: { eval?: unknown; card?: string; embeddingMinLayoutCosine?: number } = {}): Promise<void> {
  const stored: StoredCopyDetect = { format: 'herd-mini-copy-detect', copyDetect: m.config, minCosine, ...(extra.embeddingMinLayoutCosine !== undefined ? { embeddingMinLayoutCosine: extra.embeddingMinLayoutCosine } : {}) };
  await saveMiniModel(dir, copyDetectParamSpecs(m.config), m.params, stored, extra);
}

export function loadCopyDetect(dir: string = MINI_COPY_DETECT_DIR): CopyDetectModel & { minCosine: number; embeddingMinLayoutCosine: number } {
  const stored = readMiniConfig<StoredCopyDetect>(dir, 'herd-mini-copy-detect', 'node bench/dist/curate-train-copy-detect.js');
  const config: CopyDetectConfig = { ...stored.copyDetect, vision: parseVisionConfig(stored.copyDetect.vision) };
  return { config, params: loadMiniParams(dir, copyDetectParamSpecs(config)), minCosine: stored.minCosine, embeddingMinLayoutCosine: stored.embeddingMinLayoutCosine ?? 0 };
}

/** Inference: unit copy-detection embeddings of images, B per call (padded). */
export class CopyDetector {
  private session: Promise<Session> | undefined;

  constructor(
    readonly model: CopyDetectModel,
    readonly batch = 1,
    private readonly sessionOptions: SessionOptions = {},
  ) {}

  static load(dir: string = MINI_COPY_DETECT_DIR, batch = 1, session: SessionOptions = {}): CopyDetector & { minCosine: number; embeddingMinLayoutCosine: number } {
    const m = loadCopyDetect(dir);
    return Object.assign(new CopyDetector(m, batch, session), { minCosine: m.minCosine, embeddingMinLayoutCosine: m.embeddingMinLayoutCosine });
  }

  private open(): Promise<Session> {
    if (!this.session) {
      const c = this.model.config;
      const g = new Graph();
      const p = declare(g, c, this.model.params, false);
      const x = viewInputs(g, c, this.batch, 'a');
      const z = copyDetectEmbed(c, p, x.pixels, x.aspectRatioIds, x.tileMask);
      this.session = Session.create(G.toOnnx(g, { outputs: { embedding: z }, name: 'copy_detect' }), this.sessionOptions, 'copy_detect');
    }
    return this.session;
  }

  /** Embeddings of decoded images (tiled here as the encoder expects). */
  async embed(images: readonly RgbImage[]): Promise<Float32Array[]> {
    const s = await this.open();
    const E = this.model.config.embedDim;
    const out: Float32Array[] = [];
    for (let at = 0; at < images.length; at += this.batch) {
      const n = Math.min(this.batch, images.length - at);
      const tiles = Array.from({ length: this.batch }, (_, i) => tileImage(images[at + Math.min(i, n - 1)]!, this.model.config.vision));
      const z = (await s.run(viewFeeds(this.model.config, tiles, 'a')))['embedding']!.data as Float32Array;
      for (let i = 0; i < n; i++) out.push(z.slice(i * E, (i + 1) * E));
    }
    return out;
  }

  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await (await s).release();
  }
}
