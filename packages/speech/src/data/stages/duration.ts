/**
 * Duration bounds: utterances shorter than `minSeconds` (a fragment, a click) or longer than
 * `maxSeconds` (too long to crop without cutting words; the encoder's crops are at most 60 s) are
 * dropped. Scores: `meta.curation.duration = {seconds}`.
 */
import { HerdError, type OptionRules } from '@herd/core';
import { drop, keep, withScores, type Sample, type SampleStage } from '@herd/data';
import type { DecodedAudio } from '@herd/media';
import { audioStage, round } from './audio.js';

export interface DurationBoundsOptions {
  name?: string;
  /** Shortest kept utterance (default 0.5 s). */
  minSeconds?: number;
  /** Longest kept utterance (default 30 s). */
  maxSeconds?: number;
}

/** What a config file may set (`checkOptions`). */
export const DURATION_BOUNDS_RULES = { name: 'string', minSeconds: 'number', maxSeconds: 'number' } satisfies OptionRules<DurationBoundsOptions>;

export function durationBounds(options: DurationBoundsOptions = {}): SampleStage {
  const o = { minSeconds: options.minSeconds ?? 0.5, maxSeconds: options.maxSeconds ?? 30 };
  if (!(o.minSeconds >= 0 && o.maxSeconds > o.minSeconds)) throw new HerdError('invalid_config', `duration bounds: need 0 ≤ minSeconds < maxSeconds, got ${o.minSeconds} and ${o.maxSeconds}`);
  const name = options.name ?? 'duration';
  const judge = (audio: DecodedAudio, sample: Sample) => {
    const s = audio.durationS;
    if (s < o.minSeconds) return drop(`too_short: ${s.toFixed(2)} s < ${o.minSeconds} s`);
    if (s > o.maxSeconds) return drop(`too_long: ${s.toFixed(2)} s > ${o.maxSeconds} s`);
    return keep(withScores(sample, name, { seconds: round(s, 3) }));
  };
  return audioStage(name, o, judge, { maxDecodeSeconds: Math.max(60, o.maxSeconds) });
}
