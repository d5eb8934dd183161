import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '@herd/core';
import { iterateDataset, isUnreadable, type DropRecord, type Sample, type SampleStage, type StageContext } from '@herd/data';
import { encodeWav, floatToInt16, resample } from '@herd/media';
import { curateSpeech } from '../curate.js';
import { clipping, clippingScores } from './clipping.js';
import { audioDecode } from './decode.js';
import { duplicatePairs, duplicateUtterances, type UtteranceFeature } from './duplicate.js';
import { durationBounds } from './duration.js';
import { audioFingerprint, fingerprintBits, fingerprintToBase64, hamming, FINGERPRINT_BITS } from './fingerprint.js';
import { estimateSnr, snrEstimate } from './snr.js';
import { frameEnergies } from './audio.js';
import { speechActivity } from './vad.js';

const RATE = 16000;
const ctx: StageContext = { shard: 'test', pass: 0, worker: 0 };

/**
 * Speech-like test audio: 200 ms of silence, then syllables (a 100–250 Hz voice with 16 harmonics
 * rolling off as 1/k, shaped by one random formant, under a smooth envelope, 80–200 ms each)
 * separated by 40–150 ms pauses, then 200 ms of silence.
 */
function utterance(seed: number, seconds: number, amp = 0.5): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(Math.round(seconds * RATE));
  let t = Math.round(0.2 * RATE);
  const end = out.length - Math.round(0.2 * RATE);
  while (t < end) {
    const len = Math.min(end - t, Math.round((0.08 + 0.12 * rng.next()) * RATE));
    const f0 = 100 + 150 * rng.next();
    const formant = 300 + 2500 * rng.next();
    const h = Array.from({ length: 16 }, (_, k) => (1 / (k + 1)) * (1 + 4 * Math.exp(-(((f0 * (k + 1) - formant) / 400) ** 2))));
    const norm = h.reduce((a, b) => a + b, 0);
    for (let i = 0; i < len; i++) {
      const env = Math.sin((Math.PI * i) / len);
      let x = 0;
      for (let k = 0; k < h.length; k++) x += h[k]! * Math.sin((2 * Math.PI * f0 * (k + 1) * i) / RATE);
      out[t + i] = (amp / norm) * 2 * env * x;
    }
    t += len + Math.round((0.04 + 0.11 * rng.next()) * RATE);
  }
  return out;
}

function withNoise(x: Float32Array, snrDb: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  let p = 0;
  let n = 0;
  for (const v of x) if (Math.abs(v) > 1e-3) (p += v * v), n++;
  const sigma = Math.sqrt(p / n / 10 ** (snrDb / 10));
  return x.map((v) => v + sigma * rng.normal());
}

const wav = (x: Float32Array): Uint8Array => encodeWav(floatToInt16(x), RATE);
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sample = (key: string, x: Float32Array | Uint8Array, meta: Record<string, unknown> = {}): Sample => ({ key, files: { wav: x instanceof Float32Array ? wav(x) : x }, meta });

async function judge(stage: SampleStage, s: Sample) {
  return stage.process(s, ctx);
}

describe('clipping', () => {
  it('finds flat runs at the peak, also after the clipped audio is scaled down, and not in clean audio', () => {
    const clean = utterance(1, 2, 0.5);
    expect(clippingScores(clean).clippedFraction).toBe(0);
    const driven = clean.map((v) => Math.max(-1, Math.min(1, v * 4)));
    const s = clippingScores(driven);
    expect(s.clippedFraction).toBeGreaterThan(0.02);
    expect(s.runs).toBeGreaterThan(50);
    expect(clippingScores(driven.map((v) => v * 0.5)).clippedFraction).toBeCloseTo(s.clippedFraction, 6);
    // One sample at the peak is a peak, not a plateau.
    const spike = clean.slice();
    spike[5000] = 1;
    expect(clippingScores(spike).clippedFraction).toBe(0);
  });
  it('drops with the share of clipped samples in the reason, keeps clean audio with its scores', async () => {
    const stage = clipping();
    const bad = await judge(stage, sample('a', utterance(2, 2).map((v) => Math.max(-1, Math.min(1, v * 6)))));
    expect(bad.keep).toBe(false);
    if (!bad.keep) expect(bad.reason).toMatch(/^clipped: \d+\.\d\d% of samples in \d+ flat runs at 1\.000 > 0\.10%$/);
    const good = await judge(stage, sample('b', utterance(2, 2)));
    expect(good.keep && (good.sample.meta['curation'] as Record<string, Record<string, number>>)['clipping']!['clippedFraction']).toBe(0);
  });
});

