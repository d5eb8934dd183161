/**
 * Generation about a clip: the frame graph (frozen image encoder) runs once per clip, the
 * aggregator once per clip (video-tokens graph), and their outputs — the image layers' keys/values
 * of the middle frame and the video tokens — are fed to every decoder call with per-call mask rows.
 * The same class answers as the image model alone (`imageOnly`: the image decoder shown the middle
 * frame), the baseline row of the video eval. Runs on the core's `Generator` (KV cache, sampling).
 *
 * Legend: S image tokens per frame, V video tokens, D core width.
 */
import { HerdError } from '@herd/core';
import { type EmittedModel } from '@herd/graph';
import { type FrozenWeights, Generator, type SamplingOptions, headDim } from '@herd/llama3';
import { type HostTensor, Session, type SessionOptions, hostTensor } from '@herd/runtime';
import { type VisionWeights, buildVisionDecoder, crossAttentionMaskRows, imageIntervals, patchesPerTile } from '@herd/vision';
import { type ClipSampling, videoTokenCount } from '../config.js';
import { type ClipFeatures, FrameEncoder, videoTokensFeeds } from '../data/features.js';
import { type TiledClip } from '../data/frames.js';
import { type VideoModelConfig, buildVideoDecoder, buildVideoTokensGraph, frameTokens, lookTokenCount } from './graphs.js';

/** What the decoder is fed about one clip. */
export interface ClipContext {
  /** Image layers' keys/values of the middle frame. */
  readonly kv: Readonly<Record<string, HostTensor>>;
  /** [1, V, D]. */
  readonly tokens: HostTensor;
  /** [1, E·S, D]: the look tokens (video config `look`; `lookTokens`). */
  readonly look?: HostTensor;
  /** Real tiles of the clip's frames. */
  readonly nTiles: number;
}

export class VideoGenerator {
  private tokensSession?: Session;
  private frameEncoder?: FrameEncoder;
  private readonly decoders = new Map<string, EmittedModel>();
  /** One decoder session per kind, reused by every prompt (its feeds are given per call). */
  private readonly generators = new Map<'video' | 'image', Promise<Generator>>();

  private constructor(
    readonly config: VideoModelConfig,
    readonly clip: ClipSampling,
    private readonly core: FrozenWeights,
    private readonly vision: VisionWeights,
    private readonly video: VisionWeights,
    private readonly options: SessionOptions,
  ) {}

  /** `vision`: the image encoder + adapter (frozen); `video`: the video group's values. */
  static create(m: VideoModelConfig, clip: ClipSampling, core: FrozenWeights, vision: VisionWeights, video: VisionWeights, options: SessionOptions = {}): VideoGenerator {
    return new VideoGenerator(m, clip, core, vision, video, options);
  }

  private decoder(kind: 'video' | 'image'): EmittedModel {
    let d = this.decoders.get(kind);
    if (!d) {
      const m = this.config;
      d = kind === 'video' ? buildVideoDecoder(m, this.clip, this.core, { ...this.vision, ...this.video }) : buildVisionDecoder(m.image, this.core, this.vision, frameTokens(m.image));
      this.decoders.set(kind, d);
    }
    return d;
  }

  /** Decodes nothing: frames already through the frozen encoder (features from `FrameEncoder` or a feature dataset). */
  async context(x: ClipFeatures): Promise<ClipContext> {
    const m = this.config;
    this.tokensSession ??= await Session.create(buildVideoTokensGraph(m, this.clip, this.video), this.options, 'video_tokens');
    const out = await this.tokensSession.run(videoTokensFeeds(m, x, this.clip.frames));
    const kv = Object.fromEntries(Object.entries(x.kv).map(([k, v]) => [k, hostTensor('f32', [1, m.image.text.nKvHeads, frameTokens(m.image), headDim(m.image.text)], v)]));
    const nTiles = x.frameMask.reduce((a, b) => a + b, 0) / patchesPerTile(m.image.vision);
    return { kv, tokens: out['video.tokens']!, ...(out['video.look'] ? { look: out['video.look'] } : {}), nTiles };
  }

  /** A clip's tiled frames → context (runs the frozen frame graph first). */
  async contextOfFrames(clip: TiledClip): Promise<ClipContext> {
    this.frameEncoder ??= await FrameEncoder.create(this.config.image, this.vision, this.clip.frames, this.options);
    return this.context(await this.frameEncoder.encode(clip));
  }

