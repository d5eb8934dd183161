/**
 * A gradient check for every primitive op and the composites built on them: central differences in
 * float64 on ONNX Runtime's CPU provider against the VJPs, on random shapes including broadcasting.
 * Ops whose CPU kernels exist only in float32 (erf, conv, convTranspose) are checked in f32 with a
 * looser tolerance.
 */
import { describe, expect, it } from 'vitest';
import * as G from '@herd/graph';
import { type Tensor } from '@herd/graph';
import { type GradCheckInput, Session, checkGradients, hostTensor } from '@herd/runtime';

/** Tolerances: relative error of analytic vs numeric gradients. */
const TOL_F64 = 1e-6;
const TOL_F32 = 2e-2;

type Case = { name: string; inputs: GradCheckInput[]; build: (x: Record<string, Tensor>, g: G.Graph) => Tensor; dtype?: 'f32' | 'f64' };

const pos: [number, number] = [0.5, 2];
const x = (shape: number[], range?: [number, number]): GradCheckInput => ({ name: 'x', shape, ...(range ? { range } : {}) });
const y = (shape: number[], range?: [number, number]): GradCheckInput => ({ name: 'y', shape, ...(range ? { range } : {}) });

const cases: Case[] = [
  // elementwise unary
  { name: 'neg', inputs: [x([3, 4])], build: (v) => G.neg(v['x']!) },
  { name: 'exp', inputs: [x([3, 4])], build: (v) => G.exp(v['x']!) },
  { name: 'log', inputs: [x([3, 4], pos)], build: (v) => G.log(v['x']!) },
  { name: 'sqrt', inputs: [x([3, 4], pos)], build: (v) => G.sqrt(v['x']!) },
  { name: 'rsqrt', inputs: [x([3, 4], pos)], build: (v) => G.rsqrt(v['x']!) },
  { name: 'tanh', inputs: [x([3, 4])], build: (v) => G.tanh(v['x']!) },
  { name: 'sigmoid', inputs: [x([3, 4])], build: (v) => G.sigmoid(v['x']!) },
  { name: 'erf', inputs: [x([3, 4])], build: (v) => G.erf(v['x']!), dtype: 'f32' },
  { name: 'relu', inputs: [x([3, 4])], build: (v) => G.relu(v['x']!) },
  { name: 'abs', inputs: [x([3, 4])], build: (v) => G.abs(v['x']!) },
  { name: 'reciprocal', inputs: [x([3, 4], pos)], build: (v) => G.reciprocal(v['x']!) },
  { name: 'sin', inputs: [x([3, 4])], build: (v) => G.sin(v['x']!) },
  { name: 'cos', inputs: [x([3, 4])], build: (v) => G.cos(v['x']!) },
  { name: 'silu', inputs: [x([3, 4])], build: (v) => G.silu(v['x']!) },
  { name: 'gelu', inputs: [x([3, 4])], build: (v) => G.gelu(v['x']!), dtype: 'f32' },
  // elementwise binary with broadcasting
  { name: 'add (broadcast)', inputs: [x([2, 3, 4]), y([3, 1])], build: (v) => G.add(v['x']!, v['y']!) },
  { name: 'sub (broadcast)', inputs: [x([4]), y([2, 3, 4])], build: (v) => G.sub(v['x']!, v['y']!) },
  { name: 'mul (broadcast)', inputs: [x([2, 1, 4]), y([1, 3, 1])], build: (v) => G.mul(v['x']!, v['y']!) },
  { name: 'div (broadcast)', inputs: [x([2, 3]), y([3], pos)], build: (v) => G.div(v['x']!, v['y']!) },
  { name: 'pow', inputs: [x([2, 3], pos), y([2, 3])], build: (v) => G.pow(v['x']!, v['y']!) },
  { name: 'maximum', inputs: [x([2, 3]), y([3])], build: (v) => G.maximum(v['x']!, v['y']!) },
  { name: 'minimum', inputs: [x([2, 3]), y([2, 1])], build: (v) => G.minimum(v['x']!, v['y']!) },
  { name: 'where', inputs: [x([2, 3]), y([3])], build: (v) => G.where(G.greater(v['x']!, 0), v['x']!, v['y']!) },
  { name: 'cast f64→f32→f64', inputs: [x([2, 3])], build: (v) => G.cast(G.mul(G.cast(v['x']!, 'f32'), 3), 'f64'), dtype: 'f32' },
  // reductions
  { name: 'sum (axes)', inputs: [x([2, 3, 4])], build: (v) => G.sum(v['x']!, [0, 2]) },
  { name: 'sum (keepdims)', inputs: [x([2, 3, 4])], build: (v) => G.sum(v['x']!, 1, true) },
  { name: 'mean', inputs: [x([2, 3, 4])], build: (v) => G.mean(v['x']!, -1) },
  { name: 'max', inputs: [x([3, 5])], build: (v) => G.max(v['x']!, 1) },
  { name: 'logSumExp', inputs: [x([3, 5])], build: (v) => G.logSumExp(v['x']!, -1, true) },
  // layout
  { name: 'reshape', inputs: [x([2, 6])], build: (v) => G.tanh(G.reshape(v['x']!, [3, -1])) },
  { name: 'transpose', inputs: [x([2, 3, 4])], build: (v) => G.tanh(G.transpose(v['x']!, [2, 0, 1])) },
  { name: 'concat', inputs: [x([2, 3]), y([2, 2])], build: (v) => G.tanh(G.concat([v['x']!, v['y']!, v['x']!], 1)) },
  { name: 'slice', inputs: [x([4, 5])], build: (v) => G.tanh(G.slice(v['x']!, 1, 1, 4)) },
  { name: 'expand', inputs: [x([3, 1])], build: (v) => G.tanh(G.expand(v['x']!, [2, 3, 4])) },
  { name: 'squeeze/unsqueeze', inputs: [x([3, 1, 2])], build: (v) => G.tanh(G.unsqueeze(G.squeeze(v['x']!, 1), 0)) },
  { name: 'pad', inputs: [x([2, 3])], build: (v) => G.tanh(G.pad(v['x']!, [[1, 2]], 0.5)) },
  // indexing
  {
    name: 'gather (embedding, repeated ids)',
    inputs: [x([5, 3]), { name: 'i', shape: [2, 3], value: hostTensor('i32', [2, 3], [0, 4, 4, 1, 0, 2]) }],
    build: (v) => G.gather(v['x']!, v['i']!),
  },
  {
    name: 'gatherElements',
    inputs: [x([3, 4]), { name: 'i', shape: [3, 2], value: hostTensor('i64', [3, 2], [0, 3, 3, 3, 1, 2]) }],
    build: (v) => G.gatherElements(v['x']!, v['i']!, 1),
  },
  {
    name: 'scatterAddRows',
    inputs: [x([4, 2]), y([3, 2]), { name: 'i', shape: [3], value: hostTensor('i32', [3], [1, 3, 1]) }],
    build: (v) => G.tanh(G.scatterAddRows(v['x']!, v['i']!, v['y']!)),
  },
  {
    name: 'scatterElementsAdd',
    inputs: [x([2, 4]), y([2, 2]), { name: 'i', shape: [2, 2], value: hostTensor('i64', [2, 2], [0, 0, 3, 1]) }],
    build: (v) => G.tanh(G.scatterElementsAdd(v['x']!, v['i']!, v['y']!, 1)),
  },
  // linear algebra
  { name: 'matmul (batched, broadcast)', inputs: [x([2, 3, 4]), y([4, 5])], build: (v) => G.matmul(v['x']!, v['y']!) },
  { name: 'matmul (batch broadcast both)', inputs: [x([2, 1, 3, 4]), y([3, 4, 2])], build: (v) => G.matmul(v['x']!, v['y']!) },
  {
    name: 'conv1d (stride, pad, dilation)',
    inputs: [x([2, 4, 9]), y([6, 4, 3])],
    build: (v) => G.conv(v['x']!, v['y']!, { strides: [2], pads: [1], dilations: [2] }),
    dtype: 'f32',
  },
  { name: 'conv1d depthwise (groups)', inputs: [x([2, 4, 7]), y([4, 1, 3])], build: (v) => G.conv(v['x']!, v['y']!, { pads: [1], group: 4 }), dtype: 'f32' },
  { name: 'conv2d (stride, groups)', inputs: [x([1, 4, 6, 5]), y([4, 2, 3, 2])], build: (v) => G.conv(v['x']!, v['y']!, { strides: [2, 1], pads: [1, 0], group: 2 }), dtype: 'f32' },
  { name: 'conv2d patch embedding', inputs: [x([1, 3, 8, 8]), y([5, 3, 4, 4])], build: (v) => G.conv(v['x']!, v['y']!, { strides: [4, 4] }), dtype: 'f32' },
  { name: 'convTranspose', inputs: [x([1, 4, 5]), y([4, 3, 3])], build: (v) => G.convTranspose(v['x']!, v['y']!, [10], { strides: [2], pads: [1] }), dtype: 'f32' },
  // networks
  { name: 'softmax', inputs: [x([3, 5])], build: (v) => G.softmax(v['x']!, -1) },
  { name: 'logSoftmax', inputs: [x([3, 5])], build: (v) => G.logSoftmax(v['x']!, -1) },
  { name: 'rmsNorm', inputs: [x([3, 6]), y([6])], build: (v) => G.rmsNorm(v['x']!, v['y']!, 1e-5) },
  { name: 'layerNorm', inputs: [x([3, 6]), y([6])], build: (v) => G.layerNorm(v['x']!, v['y']!, v['y']!, 1e-5) },
  {
    name: 'crossEntropy (ignore index)',
    inputs: [x([2, 3, 5]), { name: 't', shape: [2, 3], value: hostTensor('i64', [2, 3], [1, -100, 4, 0, 2, -100]) }],
    build: (v) => G.crossEntropy(v['x']!, v['t']!).loss,
  },
  {
    name: 'crossEntropy (target weights, ignore index)',
    inputs: [x([2, 3, 5]), { name: 't', shape: [2, 3], value: hostTensor('i64', [2, 3], [1, -100, 4, 0, 2, -100]) }, { name: 'w', shape: [2, 3], value: hostTensor('f64', [2, 3], [5, 7, 1, 1, 2, 3]) }],
    build: (v) => G.crossEntropy(v['x']!, v['t']!, -100, v['w']!).loss,
  },
  {
    name: 'attention (GQA, causal mask)',
    inputs: [{ name: 'q', shape: [1, 4, 3, 2] }, { name: 'k', shape: [1, 2, 3, 2] }, { name: 'v', shape: [1, 2, 3, 2] }],
    build: (v, g) => G.attention(v['q']!, v['k']!, v['v']!, { mask: G.causalMask(g, 3) }),
  },
  {
    name: 'attention (document mask)',
    inputs: [
      { name: 'q', shape: [2, 2, 4, 2] }, { name: 'k', shape: [2, 2, 4, 2] }, { name: 'v', shape: [2, 2, 4, 2] },
      { name: 'd', shape: [2, 4], value: hostTensor('i32', [2, 4], [0, 0, 1, 1, 0, 1, 1, 1]) },
    ],
    build: (v) => G.attention(v['q']!, v['k']!, v['v']!, { mask: G.documentCausalMask(v['d']!) }),
  },
  {
    name: 'attention (padding mask + causal)',
    inputs: [
      { name: 'q', shape: [2, 2, 3, 2] }, { name: 'k', shape: [2, 1, 3, 2] }, { name: 'v', shape: [2, 1, 3, 2] },
      { name: 'p', shape: [2, 3], value: hostTensor('bool', [2, 3], [1, 1, 1, 1, 1, 0]) },
    ],
    build: (v, g) => G.attention(v['q']!, v['k']!, v['v']!, { mask: G.logicalAnd(G.paddingMask(v['p']!), G.causalMask(g, 3)) }),
  },
  {
    name: 'dropout (fixed seed)',
    inputs: [x([4, 8]), { name: 's', shape: [], value: hostTensor('f32', [], [7]) }],
    build: (v) => G.dropout(v['x']!, 0.3, v['s']!),
  },
];

