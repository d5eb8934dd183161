/**
 * Probing media files with ffprobe (JSON output). fluent-ffmpeg's `ffprobe()` gives no timeout and
 * no handle to kill its process, so probing runs ffprobe through `runTool` (timeout, AbortSignal,
 * reaped child) instead; extraction goes through fluent-ffmpeg in `fluent.ts`.
 */
import { HerdError } from '@herd/core';
import { runTool, type ToolCallOptions } from './process.js';
import { resolveFfprobe, type ResolveToolOptions } from './resolve.js';

/** Options every ffmpeg/ffprobe-backed call takes. */
export interface MediaCallOptions extends ResolveToolOptions {
  /** Kill each ffmpeg/ffprobe process after this long (default 60 s for probes, 300 s for decoding). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Name in error messages (default: the path). */
  readonly name?: string;
}

export interface MediaStreamInfo {
  readonly index: number;
  readonly type: 'video' | 'audio' | 'subtitle' | 'data' | 'attachment' | 'unknown';
  readonly codec: string;
  readonly width?: number;
  readonly height?: number;
  /** Average frames per second (video). */
  readonly fps?: number;
  /** Frames the container declares (video), when it does. */
  readonly frames?: number;
  readonly sampleRate?: number;
  readonly channels?: number;
  readonly durationS?: number;
  /** Display rotation in degrees (phone videos), 0 when none. */
  readonly rotation?: number;
}

export interface MediaProbe {
  readonly name: string;
  readonly container: string;
  readonly durationS: number;
  readonly streams: readonly MediaStreamInfo[];
}

interface RawStream {
  index?: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  nb_read_frames?: string;
  sample_rate?: string;
  channels?: number;
  duration?: string;
  tags?: Record<string, string>;
  side_data_list?: { rotation?: number }[];
}

const num = (s: string | number | undefined): number | undefined => {
  const v = typeof s === 'number' ? s : s === undefined ? NaN : Number(s);
  return Number.isFinite(v) ? v : undefined;
};
const rate = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const [a, b] = s.split('/').map(Number);
  return a !== undefined && b !== undefined && b > 0 && a > 0 ? a / b : undefined;
};

export async function probeMedia(path: string, opts: MediaCallOptions & { countFrames?: boolean } = {}): Promise<MediaProbe> {
  const name = opts.name ?? path;
  const ffprobe = resolveFfprobe(opts);
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams'];
  if (opts.countFrames === true) args.push('-count_frames', '-select_streams', 'v:0');
  const call: ToolCallOptions = { timeoutMs: opts.timeoutMs ?? 60_000, label: name, maxOutputBytes: 16 << 20, ...(opts.signal ? { signal: opts.signal } : {}) };
  let json: { format?: { format_name?: string; duration?: string }; streams?: RawStream[] };
  try {
    const { stdout } = await runTool(ffprobe, [...args, '-i', path], call);
    json = JSON.parse(Buffer.from(stdout).toString('utf8')) as typeof json;
  } catch (e) {
    if (e instanceof HerdError && e.code !== 'runtime_error') throw e;
    if (e instanceof HerdError && /timed out|aborted/.test(e.message)) throw e;
    const why = e instanceof Error ? e.message.split('\n').slice(-1)[0] : String(e);
    throw new HerdError('corrupt_data', `${name}: not a readable media file (ffprobe: ${why})`, { cause: e });
  }
  const streams = (json.streams ?? []).map((s, i): MediaStreamInfo => {
    const type = (['video', 'audio', 'subtitle', 'data', 'attachment'] as const).find((t) => t === s.codec_type) ?? 'unknown';
    const rotation = num(s.side_data_list?.find((d) => d.rotation !== undefined)?.rotation) ?? num(s.tags?.rotate) ?? 0;
    const frames = num(s.nb_read_frames) ?? num(s.nb_frames);
    const o: Record<string, unknown> = { index: s.index ?? i, type, codec: s.codec_name ?? 'none' };
    if (type === 'video') Object.assign(o, { width: s.width, height: s.height, fps: rate(s.avg_frame_rate) ?? rate(s.r_frame_rate), rotation, ...(frames !== undefined ? { frames } : {}) });
    if (type === 'audio') Object.assign(o, { sampleRate: num(s.sample_rate), channels: s.channels });
    const d = num(s.duration);
    if (d !== undefined) o.durationS = d;
    return o as unknown as MediaStreamInfo;
  });
  const streamDur = Math.max(0, ...streams.map((s) => s.durationS ?? 0));
  return { name, container: json.format?.format_name ?? 'unknown', durationS: num(json.format?.duration) ?? streamDur, streams };
}
