/**
 * Frame and caption embeddings from vision's CLIP-style model (`@herd/vision` `embedImages` /
 * `embedTexts`, the §7.2 contrastive encoders): two small inference graphs — frames [B, E] and one
 * caption [1, E], both unit length — compiled once per batch size and run by `@herd/runtime`. The
 * video alignment stages only see the `VideoTextEmbedder` interface, so another model (or a test's
 * toy one) plugs in the same way.
 *
 * Legend: B frames per call, N tile slots, S tile size, L caption length, E shared embedding width.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { Graph, type EmittedModel, type ParamValues } from '@herd/graph';
import type { RgbImage } from '@herd/media';
import { Session, hostTensor, type SessionOptions } from '@herd/runtime';
import { clipBatch, clipParamSpecs, embedImages, embedTexts, tileImage, type ClipConfig, type TiledImage } from '@herd/vision';

/** What the alignment stages need from a CLIP-style model: unit-length embeddings in one space. */
export interface VideoTextEmbedder {
  /** Names the model in the run fingerprint: a new model must not mix with old decisions. */
  readonly id: string;
  embedFrames(frames: readonly RgbImage[]): Promise<Float32Array[]>;
  embedText(text: string): Promise<Float32Array>;
  close?(): Promise<void>;
}

export interface ClipEmbedderOptions {
  /** Caption → token ids of the model's text vocabulary (the model's own tokenizer). */
  tokenize: (text: string) => readonly number[];
  id?: string;
  session?: SessionOptions;
}

function declare(g: Graph, c: ClipConfig, values: ParamValues): G.Params {
  return G.declareParams(g, clipParamSpecs(c), (name, shape) => {
    const v = values[name];
    if (!v) throw new HerdError('checkpoint_mismatch', `clip embedder: the parameters have no '${name}' (is this a CLIP-style checkpoint for this config?)`);
    return g.param(name, 'f32', shape as number[], { trainable: false, value: v.data });
  });
}

function frameGraph(c: ClipConfig, params: ParamValues, batch: number): EmittedModel {
  const g = new Graph();
  const p = declare(g, c, params);
  const { maxTiles: N, tileSize: S } = c.vision;
  const emb = embedImages(c, p, g.input('pixels', 'f32', [batch, N, 3, S, S]), g.input('aspectRatioIds', 'i32', [batch]), g.input('tileMask', 'bool', [batch, N])); // [B, E]
  return G.toOnnx(g, { outputs: { embedding: emb }, name: 'clip_frames' });
}

function textGraph(c: ClipConfig, params: ParamValues): EmittedModel {
  const g = new Graph();
  const p = declare(g, c, params);
  const emb = embedTexts(c, p, g.input('ids', 'i32', [1, c.textLen]), g.input('last', 'i32', [1])); // [1, E]
  return G.toOnnx(g, { outputs: { embedding: emb }, name: 'clip_text' });
}

/** Splits a [B·E] buffer into B rows. */
function rows(data: Float32Array, n: number): Float32Array[] {
  const e = data.length / n;
  return Array.from({ length: n }, (_, i) => data.slice(i * e, (i + 1) * e));
}

export class ClipEmbedder implements VideoTextEmbedder {
  readonly id: string;
  private readonly frameSessions = new Map<number, Promise<Session>>();
  private textSession: Promise<Session> | undefined;
  private readonly texts = new Map<string, Promise<Float32Array>>();

  constructor(
    private readonly config: ClipConfig,
    private readonly params: ParamValues,
    private readonly options: ClipEmbedderOptions,
  ) {
    if (typeof options.tokenize !== 'function') throw new HerdError('invalid_argument', 'ClipEmbedder: tokenize must be a function (caption) => token ids');
    this.id = options.id ?? `clip:${config.embedDim}x${config.textLen}`;
  }

  private frameSession(batch: number): Promise<Session> {
    let s = this.frameSessions.get(batch);
    if (s === undefined) {
      s = Session.create(frameGraph(this.config, this.params, batch), this.options.session ?? {}, `clip_frames_b${batch}`);
      this.frameSessions.set(batch, s);
    }
    return s;
  }

  async embedFrames(frames: readonly RgbImage[]): Promise<Float32Array[]> {
    if (frames.length === 0) return [];
    const tiled = frames.map((f) => tileImage(f, this.config.vision));
    const feeds = clipBatch(this.config, tiled, tiled.map(() => [0]));
    const session = await this.frameSession(frames.length);
    const out = await session.run({ pixels: feeds['pixels']!, aspectRatioIds: feeds['aspectRatioIds']!, tileMask: feeds['tileMask']! });
    return rows(out['embedding']!.data as Float32Array, frames.length);
  }

  embedText(text: string): Promise<Float32Array> {
    let e = this.texts.get(text);
    if (e === undefined) {
      e = this.runText(text);
      // The alignment stages ask twice per sample (frame, then clip); keep a few recent captions.
      if (this.texts.size >= 64) this.texts.delete(this.texts.keys().next().value as string);
      this.texts.set(text, e);
    }
    return e;
  }

  private async runText(text: string): Promise<Float32Array> {
    const c = this.config;
    const ids = this.options.tokenize(text).slice(0, c.textLen);
    if (ids.length === 0) throw new HerdError('invalid_argument', `clip embedder: caption ${JSON.stringify(text.slice(0, 60))} has no tokens in the model's vocabulary`);
    const padded = new Int32Array(c.textLen);
    padded.set(ids);
    this.textSession ??= Session.create(textGraph(c, this.params), this.options.session ?? {}, 'clip_text');
    const out = await (await this.textSession).run({ ids: hostTensor('i32', [1, c.textLen], padded), last: hostTensor('i32', [1], Int32Array.of(ids.length - 1)) });
    return (out['embedding']!.data as Float32Array).slice();
  }

  async close(): Promise<void> {
    const all = [...this.frameSessions.values(), ...(this.textSession ? [this.textSession] : [])];
    this.frameSessions.clear();
    this.textSession = undefined;
    for (const s of all) await (await s).release();
  }
}

/**
 * A CLIP-style model that embeds image–caption pairs in one call — the shape of vision's trained
 * mini CLIP (`MiniClip.run`, helper curate2's `packages/vision/weights/mini-clip`), which pools patch
 * tokens instead of reading the class token and so needs its own graph. Typed structurally so this
 * package does not depend on when that class lands.
 */
export interface PairedClipModel {
  readonly config: ClipConfig;
  run(images: readonly TiledImage[], captions: readonly string[]): Promise<{ image: Float32Array[]; text: Float32Array[] }>;
  release?(): Promise<void>;
}

/** Adapts a `PairedClipModel` to the alignment stages: frames with a placeholder caption, a caption with a placeholder frame. */
export function pairedClipEmbedder(model: PairedClipModel, id: string): VideoTextEmbedder {
  const c = model.config;
  const blank = (): TiledImage => tileImage({ data: new Uint8Array(c.vision.tileSize * c.vision.tileSize * 3), width: c.vision.tileSize, height: c.vision.tileSize }, c.vision);
  return {
    id,
    async embedFrames(frames) {
      if (frames.length === 0) return [];
      return (await model.run(frames.map((f) => tileImage(f, c.vision)), frames.map(() => 'a'))).image;
    },
    async embedText(text) {
      const [t] = (await model.run([blank()], [text])).text;
      if (t === undefined) throw new HerdError('runtime_error', `clip model ${id} returned no caption embedding`);
      return t;
    },
    close: async () => {
      await model.release?.();
    },
  };
}
