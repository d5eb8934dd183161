import { describe, expect, it } from 'vitest';
import { resample } from './resample.js';
import { sine, toneAmplitude } from '../test-files.js';

const dB = (x: number): number => 20 * Math.log10(x);

describe('resample (polyphase Kaiser-windowed sinc)', () => {
  it.each([
    [22050, 16000, 1000],
    [44100, 16000, 3000],
    [48000, 16000, 440],
    [8000, 16000, 2500],
  ])('%i → %i Hz keeps a %i Hz tone: frequency and amplitude', (from, to, hz) => {
    const y = resample(sine(hz, 1, from, 0.5), from, to);
    expect(y.length).toBe(to);
    const mid = y.subarray(to * 0.1, to * 0.9); // away from the zero-padded edges
    expect(toneAmplitude(mid, hz, to)).toBeCloseTo(0.5, 3);
    // The energy is at hz, not a neighbour: the same analysis 5% off is far down.
    expect(toneAmplitude(mid, hz * 1.05, to)).toBeLessThan(0.01);
    // Sample-by-sample it is the sine at the new rate.
    const ref = sine(hz, 1, to, 0.5).subarray(to * 0.1, to * 0.9);
    let err = 0;
    for (let i = 0; i < mid.length; i++) err = Math.max(err, Math.abs(mid[i]! - ref[i]!));
    expect(err).toBeLessThan(1e-3);
  });

  it('suppresses a tone above the new Nyquist by at least 80 dB (no aliasing)', () => {
    // 9 kHz at 44.1 kHz → 16 kHz: linear interpolation would fold it to 7 kHz.
    for (const [from, hz] of [[44100, 9000], [22050, 10000], [48000, 8600]] as const) {
      const y = resample(sine(hz, 1, from, 0.5), from, 16000).subarray(1600, 14400);
      const alias = 16000 - hz;
      expect(dB(toneAmplitude(y, alias, 16000) / 0.5)).toBeLessThan(-80);
    }
  });

  it('preserves DC and length, and returns a copy at equal rates', () => {
    const y = resample(new Float32Array(22050).fill(0.25), 22050, 16000);
    expect(y.length).toBe(16000);
    expect(y[8000]).toBeCloseTo(0.25, 4);
    const x = Float32Array.of(1, 2, 3);
    const same = resample(x, 16000, 16000);
    expect(Array.from(same)).toEqual([1, 2, 3]);
    expect(same).not.toBe(x);
    expect(() => resample(x, 0, 16000)).toThrow(/positive integers/);
  });
});
