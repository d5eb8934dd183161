/**
 * 80-bin log-mel features, the speech encoder's input (Llama 3 paper §7.1 Speech: 25 ms window,
 * 10 ms hop at 16 kHz). We follow Whisper's definition exactly, so features match an independent
 * implementation (`fixtures/make-logmel-fixture.mjs` → Hugging Face's WhisperFeatureExtractor):
 *
 *  1. reflect-pad the signal by n_fft/2 = 200 samples on each side (centred frames; the pad mirrors
 *     without repeating the edge sample);
 *  2. frame t covers padded samples [160 t, 160 t + 400), multiplied by a periodic Hann window
 *     w[j] = 0.5 − 0.5 cos(2πj / 400);
 *  3. power spectrum |FFT₄₀₀|² over the 201 bins 0..8 kHz;
 *  4. 80 triangular Slaney-normalised filters on the Slaney mel scale between 0 and 8 kHz
 *     (librosa's `mel(htk=False, norm='slaney')`);
 *  5. m = log10(max(mel energy, 1e−10));
 *  6. dynamic range: m = max(m, max_over_utterance(m) − 8) (80 dB below the loudest bin);
 *  7. (m + 4) / 4;
 *  8. of the 1 + ⌊N/160⌋ centred frames the last is dropped (as Whisper does): ⌊N/160⌋ frames.
 *
 * Output is time-major [T, 80] (the encoder's layout); Hugging Face returns [80, T].
 */
import { HerdError } from '@herd/core';
import { RealFft } from './fft.js';

export interface LogMelConfig {
  readonly sampleRate: number;
  /** FFT and window length in samples (400 = 25 ms at 16 kHz). */
  readonly nFft: number;
  /** Frame step in samples (160 = 10 ms at 16 kHz). */
  readonly hop: number;
  readonly nMels: number;
  readonly fMin: number;
  readonly fMax: number;
  /** Floor on mel energies before the log. */
  readonly melFloor: number;
  /** Decades below the utterance's maximum at which log-mel values are clamped (8 = 80 dB). */
  readonly dynamicRange: number;
}

export const WHISPER_LOG_MEL: LogMelConfig = Object.freeze({
  sampleRate: 16000,
  nFft: 400,
  hop: 160,
  nMels: 80,
  fMin: 0,
  fMax: 8000,
  melFloor: 1e-10,
  dynamicRange: 8,
});

/** Slaney's mel scale: linear below 1 kHz (3 mel per 200 Hz), logarithmic above. */
export function hzToMel(hz: number): number {
  const minLogHz = 1000;
  const minLogMel = 15;
  const logstep = 27 / Math.log(6.4);
  return hz < minLogHz ? (3 * hz) / 200 : minLogMel + Math.log(hz / minLogHz) * logstep;
}

export function melToHz(mel: number): number {
  const minLogHz = 1000;
  const minLogMel = 15;
  const logstep = Math.log(6.4) / 27;
  return mel < minLogMel ? (200 * mel) / 3 : minLogHz * Math.exp(logstep * (mel - minLogMel));
}

/** One triangular filter as its non-zero run of FFT bins. */
interface Filter {
  readonly start: number;
  readonly weights: Float64Array;
}

/** Triangular filters with Slaney area normalisation (2 / bandwidth), over bins 0..nFft/2. */
export function melFilters(cfg: LogMelConfig): Filter[] {
  const bins = cfg.nFft / 2 + 1;
  const fftFreqs = Array.from({ length: bins }, (_, k) => (k * cfg.sampleRate) / 2 / (bins - 1));
  const lo = hzToMel(cfg.fMin);
  const hi = hzToMel(cfg.fMax);
  const edges = Array.from({ length: cfg.nMels + 2 }, (_, i) => melToHz(lo + ((hi - lo) * i) / (cfg.nMels + 1)));
  const filters: Filter[] = [];
  for (let m = 0; m < cfg.nMels; m++) {
    const [left, centre, right] = [edges[m]!, edges[m + 1]!, edges[m + 2]!];
    const norm = 2 / (right - left);
    const w: number[] = [];
    let start = -1;
    for (let k = 0; k < bins; k++) {
      const f = fftFreqs[k]!;
      const v = Math.max(0, Math.min((f - left) / (centre - left), (right - f) / (right - centre)));
      if (v > 0) {
        if (start < 0) start = k;
        w[k - start] = v * norm;
      } else if (start >= 0 && k - start > w.length) break;
    }
    // Fill holes (none for these shapes, but keep the run dense).
    const weights = Float64Array.from({ length: w.length }, (_, i) => w[i] ?? 0);
    filters.push({ start: Math.max(start, 0), weights });
  }
  return filters;
}

