import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isHerdError } from '../errors.js';
import { closestNames, didYouMean, editDistance } from './closest.js';
import { ConfigCheck, showValue } from './fields.js';
import { JsonProblem, parseJson } from './json.js';
import { readJsonFile } from './json-file.js';

const dir = mkdtempSync(join(tmpdir(), 'herd-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problem(fn: () => unknown): JsonProblem {
  try {
    fn();
  } catch (e) {
    if (e instanceof JsonProblem) return e;
    throw e;
  }
  throw new Error('expected a JsonProblem');
}

describe('parseJson', () => {
  it('returns what JSON.parse returns on valid text', () => {
    const texts = [
      '{"a":1,"b":[true,false,null],"c":{"d":"e\\u00e9\\n\\"x\\""},"n":-1.5e-3}',
      '  [1, 2.5, -0, 1e308, "\\ud83d\\ude00", {}]  ',
      '"just a string"',
      '{"__proto__": {"polluted": 1}, "constructor": 2}',
      '0',
    ];
    for (const t of texts) expect(parseJson(t)).toEqual(JSON.parse(t));
    const proto = parseJson('{"__proto__": {"polluted": 1}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
  });

  it('refuses what JSON.parse refuses, with line and column', () => {
    for (const t of ['{', '{"a":}', '[1,]', '{"a" 1}', "{'a':1}", '01', '1 2', 'nul', '"\t"', '"\\x"']) {
      expect(() => JSON.parse(t)).toThrow();
      expect(problem(() => parseJson(t)).kind).toBe('syntax');
    }
    const p = problem(() => parseJson('{\n  "a": 1,\n  "b": ?\n}'));
    expect([p.line, p.column]).toEqual([3, 8]);
    expect(p.message).toContain("unexpected '?' at line 3 column 8");
  });

  it('limits depth without recursing past it, and reports duplicate keys', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(problem(() => parseJson(deep)).kind).toBe('too_deep');
    expect(parseJson('[[[1]]]', { maxDepth: 3 })).toEqual([[[1]]]);
    expect(problem(() => parseJson('[[[1]]]', { maxDepth: 2 })).message).toContain('deeper than 2 levels');
    const dup = problem(() => parseJson('{"a": 1, "b": {"a": 2}, "a": 3}'));
    expect(dup.kind).toBe('duplicate_key');
    expect(dup.message).toContain('key "a" appears twice');
    expect(dup.column).toBe(25);
    expect(parseJson('{"a": 1, "a": 3}', { rejectDuplicateKeys: false })).toEqual({ a: 3 });
  });
});

describe('closest names', () => {
  it('ranks by edit distance, ignoring case, and cuts off at maxDistance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('nKVHeads', 'nKvHeads')).toBe(0);
    expect(closestNames('model.f33', ['model.f16', 'model.f32', 'lm_head', 'model.f64'], { k: 2 })).toEqual(['model.f32', 'model.f16']);
    expect(closestNames('zzz', ['dim', 'nLayers'], { maxDistance: 2 })).toEqual([]);
    expect(didYouMean('rope_thetta', ['rope_theta', 'rope_scaling'])).toBe(" (did you mean 'rope_theta'?)");
    expect(didYouMean('vocab', ['dim'])).toBe('');
  });
});

describe('ConfigCheck', () => {
  it('collects every problem, with unknown keys as unknown_config_key, and names the source', () => {
    const c = new ConfigCheck('/m/config.json');
    const obj = { dimm: 3, layers: 0, eps: 'x', flag: 2, names: 'a', kind: 'cpux' };
    c.keys(obj, ['dim', 'layers', 'eps', 'flag', 'names', 'kind']);
    expect(Number.isNaN(c.int(obj, 'dim'))).toBe(true);
    c.int(obj, 'layers', { positive: true });
    c.number(obj, 'eps', { default: 1e-5 });
    c.boolean(obj, 'flag', false);
    c.stringList(obj, 'names');
    c.string(obj, 'kind', { oneOf: ['cpu', 'cuda'] });
    expect(c.number(obj, 'absent', { default: null })).toBeUndefined();
    let e: unknown;
    try {
      c.finish('bad config');
    } catch (err) {
      e = err;
    }
    expect(isHerdError(e, 'unknown_config_key')).toBe(true);
    const m = (e as Error).message;
    expect(m).toMatch(/^\/m\/config\.json: bad config:/);
    for (const s of [
      "unknown key in /m/config.json: 'dimm' (did you mean 'dim'?)",
      'dim is required',
      'layers must be a positive integer, got 0',
      'eps must be a finite number, got "x"',
      'flag must be true or false, got 2',
      'names must be a list of strings, got "a" (write ["a"])',
      `kind "cpux" is not one of cpu, cuda (did you mean 'cpu'?)`,
    ]) {
      expect(m).toContain(s);
    }
  });

  it('warns instead of failing for foreign keys, and returns the warnings', () => {
    const c = new ConfigCheck('hf');
    c.keys({ use_cahce: true }, ['use_cache'], { unknown: 'warn' });
    expect(c.finish('x')).toEqual(["ignoring unknown key in hf: 'use_cahce' (did you mean 'use_cache'?)"]);
  });

  it('describes deep values without walking them', () => {
    let v: unknown = [];
    for (let i = 0; i < 100_000; i++) v = [v];
    expect(showValue(v)).toBe('[[…]]');
    expect(showValue('x'.repeat(200)).length).toBe(80);
  });
});

describe('readJsonFile', () => {
  it('accepts a BOM and names the file in every refusal', () => {
    const p = join(dir, 'bom.json');
    writeFileSync(p, '\ufeff{"a": 1}');
    expect(readJsonFile(p)).toEqual({ a: 1 });
    const q = join(dir, 'bad.json');
    writeFileSync(q, '{"a": 1');
    let e: unknown;
    try {
      readJsonFile(q, { what: 'settings file', code: 'corrupt_data' });
    } catch (err) {
      e = err;
    }
    expect(isHerdError(e, 'corrupt_data')).toBe(true);
    expect((e as Error).message).toContain(`settings file ${q} is not acceptable JSON`);
    expect(() => readJsonFile(join(dir, 'missing.json'))).toThrow(/missing\.json does not exist/);
  });
});