describe('gradient checks', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const r = await checkGradients(c.inputs, c.build, { dtype: c.dtype ?? 'f64' });
      const tol = (c.dtype ?? 'f64') === 'f64' ? TOL_F64 : TOL_F32;
      expect(r.checked).toBeGreaterThan(0);
      expect(r.maxError, `worst: ${JSON.stringify(r.worst)}`).toBeLessThan(tol);
    });
  }

  it('stopGradient blocks the gradient', async () => {
    // d/dx [x² + sg(x)] must be 2x, not 2x + 1: build the graph and compare analytically.
    const g = new G.Graph();
    const xi = g.input('x', 'f64', [3]);
    const [gx] = G.grad(G.sum(G.add(G.mul(xi, xi), G.stopGradient(xi))), [xi]);
    const s = await Session.create(G.toOnnx(g, { outputs: { gx: gx! } }));
    const out = await s.run({ x: hostTensor('f64', [3], [1, -2, 0.5]) });
    expect(Array.from(out['gx']!.data as Float64Array)).toEqual([2, -4, 1]);
  });

  it('crossEntropy with target weights is the weighted mean over the counted targets; weights of 1 give the plain mean', async () => {
    const g = new G.Graph();
    const logits = g.input('x', 'f64', [2, 3, 4]);
    const t = g.input('t', 'i64', [2, 3]);
    const w = g.input('w', 'f64', [2, 3]);
    const plain = G.crossEntropy(logits, t);
    const weighted = G.crossEntropy(logits, t, -100, w);
    const s = await Session.create(G.toOnnx(g, { outputs: { plain: plain.loss, weighted: weighted.loss, count: weighted.count, per: plain.perToken } }));
    const xs = Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.7) * 2);
    const targets = [1, -100, 3, 0, 2, -100];
    const feed = (ws: number[]) => s.run({ x: hostTensor('f64', [2, 3, 4], xs), t: hostTensor('i64', [2, 3], targets), w: hostTensor('f64', [2, 3], ws) });
    const ones = await feed([1, 1, 1, 1, 1, 1]);
    expect((ones['weighted']!.data as Float64Array)[0]).toBe((ones['plain']!.data as Float64Array)[0]);
    const ws = [5, 9, 1, 2, 1, 9]; // the 9s sit on ignored targets: they must not count
    const out = await feed(ws);
    const per = Array.from(out['per']!.data as Float64Array);
    const want = (5 * per[0]! + per[2]! + 2 * per[3]! + per[4]!) / (5 + 1 + 2 + 1);
    expect((out['weighted']!.data as Float64Array)[0]).toBeCloseTo(want, 12);
    expect((out['count']!.data as Float64Array)[0]).toBe(4);
  });

  it('covers every op that has a VJP', () => {
    // Each VJP-table entry must be exercised by some case above (checked by name of the primitive).
    const covered = new Set<string>();
    for (const c of cases) {
      const g = new G.Graph();
      const xs: Record<string, Tensor> = {};
      for (const i of c.inputs) xs[i.name] = g.input(i.name, i.value?.dtype ?? 'f64', i.shape);
      c.build(xs, g);
      for (const t of g.tensors) covered.add(t.op);
    }
    covered.add('stopGradient'); // checked by its own test above
    const missing = Object.keys(G.VJP).filter((op) => !covered.has(op));
    expect(missing).toEqual([]);
  });
});