describe('SNR estimate and energy VAD', () => {
  it('reads higher for cleaner speech, about −10 dB for noise alone, and drops below the threshold', async () => {
    const x = utterance(3, 3);
    const snrs = [-5, 5, 15, 30].map((db) => estimateSnr(frameEnergies(withNoise(x, db, 9))).snrDb);
    for (let i = 1; i < snrs.length; i++) expect(snrs[i]!).toBeGreaterThan(snrs[i - 1]!);
    expect(snrs[1]!).toBeLessThan(15);
    expect(snrs[3]!).toBeGreaterThan(30);
    const noise = new Float32Array(3 * RATE).map((_, i) => 0.1 * new Rng(i).normal());
    expect(estimateSnr(frameEnergies(noise)).snrDb).toBeLessThan(0);
    const stage = snrEstimate();
    const r = await judge(stage, sample('n', withNoise(x, 0, 4)));
    expect(r.keep).toBe(false);
    if (!r.keep) expect(r.reason).toMatch(/^low_snr: -?\d+\.\d dB < 15 dB$/);
    // Silence is not judged here (an SNR of silence means nothing): the VAD drops it.
    const silent = await judge(stage, sample('s', new Float32Array(RATE * 2)));
    expect(silent.keep).toBe(true);
  });
  it('labels speech frames: silence and stationary noise have none, speech has pauses', async () => {
    const stage = speechActivity();
    const silence = await judge(stage, sample('s', new Float32Array(2 * RATE).map((_, i) => 1e-4 * Math.sin(i))));
    expect(silence).toEqual({ keep: false, reason: 'no_speech: 0.00 s of speech < 0.3 s' });
    const rng = new Rng(5);
    const noise = await judge(stage, sample('n', new Float32Array(2 * RATE).map(() => 0.1 * rng.normal())));
    expect(noise.keep).toBe(false);
    const speech = await judge(stage, sample('u', utterance(6, 3)));
    expect(speech.keep).toBe(true);
    if (speech.keep) {
      const v = (speech.sample.meta['curation'] as Record<string, Record<string, number>>)['vad']!;
      expect(v['speechRatio']).toBeGreaterThan(0.5);
      expect(v['speechRatio']).toBeLessThan(1);
    }
  });
});

describe('decode and duration', () => {
  it('drops what is not audio, is cut short or is too short, with reasons, and records the duration', async () => {
    const decode = audioDecode();
    const png = await judge(decode, { key: 'p', files: { wav: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(64).fill(0)]) }, meta: {} });
    expect(png.keep === false && png.reason).toMatch(/^not_audio: p\.wav: this is a png image, not audio$/);
    const full = wav(utterance(7, 1));
    const cut = await judge(decode, { key: 'c', files: { wav: full.slice(0, 3000) }, meta: {} });
    expect(cut.keep === false && cut.reason).toMatch(/^undecodable_audio: c\.wav: WAV truncated/);
    expect(await judge(decode, { key: 'm', files: { txt: enc('hi') }, meta: {} })).toMatchObject({ keep: false, reason: expect.stringMatching(/^missing_audio/) });
    const dur = durationBounds();
    expect(await judge(dur, sample('short', utterance(8, 0.3)))).toEqual({ keep: false, reason: 'too_short: 0.30 s < 0.5 s' });
    const ok = await judge(dur, sample('ok', utterance(8, 1.25)));
    expect(ok.keep && (ok.sample.meta['curation'] as Record<string, unknown>)['duration']).toEqual({ seconds: 1.25 });
  });
});

