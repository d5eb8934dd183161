/**
 * Clips → frozen image features, once. The image encoder, projector and image adapter are frozen
 * while the video adapter trains (§7.4), so each clip's frame features and the image adapter's
 * keys/values of its middle frame are a pure function of the clip: they are computed once by the
 * frame graph and stored as a shard dataset beside the clips (f16 features), and training and
 * evaluation read them back. (The paper's run trains the same function end to end; precomputing it
 * is what makes the mini recipe fit on two CPU cores.)
 *
 * Sample layout: files `features` (f16 [F, S, D] little-endian), `frame_mask` (u8 [S]), `kv` (f32, the
 * image layers' k and v of the middle frame in layer order); meta: clip key, split, caption,
 * objects (ground truth), frames, size (the clip's canvas follows from it: `canvasOf`).
 *
 * Legend: F frames, S image tokens per frame, D core width, K kv heads, Dh head dim.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HerdError, decodeF16, encodeF16 } from '@herd/core';
import { type Sample, isUnreadable, iterateDataset, writeDataset } from '@herd/data';
import { type MotionObject } from '@herd/datasets';
import { type Device, type HostTensor, Session, type SessionOptions, hostTensor } from '@herd/runtime';
import { headDim } from '@herd/llama3';
import { type MllamaConfig, type VisionWeights, canvasOf, patchesPerTile } from '@herd/vision';
import { type VideoModelConfig, buildFrameGraph, frameTokens } from '../model/graphs.js';
import { VIDEO_ASPECT_RATIO_ID } from '../model/resampler.js';
import { type ClipTiming } from './object-places.js';
import { type TiledClip, packClip, readClipFrames } from './frames.js';

/** One clip's frozen image features. */
export interface ClipFeatures {
  /** [F, S, D] as f16 bits. */
  readonly features: Uint16Array;
  /** [S]: 1 for tokens of real tiles. */
  readonly frameMask: Uint8Array;
  /** `xattn.k.{j}` / `xattn.v.{j}` [1, K, S, Dh] of the middle frame. */
  readonly kv: Readonly<Record<string, Float32Array>>;
  /** The second feature input (video config `look`): the same frames through another image checkpoint, f16 [F, S, D] (`withLook`). */
  readonly look?: Uint16Array;
  /** The frames' canvas as the image encoder took it: 1-based into `supportedAspectRatios` (the video config's `frameLayout` 'canvas' feeds it). */
  readonly aspectRatioId: number;
}

/** A clip of the synthetic world with its features and ground truth. */
export interface VideoExample {
  readonly key: string;
  readonly split: 'train' | 'heldout';
  readonly caption: string;
  readonly objects: readonly MotionObject[];
  readonly static: boolean;
  readonly frames: number;
  readonly clip: ClipFeatures;
  /** The source clip's size, frame rate and frame count (the clips dataset's index, `withClipTimings`): where its objects are on the frames. */
  readonly timing?: ClipTiming;
}

/**
 * The clip with its frame features zeroed: the video path sees the same (empty) frames for every clip,
 * while the image layers still see its middle frame. The blind control of the video recipe — what QA
 * training teaches the video parameters without any frames (answer priors, style).
 */
export function blindClip(x: ClipFeatures): ClipFeatures {
  return { ...x, features: new Uint16Array(x.features.length), ...(x.look ? { look: new Uint16Array(x.look.length) } : {}) };
}

/**
 * The clips with their second feature input (video config `look`): each clip's features from `look` (the
 * same clips read from another image checkpoint's feature cache), matched by clip key. Every clip must be
 * there with the same frames and tiling.
 */
export function withLook(examples: readonly VideoExample[], look: readonly VideoExample[], where = 'look features'): VideoExample[] {
  const byKey = new Map(look.map((x) => [x.key, x]));
  return examples.map((x) => {
    const l = byKey.get(x.key);
    if (!l) throw new HerdError('invalid_argument', `${where}: no clip '${x.key}' (made from other clips?)`);
    if (l.frames !== x.frames || l.clip.features.length !== x.clip.features.length || l.clip.frameMask.some((v, i) => v !== x.clip.frameMask[i])) throw new HerdError('shape_mismatch', `${where}: clip '${x.key}' has ${l.frames} frames / ${l.clip.features.length} values, the first features ${x.frames} / ${x.clip.features.length} (or another tiling)`);
    return { ...x, clip: { ...x.clip, look: l.clip.features } };
  });
}

/** Runs the frame graph (frozen encoder) on clips of F frames. */
export class FrameEncoder {
  private constructor(
    readonly config: MllamaConfig,
    readonly frames: number,
    private readonly session: Session,
  ) {}

  static async create(m: MllamaConfig, vision: VisionWeights, frames: number, options: SessionOptions = {}): Promise<FrameEncoder> {
    return new FrameEncoder(m, frames, await Session.create(buildFrameGraph(m, vision, frames), options, 'video_frames'));
  }

