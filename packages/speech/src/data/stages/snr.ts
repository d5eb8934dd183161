/**
 * Signal-to-noise estimate from energy percentiles of the frames of `audio.ts` (25 ms every 10 ms):
 *
 *   noise power  Pn = mean power of the quietest 10% of frames (the pauses),
 *   speech power Ps = mean power of the loudest 10% of frames − Pn (they hold speech + noise),
 *   SNR = 10·log10(Ps / Pn) dB, clamped to [−20, 100] (digital silence between words reads 100).
 *
 * A peak-frame SNR: it reads higher than the SNR over all speech (the loudest frames are vowels), so
 * the threshold is set on that scale (generated speech under white noise at −5…+5 dB reads
 * far below 15 dB, clean speech above; the curation notes give the histogram). It measures noise in
 * the pauses, so speech with no pause at all reads low, which errs towards dropping. Stationary noise
 * alone reads about −10 dB. Audio with no frame above `silentDb` is not judged here (silence is the
 * VAD's job: an SNR of silence means nothing).
 * Drops: `low_snr: 4.2 dB < 15 dB`. Scores: `meta.curation.snr = {snrDb, noiseDb, speechDb}`.
 */
import type { OptionRules } from '@herd/core';
import { drop, keep, withScores, type SampleStage } from '@herd/data';
import { audioStage, frameEnergies, round, SILENCE_DB } from './audio.js';

export interface SnrScores {
  snrDb: number;
  noiseDb: number;
  speechDb: number;
}

const power = (db: number): number => 10 ** (db / 10);

export function estimateSnr(energies: Float32Array): SnrScores {
  const sorted = Float64Array.from(energies).sort();
  const tenth = Math.max(1, Math.floor(sorted.length * 0.1));
  let pn = 0;
  for (const e of sorted.subarray(0, tenth)) pn += power(e);
  pn /= tenth;
  let ps = 0;
  for (const e of sorted.subarray(sorted.length - tenth)) ps += power(e);
  ps = ps / tenth - pn;
  const floor = power(SILENCE_DB);
  const snrDb = Math.min(100, Math.max(-20, 10 * Math.log10(Math.max(ps, floor * 1e-2) / Math.max(pn, floor))));
  return { snrDb, noiseDb: 10 * Math.log10(Math.max(pn, floor)), speechDb: 10 * Math.log10(Math.max(ps, floor)) };
}

export interface SnrOptions {
  name?: string;
  /** Lowest kept SNR estimate (default 15 dB; see the curation notes for how it was chosen). */
  minSnrDb?: number;
  /** Audio whose loudest frame is under this is silence, left to the VAD (default −55 dBFS). */
  silentDb?: number;
}

/** What a config file may set (`checkOptions`). */
export const SNR_RULES = { name: 'string', minSnrDb: 'number', silentDb: 'number' } satisfies OptionRules<SnrOptions>;

export function snrEstimate(options: SnrOptions = {}): SampleStage {
  const o = { minSnrDb: options.minSnrDb ?? 15, silentDb: options.silentDb ?? -55 };
  const name = options.name ?? 'snr';
  return audioStage(name, o, (audio, sample) => {
    const energies = frameEnergies(audio.samples);
    let loudest = -Infinity;
    for (const e of energies) if (e > loudest) loudest = e;
    if (loudest < o.silentDb) return keep(withScores(sample, name, { snrDb: null, loudestDb: round(loudest, 1) }));
    const s = estimateSnr(energies);
    if (s.snrDb < o.minSnrDb) return drop(`low_snr: ${s.snrDb.toFixed(1)} dB < ${o.minSnrDb} dB`);
    return keep(withScores(sample, name, { snrDb: round(s.snrDb, 1), noiseDb: round(s.noiseDb, 1), speechDb: round(s.speechDb, 1) }));
  });
}