describe('audio fingerprint and duplicate utterances', () => {
  it('keeps louder/softer and ±5% faster copies within 10% of the bits, unrelated utterances far apart', () => {
    const x = utterance(10, 3);
    const fp = (a: Float32Array) => audioFingerprint(a)!;
    const base = fp(x);
    expect(base.bits.length * 32).toBeGreaterThanOrEqual(FINGERPRINT_BITS);
    const d: number[] = [hamming(base.bits, fp(x.map((v) => v * 0.6)).bits)];
    for (const tempo of [0.95, 1.05]) {
      d.push(hamming(base.bits, fp(resample(x, RATE, Math.round(RATE / tempo))).bits));
    }
    const far = [11, 12, 13].map((seed) => hamming(base.bits, fp(utterance(seed, 3)).bits));
    // Copies under the default threshold (10% of the bits), unrelated utterances far above it.
    for (const v of d) expect(v).toBeLessThan(0.1 * FINGERPRINT_BITS);
    for (const v of far) expect(v).toBeGreaterThan(0.3 * FINGERPRINT_BITS);
    expect(fingerprintBits({ slots: 32, bands: 16, spectral: true })).toBe(31 * 16 + 32 * 15);
    // Hamming = the count of differing bits.
    const a = Uint32Array.of(0xffffffff, 0);
    const b = Uint32Array.of(0x0f0f0f0f, 1);
    expect(hamming(a, b)).toBe(17);
  });
  it('keeps one utterance per component — the highest quality, then the earliest — and drops the rest as duplicate-of', async () => {
    const stage = duplicateUtterances();
    const x = utterance(20, 2);
    const y = utterance(21, 2);
    const samples = [sample('a', x), sample('b', x.map((v) => v * 0.7)), sample('c', y), sample('d', resample(x, RATE, Math.round(RATE / 1.04)))];
    const features = new Map<string, UtteranceFeature>();
    for (const s of samples) features.set(s.key, await stage.prepare!(s, ctx));
    expect(await stage.decide(features)).toEqual(new Map([['b', 'duplicate-of:a'], ['d', 'duplicate-of:a']]));
    // A later copy with a better SNR score wins the component.
    features.set('d', { ...features.get('d')!, q: 40 });
    expect(await stage.decide(features)).toEqual(new Map([['a', 'duplicate-of:d'], ['b', 'duplicate-of:d']]));
  });
});

describe('duplicate search', () => {
  it('finds exactly the pairs a brute-force search over all pairs finds (within the length window)', () => {
    const rng = new Rng(3);
    const words = Math.ceil(FINGERPRINT_BITS / 32);
    const bits: Uint32Array[] = [];
    const feats: UtteranceFeature[] = [];
    for (let i = 0; i < 300; i++) {
      let b: Uint32Array;
      if (i > 0 && rng.next() < 0.3) {
        // A planted copy: an earlier fingerprint with 0–100 bits flipped (some over the threshold).
        b = bits[rng.int(i)]!.slice();
        for (let k = rng.int(101); k > 0; k--) {
          const bit = rng.int(FINGERPRINT_BITS);
          b[bit >>> 5]! ^= 1 << (bit & 31);
        }
      } else b = new Uint32Array(words).map(() => rng.int(2 ** 32));
      bits.push(b);
      feats.push({ f: fingerprintToBase64(b), d: 2 + rng.next(), q: 0 });
    }
    feats.push({ f: null, d: 0, q: 0 });
    const max = Math.floor(0.1 * FINGERPRINT_BITS);
    const brute: string[] = [];
    for (let i = 0; i < 300; i++) {
      for (let j = i + 1; j < 300; j++) {
        const r = Math.max(feats[i]!.d, feats[j]!.d) / Math.min(feats[i]!.d, feats[j]!.d);
        if (r <= 1.15 && hamming(bits[i]!, bits[j]!) <= max) brute.push(`${i},${j}`);
      }
    }
    const found = duplicatePairs(feats, max, 1.15).map(([i, j]) => `${i},${j}`);
    expect(brute.length).toBeGreaterThan(20);
    expect(found.sort()).toEqual(brute.sort());
  });
});

