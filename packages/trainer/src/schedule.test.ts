import { describe, expect, it } from 'vitest';
import { learningRate, validateSchedule } from './schedule.js';

describe('learning-rate schedules', () => {
  it('cosine: linear warm-up to the peak, cosine decay to the floor', () => {
    const s = { kind: 'cosine', peak: 1e-3, warmup: 9, total: 109, floor: 1e-4 } as const;
    expect(learningRate(s, 0)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 8)).toBeCloseTo(9e-4, 12);
    expect(learningRate(s, 9)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 59)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 12); // half way: mid-point of peak and floor
    expect(learningRate(s, 109)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 500)).toBeCloseTo(1e-4, 12);
  });

  it('linear: anneals to 0 at total', () => {
    const s = { kind: 'linear', peak: 2e-5, warmup: 0, total: 100 } as const;
    expect(learningRate(s, 0)).toBeCloseTo(2e-5, 12);
    expect(learningRate(s, 50)).toBeCloseTo(1e-5, 12);
    expect(learningRate(s, 100)).toBe(0);
  });

  it('re-warm for an annealing stage: offset starts a new warm-up later', () => {
    const s = { kind: 'cosine', peak: 2e-5, warmup: 4, total: 20, offset: 100 } as const;
    expect(learningRate(s, 99)).toBe(0);
    expect(learningRate(s, 100)).toBeCloseTo(2e-5 / 5, 12);
    expect(learningRate(s, 104)).toBeCloseTo(2e-5, 12);
  });

  it('stages chain schedules: pre-training then a re-warmed stage', () => {
    const s = { kind: 'stages', stages: [{ kind: 'cosine', peak: 1e-3, warmup: 0, total: 100 }, { kind: 'cosine', peak: 2e-4, warmup: 9, total: 50, offset: 100 }] } as const;
    expect(learningRate(s, 0)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 99)).toBeLessThan(1e-6);
    expect(learningRate(s, 100)).toBeCloseTo(2e-5, 12);
    expect(learningRate(s, 109)).toBeCloseTo(2e-4, 12);
    expect(() => validateSchedule({ kind: 'stages', stages: [s.stages[1], s.stages[0]] })).toThrow(/stage 1 must start after stage 0/);
  });

  it('rejects bad schedules with the field named', () => {
    expect(() => validateSchedule({ kind: 'cosine', peak: 1e-3, warmup: 10, total: 5 })).toThrow(/total \(5\) must exceed warmup \(10\)/);
    expect(() => validateSchedule({ kind: 'constant', peak: -1 })).toThrow(/peak must be > 0/);
    expect(() => validateSchedule({ kind: 'step' } as never)).toThrow(/unknown kind 'step' \(choose cosine, linear, constant or stages\)/);
  });
});