  async encode(clip: TiledClip): Promise<ClipFeatures> {
    const m = this.config;
    const F = this.frames;
    if (clip.frames.length !== F) throw new HerdError('shape_mismatch', `frame encoder: the clip has ${clip.frames.length} frames, the graph takes ${F}`);
    const { maxTiles: N, tileSize: T } = m.vision;
    const packed = packClip(clip, m);
    const out = await this.session.run({
      pixels: hostTensor('f32', [F, N, 3, T, T], packed.pixels),
      aspectRatioIds: hostTensor('i32', [F], packed.aspectRatioIds),
      tileMask: hostTensor('bool', [F, N], packed.aspectRatioMask),
    });
    const P = patchesPerTile(m.vision);
    const frameMask = new Uint8Array(frameTokens(m));
    frameMask.fill(1, 0, clip.frames[0]!.nTiles * P); // every frame of a clip has the same tiling
    const kv: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(out)) if (name.startsWith('xattn.')) kv[name] = t.data as Float32Array;
    return { features: encodeF16(out['features']!.data as Float32Array), frameMask, kv, aspectRatioId: clip.frames[0]!.aspectRatioId };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The feature tensors of one example as f32 host tensors for a batch of one (`lookFrames` when it has the second feature input). */
export function clipFeeds(m: MllamaConfig, x: ClipFeatures, frames: number): { frames: HostTensor; frameMask: HostTensor; lookFrames?: HostTensor } {
  const S = frameTokens(m);
  return { frames: hostTensor('f32', [1, frames, S, m.text.dim], decodeF16(x.features)), frameMask: hostTensor('bool', [1, S], x.frameMask), ...(x.look ? { lookFrames: hostTensor('f32', [1, frames, S, m.text.dim], decodeF16(x.look)) } : {}) };
}

/** The clips' canvases, `video.aspectRatioId` [B] i32, where the video config's `frameLayout` is 'canvas' (else nothing: the graphs take no such input). */
export function clipCanvasFeeds(m: VideoModelConfig, clips: readonly Pick<ClipFeatures, 'aspectRatioId'>[]): Record<string, HostTensor> {
  if (m.video.frameLayout !== 'canvas') return {};
  const ids = Int32Array.from(clips, (c) => c.aspectRatioId);
  const n = m.image.vision.supportedAspectRatios.length;
  const bad = ids.findIndex((id) => !(Number.isSafeInteger(id) && id >= 1 && id <= n));
  if (bad >= 0) throw new HerdError('invalid_argument', `video frames: clip ${bad} has aspect-ratio id ${ids[bad]}, the image model's are 1..${n}`);
  return { [VIDEO_ASPECT_RATIO_ID]: hostTensor('i32', [clips.length], ids) };
}

/** The video-tokens graph's feeds for one clip (`buildVideoTokensGraph`): with the video config's `look` the second feature input, which the clip must have; with `frameLayout` 'canvas' its canvas. */
export function videoTokensFeeds(m: VideoModelConfig, x: ClipFeatures, frames: number): Record<string, HostTensor> {
  const look = m.video.look === true;
  const f = clipFeeds(m.image, x, frames);
  if (look && !f.lookFrames) throw new HerdError('invalid_argument', 'video tokens: this video model takes a second feature input (look), the clip has none (give the look image checkpoint\'s features)');
  return { 'video.frames': f.frames, 'video.frameMask': f.frameMask, ...(look ? { 'video.lookFrames': f.lookFrames! } : {}), ...clipCanvasFeeds(m, [x]) };
}

export interface ExtractOptions {
  /** The clips dataset (`writeClipWorld` / `@herd/datasets` video layout). */
  readonly clips: string;
  /** Where the feature dataset is written. */
  readonly out: string;
  readonly config: MllamaConfig;
  readonly vision: VisionWeights;
  readonly frames: number;
  /** Use at most this many clips (the first ones). */
  readonly limit?: number;
  /** Keep only clean English clips and static clips (default true). */
  readonly onlyUsable?: boolean;
  readonly onClip?: (done: number, key: string) => void;
  /** A clip ffmpeg could not read is dropped with its reason (not fatal). */
  readonly onDrop?: (key: string, reason: string) => void;
  /** Where the frame encoder runs; resolved by the app (default DEFAULT_DEVICE). */
  readonly device?: Device;
}

/** Reads a clip's frames; a clip the media layer refuses is returned as its error, for the caller to drop with that reason. */
async function readOrError(path: string, o: ExtractOptions, key: string): Promise<TiledClip | Error> {
  try {
    return await readClipFrames(path, o.config, o.frames, { name: `${o.clips}:${key}` });
  } catch (e) {
    if (!(e instanceof HerdError)) throw e;
    return e;
  }
}

/** Computes every clip's features and writes them as a shard dataset; a clip ffmpeg cannot read is dropped with its reason. */
export async function extractClipFeatures(o: ExtractOptions): Promise<{ clips: number; dropped: { key: string; reason: string }[] }> {
  const dropped: { key: string; reason: string }[] = [];
  const enc = await FrameEncoder.create(o.config, o.vision, o.frames, { device: o.device });
  const tmp = await mkdtemp(join(tmpdir(), 'herd-video-clip-'));
  let n = 0;
  try {
    async function* features(): AsyncGenerator<Sample> {
      for await (const s of iterateDataset(o.clips)) {
        if (o.limit !== undefined && n >= o.limit) break;
        if (isUnreadable(s)) throw new HerdError('io_error', `${o.clips}: unreadable sample ${JSON.stringify(s)}`);
        const meta = s.meta as Record<string, unknown>;
        const isStatic = meta['noise'] === 'static_clip';
        if ((o.onlyUsable ?? true) && !(meta['noise'] === null || isStatic)) continue;
        if (meta['language'] !== undefined && meta['language'] !== 'en') continue;
        const mp4 = s.files['mp4'];
        const txt = s.files['txt'];
        if (!mp4 || !txt) continue;
        const path = join(tmp, `${s.key}.mp4`);
        await writeFile(path, mp4);
        const clip = await readOrError(path, o, s.key);
        await rm(path, { force: true });
        if (clip instanceof Error) {
          dropped.push({ key: s.key, reason: clip.message });
          o.onDrop?.(s.key, clip.message);
          continue;
        }
        const f = await enc.encode(clip);
        const kvNames = Object.keys(f.kv).sort(kvOrder);
        const kvAll = new Float32Array(kvNames.reduce((a, k) => a + f.kv[k]!.length, 0));
        let at = 0;
        for (const k of kvNames) {
          kvAll.set(f.kv[k]!, at);
          at += f.kv[k]!.length;
        }
        o.onClip?.(++n, s.key);
        yield {
          key: s.key,
          files: { features: new Uint8Array(f.features.buffer), frame_mask: f.frameMask, kv: new Uint8Array(kvAll.buffer) },
          meta: { split: meta['split'], caption: new TextDecoder().decode(txt), objects: meta['objects'], static: isStatic, frames: o.frames, width: clip.width, height: clip.height },
        };
      }
    }
    await writeDataset(o.out, features(), { samplesPerShard: 250, name: 'video-features', info: { frames: o.frames, clips: o.clips, dropped } });
    return { clips: n, dropped };
  } finally {
    await enc.release();
    await rm(tmp, { recursive: true, force: true });
  }
}

/** `xattn.k.0, xattn.v.0, xattn.k.1, …`: layer order, k before v. */
function kvOrder(a: string, b: string): number {
  const [, ka, ja] = a.split('.');
  const [, kb, jb] = b.split('.');
  return Number(ja) - Number(jb) || ka!.localeCompare(kb!);
}

/** Reads a feature dataset into memory (features stay f16). */
export async function readVideoExamples(dir: string, m: MllamaConfig, o: { split?: 'train' | 'heldout' } = {}): Promise<VideoExample[]> {
  const S = frameTokens(m);
  const K = m.text.nKvHeads;
  const dh = headDim(m.text);
  const out: VideoExample[] = [];
  for await (const s of iterateDataset(dir)) {
    if (isUnreadable(s)) throw new HerdError('io_error', `${dir}: unreadable sample ${JSON.stringify(s)}`);
    const meta = s.meta as Record<string, unknown>;
    if (o.split && meta['split'] !== o.split) continue;
    const frames = meta['frames'] as number;
    const fb = s.files['features']!;
    const features = new Uint16Array(fb.buffer.slice(fb.byteOffset, fb.byteOffset + fb.byteLength));
    if (features.length !== frames * S * m.text.dim) throw new HerdError('shape_mismatch', `${dir}:${s.key}: features hold ${features.length} values, the config needs ${frames}×${S}×${m.text.dim} (made for another model?)`);
    const kb = s.files['kv']!;
    const kvAll = new Float32Array(kb.buffer.slice(kb.byteOffset, kb.byteOffset + kb.byteLength));
    const per = K * S * dh;
    if (kvAll.length !== per * 2 * m.crossAttentionLayers.length) throw new HerdError('shape_mismatch', `${dir}:${s.key}: image keys/values hold ${kvAll.length} values, expected ${per * 2 * m.crossAttentionLayers.length}`);
    const kv: Record<string, Float32Array> = {};
    m.crossAttentionLayers.forEach((_, j) => {
      kv[`xattn.k.${j}`] = kvAll.subarray((2 * j) * per, (2 * j + 1) * per);
      kv[`xattn.v.${j}`] = kvAll.subarray((2 * j + 1) * per, (2 * j + 2) * per);
    });
    const [width, height] = [meta['width'], meta['height']];
    if (!(typeof width === 'number' && width > 0 && typeof height === 'number' && height > 0)) throw new HerdError('corrupt_data', `${dir}:${s.key}: no clip size (width, height) in its meta, which says the clip's canvas (made by another tool?)`);
    out.push({
      key: s.key,
      split: meta['split'] as 'train' | 'heldout',
      caption: meta['caption'] as string,
      objects: meta['objects'] as MotionObject[],
      static: meta['static'] === true,
      frames,
      clip: { features, frameMask: new Uint8Array(s.files['frame_mask']!), kv, aspectRatioId: canvasOf(height, width, m.vision).aspectRatioId },
    });
  }
  return out;
}
