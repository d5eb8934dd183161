import { describe, expect, it } from 'vitest';
import { isHerdError } from '../errors.js';
import { ConfigCheck } from './fields.js';
import { checkOptions, omitOptions, type OptionRules } from './options.js';

interface DedupOptions {
  name?: string;
  maxHamming?: number;
  threshold?: number;
  scales?: readonly number[];
  grouping?: 'star' | 'components';
  gate?: number | false;
  quality?: (x: unknown) => number;
}
const DEDUP = { name: 'string', maxHamming: 'int', threshold: 'number', scales: 'number[]', grouping: { oneOf: ['star', 'components'] }, gate: ['number', false], quality: 'function' } satisfies OptionRules<DedupOptions>;
const STAGES = { dedup: [false, { options: omitOptions(DEDUP, ['quality']) }], ocr: [false, { options: { workers: 'int', langs: 'string[]' } }], threshold: ['number', null] } as const;

function problems(value: unknown): string[] {
  const c = new ConfigCheck('stages.json');
  checkOptions(c, value, STAGES, '');
  try {
    c.finish('invalid stage options');
    return [];
  } catch (e) {
    return String((e as Error).message).split('\n').slice(1).map((l) => l.replace(/^ {2}- /u, ''));
  }
}

describe('checkOptions', () => {
  it('accepts every kind of valid value, a stage turned off, and nulls where allowed', () => {
    expect(problems({})).toEqual([]);
    expect(problems({ dedup: { name: 'd', maxHamming: 28, threshold: 0.5, scales: [0.9, 0.8], grouping: 'star', gate: false }, ocr: false, threshold: null })).toEqual([]);
    expect(problems({ dedup: { gate: 0.3 }, ocr: { workers: 2, langs: ['eng'] }, threshold: 2 })).toEqual([]);
  });

  it('names an unknown key with its path and the nearest known key', () => {
    expect(problems({ dedup: { maxHammin: 3 } })).toEqual([
      "unknown key in dedup: 'maxHammin' (did you mean 'maxHamming'?); valid keys: name, maxHamming, threshold, scales, grouping, gate",
    ]);
    expect(problems({ dedupe: {} })[0]).toBe("unknown key in stages.json: 'dedupe' (did you mean 'dedup'?); valid keys: dedup, ocr, threshold");
  });

  it('refuses a value of the wrong kind, naming the dotted path, what was expected and what came', () => {
    expect(problems({ dedup: { maxHamming: 'x' } })).toEqual(['dedup.maxHamming must be an integer, got "x"']);
    expect(problems({ dedup: { maxHamming: 2.5, scales: 0.9, gate: true } })).toEqual([
      'dedup.maxHamming must be an integer, got 2.5',
      'dedup.scales must be a list of numbers, got 0.9',
      'dedup.gate must be a number or false, got true',
    ]);
    expect(problems({ dedup: { grouping: 'stars' } })).toEqual([`dedup.grouping must be one of "star", "components", got "stars" (did you mean 'star'?)`]);
    expect(problems({ dedup: true, ocr: { langs: 'eng' } })).toEqual(['dedup must be false or an object of options, got true', 'ocr.langs must be a list of strings, got "eng"']);
    expect(problems({ threshold: '0.5' })).toEqual(['threshold must be a number or null, got "0.5"']);
  });

  it('refuses a code-only option in a file, and a key the config cannot hold', () => {
    const c = new ConfigCheck('stages.json');
    checkOptions(c, { quality: 'highest' }, DEDUP, 'dedup');
    expect(() => c.finish('x')).toThrow('dedup.quality is code (a function) and cannot come from a config file');
    // omitOptions took `quality` out of what the stages' file may hold:
    expect(problems({ dedup: { quality: 1 } })[0]).toMatch(/^unknown key in dedup: 'quality'/u);
  });

  it('throws every problem at once, unknown keys as unknown_config_key', () => {
    const c = new ConfigCheck('stages.json');
    checkOptions(c, { dedup: { maxHammin: 3, threshold: 'x' }, ocr: 3 }, STAGES, '');
    expect(c.problemCount).toBe(3);
    let err: unknown;
    try {
      c.finish('invalid stage options');
    } catch (e) {
      err = e;
    }
    expect(isHerdError(err, 'unknown_config_key')).toBe(true);
    expect(String((err as Error).message)).toMatch(/^stages\.json: invalid stage options:\n/u);
  });
});
