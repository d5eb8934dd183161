/**
 * Generation and scoring with images: the image graph runs once per prompt's images and its
 * keys/values are fed to every decoder call (prefill and each generated token); the per-call
 * cross-attention mask rows come from the prompt's image intervals. Runs on the core's `Generator`
 * (KV cache, sampling, stop tokens), unchanged.
 */
import { HerdError } from '@herd/core';
import { type FrozenWeights, Generator, type SamplingOptions, headDim } from '@herd/llama3';
import { type EmittedModel } from '@herd/graph';
import { type HostTensor, Session, type SessionOptions, hostTensor } from '@herd/runtime';
import { type MllamaConfig, patchesPerTile, silhouetteLayersOf, visionOutputDim } from '../config.js';
import { silhouetteView } from '../data/ink.js';
import { type TiledImage, packFeatures, packImages } from '../data/tiling.js';
import { type VisionWeights, buildImageGraph, buildVisionDecoder } from './graphs.js';
import { type PreImageMasking } from './cross-attention.js';
import { type ImageLayout, crossAttentionMaskRows, imageIntervals, imageTokenCount } from './image-mask.js';
import { packPlaces } from './place.js';

/** Image keys/values of one prompt, ready to feed. */
export interface ImageContext {
  readonly kv: Readonly<Record<string, HostTensor>>;
  readonly layout: ImageLayout;
}

/** Image tokens S a context feeds (1 for a text-only prompt: one key every row masks out). */
function imageTokensOf(ctx: ImageContext): number {
  return ctx.layout.nTiles.length === 0 ? 1 : imageTokenCount(ctx.layout);
}

export class VisionGenerator {
  /** Image-graph sessions by image count and source ('pixels' / 'features'). */
  private readonly imageSessions = new Map<string, Session>();
  /** Decoder sessions by image-token count, kept for the generator's life (creating one costs far more than a short answer). */
  private readonly generators = new Map<number, Promise<Generator>>();
  /** Decoders by image-token count (their image inputs have static shapes). */
  private readonly decoders = new Map<number, EmittedModel>();

  private constructor(
    readonly config: MllamaConfig,
    private readonly core: FrozenWeights,
    private readonly weights: VisionWeights,
    private readonly options: SessionOptions,
    private readonly masking: PreImageMasking,
  ) {}

  /** `masking` 'hf' only to compare with transformers (see PreImageMasking). */
  static create(m: MllamaConfig, core: FrozenWeights, weights: VisionWeights, options: SessionOptions = {}, masking: PreImageMasking = 'meta'): VisionGenerator {
    return new VisionGenerator(m, core, weights, options, masking);
  }

  /** The decoder for S image tokens (built once per S). */
  decoder(imageTokens: number): EmittedModel {
    let d = this.decoders.get(imageTokens);
    if (!d) this.decoders.set(imageTokens, (d = buildVisionDecoder(this.config, this.core, this.weights, imageTokens, this.masking)));
    return d;
  }

  /** Encodes a prompt's images (in the order of their `<|image|>` tokens) into every adapter layer's keys/values. */
  async encode(images: readonly TiledImage[]): Promise<ImageContext> {
    const m = this.config;
    const layout: ImageLayout = { nTiles: images.map((i) => i.nTiles), maxTiles: m.vision.maxTiles, tokensPerTile: patchesPerTile(m.vision) };
    if (images.length === 0) {
      // No image: one zero key that every row masks out, so each adapter layer is the identity.
      const kv: Record<string, HostTensor> = {};
      m.crossAttentionLayers.forEach((_, j) => {
        kv[`xattn.k.${j}`] = hostTensor('f32', [1, m.text.nKvHeads, 1, headDim(m.text)]);
        kv[`xattn.v.${j}`] = hostTensor('f32', [1, m.text.nKvHeads, 1, headDim(m.text)]);
      });
      return { kv, layout };
    }
    const { maxTiles: N, tileSize: T } = m.vision;
    // Images with given encoder features (the oracle) skip the encoder: a graph of source 'features'.
    const features = packFeatures(images, N * patchesPerTile(m.vision) * visionOutputDim(m.vision));
    const source = features ? 'features' : 'pixels';
    const key = `${images.length}:${source}`;
    let session = this.imageSessions.get(key);
    if (!session) {
      session = await Session.create(buildImageGraph(m, this.weights, images.length, source), this.options, 'vision_image_kv');
      this.imageSessions.set(key, session);
    }
    let out: Record<string, HostTensor>;
    if (features) {
      out = await session.run({ features: hostTensor('f32', [images.length, N, patchesPerTile(m.vision), visionOutputDim(m.vision)], features), ...packPlaces(m, images) });
    } else {
      const packed = packImages(images, N, T);
      out = await session.run({
        pixels: hostTensor('f32', [images.length, N, 3, T, T], packed.pixels),
        aspectRatioIds: hostTensor('i32', [images.length], packed.aspectRatioIds),
        tileMask: hostTensor('bool', [images.length, N], packed.aspectRatioMask),
        ...packPlaces(m, images),
        ...(silhouetteLayersOf(m).length > 0 ? { silhouettePixels: hostTensor('f32', [images.length, N, 3, T, T], packImages(images.map((i) => silhouetteView(i, m.vision)), N, T).pixels) } : {}),
      });
    }
    return { kv: out, layout };
  }

