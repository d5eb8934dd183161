/**
 * Near-duplicate documents (Llama 3 paper §3.1.1 "De-duplication": MinHash over the whole corpus):
 * each text is cut into word k-shingles, summarised by a seeded MinHash signature, and candidate
 * pairs are found by locality-sensitive hashing (bands of the signature). A candidate whose
 * estimated Jaccard similarity with an earlier kept text reaches the threshold is dropped, naming
 * it: `near_duplicate: ~0.86 of word 5-shingles shared with <key>`. Only kept texts are
 * representatives, so a chain a≈b≈c whose ends differ keeps c.
 * Memory: `decide` holds every signature (`hashes`·4 bytes per text) and its band buckets; the
 * stage cannot be partitioned by group (a text falls in `bands` buckets), so it suits corpora of
 * millions of texts on one machine, not billions.
 */
import { HerdError, Rng } from '@herd/core';
import type { OptionRules } from '@herd/core';
import { captionOf } from './scores.js';
import type { GlobalStage } from './stage.js';

export interface NearDuplicateOptions {
  name?: string;
  /** Which file holds the text (default `txt`). */
  ext?: string;
  /** Words per shingle (default 5); a shorter text is one shingle of all its words. */
  shingle?: number;
  /** MinHash signature length (default 64); must be `bands` × rows. */
  hashes?: number;
  /** LSH bands (default 16: with 64 hashes, pairs at Jaccard 0.8 become candidates with p ≈ 0.9998). */
  bands?: number;
  /** Estimated Jaccard similarity at and above which the later text is dropped (default 0.8). */
  threshold?: number;
  /** Seed of the hash family (default 1): same seed, same signatures, same drops. */
  seed?: number;
  /** Most earlier texts compared per bucket (default 64), so that a huge bucket of near-copies stays linear. */
  maxCandidatesPerBucket?: number;
}

/** What a config file may set (`checkOptions`). */
export const NEAR_DUPLICATE_TEXT_RULES = { name: 'string', ext: 'string', shingle: 'int', hashes: 'int', bands: 'int', threshold: 'number', seed: 'int', maxCandidatesPerBucket: 'int' } satisfies OptionRules<NearDuplicateOptions>;

/** The words of a text, lower-cased: runs of letters and digits. */
export function shingleWords(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** murmur3's finaliser: a bijection on 32-bit words that mixes every bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The MinHash signature of a text (null when it has no words): one minimum per salted hash. */
export function minHashSignature(text: string, o: { shingle: number; salts: Uint32Array }): Uint32Array | null {
  const words = shingleWords(text);
  if (words.length === 0) return null;
  const k = Math.min(o.shingle, words.length);
  const sig = new Uint32Array(o.salts.length).fill(0xffffffff);
  const seen = new Set<number>();
  for (let i = 0; i + k <= words.length; i++) {
    const base = fnv1a(words.slice(i, i + k).join(' '));
    if (seen.has(base)) continue;
    seen.add(base);
    for (let j = 0; j < o.salts.length; j++) {
      const v = fmix32((base ^ (o.salts[j] as number)) >>> 0);
      if (v < (sig[j] as number)) sig[j] = v;
    }
  }
  return sig;
}

/** The share of positions where two signatures agree: the MinHash estimate of Jaccard similarity. */
export function signatureSimilarity(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

function decodeSignature(b64: string): Uint32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** The stage; its feature is the signature as base64 (small and JSON-safe), or null for a text with no words. */
export function nearDuplicate(options: NearDuplicateOptions = {}): GlobalStage<string | null> {
  const o = {
    ext: options.ext ?? 'txt',
    shingle: options.shingle ?? 5,
    hashes: options.hashes ?? 64,
    bands: options.bands ?? 16,
    threshold: options.threshold ?? 0.8,
    seed: options.seed ?? 1,
    maxCandidatesPerBucket: options.maxCandidatesPerBucket ?? 64,
  };
  const bad: string[] = [];
  if (!Number.isInteger(o.shingle) || o.shingle < 1) bad.push(`shingle must be an integer ≥ 1, got ${o.shingle}`);
  if (!Number.isInteger(o.bands) || o.bands < 1 || !Number.isInteger(o.hashes) || o.hashes % o.bands !== 0) bad.push(`hashes (${o.hashes}) must be a positive multiple of bands (${o.bands})`);
  if (!(o.threshold > 0 && o.threshold <= 1)) bad.push(`threshold must be in (0, 1], got ${o.threshold}`);
  if (!Number.isInteger(o.maxCandidatesPerBucket) || o.maxCandidatesPerBucket < 1) bad.push(`maxCandidatesPerBucket must be an integer ≥ 1, got ${o.maxCandidatesPerBucket}`);
  if (bad.length) throw new HerdError('invalid_config', `near-duplicate stage: ${bad.join('; ')}`);
  const rng = new Rng(o.seed);
  const salts = new Uint32Array(o.hashes).map(() => rng.nextU32());
  const rows = o.hashes / o.bands;
  return {
    kind: 'global',
    name: options.name ?? 'near_duplicate',
    version: `minhash;${JSON.stringify(o)}`,
    prepare(sample) {
      const text = captionOf(sample, o.ext, 'text');
      if ('reason' in text) return null;
      const sig = minHashSignature(text.text, { shingle: o.shingle, salts });
      return sig ? Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength).toString('base64') : null;
    },
    decide(features) {
      const buckets = new Map<string, string[]>();
      const kept = new Map<string, Uint32Array>();
      const drops = new Map<string, string>();
      for (const [key, feature] of features) {
        if (feature === null) continue;
        const sig = decodeSignature(feature);
        const bandKeys: string[] = [];
        for (let b = 0; b < o.bands; b++) bandKeys.push(`${b}:${sig.subarray(b * rows, (b + 1) * rows).join(',')}`);
        let best: { key: string; sim: number } | undefined;
        const compared = new Set<string>();
        for (const bk of bandKeys) {
          for (const other of (buckets.get(bk) ?? []).slice(0, o.maxCandidatesPerBucket)) {
            if (compared.has(other)) continue;
            compared.add(other);
            const sim = signatureSimilarity(sig, kept.get(other) as Uint32Array);
            if (sim >= o.threshold && (!best || sim > best.sim)) best = { key: other, sim };
          }
        }
        if (best) {
          drops.set(key, `near_duplicate: ~${best.sim.toFixed(2)} of word ${o.shingle}-shingles shared with ${best.key}`);
          continue;
        }
        kept.set(key, sig);
        for (const bk of bandKeys) {
          const list = buckets.get(bk);
          if (list) list.push(key);
          else buckets.set(bk, [key]);
        }
      }
      return drops;
    },
  };
}
