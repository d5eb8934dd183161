/**
 * Duplicate utterances: the same recording stored twice, or re-encoded louder, softer, slightly
 * faster or slower. Each sample's audio fingerprint (`fingerprint.ts`, 752 bits) is compared with
 * those of every sample whose trimmed speech is within ±`maxDurationRatio` of its length (sorted by
 * length, a sliding window); pairs within `maxHammingFraction` of the bits are linked, linked samples
 * form connected components (the shared union-find), and one sample per component is kept: the
 * highest SNR (whole dB, as the SNR stage recorded it), then the least clipping, then the earliest.
 * The others are dropped as `duplicate-of:<kept key>`.
 *
 * A global stage: `prepare` runs in the shard pass (the audio is already decoded there) and keeps
 * ~130 bytes per sample; `decide` sees all of them. The window keeps the comparisons far below all
 * pairs when lengths vary (measured in the speech curation notes); it is still exact, not approximate.
 */
import { HerdError, type OptionRules } from '@herd/core';
import { Components, scoreOf, type GlobalStage, type Sample } from '@herd/data';
import { audioOf } from './audio.js';
import { audioFingerprint, FINGERPRINT_BITS, fingerprintFromBase64, fingerprintToBase64 } from './fingerprint.js';

export interface UtteranceFeature {
  /** Fingerprint bits, base64; null: no audio or too short to describe (never a duplicate). */
  f: string | null;
  /** Seconds of trimmed speech. */
  d: number;
  /** Quality: the highest of a component is kept. */
  q: number;
}

export interface DuplicateUtterancesOptions {
  name?: string;
  /** Largest Hamming distance between duplicates, as a fraction of the bits (default 0.1; see `fingerprint.ts`). */
  maxHammingFraction?: number;
  /** Largest ratio of trimmed speech lengths compared (default 1.15: tempo ±5% plus trimming slack). */
  maxDurationRatio?: number;
  /** Quality of a sample (default: SNR in whole dB, then less clipping). */
  quality?: (sample: Sample) => number;
}

/** What a config file may set (`checkOptions`). */
export const DUPLICATE_UTTERANCES_RULES = { name: 'string', maxHammingFraction: 'number', maxDurationRatio: 'number', quality: 'function' } satisfies OptionRules<DuplicateUtterancesOptions>;

/** SNR recorded by the snr stage, rounded to whole dB so a copy never wins on noise in the estimate; clipping breaks ties. */
export function defaultUtteranceQuality(sample: Sample): number {
  const snr = scoreOf(sample, 'snr', 'snrDb');
  const clipped = scoreOf(sample, 'clipping', 'clippedFraction');
  return (typeof snr === 'number' ? Math.round(snr) : 0) - (typeof clipped === 'number' ? Math.min(0.99, clipped * 10) : 0);
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/**
 * Index pairs (i < j in dataset order) of duplicates among the features. The fingerprints are laid
 * out flat in length order, and a comparison stops as soon as it passes `maxHamming` (unrelated
 * fingerprints differ in about half their bits, so most stop within a few words).
 */
export function duplicatePairs(features: readonly UtteranceFeature[], maxHamming: number, maxDurationRatio: number): [number, number][] {
  const idx = features.map((_, i) => i).filter((i) => features[i]!.f !== null);
  idx.sort((a, b) => features[a]!.d - features[b]!.d || a - b);
  const first = idx.length > 0 ? fingerprintFromBase64(features[idx[0]!]!.f as string) : new Uint32Array(0);
  const W = first.length;
  const flat = new Uint32Array(idx.length * W);
  const d = new Float64Array(idx.length);
  idx.forEach((i, x) => {
    const bits = fingerprintFromBase64(features[i]!.f as string);
    if (bits.length !== W) throw new HerdError('invalid_argument', `duplicate: fingerprints of ${bits.length * 32} and ${W * 32} bits cannot be compared (the run mixes fingerprint versions)`);
    flat.set(bits, x * W);
    d[x] = features[i]!.d;
  });
  const pairs: [number, number][] = [];
  for (let x = 0; x < idx.length; x++) {
    const limit = d[x]! * maxDurationRatio;
    const a = x * W;
    for (let y = x + 1; y < idx.length && d[y]! <= limit; y++) {
      const b = y * W;
      let h = 0;
      for (let w = 0; w < W && h <= maxHamming; w++) h += popcount((flat[a + w]! ^ flat[b + w]!) >>> 0);
      if (h <= maxHamming) {
        const i = idx[x]!;
        const j = idx[y]!;
        pairs.push(i < j ? [i, j] : [j, i]);
      }
    }
  }
  return pairs;
}

export function duplicateUtterances(options: DuplicateUtterancesOptions = {}): GlobalStage<UtteranceFeature> {
  const o = { maxHammingFraction: options.maxHammingFraction ?? 0.1, maxDurationRatio: options.maxDurationRatio ?? 1.15 };
  const quality = options.quality ?? defaultUtteranceQuality;
  const maxHamming = Math.floor(o.maxHammingFraction * FINGERPRINT_BITS);
  return {
    kind: 'global',
    name: options.name ?? 'duplicate',
    version: `fp${FINGERPRINT_BITS};${JSON.stringify(o)}${options.quality ? ';custom-quality' : ''}`,
    async prepare(sample) {
      const r = await audioOf(sample);
      const fp = 'audio' in r ? audioFingerprint(r.audio.samples) : null;
      return { f: fp ? fingerprintToBase64(fp.bits) : null, d: fp ? Number(fp.seconds.toFixed(3)) : 0, q: quality(sample) };
    },
    decide(features) {
      const keys = [...features.keys()];
      const feats = [...features.values()];
      const comps = new Components(keys.length, (a, b) => feats[a]!.q > feats[b]!.q || (feats[a]!.q === feats[b]!.q && a < b));
      for (const [a, b] of duplicatePairs(feats, maxHamming, o.maxDurationRatio)) comps.union(a, b);
      const drops = new Map<string, string>();
      for (let i = 0; i < keys.length; i++) {
        const root = comps.find(i);
        if (root !== i) drops.set(keys[i]!, `duplicate-of:${keys[root]}`);
      }
      return drops;
    },
  };
}
