/**
 * The CTC loss (`ctcLoss`, the α recursion unrolled as graph ops) against a brute-force sum over
 * every path of class indices whose collapse (repeats merged, blanks dropped) is the label
 * sequence, on tiny T/C/L in float64; its gradient against central differences; and greedy
 * decoding on a hand-made score table.
 */
import { describe, expect, it } from 'vitest';
import * as G from '@herd/graph';
import { Session, checkGradients, hostTensor } from '@herd/runtime';
import { Rng } from '@herd/core';

const BLANK = 0;

/** Collapse of a path: repeats merged, blanks dropped. */
function collapse(path: readonly number[]): number[] {
  const out: number[] = [];
  path.forEach((c, t) => {
    if (c !== BLANK && (t === 0 || path[t - 1] !== c)) out.push(c);
  });
  return out;
}

/** −log Σ over all C^T paths whose collapse is `labels`, of Π p_t(path_t); Infinity when none. */
function bruteForce(logp: Float64Array, T: number, C: number, labels: readonly number[]): number {
  let total = 0;
  const path = new Array<number>(T).fill(0);
  const visit = (t: number, logProduct: number) => {
    if (t === T) {
      const c = collapse(path);
      if (c.length === labels.length && c.every((x, i) => x === labels[i])) total += Math.exp(logProduct);
      return;
    }
    for (let k = 0; k < C; k++) {
      path[t] = k;
      visit(t + 1, logProduct + logp[t * C + k]!);
    }
  };
  visit(0, 0);
  return -Math.log(total);
}

function logSoftmaxRows(x: Float64Array, C: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    const row = x.subarray(r * C, (r + 1) * C);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    row.forEach((v, k) => (out[r * C + k] = v - lse));
  }
  return out;
}

describe('ctcLoss', () => {
  // Items: [labels, input length]. Repeated labels need a blank between; the last is infeasible
  // (3 equal labels need 5 frames, it has 4); label length 0 leaves an item out.
  const B = 6;
  const T = 5;
  const C = 4;
  const L = 3;
  const items: [number[], number][] = [
    [[1, 2], 5],
    [[2, 2], 5],
    [[3], 4],
    [[1, 2, 3], 5],
    [[], 5],
    [[1, 1, 1], 4],
  ];

  function build(lp: G.Tensor, g: G.Graph) {
    const labels = g.constant(Int32Array.from(items.flatMap(([l]) => [...l, ...new Array(L - l.length).fill(1)])), 'i32', [B, L]);
    const labelLengths = g.constant(Int32Array.from(items.map(([l]) => l.length)), 'i32', [B]);
    const inputLengths = g.constant(Int32Array.from(items.map(([, n]) => n)), 'i32', [B]);
    return G.ctcLoss(lp, labels, labelLengths, inputLengths, { blank: BLANK });
  }

  it('equals the brute-force sum over all alignments (f64)', async () => {
    const rng = new Rng(3);
    const logits = Float64Array.from({ length: B * T * C }, () => 2 * rng.normal());
    const logp = logSoftmaxRows(logits, C);
    const g = new G.Graph();
    const x = g.input('logp', 'f64', [B, T, C]);
    const r = build(x, g);
    const s = await Session.create(G.toOnnx(g, { outputs: { loss: r.loss, perItem: r.perItem, count: r.count } }), { device: 'cpu' });
    const out = await s.run({ logp: hostTensor('f64', [B, T, C], logp) });
    await s.release();
    const per = out['perItem']!.data as Float64Array;
    const expected = items.map(([l, n], b) => (l.length === 0 ? Infinity : bruteForce(logp.subarray(b * T * C, (b * T + n) * C), n, C, l)));
    expect(Number.isFinite(expected[5]!)).toBe(false); // the infeasible item really has no path
    const counted: number[] = [];
    expected.forEach((e, b) => {
      if (Number.isFinite(e)) {
        expect(per[b]).toBeCloseTo(e, 9);
        counted.push(b);
      } else expect(per[b]).toBe(0);
    });
    expect((out['count']!.data as Float64Array)[0]).toBe(counted.length);
    const mean = counted.reduce((a, b) => a + expected[b]! / items[b]![0].length, 0) / counted.length;
    expect((out['loss']!.data as Float64Array)[0]).toBeCloseTo(mean, 9);
  });

  it('gradient matches central differences (through a log-softmax, f64)', async () => {
    const r = await checkGradients([{ name: 'x', shape: [B, T, C], range: [-2, 2] }], (v, g) => build(G.logSoftmax(v['x']!, -1), g).loss);
    expect(r.checked).toBe(B * T * C);
    expect(r.maxError).toBeLessThan(1e-6);
  });

  it('greedy decoding merges repeats and drops blanks', () => {
    // argmax per frame: 1 1 0 1 2 2 0 → 1, 1, 2
    const best = [1, 1, 0, 1, 2, 2, 0];
    const scores = best.flatMap((c) => [0, 1, 2].map((k) => (k === c ? 1 : 0)));
    expect(G.ctcGreedy(scores, best.length, 3, 0)).toEqual([1, 1, 2]);
    expect(G.ctcGreedy(scores, 2, 3, 0)).toEqual([1]);
  });
});
