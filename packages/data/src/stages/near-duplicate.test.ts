import { describe, expect, it } from 'vitest';
import type { Sample } from '../sample.js';
import type { StageContext } from './stage.js';
import { minHashSignature, nearDuplicate, shingleWords, signatureSimilarity } from './near-duplicate.js';

const ctx: StageContext = { shard: 'shard-000000.tar', pass: 0, worker: 0 };
const doc = (key: string, text: string | Uint8Array): Sample => ({ key, files: { txt: typeof text === 'string' ? new TextEncoder().encode(text) : text }, meta: {} });

/** A 60-word text from word list `w`, seeded by `n`, so texts share no 5-shingles unless made to. */
function prose(n: number): string {
  const w = ['red', 'blue', 'green', 'circle', 'square', 'star', 'above', 'below', 'left', 'right', 'small', 'large', 'moves', 'stays', 'the', 'a', 'near', 'far'];
  let x = n * 7919 + 13;
  return Array.from({ length: 60 }, () => w[(x = (x * 1103515245 + 12345) % 2147483648) % w.length]).join(' ');
}

async function decide(stage: ReturnType<typeof nearDuplicate>, samples: Sample[]): Promise<Map<string, string>> {
  const features = new Map<string, string | null>();
  for (const s of samples) features.set(s.key, (await stage.prepare!(s, ctx)) as string | null);
  return stage.decide(features);
}

describe('nearDuplicate (MinHash over word shingles)', () => {
  it('estimates Jaccard similarity of word-shingle sets within a few hundredths', () => {
    const salts = new Uint32Array(256).map((_, i) => (i * 2654435761) >>> 0);
    const words = prose(1).split(' ');
    // Change 3 of 60 words: of the 56 5-shingles, those touching a changed word differ.
    const edited = words.map((x, i) => (i === 10 || i === 30 || i === 50 ? 'zebra' : x));
    const sh = (ws: string[]) => new Set(ws.map((_, i) => ws.slice(i, i + 5).join(' ')).slice(0, ws.length - 4));
    const a = sh(words), b = sh(edited);
    const inter = [...a].filter((x) => b.has(x)).length;
    const jaccard = inter / (a.size + b.size - inter);
    const est = signatureSimilarity(minHashSignature(words.join(' '), { shingle: 5, salts })!, minHashSignature(edited.join(' '), { shingle: 5, salts })!);
    expect(jaccard).toBeGreaterThan(0.4);
    expect(jaccard).toBeLessThan(0.9);
    expect(Math.abs(est - jaccard)).toBeLessThan(0.1);
    expect(shingleWords('The RED circle, above—the square!')).toEqual(['the', 'red', 'circle', 'above', 'the', 'square']);
    expect(minHashSignature(' .,! ', { shingle: 5, salts })).toBeNull();
  });

  it('drops a re-punctuated or lightly edited copy naming the kept text, keeps different texts and chains past the threshold', async () => {
    const base = prose(1);
    const words = base.split(' ');
    const samples = [
      doc('a', base),
      doc('b', prose(2)),
      doc('c', base.toUpperCase().replace(/ /g, ',  ')), // same words, other case and punctuation
      doc('d', [...words.slice(0, 59), 'zebra'].join(' ')), // last word changed: 55 of 57 shingles shared
      doc('e', words.map((x, i) => (i % 6 === 0 ? 'zebra' : x)).join(' ')), // every 6th word changed: few shingles survive
      doc('f', new Uint8Array([0xff, 0xfe])), // not UTF-8: no feature, left to the text stages
      doc('g', '...'), // no words
    ];
    const drops = await decide(nearDuplicate(), samples);
    expect([...drops.keys()].sort()).toEqual(['c', 'd']);
    expect(drops.get('c')).toBe('near_duplicate: ~1.00 of word 5-shingles shared with a');
    expect(drops.get('d')).toMatch(/^near_duplicate: ~0\.(8|9)\d of word 5-shingles shared with a$/);
    // A stricter threshold keeps the one-word edit; the same seed gives the same decisions.
    expect([...(await decide(nearDuplicate({ threshold: 1 }), samples)).keys()]).toEqual(['c']);
    expect(await decide(nearDuplicate({ seed: 1 }), samples)).toEqual(drops);
  });

  it('rejects settings that cannot work, naming each', () => {
    expect(() => nearDuplicate({ hashes: 60, bands: 16, threshold: 1.5, shingle: 0 })).toThrow(/shingle must be an integer ≥ 1, got 0; hashes \(60\) must be a positive multiple of bands \(16\); threshold must be in \(0, 1\], got 1.5/);
  });
});
