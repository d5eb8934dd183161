import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isHerdError } from '@herd/core';
import { decodeAudio } from './decode.js';
import { readWav, writeWav } from './wav.js';
import { ffmpegMake, makeWav, sine, tempDir, toneAmplitude, tryFfmpeg } from '../test-files.js';

const ffmpeg = tryFfmpeg();
const tmp = tempDir('audio');
afterAll(tmp.cleanup);

describe('readWav', () => {
  const tone = sine(440, 0.25, 8000, 0.5);
  it.each([
    ['PCM 8-bit', { bits: 8 }, 1 / 127],
    ['PCM 16-bit', { bits: 16 }, 1 / 32767],
    ['PCM 24-bit', { bits: 24 }, 1e-6],
    ['PCM 32-bit', { bits: 32 }, 1e-6],
    ['float 32', { bits: 32, float: true }, 1e-7],
    ['float 64', { bits: 64, float: true }, 1e-7],
    ['PCM 16-bit, WAVE_FORMAT_EXTENSIBLE', { bits: 16, extensible: true }, 1 / 32767],
    ['float 32, WAVE_FORMAT_EXTENSIBLE', { bits: 32, float: true, extensible: true }, 1e-7],
  ] as const)('%s', (_, fmt, tol) => {
    const w = readWav(makeWav(tone, { rate: 8000, channels: 1, ...fmt }), 't.wav');
    expect([w.sampleRate, w.channels, w.samples.length]).toEqual([8000, 1, tone.length]);
    let err = 0;
    tone.forEach((v, i) => (err = Math.max(err, Math.abs(v - w.samples[i]!))));
    expect(err).toBeLessThanOrEqual(tol);
  });

  it('mixes channels down to their mean', () => {
    const inter = Float32Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? 0.6 : i % 3 === 1 ? -0.3 : 0)); // 3 channels
    const w = readWav(makeWav(inter, { rate: 8000, channels: 3, bits: 32, float: true }));
    expect(w.channels).toBe(3);
    expect(w.samples.length).toBe(100);
    expect(w.samples[50]).toBeCloseTo(0.1, 6);
  });

  it('refuses truncated data and unsupported encodings, naming the file', () => {
    const full = makeWav(tone, { rate: 8000, channels: 1, bits: 16 });
    expect(() => readWav(full.subarray(0, full.length - 100), 'cut.wav')).toThrow(/cut\.wav: WAV truncated: the data chunk declares 4000 bytes, the file holds 3900/);
    const alaw = makeWav(tone, { rate: 8000, channels: 1, bits: 8 });
    new DataView(alaw.buffer).setUint16(20, 6, true); // A-law
    expect(() => readWav(alaw, 'alaw.wav')).toThrow(/alaw\.wav: WAV format 6 with 8-bit samples is not supported/);
  });

  it('writeWav writes atomically and reads back', async () => {
    const path = join(tmp.dir, 'w.wav');
    await writeWav(path, tone, 8000);
    const w = readWav(readFileSync(path));
    expect(w.samples.length).toBe(tone.length);
    expect(Math.abs(w.samples[10]! - tone[10]!)).toBeLessThan(1e-4);
  });
});

