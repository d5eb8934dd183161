/**
 * Clipping: a recording driven past full scale has flat tops — runs of consecutive samples sitting at
 * the largest magnitude the file holds. A sample counts as clipped when |x| ≥ (1 − 1e−3)·peak and it
 * is part of a run of at least `minRun` such samples (one sample at the peak is just the peak; a run is
 * a plateau). Measured on the peak rather than on ±1 so that audio clipped and then scaled down is
 * still caught. Audio whose peak is under `minPeak` is too quiet to have clipped.
 * Drops: `clipped: 2.4% of samples in 310 flat runs at 1.000 > 0.1%`.
 * Scores: `meta.curation.clipping = {peak, clippedFraction, runs, longestRun}`.
 */
import type { OptionRules } from '@herd/core';
import { drop, keep, withScores, type SampleStage } from '@herd/data';
import { audioStage, round } from './audio.js';

export interface ClippingScores {
  peak: number;
  clippedFraction: number;
  runs: number;
  longestRun: number;
}

/** Plateaus at the peak (see the header). */
export function clippingScores(samples: Float32Array, minRun = 3, minPeak = 0.05): ClippingScores {
  let peak = 0;
  for (const x of samples) if (Math.abs(x) > peak) peak = Math.abs(x);
  if (peak < minPeak) return { peak, clippedFraction: 0, runs: 0, longestRun: 0 };
  const level = peak * (1 - 1e-3);
  let clipped = 0;
  let runs = 0;
  let longestRun = 0;
  let run = 0;
  let sign = 0;
  const close = (): void => {
    if (run >= minRun) {
      clipped += run;
      runs++;
      if (run > longestRun) longestRun = run;
    }
    run = 0;
  };
  for (const x of samples) {
    const s = x >= level ? 1 : x <= -level ? -1 : 0;
    if (s !== 0 && s === sign) run++;
    else {
      close();
      run = s !== 0 ? 1 : 0;
    }
    sign = s;
  }
  close();
  return { peak, clippedFraction: clipped / samples.length, runs, longestRun };
}

export interface ClippingOptions {
  name?: string;
  /** Largest share of clipped samples kept (default 1e−3: 0.1%). */
  maxClippedFraction?: number;
  /** Shortest plateau counted (default 3 samples). */
  minRun?: number;
  /** Peaks below this never count as clipping (default 0.05 of full scale). */
  minPeak?: number;
}

/** What a config file may set (`checkOptions`). */
export const CLIPPING_RULES = { name: 'string', maxClippedFraction: 'number', minRun: 'int', minPeak: 'number' } satisfies OptionRules<ClippingOptions>;

export function clipping(options: ClippingOptions = {}): SampleStage {
  const o = { maxClippedFraction: options.maxClippedFraction ?? 1e-3, minRun: options.minRun ?? 3, minPeak: options.minPeak ?? 0.05 };
  const name = options.name ?? 'clipping';
  return audioStage(name, o, (audio, sample) => {
    const s = clippingScores(audio.samples, o.minRun, o.minPeak);
    if (s.clippedFraction > o.maxClippedFraction) {
      return drop(`clipped: ${(100 * s.clippedFraction).toFixed(2)}% of samples in ${s.runs} flat runs at ${s.peak.toFixed(3)} > ${(100 * o.maxClippedFraction).toFixed(2)}%`);
    }
    return keep(withScores(sample, name, { peak: round(s.peak), clippedFraction: round(s.clippedFraction, 6), runs: s.runs, longestRun: s.longestRun }));
  });
}
