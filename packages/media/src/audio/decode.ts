/**
 * Audio at the edge: WAV by herd's own reader, FLAC/MP3/OGG/M4A and the audio track of a video
 * through ffmpeg, all to mono float at one sample rate (16 kHz for the speech encoder), resampled
 * by the band-limited resampler, with limits and errors that name the file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HerdError } from '@herd/core';
import { extractRaw } from '../ffmpeg/fluent.js';
import { probeMedia, type MediaCallOptions } from '../ffmpeg/probe.js';
import { resolveFfmpeg } from '../ffmpeg/resolve.js';
import { readSource, type MediaInput } from '../source.js';
import { sniffFormat, type SniffedFormat } from '../sniff.js';
import { resample } from './resample.js';
import { readWav } from './wav.js';

export const DEFAULT_AUDIO_SAMPLE_RATE = 16000;
export const DEFAULT_MAX_AUDIO_SECONDS = 60;

export interface DecodeAudioOptions extends MediaCallOptions {
  /** Output sample rate (default 16 000 Hz). */
  readonly sampleRate?: number;
  /** Refuse audio longer than this (default 60 s), from the header when it says, before decoding. */
  readonly maxSeconds?: number;
  /** Refuse files larger than this (default 512 MiB). */
  readonly maxBytes?: number;
}

export interface DecodedAudio {
  /** Mono, full scale ±1, at `sampleRate`. */
  readonly samples: Float32Array;
  readonly sampleRate: number;
  readonly durationS: number;
  /** What the file held: container/codec, its rate and channel count. */
  readonly source: { readonly format: SniffedFormat; readonly codec: string; readonly sampleRate: number; readonly channels: number };
}

const NOT_AUDIO: readonly SniffedFormat[] = ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff', 'bmp', 'svg', 'heic'];

export async function decodeAudio(input: MediaInput, opts: DecodeAudioOptions = {}): Promise<DecodedAudio> {
  const rate = opts.sampleRate ?? DEFAULT_AUDIO_SAMPLE_RATE;
  const maxSeconds = opts.maxSeconds ?? DEFAULT_MAX_AUDIO_SECONDS;
  if (!Number.isInteger(rate) || rate <= 0) throw new HerdError('invalid_argument', `decodeAudio: sampleRate must be a positive integer, got ${rate}`);
  if (!(maxSeconds > 0)) throw new HerdError('invalid_argument', `decodeAudio: maxSeconds must be positive, got ${maxSeconds}`);
  const { bytes, name } = await readSource(input, opts.maxBytes ?? 512 * 1024 * 1024, opts.name);
  const format = sniffFormat(bytes);
  if (NOT_AUDIO.includes(format)) throw new HerdError('invalid_argument', `${name}: this is a ${format} image, not audio`);

  let mono: Float32Array;
  let source: DecodedAudio['source'];
  if (format === 'wav') {
    const w = readWav(bytes, name);
    const declared = w.samples.length / w.sampleRate;
    if (declared > maxSeconds) throw tooLong(name, declared, maxSeconds);
    mono = w.samples;
    source = { format, codec: 'pcm', sampleRate: w.sampleRate, channels: w.channels };
  } else {
    ({ mono, source } = await decodeWithFfmpeg(input, bytes, name, format, maxSeconds, opts));
  }

  if (mono.length === 0) throw new HerdError('corrupt_data', `${name}: no audio samples (empty audio)`);
  for (let i = 0; i < mono.length; i++) {
    if (!Number.isFinite(mono[i]!)) throw new HerdError('non_finite', `${name}: sample ${i} (${(i / source.sampleRate).toFixed(3)} s) is ${mono[i]}; the file holds non-finite audio`);
  }
  const seconds = mono.length / source.sampleRate;
  if (seconds > maxSeconds) throw tooLong(name, seconds, maxSeconds);
  const samples = resample(mono, source.sampleRate, rate);
  return { samples, sampleRate: rate, durationS: samples.length / rate, source };
}

function tooLong(name: string, seconds: number, max: number): HerdError {
  return new HerdError('invalid_argument', `${name}: ${seconds.toFixed(2)} s of audio is over the ${max} s limit (cut it, or raise maxSeconds)`);
}

async function decodeWithFfmpeg(
  input: MediaInput,
  bytes: Uint8Array,
  name: string,
  format: SniffedFormat,
  maxSeconds: number,
  opts: DecodeAudioOptions,
): Promise<{ mono: Float32Array; source: DecodedAudio['source'] }> {
  // ffmpeg reads files (an MP4 with its index at the end cannot be streamed): buffers go to a temp file.
  const dir = typeof input === 'string' ? undefined : await mkdtemp(join(tmpdir(), 'herd-audio-'));
  const path = dir === undefined ? (input as string) : join(dir, 'input');
  try {
    if (dir !== undefined) await writeFile(path, bytes);
    const call = { ...opts, name };
    const probe = await probeMedia(path, call);
    const audio = probe.streams.find((s) => s.type === 'audio');
    if (audio === undefined) {
      const has = probe.streams.map((s) => `${s.type} ${s.codec}`).join(', ') || 'no streams';
      throw new HerdError('invalid_argument', `${name}: no audio stream (${probe.container}: ${has})`);
    }
    const channels = audio.channels ?? 0;
    const sampleRate = audio.sampleRate ?? 0;
    if (channels < 1 || sampleRate < 1000) throw new HerdError('corrupt_data', `${name}: audio stream ${audio.codec} has ${channels} channels at ${sampleRate} Hz`);
    const declared = audio.durationS ?? probe.durationS;
    if (declared > maxSeconds + 0.5) throw tooLong(name, declared, maxSeconds);
    const raw = await extractRaw(
      resolveFfmpeg(opts),
      {
        input: path,
        // One second past the limit is enough to tell "too long" without decoding an hour.
        outputOptions: ['-map', `0:${audio.index}`, '-vn', '-t', String(maxSeconds + 1), '-acodec', 'pcm_f32le', '-ac', String(channels)],
        format: 'f32le',
      },
      { timeoutMs: opts.timeoutMs ?? 300_000, label: name, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    const frames = Math.floor(raw.byteLength / (4 * channels));
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const mono = new Float32Array(frames);
    for (let f = 0; f < frames; f++) {
      let acc = 0;
      for (let c = 0; c < channels; c++) acc += dv.getFloat32((f * channels + c) * 4, true);
      mono[f] = acc / channels;
    }
    // A file cut short decodes to less than its header declares (FLAC, M4A and WAV-in-ffmpeg headers
    // say their length; MP3 without a Xing header estimates it from the size, so a cut MP3 passes).
    const decodedS = frames / sampleRate;
    if (declared > 0 && declared <= maxSeconds && decodedS < declared * 0.9 - 0.05) {
      throw new HerdError('corrupt_data', `${name}: truncated: decoded ${decodedS.toFixed(2)} s of the ${declared.toFixed(2)} s the header declares`);
    }
    return { mono, source: { format, codec: audio.codec, sampleRate, channels } };
  } finally {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}