  /** Per-call feeds: rows after the clip's `<|image|>` see its middle frame (image layers) and its video tokens. */
  private feeds(prompt: readonly number[], ctx: ClipContext | null, kind: 'video' | 'image'): (start: number, count: number) => Record<string, HostTensor> {
    const m = this.config;
    const img = m.image;
    const intervals = imageIntervals(prompt, img.imageTokenId);
    if (intervals.length !== (ctx ? 1 : 0)) throw new HerdError('invalid_argument', `video generate: the prompt has ${intervals.length} <|image|> token(s) (id ${img.imageTokenId}); a clip needs exactly one (and a prompt without a clip none)`);
    const S = frameTokens(img);
    const V = videoTokenCount(m.video, this.clip, S);
    const layout = { nTiles: ctx ? [ctx.nTiles] : [], maxTiles: img.vision.maxTiles, tokensPerTile: patchesPerTile(img.vision) };
    const K = img.text.nKvHeads;
    const dh = headDim(img.text);
    const kv = ctx?.kv ?? Object.fromEntries(img.crossAttentionLayers.flatMap((_, j) => [[`xattn.k.${j}`, hostTensor('f32', [1, K, S, dh])], [`xattn.v.${j}`, hostTensor('f32', [1, K, S, dh])]]));
    const vocab = img.text.vocabSize;
    return (start, count) => {
      const rows = ctx ? crossAttentionMaskRows(intervals, layout, start, count) : new Uint8Array(count * S);
      const feeds: Record<string, HostTensor> = {
        ...kv,
        'xattn.mask': hostTensor('bool', [1, 1, count, S], rows),
        learnableIds: hostTensor('i32', [1, count], Int32Array.from({ length: count }, (_, i) => ((prompt[start + i] ?? 0) >= vocab ? prompt[start + i]! - vocab : -1))),
      };
      if (kind === 'video') {
        const vm = new Uint8Array(count * V);
        for (let r = 0; r < count; r++) if (rows.subarray(r * S, (r + 1) * S).some((x) => x)) vm.fill(1, r * V, (r + 1) * V);
        feeds['video.tokens'] = ctx?.tokens ?? hostTensor('f32', [1, V, img.text.dim]);
        feeds['video.mask'] = hostTensor('bool', [1, 1, count, V], vm);
        if (m.video.look) feeds['video.look'] = ctx?.look ?? hostTensor('f32', [1, lookTokenCount(m, this.clip), img.text.dim]);
      }
      return feeds;
    };
  }

  private coreTokens(prompt: readonly number[]): number[] {
    const V = this.config.image.text.vocabSize;
    return prompt.map((t) => (t >= V ? 0 : t));
  }

  private generator(kind: 'video' | 'image'): Promise<Generator> {
    let g = this.generators.get(kind);
    if (!g) {
      g = Generator.create(this.config.image.text, this.decoder(kind), this.options);
      this.generators.set(kind, g);
      g.catch(() => this.generators.delete(kind));
    }
    return g;
  }

  /** Logits at every position; `imageOnly` = the image model shown the middle frame. */
  async logits(tokens: readonly number[], ctx: ClipContext | null, o: { imageOnly?: boolean } = {}): Promise<Float32Array[]> {
    const kind = o.imageOnly ? 'image' : 'video';
    return (await this.generator(kind)).logits(this.coreTokens(tokens), this.feeds(tokens, ctx, kind));
  }

  /** Streams generated ids after a prompt about a clip (tokens as they come; the caller may stop early). */
  async *generate(prompt: readonly number[], ctx: ClipContext | null, sampling: SamplingOptions, o: { imageOnly?: boolean } = {}): AsyncGenerator<number> {
    const kind = o.imageOnly ? 'image' : 'video';
    const feeds = this.feeds(prompt, ctx, kind);
    yield* (await this.generator(kind)).generate(this.coreTokens(prompt), sampling, feeds);
  }

  /** Collects a whole generation (`generate` to the end). */
  async complete(prompt: readonly number[], ctx: ClipContext | null, sampling: SamplingOptions, o: { imageOnly?: boolean } = {}): Promise<number[]> {
    const out: number[] = [];
    for await (const t of this.generate(prompt, ctx, sampling, o)) out.push(t);
    return out;
  }

  async release(): Promise<void> {
    for (const g of this.generators.values()) await (await g.catch(() => undefined))?.release();
    this.generators.clear();
    await this.tokensSession?.release();
    await this.frameEncoder?.release();
  }
}
