/**
 * The frames every video curation stage looks at, decoded once per sample: the clip's bytes go to a
 * private temporary file (ffmpeg reads paths), `@herd/media` probes it and samples N frames spaced
 * uniformly over the whole clip, scaled so the longer side is at most `maxSide`, and the file is
 * removed. Stages of one pipeline ask with the same options and share the decode: the result is
 * cached per clip buffer (a WeakMap, so it goes when the sample goes).
 *
 * Shape legend: N frames, H height, W width; `data` is [N, H, W, 3] RGB u8.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HerdError, type OptionRules } from '@herd/core';
import type { Sample } from '@herd/data';
import { probeVideo, sampleFrames, type VideoFrames } from '@herd/media';

/** Video file extensions in the order they are looked for. */
export const VIDEO_EXTS = ['mp4', 'webm', 'mkv', 'mov', 'm4v', 'avi'] as const;

export function videoFileOf(sample: Sample): { ext: string; bytes: Uint8Array } | undefined {
  for (const ext of VIDEO_EXTS) {
    const bytes = sample.files[ext];
    if (bytes !== undefined) return { ext, bytes };
  }
  return undefined;
}

export interface ClipFrameOptions {
  /** Frames sampled uniformly over the clip (default 16, the paper's pre-training count). */
  count?: number;
  /** Longer side of the decoded frames (default 448); smaller clips keep their size. */
  maxSide?: number;
  /** Kill each ffprobe/ffmpeg call after this long (default 60 s), well inside the runner's sample limit. */
  timeoutMs?: number;
  /** ffmpeg / ffprobe binaries (apps pass FFMPEG_BIN / FFPROBE_BIN); default: @herd/media's resolution. */
  ffmpeg?: string;
  ffprobe?: string;
}

/** What a config file may set (`checkOptions`). */
export const CLIP_FRAME_RULES = { count: 'int', maxSide: 'int', timeoutMs: 'int', ffmpeg: 'string', ffprobe: 'string' } satisfies OptionRules<ClipFrameOptions>;

type Resolved = Required<Pick<ClipFrameOptions, 'count' | 'maxSide' | 'timeoutMs'>> & Pick<ClipFrameOptions, 'ffmpeg' | 'ffprobe'>;

export function resolveFrameOptions(o: ClipFrameOptions = {}): Resolved {
  const r: Resolved = { count: o.count ?? 16, maxSide: o.maxSide ?? 448, timeoutMs: o.timeoutMs ?? 60_000, ...(o.ffmpeg ? { ffmpeg: o.ffmpeg } : {}), ...(o.ffprobe ? { ffprobe: o.ffprobe } : {}) };
  if (!Number.isInteger(r.count) || r.count < 2 || r.count > 64) throw new HerdError('invalid_argument', `video curation frames.count must be an integer in 2..64, got ${o.count}`);
  if (!Number.isInteger(r.maxSide) || r.maxSide < 16) throw new HerdError('invalid_argument', `video curation frames.maxSide must be an integer >= 16, got ${o.maxSide}`);
  if (!(r.timeoutMs > 0)) throw new HerdError('invalid_argument', `video curation frames.timeoutMs must be positive, got ${o.timeoutMs}`);
  return r;
}

/** Output size: the display size scaled down (never up) so the longer side fits, sides even and ≥ 2. */
export function frameSize(width: number, height: number, maxSide: number): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const side = (n: number): number => Math.max(2, 2 * Math.round((n * scale) / 2));
  return scale === 1 ? { width, height } : { width: side(width), height: side(height) };
}

const cache = new WeakMap<Uint8Array, Map<string, Promise<VideoFrames>>>();

/** Decodes the clip's frames (cached per clip buffer and options). Rejects with @herd/media's HerdError naming the sample. */
export function clipFrames(sample: Sample, options: ClipFrameOptions = {}): Promise<VideoFrames> {
  const file = videoFileOf(sample);
  if (file === undefined) return Promise.reject(new HerdError('invalid_argument', `${sample.key}: no video file (.${VIDEO_EXTS.join(', .')})`));
  const o = resolveFrameOptions(options);
  const id = JSON.stringify(o);
  let perClip = cache.get(file.bytes);
  if (perClip === undefined) cache.set(file.bytes, (perClip = new Map()));
  let frames = perClip.get(id);
  if (frames === undefined) {
    frames = decode(sample.key, file, o);
    perClip.set(id, frames);
  }
  return frames;
}

async function decode(key: string, file: { ext: string; bytes: Uint8Array }, o: Resolved): Promise<VideoFrames> {
  const dir = await mkdtemp(join(tmpdir(), 'herd-vcurate-'));
  try {
    const path = join(dir, `clip.${file.ext}`);
    await writeFile(path, file.bytes);
    const name = `${key}.${file.ext}`;
    const call = { name, timeoutMs: o.timeoutMs, ...(o.ffmpeg ? { ffmpeg: o.ffmpeg } : {}), ...(o.ffprobe ? { ffprobe: o.ffprobe } : {}) };
    try {
      return await sampleFrom(path, call, o);
    } catch (e) {
      // Some tool messages quote the temporary path: name the sample instead, so reasons repeat run to run.
      if (e instanceof HerdError && e.message.includes(dir)) throw new HerdError(e.code, e.message.split(path).join(name).split(dir).join('<tmp>'), { cause: e });
      throw e;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function sampleFrom(path: string, call: { name: string; timeoutMs: number; ffmpeg?: string; ffprobe?: string }, o: Resolved): Promise<VideoFrames> {
  const info = await probeVideo(path, call);
  const size = frameSize(info.width, info.height, o.maxSide);
  return sampleFrames(path, { ...call, count: o.count, ...(size.width !== info.width || size.height !== info.height ? { size } : {}) });
}

/** Frame i of a clip as an RGB image view (no copy). */
export function frameAt(frames: VideoFrames, i: number): { data: Uint8Array; width: number; height: number } {
  const bytes = frames.width * frames.height * 3;
  return { data: frames.data.subarray(i * bytes, (i + 1) * bytes), width: frames.width, height: frames.height };
}

/** `k` of the N frames, evenly spread (always including the middle when k = 1). */
export function spreadIndices(n: number, k: number): number[] {
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: k }, (_, i) => Math.min(n - 1, Math.floor(((i + 0.5) * n) / k)));
}

/**
 * What went wrong with a clip, as a drop reason code: the media layer's messages are stable words
 * ("no video stream", "zero duration", "truncated", "unsupported video codec", "empty file").
 */
export function clipErrorCode(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  if (/no video stream/i.test(m)) return 'no_video_stream';
  if (/zero duration/i.test(m)) return 'zero_duration';
  if (/unsupported video codec/i.test(m)) return 'unsupported_codec';
  if (/truncated|damaged/i.test(m)) return 'truncated_video';
  if (/empty file/i.test(m)) return 'empty_video';
  if (/no video file/i.test(m)) return 'missing_video';
  if (/timed? ?out|timeout/i.test(m)) return 'video_timeout';
  return 'undecodable_video';
}

/** A drop reason for a clip the media layer refused: `<code>: <its message, one line>`. */
export function clipErrorReason(e: unknown): string {
  // ffmpeg prefixes its log lines with the address of the component ("[mov,mp4 @ 0x55d5…]"): not part of the reason.
  const m = (e instanceof Error ? e.message : String(e)).replace(/ @ 0x[0-9a-f]+\]/g, ']').replace(/\s+/g, ' ').trim();
  return `${clipErrorCode(e)}: ${m.length > 300 ? `${m.slice(0, 300)}…` : m}`;
}
