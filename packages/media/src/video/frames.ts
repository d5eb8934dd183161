/**
 * Video at the edge: probe a clip, and decode N frames spaced uniformly over the whole clip straight
 * into RGB u8 (raw RGB over ffmpeg's output pipe; no temporary images).
 *
 * Shape legend: N frames, H height, W width; `data` is [N, H, W, 3] row-major RGB u8.
 */
import { stat } from 'node:fs/promises';
import { HerdError } from '@herd/core';
import { extractRaw } from '../ffmpeg/fluent.js';
import { probeMedia, type MediaCallOptions, type MediaStreamInfo } from '../ffmpeg/probe.js';
import { resolveFfmpeg } from '../ffmpeg/resolve.js';

export interface VideoInfo {
  readonly name: string;
  readonly container: string;
  readonly durationS: number;
  readonly fps: number;
  /** Display size (after the rotation the file asks for). */
  readonly width: number;
  readonly height: number;
  readonly codec: string;
  /** Frames the container declares, when it does. */
  readonly frames?: number;
  readonly hasAudio: boolean;
  readonly streams: readonly MediaStreamInfo[];
}

async function checkFile(path: string, name: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw new HerdError('io_error', `${name}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  if (!st.isFile()) throw new HerdError('io_error', `${name}: not a regular file (a folder, FIFO or device); give a file path`);
  if (st.size === 0) throw new HerdError('corrupt_data', `${name}: empty file (0 bytes)`);
}

export async function probeVideo(path: string, opts: MediaCallOptions = {}): Promise<VideoInfo> {
  const name = opts.name ?? path;
  await checkFile(path, name);
  const p = await probeMedia(path, { ...opts, name });
  const v = p.streams.find((s) => s.type === 'video' && s.codec !== 'mjpeg' && s.codec !== 'png'); // cover art is not video
  if (v === undefined) {
    const has = p.streams.map((s) => `${s.type} ${s.codec}`).join(', ') || 'no streams';
    throw new HerdError('invalid_argument', `${name}: no video stream (${p.container}: ${has})`);
  }
  if (v.codec === 'none' || v.codec === 'unknown') throw new HerdError('invalid_argument', `${name}: unsupported video codec (ffprobe cannot identify it); re-encode to H.264/VP9/AV1`);
  const durationS = v.durationS ?? p.durationS;
  if (!(durationS > 0)) throw new HerdError('corrupt_data', `${name}: zero duration (the container reports ${durationS} s)`);
  const w = v.width ?? 0;
  const h = v.height ?? 0;
  if (w <= 0 || h <= 0) throw new HerdError('corrupt_data', `${name}: video stream has size ${w}×${h}`);
  const quarter = Math.abs(Math.round((v.rotation ?? 0) / 90)) % 2 === 1;
  return {
    name,
    container: p.container,
    durationS,
    fps: v.fps ?? (v.frames !== undefined ? v.frames / durationS : 0),
    width: quarter ? h : w,
    height: quarter ? w : h,
    codec: v.codec,
    ...(v.frames !== undefined ? { frames: v.frames } : {}),
    hasAudio: p.streams.some((s) => s.type === 'audio'),
    streams: p.streams,
  };
}

export interface SampleFramesOptions extends MediaCallOptions {
  /** How many frames (the paper: 64 for fine-tuning, 16 for pre-training); at most 1024. */
  readonly count: number;
  /** Scale every frame to this size (default: the display size). */
  readonly size?: { readonly width: number; readonly height: number };
  /** Refuse when N·H·W·3 would exceed this many bytes (default 1 GiB). */
  readonly maxBytes?: number;
  /**
   * Seek to each frame (one short ffmpeg call per frame, decoding from the keyframe before it)
   * instead of decoding the whole clip once. Default: seek when the frames asked for are more than
   * `SEEK_MIN_SPACING` frames apart (a long clip), where one pass would decode mostly frames it throws away.
   */
  readonly seek?: boolean;
}

/**
 * Frames between samples above which `sampleFrames` seeks rather than decoding every frame. A seek
 * costs an ffmpeg start (~0.1 CPU-s) plus decoding from the keyframe before the frame (half a GOP
 * on average; encoders put one every 2–10 s): well below 1,000 frames, one pass is as cheap.
 */
export const SEEK_MIN_SPACING = 1000;

export interface VideoFrames {
  /** [N, H, W, 3] RGB u8. */
  readonly data: Uint8Array;
  readonly count: number;
  readonly width: number;
  readonly height: number;
  /** Index in the clip of each returned frame (repeats when the clip has fewer frames than N). */
  readonly frameIndices: readonly number[];
  /** Approximate time of each frame, index / fps. */
  readonly timesS: readonly number[];
  readonly info: VideoInfo;
}

/**
 * N frames uniformly spaced over the whole clip: frame i is the one at the centre of the i-th of N
 * equal segments, by frame index (exact when the container or a counting probe gives the frame
 * count).
 */
export async function sampleFrames(path: string, opts: SampleFramesOptions): Promise<VideoFrames> {
  const name = opts.name ?? path;
  const { count } = opts;
  if (!Number.isInteger(count) || count < 1 || count > 1024) throw new HerdError('invalid_argument', `sampleFrames: count must be an integer in 1..1024, got ${count}`);
  const info = await probeVideo(path, opts);
  let total = info.frames;
  if (total === undefined || total <= 0) {
    // Matroska/WebM declare no frame count: count by decoding headers (slower, exact).
    const counted = await probeMedia(path, { ...opts, name, countFrames: true });
    total = counted.streams.find((s) => s.type === 'video')?.frames;
  }
  if (total === undefined || total <= 0) throw new HerdError('corrupt_data', `${name}: no decodable video frames`);
  const frameIndices = Array.from({ length: count }, (_, i) => Math.min(total - 1, Math.floor(((i + 0.5) * total) / count)));
  const unique = [...new Set(frameIndices)];
  const width = opts.size?.width ?? info.width;
  const height = opts.size?.height ?? info.height;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) throw new HerdError('invalid_argument', `sampleFrames: size ${width}×${height} must be positive integers`);
  const frameBytes = width * height * 3;
  const maxBytes = opts.maxBytes ?? 2 ** 30;
  if (frameBytes * count > maxBytes) throw new HerdError('invalid_argument', `${name}: ${count} frames of ${width}×${height} need ${frameBytes * count} bytes, over the ${maxBytes}-byte limit (ask for fewer or smaller frames)`);
  const scale = `scale=${width}:${height}:flags=area`;
  const seek = opts.seek ?? (info.fps > 0 && total / unique.length > SEEK_MIN_SPACING);
  const decode = async (inputOptions: string[], filter: string, frames: number): Promise<Uint8Array> => {
    try {
      return await extractRaw(
        resolveFfmpeg(opts),
        { input: path, inputOptions, outputOptions: ['-map', '0:v:0', '-an', '-sn', '-vf', filter, '-vsync', '0', '-pix_fmt', 'rgb24', ...(seek ? ['-frames:v', '1'] : [])], format: 'rawvideo' },
        { timeoutMs: opts.timeoutMs ?? 300_000, label: name, maxOutputBytes: frames * frameBytes + 1, ...(opts.signal ? { signal: opts.signal } : {}) },
      );
    } catch (e) {
      if (e instanceof HerdError && e.code === 'corrupt_data' && /decoder .*not found|unknown (codec|decoder)|codec not currently supported/i.test(e.message)) {
        throw new HerdError('invalid_argument', `${name}: unsupported video codec ${info.codec}: ${e.message}`, { cause: e });
      }
      throw e;
    }
  };
  let raw: Uint8Array;
  if (seek) {
    // Accurate input seeking keeps the first frame at or after the time asked for: half a frame
    // before frame k lands on k whatever the rounding of its timestamp (constant frame rate assumed).
    const parts: Uint8Array[] = [];
    for (const k of unique) {
      const part = await decode(['-ss', Math.max(0, (k - 0.5) / info.fps).toFixed(6)], scale, 1);
      if (part.byteLength < frameBytes) throw new HerdError('corrupt_data', `${name}: truncated or damaged: frame ${k} of ${total} (at ${(k / info.fps).toFixed(2)} s) could not be decoded`);
      parts.push(part.subarray(0, frameBytes));
    }
    raw = Buffer.concat(parts);
  } else {
    // select keeps exactly the chosen frame numbers; commas inside a filter expression are escaped.
    const select = `select=${unique.map((k) => `eq(n\\,${k})`).join('+')}`;
    raw = await decode([], `${select},${scale}`, unique.length);
  }
  const got = Math.floor(raw.byteLength / frameBytes);
  if (got < unique.length) {
    throw new HerdError('corrupt_data', `${name}: truncated or damaged: decoded ${got} of the ${unique.length} frames asked for (the container declares ${total})`);
  }
  const data = new Uint8Array(count * frameBytes);
  frameIndices.forEach((k, i) => {
    const u = unique.indexOf(k);
    data.set(raw.subarray(u * frameBytes, (u + 1) * frameBytes), i * frameBytes);
  });
  return { data, count, width, height, frameIndices, timesS: frameIndices.map((k) => (info.fps > 0 ? k / info.fps : 0)), info };
}
