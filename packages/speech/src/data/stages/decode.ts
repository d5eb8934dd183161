/**
 * The read boundary of speech curation: the audio file must exist and decode (WAV by herd's reader,
 * compressed formats through ffmpeg; `@herd/media`) to finite 16 kHz mono samples. A file that does
 * not is dropped with the reason media gives — `missing_audio`, `not_audio` (an image, no audio
 * stream, random bytes), `undecodable_audio` (truncated, damaged), `non_finite_audio`, `empty_audio`,
 * `audio_too_long` — and the run goes on. Scores: `meta.curation.audio = {durationS, sourceRate,
 * channels, codec}`.
 */
import type { OptionRules } from '@herd/core';
import { keep, withScores, type SampleStage } from '@herd/data';
import { audioStage, round } from './audio.js';

export interface AudioDecodeOptions {
  name?: string;
  /** Longest audio decoded at all (default 60 s); longer files are dropped as `audio_too_long`. */
  maxDecodeSeconds?: number;
}

/** What a config file may set (`checkOptions`). */
export const AUDIO_DECODE_RULES = { name: 'string', maxDecodeSeconds: 'number' } satisfies OptionRules<AudioDecodeOptions>;

export function audioDecode(options: AudioDecodeOptions = {}): SampleStage {
  const o = { maxDecodeSeconds: options.maxDecodeSeconds ?? 60 };
  const name = options.name ?? 'audio';
  return audioStage(
    name,
    o,
    (audio, sample) => keep(withScores(sample, name, { durationS: round(audio.durationS, 3), sourceRate: audio.source.sampleRate, channels: audio.source.channels, codec: audio.source.codec })),
    o,
  );
}
