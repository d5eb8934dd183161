/**
 * `composeExtensions`: several modality extensions act on one core as one. Each part's `encode`
 * output is private to its own hooks (two parts may use the same names), hooks run in the order the
 * parts are given, groups and inputs are the parts' together, and an input declared twice is refused.
 */
import { describe, expect, it } from 'vitest';
import { Graph, type Tensor } from '@herd/graph';
import { type LmExtension, composeExtensions } from './lm-spec.js';

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
});
