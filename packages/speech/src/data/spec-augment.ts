/**
 * SpecAugment (Park et al. 2019) for fine-tuning: frequency masks (bands of mel bins set to the mask
 * value across all frames) and time masks (runs of frames set to it across all bins), drawn from a
 * seeded generator so a batch index and seed give the same masks every run. The masked value is 0,
 * as in NeMo's SpecAugment; with Whisper-normalised features 0 is a quiet-but-not-silent level.
 */
import { HerdError, Rng } from '@herd/core';
import { type LogMelFeatures } from './log-mel.js';

export interface SpecAugmentConfig {
  readonly freqMasks: number;
  /** Each frequency mask covers a width drawn uniformly from [0, freqWidth] bins. */
  readonly freqWidth: number;
  readonly timeMasks: number;
  /** Each time mask covers [0, timeWidth] frames, and at most timeRatio of the utterance. */
  readonly timeWidth: number;
  readonly timeRatio: number;
  readonly value: number;
}

/** LibriSpeech "LD" policy widths (F = 27, T = 100, p = 0.05 per mask), 2 + 2 masks. */
export const SPEC_AUGMENT_DEFAULTS: SpecAugmentConfig = Object.freeze({ freqMasks: 2, freqWidth: 27, timeMasks: 2, timeWidth: 100, timeRatio: 0.05, value: 0 });

/** A masked copy of `features` (the input is not changed). */
export function specAugment(features: LogMelFeatures, seed: number, cfg: SpecAugmentConfig = SPEC_AUGMENT_DEFAULTS): LogMelFeatures {
  if (!(cfg.freqWidth >= 0 && cfg.timeWidth >= 0 && cfg.freqMasks >= 0 && cfg.timeMasks >= 0 && cfg.timeRatio >= 0 && cfg.timeRatio <= 1)) {
    throw new HerdError('invalid_config', `specAugment: counts and widths must be ≥ 0 and timeRatio in [0, 1], got ${JSON.stringify(cfg)}`);
  }
  const { frames: T, nMels: F } = features;
  const data = Float32Array.from(features.data);
  const rng = new Rng(seed);
  for (let i = 0; i < cfg.freqMasks; i++) {
    const w = rng.int(Math.min(cfg.freqWidth, F) + 1);
    const f0 = rng.int(F - w + 1);
    for (let t = 0; t < T; t++) data.fill(cfg.value, t * F + f0, t * F + f0 + w);
  }
  const maxT = Math.min(cfg.timeWidth, Math.floor(cfg.timeRatio * T));
  for (let i = 0; i < cfg.timeMasks; i++) {
    const w = rng.int(maxT + 1);
    const t0 = rng.int(T - w + 1);
    data.fill(cfg.value, t0 * F, (t0 + w) * F);
  }
  return { data, frames: T, nMels: F };
}
