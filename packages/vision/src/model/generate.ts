/**
 * Generation and scoring with images: the image graph runs once per prompt's images and its
 * keys/values are fed to every decoder call (prefill and each generated token); the per-call
 * cross-attention mask rows come from the prompt's image intervals. Runs on the core's `Generator`
 * (KV cache, sampling, stop tokens), unchanged.
 */
import { HerdError } from '@herd/core';
import { type FrozenWeights, Generator, type SamplingOptions, headDim } from '@herd/llama3';
import { type HostTensor, Session, type SessionOptions, hostTensor } from '@herd/runtime';
import { type MllamaConfig, patchesPerTile } from '../config.js';
import { type TiledImage, packImages } from '../data/tiling.js';
import { type VisionWeights, buildImageGraph, buildVisionDecoder } from './graphs.js';
import { type PreImageMasking } from './cross-attention.js';
import { type ImageLayout, crossAttentionMaskRows, imageIntervals, imageTokenCount } from './image-mask.js';

/** Image keys/values of one prompt, ready to feed. */
export interface ImageContext {
  readonly kv: Readonly<Record<string, HostTensor>>;
  readonly layout: ImageLayout;
}

export class VisionGenerator {
  private readonly imageSessions = new Map<number, Session>();

  private constructor(
    readonly config: MllamaConfig,
    private readonly weights: VisionWeights,
    private readonly decoder: ReturnType<typeof buildVisionDecoder>,
    private readonly options: SessionOptions,
  ) {}

  /** `masking` 'hf' only to compare with transformers (see PreImageMasking). */
  static create(m: MllamaConfig, core: FrozenWeights, weights: VisionWeights, options: SessionOptions = {}, masking: PreImageMasking = 'meta'): VisionGenerator {
    return new VisionGenerator(m, weights, buildVisionDecoder(m, core, weights, masking), options);
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
    let session = this.imageSessions.get(images.length);
    if (!session) {
      session = await Session.create(buildImageGraph(m, this.weights, images.length), this.options, 'vision_image_kv');
      this.imageSessions.set(images.length, session);
    }
    const packed = packImages(images, m.vision.maxTiles, m.vision.tileSize);
    const { maxTiles: N, tileSize: T } = m.vision;
    const out = await session.run({
      pixels: hostTensor('f32', [images.length, N, 3, T, T], packed.pixels),
      aspectRatioIds: hostTensor('i32', [images.length], packed.aspectRatioIds),
      tileMask: hostTensor('bool', [images.length, N], packed.aspectRatioMask),
    });
    return { kv: out, layout };
  }

  /** Decoder feeds for a prompt: the image keys/values, and mask rows for whatever positions a call computes. */
  private feeds(prompt: readonly number[], ctx: ImageContext): (start: number, count: number) => Record<string, HostTensor> {
    const intervals = imageIntervals(prompt, this.config.imageTokenId);
    if (intervals.length !== ctx.layout.nTiles.length) {
      throw new HerdError('invalid_argument', `vision generate: the prompt has ${intervals.length} <|image|> token(s) (id ${this.config.imageTokenId}) but ${ctx.layout.nTiles.length} image(s) were given; give one image per <|image|>`);
    }
    const S = intervals.length === 0 ? 1 : imageTokenCount(ctx.layout);
    return (start, count) => ({
      ...ctx.kv,
      'xattn.mask': hostTensor('bool', [1, 1, count, S], intervals.length === 0 ? new Uint8Array(count) : crossAttentionMaskRows(intervals, ctx.layout, start, count)),
    });
  }

  private async generator(prompt: readonly number[], ctx: ImageContext): Promise<Generator> {
    return Generator.create(this.config.text, this.decoder, this.options, this.feeds(prompt, ctx));
  }

  /** Logits at every position of `tokens` (for parity tests and scoring). */
  async logits(tokens: readonly number[], images: readonly TiledImage[]): Promise<Float32Array[]> {
    const gen = await this.generator(tokens, await this.encode(images));
    try {
      return await gen.logits(tokens);
    } finally {
      await gen.release();
    }
  }

  /** Generates after a prompt with images; image keys/values are computed once and reused for every token. */
  async complete(prompt: readonly number[], images: readonly TiledImage[], o: SamplingOptions): Promise<number[]> {
    const gen = await this.generator(prompt, await this.encode(images));
    try {
      return await gen.complete(prompt, o);
    } finally {
      await gen.release();
    }
  }

  async release(): Promise<void> {
    for (const s of this.imageSessions.values()) await s.release();
    this.imageSessions.clear();
  }
}
