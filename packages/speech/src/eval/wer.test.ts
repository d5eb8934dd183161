/** WER/CER on hand-worked cases: the standard Levenshtein definitions over normalised text. */
import { describe, expect, it } from 'vitest';
import { charEdits, charErrorRate, editCounts, normaliseTranscript, wordEdits, wordErrorRate } from './wer.js';

describe('WER and CER', () => {
  it('normalises case, punctuation and spacing, keeping apostrophes', () => {
    expect(normaliseTranscript('  The RED circle,  top-left. ')).toBe('the red circle top left');
    expect(normaliseTranscript("It's a Star!")).toBe("it's a star");
    expect(normaliseTranscript('ﬁve')).toBe('five'); // NFKC folds the ligature
  });

  it('counts substitutions, deletions and insertions (hand cases)', () => {
    expect(wordEdits('a red circle', 'a red circle.')).toEqual({ substitutions: 0, deletions: 0, insertions: 0, reference: 3 });
    expect(wordEdits('a red circle', 'a blue circle')).toEqual({ substitutions: 1, deletions: 0, insertions: 0, reference: 3 });
    expect(wordEdits('a red circle at the top', 'a circle at top')).toEqual({ substitutions: 0, deletions: 2, insertions: 0, reference: 6 });
    expect(wordEdits('two stars', 'there are two stars')).toEqual({ substitutions: 0, deletions: 0, insertions: 2, reference: 2 });
    expect(wordEdits('the cat sat', '')).toEqual({ substitutions: 0, deletions: 3, insertions: 0, reference: 3 });
    // kitten → sitting: 2 substitutions + 1 insertion (the classic example).
    expect(charEdits('kitten', 'sitting')).toEqual({ substitutions: 2, deletions: 0, insertions: 1, reference: 6 });
    expect(editCounts([1, 2, 3], [3, 2, 1]).substitutions + editCounts([1, 2, 3], [3, 2, 1]).deletions + editCounts([1, 2, 3], [3, 2, 1]).insertions).toBe(2);
  });

  it('sums errors over the corpus before dividing, and can pass 100% with insertions', () => {
    const pairs = [
      { reference: 'a red circle', hypothesis: 'a blue circle' }, // 1 error / 3
      { reference: 'yes', hypothesis: 'yes' }, // 0 / 1
    ];
    expect(wordErrorRate(pairs)).toBeCloseTo(1 / 4, 12);
    expect(wordErrorRate([{ reference: 'one', hypothesis: 'there are two of them' }])).toBe(5);
    // CER counts the space: "a red" (5 chars) vs "a rod": 1 substitution.
    expect(charErrorRate([{ reference: 'A red.', hypothesis: 'a rod' }])).toBeCloseTo(1 / 5, 12);
    expect(wordErrorRate([])).toBe(0);
  });
});