describe('curateSpeech on a folder of audio files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-speech-curate-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  it('imports audio + transcripts; unreadable, non-audio and non-finite files are dropped with reasons and the run goes on', async () => {
    const src = join(dir, 'in');
    await mkdir(src);
    const put = async (name: string, bytes: Uint8Array | string) => writeFile(join(src, name), bytes);
    await put('good.wav', wav(utterance(30, 2)));
    await put('good.txt', 'there is a red circle above the blue square');
    await put('copy.wav', wav(utterance(30, 2).map((v) => v * 0.8)));
    await put('copy.txt', 'there is a red circle above the blue square');
    await put('picture.wav', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(64).fill(0)]));
    await put('picture.txt', 'a picture saved with the wrong name');
    await put('cut.wav', wav(utterance(31, 2)).slice(0, 9000));
    await put('cut.txt', 'the green star is moving to the left');
    // 32-bit float WAV holding a NaN.
    const nan = new Float32Array(RATE).fill(0.1);
    nan[100] = NaN;
    const header = new Uint8Array(44);
    const dv = new DataView(header.buffer);
    header.set(enc('RIFF'), 0);
    dv.setUint32(4, 36 + nan.byteLength, true);
    header.set(enc('WAVEfmt '), 8);
    dv.setUint32(16, 16, true);
    dv.setUint16(20, 3, true);
    dv.setUint16(22, 1, true);
    dv.setUint32(24, RATE, true);
    dv.setUint32(28, RATE * 4, true);
    dv.setUint16(32, 4, true);
    dv.setUint16(34, 32, true);
    header.set(enc('data'), 36);
    dv.setUint32(40, nan.byteLength, true);
    await put('nan.wav', new Uint8Array([...header, ...new Uint8Array(nan.buffer)]));
    await put('nan.txt', 'a yellow triangle in the middle');
    await put('mute.wav', wav(new Float32Array(2 * RATE)));
    await put('mute.txt', 'two small squares at the bottom');
    await put('untranscribed.wav', wav(utterance(32, 2)));
    await put('french.wav', wav(utterance(33, 2)));
    await put('french.txt', 'un grand cercle rouge est au-dessus du carré bleu');
    await put('french.json', JSON.stringify({ language: 'en' }));

    const out = join(dir, 'out');
    const res = await curateSpeech(src, out);
    const kept: Sample[] = [];
    for await (const s of iterateDataset(out)) if (!isUnreadable(s)) kept.push(s);
    expect(kept.map((s) => s.key)).toEqual(['good']);
    const c = kept[0]!.meta['curation'] as Record<string, unknown>;
    expect(Object.keys(c).sort()).toEqual(['audio', 'clipping', 'duration', 'language', 'snr', 'transcript', 'vad']);
    const drops = (await readFile(join(out, 'drops.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as DropRecord);
    const why = Object.fromEntries(drops.map((d) => [d.key, `${d.stage} ${d.reason.split(':')[0]}`]));
    expect(why).toEqual({
      copy: 'duplicate duplicate-of',
      picture: 'audio not_audio',
      cut: 'audio undecodable_audio',
      nan: 'audio non_finite_audio',
      mute: 'vad no_speech',
      untranscribed: 'transcript missing_transcript',
      french: 'language language_mismatch',
    });
    expect(drops.find((d) => d.key === 'copy')!.reason).toBe('duplicate-of:good');
    expect(res.report!.in).toBe(8);
    expect(res.report!.out).toBe(1);
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/\| duplicate \| 2 \| 1 \| 1 \|/);
    const svgs = (await readdir(join(out, 'histograms'))).sort();
    expect(svgs).toContain('snr_db.svg');
    expect(await readFile(join(out, 'histograms', 'snr_db.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<rect[\s\S]*<\/svg>\n$/);
    // Resumable: the same command again finds the run finished and writes the same output.
    const again = await curateSpeech(src, out);
    expect(again.report!.out).toBe(1);
    expect((await readFile(join(out, 'drops.jsonl'), 'utf8')).trim().split('\n').length).toBe(7);
  });
});
