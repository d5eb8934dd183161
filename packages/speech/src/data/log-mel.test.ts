import { join } from 'node:path';
import { SafetensorsFile } from '@herd/core';
import { describe, expect, it } from 'vitest';
import { RealFft } from './fft.js';
import { LogMel, WHISPER_LOG_MEL, hzToMel, melToHz } from './log-mel.js';

const FIXTURE = join(import.meta.dirname, '../../fixtures/logmel-whisper.safetensors');

/** Tolerance from the brief: ≤ 1e-3 relative error, per element, against max(|ref|, 1) (features are O(1) and cross 0). */
const REL_TOL = 1e-3;

describe('log-mel frontend', () => {
  it('RealFft matches a direct DFT for sizes with factors 2, 3, 4, 5, 7', () => {
    for (const n of [8, 30, 42, 400, 126]) {
      const fft = new RealFft(n);
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) + 0.3 * Math.cos(i * i * 0.07));
      const got = new Float64Array(fft.bins);
      fft.power(x, got);
      for (let k = 0; k <= n / 2; k++) {
        let re = 0;
        let im = 0;
        for (let j = 0; j < n; j++) {
          re += x[j]! * Math.cos((-2 * Math.PI * j * k) / n);
          im += x[j]! * Math.sin((-2 * Math.PI * j * k) / n);
        }
        expect(got[k]).toBeCloseTo(re * re + im * im, 8);
      }
    }
  });

  it('Slaney mel scale round-trips and is linear below 1 kHz', () => {
    expect(hzToMel(1000)).toBeCloseTo(15, 12);
    expect(hzToMel(200)).toBeCloseTo(3, 12);
    for (const hz of [0, 123, 999, 1000, 4321, 8000]) expect(melToHz(hzToMel(hz))).toBeCloseTo(hz, 8);
  });

  it('matches Hugging Face WhisperFeatureExtractor on the committed fixture (≤ 1e-3 relative)', () => {
    const f = SafetensorsFile.open(FIXTURE);
    const lm = new LogMel(WHISPER_LOG_MEL);
    for (const clip of ['a', 'b']) {
      const audio = f.readFloat32(`${clip}.audio`);
      const ref = f.readFloat32(`${clip}.logmel`); // [80, T]
      const [mels, frames] = f.info(`${clip}.logmel`).shape as [number, number];
      const got = lm.compute(audio, `fixture ${clip}`);
      expect([got.nMels, got.frames]).toEqual([mels, frames]);
      let worst = 0;
      for (let m = 0; m < mels; m++) {
        for (let t = 0; t < frames; t++) {
          const r = ref[m * frames + t]!;
          const err = Math.abs(got.data[t * mels + m]! - r) / Math.max(Math.abs(r), 1);
          worst = Math.max(worst, err);
        }
      }
      expect(worst).toBeLessThanOrEqual(REL_TOL);
      // The fixture's quiet stretch really reaches the clamp (so the rule is exercised).
      const floor = Math.min(...ref);
      expect(ref.filter((v) => Math.abs(v - floor) < 1e-6).length).toBeGreaterThan(10);
    }
  });

  it('refuses too-short and non-finite audio, naming the source', () => {
    const lm = new LogMel();
    expect(() => lm.compute(new Float32Array(100), 'clip.wav')).toThrow(/clip\.wav.*shorter than one 160-sample hop/);
    const bad = new Float32Array(1600);
    bad[77] = NaN;
    expect(() => lm.compute(bad, 'clip.wav')).toThrow(/clip\.wav: sample 77 is NaN/);
  });
});
