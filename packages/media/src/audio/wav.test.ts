import { describe, expect, it } from 'vitest';
import { clampInt16, decodeWav, encodeWav, parseWavHeader, wavDeclaredDuration } from './wav.js';
import { resample } from './resample.js';

// Moved with wav.ts from datasets/src/world.test.ts: the generator's 16-bit path.
describe('16-bit WAV round trip (the generator path)', () => {
  it('round-trips and resamples to the right length with the tone kept', () => {
    const from = 22050;
    const tone = new Int16Array(from).map((_, i) => Math.round(10000 * Math.sin((2 * Math.PI * 440 * i) / from)));
    const out = Int16Array.from(resample(tone, from, 16000), clampInt16);
    expect(out.length).toBe(16000);
    let peak = 0;
    for (let i = 1000; i < 15000; i++) peak = Math.max(peak, Math.abs(out[i]!));
    expect(peak).toBeGreaterThan(9950);
    expect(peak).toBeLessThan(10050);
    const wav = encodeWav(out, 16000);
    expect(wavDeclaredDuration(wav)).toBe(1);
    expect(parseWavHeader(wav)).toMatchObject({ formatTag: 1, sampleRate: 16000, channels: 1, bitsPerSample: 16 });
    expect(Array.from(decodeWav(wav).samples)).toEqual(Array.from(out));
  });
});
