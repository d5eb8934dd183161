/**
 * A coarse binary audio fingerprint for duplicate utterances, in the spirit of Haitsma & Kalker's
 * sub-band energy-difference bits, made tempo- and gain-tolerant for speech:
 *
 *  1. trim to the speech (first to last VAD speech frame, `vad.ts`), so leading/trailing silence
 *     does not shift the content;
 *  2. 16 log-mel bands between 100 Hz and 4 kHz (the frontend's own `LogMel`, 25 ms / 10 ms);
 *  3. average the frames into 48 equal time slots of the trimmed speech: a copy played 5% faster
 *     lands in the same slots (tempo invariance by construction);
 *  4. subtract each band's mean over the slots (removes gain, which adds a constant in the log
 *     domain, and the voice's spectral tilt);
 *  5. bits: E[s][b] > E[s−1][b] (47 × 16 = 752 rising-energy bits), compared by Hamming distance.
 *
 * Chosen on 200 generated utterances (seed 5, README of @herd/speech, "Curation"): copies made louder
 * or softer and 5% faster or slower (which also shifts pitch 5%) were at most 5.6% of the bits apart,
 * unrelated utterances of similar length at least 13.7% (that closest pair: the same sentence by the
 * same voice 3% faster), median 49%. 32 slots, 12 or 8 bands, and spectral-shape bits
 * (E[s][b] > E[s][b+1], pitch-sensitive) separated the two worse.
 */
import { LogMel, type LogMelConfig } from '../log-mel.js';
import { CURATION_SAMPLE_RATE, FRAME_SAMPLES, HOP_SAMPLES, frameEnergies } from './audio.js';
import { detectSpeech, VAD_DEFAULTS, type VadParams } from './vad.js';

export interface FingerprintShape {
  slots: number;
  bands: number;
  /** Also the spectral-shape bits E[s][b] > E[s][b+1]. */
  spectral: boolean;
}

export const FINGERPRINT_SHAPE: FingerprintShape = { slots: 48, bands: 16, spectral: false };

export function fingerprintBits(shape: FingerprintShape = FINGERPRINT_SHAPE): number {
  return (shape.slots - 1) * shape.bands + (shape.spectral ? shape.slots * (shape.bands - 1) : 0);
}
export const FINGERPRINT_BITS = fingerprintBits();

const bandMels = new Map<number, LogMel>();

export interface Fingerprint {
  /** FINGERPRINT_BITS bits, little-endian in 32-bit words. */
  bits: Uint32Array;
  /** Length of the trimmed speech the fingerprint covers. */
  seconds: number;
}

/** The fingerprint of 16 kHz mono audio, or null when there is under a slot per 10 ms frame of speech to describe. */
export function audioFingerprint(samples: Float32Array, vad: VadParams = VAD_DEFAULTS, shape: FingerprintShape = FINGERPRINT_SHAPE): Fingerprint | null {
  const S = shape.slots;
  const B = shape.bands;
  const { speech } = detectSpeech(frameEnergies(samples), vad);
  let first = speech.indexOf(1);
  let last = speech.lastIndexOf(1);
  if (first < 0) [first, last] = [0, speech.length - 1];
  let segment = samples.subarray(first * HOP_SAMPLES, Math.min(samples.length, last * HOP_SAMPLES + FRAME_SAMPLES));
  if (segment.length < S * HOP_SAMPLES + FRAME_SAMPLES) segment = samples;
  if (segment.length < S * HOP_SAMPLES + FRAME_SAMPLES) return null;
  let bandMel = bandMels.get(B);
  if (bandMel === undefined) {
    const config: LogMelConfig = { sampleRate: CURATION_SAMPLE_RATE, nFft: 400, hop: HOP_SAMPLES, nMels: B, fMin: 100, fMax: 4000, melFloor: 1e-10, dynamicRange: 8 };
    bandMels.set(B, (bandMel = new LogMel(config)));
  }
  const mel = bandMel.compute(segment);
  // [S, B] slot means, then band means over the slots removed.
  const e = new Float64Array(S * B);
  for (let s = 0; s < S; s++) {
    const t0 = Math.floor((s * mel.frames) / S);
    const t1 = Math.max(t0 + 1, Math.floor(((s + 1) * mel.frames) / S));
    for (let t = t0; t < t1; t++) for (let b = 0; b < B; b++) e[s * B + b]! += mel.data[t * B + b]! / (t1 - t0);
  }
  for (let b = 0; b < B; b++) {
    let m = 0;
    for (let s = 0; s < S; s++) m += e[s * B + b]!;
    for (let s = 0; s < S; s++) e[s * B + b]! -= m / S;
  }
  const bits = new Uint32Array(Math.ceil(fingerprintBits(shape) / 32));
  let k = 0;
  const put = (on: boolean): void => {
    if (on) bits[k >>> 5]! |= 1 << (k & 31);
    k++;
  };
  for (let s = 1; s < S; s++) for (let b = 0; b < B; b++) put(e[s * B + b]! > e[(s - 1) * B + b]!);
  if (shape.spectral) for (let s = 0; s < S; s++) for (let b = 0; b < B - 1; b++) put(e[s * B + b]! > e[s * B + b + 1]!);
  return { bits, seconds: segment.length / CURATION_SAMPLE_RATE };
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export function hamming(a: Uint32Array, b: Uint32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += popcount((a[i]! ^ b[i]!) >>> 0);
  return d;
}

export function fingerprintToBase64(bits: Uint32Array): string {
  return Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength).toString('base64');
}

export function fingerprintFromBase64(text: string): Uint32Array {
  const buf = Buffer.from(text, 'base64');
  const out = new Uint32Array(Math.ceil(buf.byteLength / 4));
  new Uint8Array(out.buffer).set(buf.subarray(0, out.byteLength));
  return out;
}
