import { describe, expect, it } from 'vitest';
import { binomialAtLeast, rocAuc, thresholdLosing } from './curate-score.js';

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

  it('with a confidence, the threshold is the order statistic whose loss share is ≤ maxLost with that confidence (binomial tail)', () => {
    expect(binomialAtLeast(10, 0.5, 0)).toBe(1);
    expect(binomialAtLeast(10, 0.5, 11)).toBe(0);
    expect(binomialAtLeast(10, 0.5, 10)).toBeCloseTo(1 / 1024, 12);
    expect(binomialAtLeast(4, 0.25, 2)).toBeCloseTo(1 - 0.75 ** 4 - 4 * 0.25 * 0.75 ** 3, 12);
    // 400 good scores 0, 1, …, 399 and 2.5 %: the plain quantile is the 11th lowest (10 lost);
    // at 95 % confidence, k is the largest with P(Bin(400, 0.025) ≥ k) ≥ 0.95.
    const good = Array.from({ length: 400 }, (_, i) => i);
    expect(thresholdLosing(good, 0.025)).toBe(10);
    const t = thresholdLosing(good, 0.025, 0.95);
    const k = t + 1;
    expect(binomialAtLeast(400, 0.025, k)).toBeGreaterThanOrEqual(0.95);
    expect(binomialAtLeast(400, 0.025, k + 1)).toBeLessThan(0.95);
    expect(t).toBeLessThan(10);
    expect(t).toBeGreaterThan(2);
    // Simulated: drawing 400 validation scores from U(0,1), the chosen threshold loses ≤ 2.5 % of fresh
    // good samples (= the threshold itself for U(0,1)) in ≥ 95 % of draws; the plain quantile in ~half.
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    let okBound = 0;
    let okPlain = 0;
    for (let r = 0; r < 400; r++) {
      const draw = Array.from({ length: 400 }, rand);
      if (thresholdLosing(draw, 0.025, 0.95) <= 0.025) okBound++;
      if (thresholdLosing(draw, 0.025) <= 0.025) okPlain++;
    }
    expect(okBound / 400).toBeGreaterThanOrEqual(0.93);
    expect(okPlain / 400).toBeLessThan(0.8);
    // Few samples: the lowest score (it cannot promise more).
    expect(thresholdLosing([0.3, 0.1, 0.2], 0.025, 0.95)).toBe(0.1);
    expect(() => thresholdLosing(good, 0.025, 1)).toThrow(/confidence must be in \(0, 1\)/);
  });

  it('rocAuc is the share of (good, bad) pairs ordered right, ties half', () => {
    expect(rocAuc([0.9, 0.8], [0.1, 0.2])).toBe(1);
    expect(rocAuc([0.1], [0.9])).toBe(0);
    expect(rocAuc([0.5, 0.9], [0.5, 0.1])).toBe((0.5 + 1 + 1 + 1) / 4);
    expect(rocAuc([], [0.1])).toBeNull();
  });
});
