import { availableParallelism } from 'node:os';
import { defaultThreads } from '@herd/runtime';
import { describe, expect, it } from 'vitest';

describe('defaultThreads (HERD_THREADS)', () => {
  it('uses every core when unset or empty, the given count when set', () => {
    expect(defaultThreads({})).toBe(availableParallelism());
    expect(defaultThreads({ HERD_THREADS: '' })).toBe(availableParallelism());
    expect(defaultThreads({ HERD_THREADS: '1' })).toBe(1);
    expect(defaultThreads({ HERD_THREADS: '3' })).toBe(3);
  });
  it('refuses a value that is not a positive integer, naming it', () => {
    for (const bad of ['0', '-2', '1.5', 'two']) expect(() => defaultThreads({ HERD_THREADS: bad })).toThrow(`HERD_THREADS='${bad}'`);
  });
});
