import { availableParallelism } from 'node:os';
import { defaultThreads, setDefaultThreads } from '@herd/runtime';
import { afterEach, describe, expect, it } from 'vitest';

describe('default CPU thread count of sessions (setDefaultThreads)', () => {
  afterEach(() => setDefaultThreads(undefined));
  it('is every core until the app sets it, then the set count; undefined restores it', () => {
    expect(defaultThreads()).toBe(availableParallelism());
    setDefaultThreads(1);
    expect(defaultThreads()).toBe(1);
    setDefaultThreads(undefined);
    expect(defaultThreads()).toBe(availableParallelism());
  });
  it('refuses a count that is not a positive integer', () => {
    for (const bad of [0, -2, 1.5, Number.NaN]) expect(() => setDefaultThreads(bad)).toThrow('positive integer');
  });
});