  /**
   * Decoder feeds for a prompt: the image keys/values, and per call the mask rows and learnable-row ids
   * of the positions it computes (generated tokens are ordinary ids).
   */
  private feeds(prompt: readonly number[], ctx: ImageContext): (start: number, count: number) => Record<string, HostTensor> {
    const intervals = imageIntervals(prompt, this.config.imageTokenId);
    if (intervals.length !== ctx.layout.nTiles.length) {
      throw new HerdError('invalid_argument', `vision generate: the prompt has ${intervals.length} <|image|> token(s) (id ${this.config.imageTokenId}) but ${ctx.layout.nTiles.length} image(s) were given; give one image per <|image|>`);
    }
    const S = imageTokensOf(ctx);
    const V = this.config.text.vocabSize;
    return (start, count) => ({
      ...ctx.kv,
      'xattn.mask': hostTensor('bool', [1, 1, count, S], intervals.length === 0 ? new Uint8Array(count) : crossAttentionMaskRows(intervals, ctx.layout, start, count)),
      learnableIds: hostTensor('i32', [1, count], Int32Array.from({ length: count }, (_, i) => ((prompt[start + i] ?? 0) >= V ? prompt[start + i]! - V : -1))),
    });
  }

  private generator(ctx: ImageContext): Promise<Generator> {
    const S = imageTokensOf(ctx);
    let g = this.generators.get(S);
    if (!g) {
      g = Generator.create(this.config.text, this.decoder(S), this.options);
      this.generators.set(S, g);
      g.catch(() => this.generators.delete(S));
    }
    return g;
  }

  /** The prompt as the core's `tokens` input sees it: ids past its vocabulary become 0 (their rows come from `learnableIds`). */
  private coreTokens(prompt: readonly number[]): number[] {
    const V = this.config.text.vocabSize;
    return prompt.map((t) => (t >= V ? 0 : t));
  }

  /** Logits at every position of `tokens` (for parity tests and scoring). */
  async logits(tokens: readonly number[], images: readonly TiledImage[]): Promise<Float32Array[]> {
    const ctx = await this.encode(images);
    return (await this.generator(ctx)).logits(this.coreTokens(tokens), this.feeds(tokens, ctx));
  }

  /** Streams generated ids after a prompt with images (the caller may stop early). */
  async *generate(prompt: readonly number[], images: readonly TiledImage[], o: SamplingOptions): AsyncGenerator<number> {
    const ctx = await this.encode(images);
    yield* (await this.generator(ctx)).generate(this.coreTokens(prompt), o, this.feeds(prompt, ctx));
  }

  /** Generates after a prompt with images; image keys/values are computed once and reused for every token. */
  async complete(prompt: readonly number[], images: readonly TiledImage[], o: SamplingOptions): Promise<number[]> {
    const ctx = await this.encode(images);
    return (await this.generator(ctx)).complete(this.coreTokens(prompt), o, this.feeds(prompt, ctx));
  }

  async release(): Promise<void> {
    for (const g of this.generators.values()) await (await g.catch(() => undefined))?.release();
    this.generators.clear();
    for (const s of this.imageSessions.values()) await s.release();
    this.imageSessions.clear();
  }
}
