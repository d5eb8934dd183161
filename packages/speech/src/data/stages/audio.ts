/**
 * What every speech curation stage reads: the sample's audio decoded once per thread (16 kHz mono
 * float through `@herd/media`), and its short-time frame energies. Both are cached against the
 * sample's audio bytes (a WeakMap: stages pass the same `files` object on, so the second stage to
 * ask gets the first one's work, and nothing outlives the sample).
 *
 * Frames (documented once, used by the VAD, the SNR estimate and the fingerprint): 25 ms windows
 * (400 samples) every 10 ms (160 samples) at 16 kHz, as the log-mel frontend frames speech; the
 * energy of a frame is 10·log10(mean(x²) + 1e−10) dBFS, where 0 dBFS is the power of a full-scale
 * square wave (a full-scale sine is −3 dBFS) and digital silence reads −100.
 */
import { HerdError } from '@herd/core';
import { drop, type Sample, type SampleStage, type StageResult } from '@herd/data';
import { decodeAudio, type DecodedAudio } from '@herd/media';

export const CURATION_SAMPLE_RATE = 16000;
export const FRAME_SAMPLES = 400;
export const HOP_SAMPLES = 160;
/** Frame energy of digital silence (the 1e−10 floor). */
export const SILENCE_DB = -100;

/** Audio file extensions in the order they are looked for. */
export const AUDIO_EXTS = ['wav', 'flac', 'mp3', 'ogg', 'opus', 'm4a', 'webm', 'mp4'] as const;

export function audioFileOf(sample: Sample): { ext: string; bytes: Uint8Array } | undefined {
  for (const ext of AUDIO_EXTS) {
    const bytes = sample.files[ext];
    if (bytes !== undefined) return { ext, bytes };
  }
  return undefined;
}

export interface AudioOptions {
  /** Longest audio decoded at all (default 60 s, media's limit); the duration stage sets the real bound. */
  maxDecodeSeconds?: number;
}

export type AudioResult = { audio: DecodedAudio } | { reason: string };

const decoded = new WeakMap<Uint8Array, Promise<AudioResult>>();

/** Why a file could not be decoded, as a reason code (`not_audio`, `non_finite_audio`, …) with media's message. */
function reasonFor(e: unknown): string {
  const msg = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ');
  const code = e instanceof HerdError ? e.code : undefined;
  if (code === 'non_finite') return `non_finite_audio: ${msg}`;
  if (/ image, not audio|no audio stream|not a readable media file/.test(msg)) return `not_audio: ${msg}`;
  if (/over the .* s limit/.test(msg)) return `audio_too_long: ${msg}`;
  if (/empty audio/.test(msg)) return `empty_audio: ${msg}`;
  return `undecodable_audio: ${msg}`;
}

/**
 * The sample's audio at 16 kHz, decoded once per thread, or the reason it cannot be read. The first
 * stage to ask decodes (with its `maxDecodeSeconds`); later ones get that result.
 */
export function audioOf(sample: Sample, options: AudioOptions = {}): Promise<AudioResult> {
  const file = audioFileOf(sample);
  if (file === undefined) return Promise.resolve({ reason: `missing_audio: no ${AUDIO_EXTS.map((e) => `.${e}`).join('/')} file` });
  let p = decoded.get(file.bytes);
  if (p === undefined) {
    p = decodeAudio(file.bytes, { name: `${sample.key}.${file.ext}`, sampleRate: CURATION_SAMPLE_RATE, maxSeconds: options.maxDecodeSeconds ?? 60 }).then(
      (audio) => ({ audio }),
      (e: unknown) => ({ reason: reasonFor(e) }),
    );
    decoded.set(file.bytes, p);
  }
  return p;
}

/**
 * A per-sample stage that judges the sample's decoded audio: audio that cannot be read is dropped
 * with media's reason (the same in every stage), the rest goes to `judge`. `settings` are the
 * stage's resolved options, its version, so a resumed run with other settings starts afresh.
 */
export function audioStage(
  name: string,
  settings: object,
  judge: (audio: DecodedAudio, sample: Sample) => StageResult,
  decode: AudioOptions = {},
): SampleStage {
  return {
    kind: 'sample',
    name,
    version: JSON.stringify(settings),
    async process(sample) {
      const r = await audioOf(sample, decode);
      return 'reason' in r ? drop(r.reason) : judge(r.audio, sample);
    },
  };
}

const energies = new WeakMap<Float32Array, Float32Array>();

/** Frame energies in dBFS (see the header), one per 10 ms hop; a clip shorter than a frame is one frame. */
export function frameEnergies(samples: Float32Array): Float32Array {
  let e = energies.get(samples);
  if (e !== undefined) return e;
  const frames = Math.max(1, 1 + Math.floor((samples.length - FRAME_SAMPLES) / HOP_SAMPLES));
  e = new Float32Array(frames);
  for (let t = 0; t < frames; t++) {
    const start = t * HOP_SAMPLES;
    const end = Math.min(samples.length, start + FRAME_SAMPLES);
    let acc = 0;
    for (let i = start; i < end; i++) acc += samples[i]! * samples[i]!;
    e[t] = 10 * Math.log10(acc / Math.max(1, end - start) + 1e-10);
  }
  energies.set(samples, e);
  return e;
}

/** The q-quantile (0..1) of values, by sorting a copy (nearest rank). */
export function quantile(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * sorted.length)))]!;
}

/** Seconds of audio covered by `frames` hops. */
export function framesToSeconds(frames: number): number {
  return (frames * HOP_SAMPLES) / CURATION_SAMPLE_RATE;
}

/** A score rounded for the sample's meta (scores are for people and histograms, not bit-exact maths). */
export function round(x: number, digits = 4): number {
  return Number(x.toFixed(digits));
}
