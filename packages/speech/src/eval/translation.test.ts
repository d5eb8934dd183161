/** chrF and BLEU on hand-worked cases (see translation.ts for the definitions). */
import { describe, expect, it } from 'vitest';
import { bleu, chrF } from './translation.js';

describe('translation metrics', () => {
  it('chrF: 100 for the same text (case and punctuation aside), 0 for no shared characters, hand cases', () => {
    expect(chrF([{ reference: 'A red circle.', hypothesis: 'a red  circle' }])).toBeCloseTo(100, 10);
    expect(chrF([{ reference: 'abc', hypothesis: 'xyz' }])).toBe(0);
    // ref "ab", hyp "ac": unigrams P = R = 1/2 → F 1/2; bigrams no match → 0; no 3..6-grams.
    expect(chrF([{ reference: 'ab', hypothesis: 'ac' }])).toBeCloseTo(25, 10);
    // ref "abcd", hyp "ab": F1 = 5·1·½/(4·1+½) = 5/9; F2 = 5·⅓/(4+⅓) = 5/13; recall weighs β² = 4 times.
    expect(chrF([{ reference: 'abcd', hypothesis: 'ab' }])).toBeCloseTo((100 * (5 / 9 + 5 / 13)) / 2, 10);
    // Whitespace is removed: word boundaries do not count.
    expect(chrF([{ reference: 'red circle', hypothesis: 'redcircle' }])).toBeCloseTo(100, 10);
  });

  it('chrF sums statistics over the corpus before dividing', () => {
    const pairs = [{ reference: 'ab', hypothesis: 'ac' }, { reference: 'abcd', hypothesis: 'abcd' }];
    // Unigrams: hyp 6, ref 6, match 5; bigrams: hyp 4, ref 4, match 3; trigrams 2/2/2; 4-grams 1/1/1.
    const f = (m: number, n: number) => m / n; // P = R here, so F = P
    expect(chrF(pairs)).toBeCloseTo((100 * (f(5, 6) + f(3, 4) + 1 + 1)) / 4, 10);
  });

  it('BLEU-4: 100 for the same words, brevity penalty and clipped precisions by hand, 0 without a 4-gram match', () => {
    expect(bleu([{ reference: 'The cat sat on the mat.', hypothesis: 'the cat sat on the mat' }])).toBeCloseTo(100, 10);
    // p = 5/5, 3/4, 2/3, 1/2; c = 5 < r = 6 → BP = exp(1 − 6/5).
    expect(bleu([{ reference: 'the cat sat on the mat', hypothesis: 'the cat sat on mat' }])).toBeCloseTo(100 * Math.exp(1 - 6 / 5) * (1 * 0.75 * (2 / 3) * 0.5) ** 0.25, 10);
    expect(bleu([{ reference: 'the cat sat on the mat', hypothesis: 'the cat' }])).toBe(0);
    // Clipping: "the" four times against one "the" counts once; no brevity penalty for a longer hypothesis.
    expect(bleu([{ reference: 'the cat', hypothesis: 'the the the the' }], { order: 1 })).toBeCloseTo(25, 10);
    expect(bleu([{ reference: 'a b', hypothesis: '' }])).toBe(0);
  });
});
