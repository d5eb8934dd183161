import { describe, expect, it } from 'vitest';
import { SPEECH_NOISE } from './noise.js';
import type { Sample } from './sample.js';
import { HELDOUT_VOICES, SPEECH_SAMPLE_RATE, TRAIN_ACCENTS, TRAIN_VOICES, generateSpeech } from './speech.js';
import { openTts, type TtsEngine } from './tts.js';
import { decodeWav, parseWavHeader, wavDeclaredDuration } from '@herd/media';

async function collect(it: AsyncIterable<Sample>): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of it) out.push(s);
  return out;
}

function rms(x: Int16Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s / Math.max(1, x.length));
}

describe('speech generator', async () => {
  // One engine for the file: compiling the WASM once saves time in every test.
  const tts: TtsEngine = await openTts('auto');

  it('is deterministic: same seed, byte-identical WAVs', async () => {
    const a = await collect(generateSpeech({ seed: 6, count: 2, noiseRate: 0, tts }));
    const b = await collect(generateSpeech({ seed: 6, count: 2, noiseRate: 0, tts }));
    a.forEach((s, i) => {
      expect(Buffer.compare(Buffer.from(s.files.wav!), Buffer.from(b[i]!.files.wav!))).toBe(0);
      expect(JSON.stringify(s.meta)).toBe(JSON.stringify(b[i]!.meta));
    });
  });

  it('synthesises on worker threads in parallel with output identical to one thread, noise and duplicates included', async () => {
    const two = await openTts('auto', process.env, 2);
    expect(two.concurrency).toBe(2);
    const one = await collect(generateSpeech({ seed: 3, count: 6, noiseRate: 0.5, tts }));
    const par = await collect(generateSpeech({ seed: 3, count: 6, noiseRate: 0.5, tts: two }));
    expect(par.map((s) => s.key)).toEqual(one.map((s) => s.key));
    par.forEach((s, i) => {
      expect(Buffer.compare(Buffer.from(s.files.wav!), Buffer.from(one[i]!.files.wav!))).toBe(0);
      expect(JSON.stringify(s.meta)).toBe(JSON.stringify(one[i]!.meta));
    });
  });

  it('writes 16 kHz mono 16-bit speech whose header matches meta, and labels every noise kind', async () => {
    const samples = await collect(generateSpeech({ seed: 2, count: 16, noiseRate: 0.75, tts }));
    const noisy = samples.filter((s) => s.meta.noise !== null);
    expect(noisy.length).toBe(12);
    expect(new Set(noisy.map((s) => s.meta.noise))).toEqual(new Set(SPEECH_NOISE));
    for (const s of samples) {
      const wav = s.files.wav!;
      const h = parseWavHeader(wav);
      expect([h.sampleRate, h.channels, h.bitsPerSample]).toEqual([SPEECH_SAMPLE_RATE, 1, 16]);
      expect(wavDeclaredDuration(wav)).toBeCloseTo(s.meta.durationS as number, 3);
      const { samples: pcm } = decodeWav(wav);
      const actual = pcm.length / SPEECH_SAMPLE_RATE;
      if (s.meta.noise === 'truncated') expect(actual).toBeLessThan((s.meta.durationS as number) * 0.85);
      else expect(actual).toBeCloseTo(s.meta.durationS as number, 3);
      const level = rms(pcm);
      if (s.meta.noise === 'silent') expect(level).toBeLessThan(5);
      else if (s.meta.noise !== 'fragment') expect(level).toBeGreaterThan(200);
      if (s.meta.noise === 'fragment') expect(actual).toBeLessThanOrEqual(0.3);
      if (s.meta.noise === 'noisy') expect(Math.abs(s.meta.snrDb as number)).toBeLessThanOrEqual(5);
      const transcript = new TextDecoder().decode(s.files.txt);
      if (s.meta.noise === 'wrong_language_transcript') {
        expect(s.meta.transcriptLanguage).not.toBe(s.meta.language);
        expect(transcript).not.toBe(s.meta.spoken);
      }
      if (s.meta.noise === 'junk_transcript') expect(transcript).not.toBe(s.meta.spoken);
      if (s.meta.noise === 'clipped') expect(pcm.filter((v) => v === 32767 || v === -32768).length).toBeGreaterThan(100);
      if (s.meta.noise === null) {
        expect(s.meta.spoken).toBe(new TextDecoder().decode(s.files.txt));
        expect(actual).toBeGreaterThan(0.5);
      }
    }
  });

  it('makes a spoken-question split on request', async () => {
    const samples = await collect(generateSpeech({ seed: 4, count: 2, noiseRate: 0, tasks: ['question'], tts }));
    for (const s of samples) {
      expect(s.meta.task).toBe('question');
      expect(s.meta.spoken as string).toMatch(/\?$/);
    }
  });

  it('trains on many voices, none sharing a held-out voice or its variant, and held-out voices speak only held-out samples', async () => {
    const variant = (v: string) => v.split('+')[1] ?? '';
    const accent = (v: string) => v.split('+')[0]!;
    expect(new Set(TRAIN_VOICES).size).toBe(TRAIN_VOICES.length);
    expect(TRAIN_VOICES.length).toBeGreaterThanOrEqual(100);
    for (const h of HELDOUT_VOICES) {
      expect(TRAIN_VOICES.filter((v) => variant(v) === variant(h))).toEqual([]);
      if (accent(h) !== 'en-us') expect(TRAIN_ACCENTS as readonly string[]).not.toContain(accent(h));
    }
    // A silent stand-in engine: the voice plan alone, for 600 utterances (no synthesis).
    const spoken: string[] = [];
    const fake: TtsEngine = { name: 'fake', speak: async (_text, o) => (spoken.push(o.voice), { sampleRate: SPEECH_SAMPLE_RATE, samples: new Int16Array(1600) }) };
    const samples = await collect(generateSpeech({ seed: 11, count: 600, noiseRate: 0, tts: fake }));
    const trainVoices = new Set(samples.filter((s) => s.meta.split === 'train' && s.meta.language === 'en').map((s) => s.meta.voice as string));
    expect(trainVoices.size).toBeGreaterThanOrEqual(90);
    for (const v of trainVoices) expect(TRAIN_VOICES).toContain(v);
    const heldoutVoiced = samples.filter((s) => (HELDOUT_VOICES as readonly string[]).includes(s.meta.voice as string));
    expect(heldoutVoiced.length).toBeGreaterThan(10);
    for (const s of heldoutVoiced) expect(s.meta.split).toBe('heldout');
    expect(spoken.length).toBe(600);
  });

  it('keeps held-out voices out of train and tags other languages', async () => {
    const samples = await collect(generateSpeech({ seed: 8, count: 8, noiseRate: 0, heldoutFraction: 0.5, tts }));
    expect(samples.some((s) => s.meta.split === 'heldout')).toBe(true);
    for (const s of samples) {
      const voice = s.meta.voice as string;
      if ((HELDOUT_VOICES as readonly string[]).includes(voice)) expect(s.meta.split).toBe('heldout');
      if (s.meta.split === 'train' && s.meta.language === 'en') expect(TRAIN_VOICES as readonly string[]).toContain(voice);
      if (s.meta.task === 'translation') expect(['fr', 'de', 'es']).toContain(s.meta.language);
      if (s.meta.task === 'question') {
        expect(typeof s.meta.context).toBe('string');
        expect(typeof s.meta.answer).toBe('string');
      }
    }
  });
});
