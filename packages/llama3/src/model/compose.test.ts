/**
 * `composeExtensions`: several modality extensions act on one core as one. Each part's `encode`
 * output is private to its own hooks (two parts may use the same names), hooks run in the order the
 * parts are given, groups and inputs are the parts' together, and an input declared twice is refused.
 * `prefixedExtension`: one extension under a name prefix (two instances of it in one decoder, e.g. the
 * vision checkpoint's image layers and the video model's own): its parameters and inputs renamed, its
 * hooks reading them under their own names, the core's parameters passed through.
 */
import { describe, expect, it } from 'vitest';
import { Graph, type Tensor } from '@herd/graph';
import { type LmExtension, composeExtensions, prefixedExtension, prefixedValues } from './lm-spec.js';

describe('composeExtensions', () => {
  it('keeps each part\'s encoded values private and chains hooks in order', () => {
    const g = new Graph();
    const a = g.input('a', 'f32', [1]);
    const b = g.input('b', 'f32', [1]);
    const h0 = g.input('h', 'f32', [1]);
    const h1 = g.input('h1', 'f32', [1]);
    const h2 = g.input('h2', 'f32', [1]);
    const calls: string[] = [];
    const part = (name: string, input: string, out: Tensor): LmExtension => ({
      groups: [{ name, specs: [{ name: `${name}.w`, shape: [1], init: 'zeros' }] }],
      inputs: { [input]: { dtype: 'f32', shape: [1] } },
      encode: ({ inputs }) => ({ x: inputs[input]! }),
      beforeLayer: (i, h, { encoded }) => {
        calls.push(`${name}@${i}:${encoded['x'] === (name === 'first' ? a : b) ? 'own' : 'other'}:${h === h0 ? 'h0' : h === h1 ? 'h1' : '?'}`);
        return out;
      },
    });
    const ext = composeExtensions(part('first', 'a', h1), part('second', 'b', h2));
    expect(ext.groups.map((x) => x.name)).toEqual(['first', 'second']);
    expect(Object.keys(ext.inputs!)).toEqual(['a', 'b']);
    const encoded = ext.encode!({ inputs: { a, b }, p: () => a });
    expect(Object.keys(encoded).sort()).toEqual(['0:x', '1:x']);
    const out = ext.beforeLayer!(3, h0, { inputs: { a, b }, p: () => a, encoded });
    expect(out).toBe(h2);
    expect(calls).toEqual(['first@3:own:h0', 'second@3:own:h1']);
  });

  it('refuses an input declared by two parts', () => {
    const x: LmExtension = { groups: [], inputs: { mask: { dtype: 'bool', shape: ['B', 1, 'T', 4] } } };
    expect(() => composeExtensions(x, x)).toThrow(/input 'mask' is declared by two extensions/);
  });

  it('prefixedExtension renames parameters and inputs, and its hooks still read them by their own names (core parameters unprefixed)', () => {
    const g = new Graph();
    const mine = g.input('video.image.mask', 'f32', [1]);
    const other = g.input('mask', 'f32', [1]);
    const h0 = g.input('h', 'f32', [1]);
    const asked: string[] = [];
    const ext: LmExtension = {
      groups: [{ name: 'vision.adapter', specs: [{ name: 'gate', shape: [1], init: 'zeros' }] }],
      inputs: { mask: { dtype: 'f32', shape: [1] } },
      encode: ({ inputs }) => ({ m: inputs['mask']! }),
      beforeLayer: (_, h, { inputs, p, encoded }) => {
        p('gate');
        p('model.norm.weight');
        return inputs['mask'] === encoded['m'] ? h : other;
      },
    };
    const pre = prefixedExtension(ext, 'video.image.');
    expect(pre.groups).toEqual([{ name: 'video.image.vision.adapter', specs: [{ name: 'video.image.gate', shape: [1], init: 'zeros' }] }]);
    expect(Object.keys(pre.inputs!)).toEqual(['video.image.mask']);
    const p = (n: string) => {
      asked.push(n);
      return h0;
    };
    // Both instances side by side: each reads its own input.
    const both = composeExtensions(pre, ext);
    const inputs = { 'video.image.mask': mine, mask: other };
    const encoded = both.encode!({ inputs, p });
    expect(encoded['0:m']).toBe(mine);
    expect(encoded['1:m']).toBe(other);
    expect(pre.beforeLayer!(0, h0, { inputs, p, encoded: { m: mine } })).toBe(h0);
    expect(asked).toEqual(['video.image.gate', 'model.norm.weight']);
    expect(() => composeExtensions(ext, ext)).toThrow(/declared by two extensions/);
    expect(prefixedValues({ gate: 1 }, 'video.image.')).toEqual({ 'video.image.gate': 1 });
  });
});
