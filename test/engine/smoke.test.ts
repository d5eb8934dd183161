import { describe, expect, it } from 'vitest';
import { Graph, add, matmul, toOnnx, tanh } from '@herd/graph';
import { Session, checkGradients, hostTensor } from '@herd/runtime';

describe('smoke', () => {
  it('runs a tiny graph', async () => {
    const g = new Graph();
    const x = g.input('x', 'f32', [2, 3]);
    const w = g.param('w', 'f32', [3, 2], { value: Float32Array.from([1, 0, 0, 1, 1, 1]) });
    const y = tanh(add(matmul(x, w), 1));
    const s = await Session.create(toOnnx(g, { outputs: { y } }));
    const out = await s.run({ x: hostTensor('f32', [2, 3], [1, 2, 3, 0, 0, 0]) });
    const want = [Math.tanh(5), Math.tanh(6), Math.tanh(1), Math.tanh(1)];
    Array.from(out['y']!.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
  });
  it('gradchecks matmul', async () => {
    const r = await checkGradients([{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [3, 4] }], (x) => tanh(matmul(x['a']!, x['b']!)));
    expect(r.maxError).toBeLessThan(1e-6);
  });
});