describe('decodeAudio', () => {
  it('WAV at 44.1 kHz stereo → 16 kHz mono, tone preserved', async () => {
    const l = sine(1000, 1, 44100, 0.4);
    const inter = new Float32Array(l.length * 2);
    l.forEach((v, i) => ((inter[2 * i] = v), (inter[2 * i + 1] = v)));
    const a = await decodeAudio(makeWav(inter, { rate: 44100, channels: 2, bits: 16 }), { name: 's.wav' });
    expect(a.sampleRate).toBe(16000);
    expect(a.samples.length).toBe(16000);
    expect(a.source).toEqual({ format: 'wav', codec: 'pcm', sampleRate: 44100, channels: 2 });
    expect(toneAmplitude(a.samples.subarray(1600, 14400), 1000, 16000)).toBeCloseTo(0.4, 2);
  });

  it('refuses empty, over-long, non-finite and non-audio input, naming it', async () => {
    const cases: [Uint8Array, RegExp, string][] = [
      [makeWav([], { rate: 16000, channels: 1, bits: 16 }), /e\.wav: no audio samples/, 'corrupt_data'],
      [makeWav(new Float32Array(16000 * 3), { rate: 16000, channels: 1, bits: 16 }), /e\.wav: 3\.00 s of audio is over the 2 s limit/, 'invalid_argument'],
      [makeWav(Float32Array.of(0, 0.1, NaN, 0), { rate: 16000, channels: 1, bits: 32, float: true }), /e\.wav: sample 2 .* is NaN/, 'non_finite'],
      [makeWav(Float32Array.of(0, Infinity), { rate: 16000, channels: 1, bits: 32, float: true }), /e\.wav: sample 1 .* is Infinity/, 'non_finite'],
      [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0), /e\.wav: this is a png image, not audio/, 'invalid_argument'],
    ];
    for (const [bytes, re, code] of cases) {
      const err = await decodeAudio(bytes, { name: 'e.wav', maxSeconds: 2 }).catch((e: unknown) => e);
      expect(String(err)).toMatch(re);
      expect(isHerdError(err, code as 'corrupt_data')).toBe(true);
    }
  });

  describe.skipIf(ffmpeg === undefined)('through ffmpeg', () => {
    it.each([
      ['flac', ['-c:a', 'flac'], 0.01],
      ['mp3', ['-c:a', 'libmp3lame', '-b:a', '128k'], 0.05],
      ['ogg', ['-c:a', 'libvorbis'], 0.05],
      ['m4a', ['-c:a', 'aac', '-b:a', '128k'], 0.05],
    ])('%s: 16 kHz mono with the 1 kHz tone', async (ext, codec, tol) => {
      const path = join(tmp.dir, `t.${ext}`);
      ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'aevalsrc=0.125*sin(2*PI*1000*t)|0.125*sin(2*PI*1000*t):s=44100:d=1.5', ...codec, path]);
      const a = await decodeAudio(path);
      expect(a.sampleRate).toBe(16000);
      expect(Math.abs(a.durationS - 1.5)).toBeLessThan(0.1);
      expect(a.source.sampleRate).toBe(44100);
      expect(a.source.channels).toBe(2);
      expect(Math.abs(toneAmplitude(a.samples.subarray(1600, 20000), 1000, 16000) - 0.125)).toBeLessThan(tol);
    });

    it("decodes a video's audio track and names a video without one", async () => {
      const withAudio = join(tmp.dir, 'av.mp4');
      ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'testsrc=size=32x32:rate=10:duration=1', '-f', 'lavfi', '-i', 'sine=frequency=500:sample_rate=48000:duration=1', '-c:v', 'libx264', '-c:a', 'aac', '-shortest', withAudio]);
      const a = await decodeAudio(withAudio);
      expect(a.source.codec).toBe('aac');
      expect(toneAmplitude(a.samples.subarray(1600, 12000), 500, 16000)).toBeGreaterThan(0.08);
      const silent = join(tmp.dir, 'v.mp4');
      ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'testsrc=size=32x32:rate=10:duration=1', '-c:v', 'libx264', silent]);
      await expect(decodeAudio(silent)).rejects.toThrow(/v\.mp4: no audio stream \(.*video h264\)/);
    });

    it('refuses an over-long compressed file from its header and a buffer of garbage', async () => {
      const path = join(tmp.dir, 'long.flac');
      ffmpegMake(ffmpeg!, ['-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '5', '-c:a', 'flac', path]);
      await expect(decodeAudio(path, { maxSeconds: 2 })).rejects.toThrow(/long\.flac: 5\.00 s of audio is over the 2 s limit/);
      const bytes = readFileSync(path);
      await expect(decodeAudio(bytes.subarray(0, 30), { name: 'cut.flac' })).rejects.toThrow(/cut\.flac: /);
      writeFileSync(join(tmp.dir, 'junk.mp3'), 'this is just some text, not audio at all\n'.repeat(10));
      await expect(decodeAudio(join(tmp.dir, 'junk.mp3'))).rejects.toThrow(/junk\.mp3: not a readable media file/);
    });
  });
});
