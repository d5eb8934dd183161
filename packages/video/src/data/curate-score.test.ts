import { describe, expect, it } from 'vitest';
import { rocAuc, thresholdLosing } from './curate-score.js';

describe('threshold choice on a validation split', () => {
  it('thresholdLosing keeps all but the allowed share of good scores at or above the threshold', () => {
    const good = Array.from({ length: 40 }, (_, i) => 0.5 + i / 100); // 0.50 … 0.89
    const t = thresholdLosing(good, 0.025); // 1 of 40 may be lost
    expect(t).toBeCloseTo(0.51, 10);
    expect(good.filter((g) => g < t)).toHaveLength(1);
    expect(thresholdLosing(good, 0)).toBe(0.5);
    expect(() => thresholdLosing([], 0.05)).toThrow(/no good scores/);
    expect(() => thresholdLosing(good, 1)).toThrow(/maxLost must be in \[0, 1\)/);
  });

  it('rocAuc is the share of (good, bad) pairs ordered right, ties half', () => {
    expect(rocAuc([0.9, 0.8], [0.1, 0.2])).toBe(1);
    expect(rocAuc([0.1], [0.9])).toBe(0);
    expect(rocAuc([0.5, 0.9], [0.5, 0.1])).toBe((0.5 + 1 + 1 + 1) / 4);
    expect(rocAuc([], [0.1])).toBeNull();
  });
});
