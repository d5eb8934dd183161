/**
 * Speech/silence ratio with an energy voice-activity detector. On the frames of `audio.ts` (25 ms
 * every 10 ms, energy in dBFS), a frame is speech when its energy is at least
 *
 *   max(absoluteFloorDb, noiseFloor + marginDb, loudest − rangeDb)
 *
 * where noiseFloor is the 10th percentile of the utterance's frame energies (the pauses) and loudest
 * its maximum; a speech frame then holds the next `hangoverFrames` frames as speech too (the quiet
 * ends of words). Stationary noise with no speech has all its frames near the floor, so none pass
 * `noiseFloor + marginDb`; digital or near silence stays under `absoluteFloorDb`.
 * Drops: `no_speech: 0.12 s of speech < 0.3 s`, `too_little_speech: 14% of 3.2 s < 20%`.
 * Scores: `meta.curation.vad = {speechRatio, speechSeconds, noiseFloorDb, thresholdDb}`.
 */
import type { OptionRules } from '@herd/core';
import { drop, keep, withScores, type SampleStage } from '@herd/data';
import { audioStage, frameEnergies, framesToSeconds, quantile, round } from './audio.js';

export interface VadParams {
  /** Frames quieter than this are never speech (default −55 dBFS). */
  absoluteFloorDb: number;
  /** Speech stands this far above the noise floor (default 12 dB). */
  marginDb: number;
  /** …and within this range of the loudest frame (default 45 dB). */
  rangeDb: number;
  /** Frames after a speech frame that count as speech (default 10: 100 ms). */
  hangoverFrames: number;
}

export const VAD_DEFAULTS: VadParams = { absoluteFloorDb: -55, marginDb: 12, rangeDb: 45, hangoverFrames: 10 };

export interface VadResult {
  /** 1 for a speech frame, per 10 ms hop. */
  speech: Uint8Array;
  speechFrames: number;
  noiseFloorDb: number;
  thresholdDb: number;
}

/** Labels each frame of `energies` (dBFS) speech or not. */
export function detectSpeech(energies: Float32Array, params: VadParams = VAD_DEFAULTS): VadResult {
  const noiseFloorDb = quantile(energies, 0.1);
  let loudest = -Infinity;
  for (const e of energies) if (e > loudest) loudest = e;
  const thresholdDb = Math.max(params.absoluteFloorDb, noiseFloorDb + params.marginDb, loudest - params.rangeDb);
  const speech = new Uint8Array(energies.length);
  let hold = 0;
  let speechFrames = 0;
  for (let t = 0; t < energies.length; t++) {
    if (energies[t]! >= thresholdDb) hold = params.hangoverFrames + 1;
    if (hold > 0) {
      speech[t] = 1;
      speechFrames++;
      hold--;
    }
  }
  return { speech, speechFrames, noiseFloorDb, thresholdDb };
}

export interface SpeechActivityOptions extends Partial<VadParams> {
  name?: string;
  /** Fewest seconds of speech (default 0.3). */
  minSpeechSeconds?: number;
  /** Smallest share of the utterance that is speech (default 0.2). */
  minSpeechRatio?: number;
}

/** What a config file may set (`checkOptions`). */
export const SPEECH_ACTIVITY_RULES = { name: 'string', minSpeechSeconds: 'number', minSpeechRatio: 'number', absoluteFloorDb: 'number', marginDb: 'number', rangeDb: 'number', hangoverFrames: 'int' } satisfies OptionRules<SpeechActivityOptions>;

export function speechActivity(options: SpeechActivityOptions = {}): SampleStage {
  const { name: givenName, minSpeechSeconds, minSpeechRatio, ...rest } = options;
  const params: VadParams = { ...VAD_DEFAULTS, ...rest };
  const o = { ...params, minSpeechSeconds: minSpeechSeconds ?? 0.3, minSpeechRatio: minSpeechRatio ?? 0.2 };
  const name = givenName ?? 'vad';
  return audioStage(name, o, (audio, sample) => {
    const energies = frameEnergies(audio.samples);
    const v = detectSpeech(energies, params);
    const speechSeconds = framesToSeconds(v.speechFrames);
    const ratio = v.speechFrames / energies.length;
    if (speechSeconds < o.minSpeechSeconds) return drop(`no_speech: ${speechSeconds.toFixed(2)} s of speech < ${o.minSpeechSeconds} s`);
    if (ratio < o.minSpeechRatio) return drop(`too_little_speech: ${(100 * ratio).toFixed(0)}% of ${audio.durationS.toFixed(1)} s < ${(100 * o.minSpeechRatio).toFixed(0)}%`);
    return keep(withScores(sample, name, { speechRatio: round(ratio), speechSeconds: round(speechSeconds, 2), noiseFloorDb: round(v.noiseFloorDb, 1), thresholdDb: round(v.thresholdDb, 1) }));
  });
}