/** Log-mel features of one utterance: `data` [frames, nMels] row-major. */
export interface LogMelFeatures {
  readonly data: Float32Array;
  readonly frames: number;
  readonly nMels: number;
}

export class LogMel {
  private readonly fft: RealFft;
  private readonly window: Float64Array;
  private readonly filters: Filter[];
  private readonly frame: Float64Array;
  private readonly spec: Float64Array;

  constructor(readonly config: LogMelConfig = WHISPER_LOG_MEL) {
    const c = config;
    if (!(c.nFft > 0 && c.hop > 0 && c.nMels > 0 && c.fMax > c.fMin && c.fMax <= c.sampleRate / 2)) {
      throw new HerdError('invalid_config', `log-mel config: need nFft, hop, nMels > 0 and fMin < fMax ≤ sampleRate/2, got ${JSON.stringify(c)}`);
    }
    this.fft = new RealFft(c.nFft);
    this.window = Float64Array.from({ length: c.nFft }, (_, j) => 0.5 - 0.5 * Math.cos((2 * Math.PI * j) / c.nFft));
    this.filters = melFilters(c);
    this.frame = new Float64Array(c.nFft);
    this.spec = new Float64Array(this.fft.bins);
  }

  /** Frames produced for `samples` input samples. */
  frames(samples: number): number {
    return Math.floor(samples / this.config.hop);
  }

  /**
   * Features of mono samples at `config.sampleRate`. `source` names the audio in errors. Refuses
   * audio shorter than one hop and non-finite samples.
   */
  compute(samples: Float32Array, source = 'audio'): LogMelFeatures {
    const { nFft, hop, nMels, melFloor, dynamicRange } = this.config;
    const n = samples.length;
    const frames = this.frames(n);
    if (frames < 1) throw new HerdError('invalid_argument', `${source}: ${n} samples is shorter than one ${hop}-sample hop; log-mel needs at least ${hop}`);
    const pad = nFft / 2;
    if (n <= pad) throw new HerdError('invalid_argument', `${source}: ${n} samples is too short for reflect padding of ${pad}; pass at least ${pad + 1}`);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(samples[i]!)) throw new HerdError('non_finite', `${source}: sample ${i} is ${samples[i]} (non-finite audio); decode or clean the file before feature extraction`);
    }
    // Centred frames over the reflect-padded signal: index j of the padded signal is sample j − pad.
    const at = (j: number): number => {
      let i = j - pad;
      if (i < 0) i = -i;
      else if (i >= n) i = 2 * (n - 1) - i;
      return samples[i]!;
    };
    const out = new Float32Array(frames * nMels);
    const { frame, spec, window, filters } = this;
    let maxLog = -Infinity;
    for (let t = 0; t < frames; t++) {
      const s = t * hop;
      if (s >= pad && s - pad + nFft <= n) {
        for (let j = 0; j < nFft; j++) frame[j] = samples[s - pad + j]! * window[j]!;
      } else {
        for (let j = 0; j < nFft; j++) frame[j] = at(s + j) * window[j]!;
      }
      this.fft.power(frame, spec);
      for (let m = 0; m < nMels; m++) {
        const f = filters[m]!;
        let e = 0;
        for (let k = 0; k < f.weights.length; k++) e += f.weights[k]! * spec[f.start + k]!;
        const v = Math.log10(Math.max(e, melFloor));
        out[t * nMels + m] = v;
        if (v > maxLog) maxLog = v;
      }
    }
    const threshold = maxLog - dynamicRange;
    for (let i = 0; i < out.length; i++) out[i] = (Math.max(out[i]!, threshold) + 4) / 4;
    return { data: out, frames, nMels };
  }
}
