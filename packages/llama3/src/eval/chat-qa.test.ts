import { describe, expect, it } from 'vitest';
import { keywordMatch, normaliseAnswer } from './chat-qa.js';

describe('chat QA scoring', () => {
  it('normalises case, punctuation and spacing', () => {
    expect(normaliseAnswer('  There are NO circles. ')).toBe('there are no circles');
  });
  it('key-word match accepts rephrasings and rejects wrong facts', () => {
    expect(keywordMatch('There is one diamond.', 'One.')).toBe(true);
    expect(keywordMatch('The hexagons are medium-sized.', 'Medium.')).toBe(true);
    expect(keywordMatch('The triangle is medium-sized.', 'The triangle is small.')).toBe(false);
    expect(keywordMatch('Yes, there are two red circles.', 'No, there is no black circle.')).toBe(false);
  });
});
