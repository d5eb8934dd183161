/**
 * The VJP table: for each primitive, the cotangents of its inputs given the cotangent `g` of its
 * output, written in the same IR. Composites (softmax-based losses, norms, attention) are built
 * from primitives and need no rule of their own.
 */
import { HerdError } from '@herd/core';
import * as o from '../ops.js';
import { type Dim, type Shape, isStatic } from '../ir/shape.js';
import { type OpName, Tensor } from '../ir/tensor.js';

type Vjp = (y: Tensor, g: Tensor) => readonly (Tensor | undefined)[];

/** Sums `g` down to `shape`, undoing numpy broadcasting. */
export function unbroadcast(g: Tensor, shape: Shape): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
  }
  const summed = axes.length ? o.sum(g, axes, true) : g;
  return o.reshape(summed, shape);
}

function zerosLike(x: Tensor): Tensor {
  if (!isStatic(x.shape)) throw new HerdError('shape_mismatch', `zeros of symbolic ${x.describe()} in a VJP`);
  return x.graph.fill(0, x.dtype, x.shape as number[]);
}

/** Shape of a reduction's output with the reduced axes kept as 1. */
function keptShape(x: Tensor, axes: readonly number[]): Dim[] {
  return x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reducedCount(x: Tensor, axes: readonly number[]): number {
  return axes.reduce((n, a) => n * x.dim(a), 1);
}

const [A, B, C] = [0, 1, 2];
const inp = (y: Tensor, i: number): Tensor => y.inputs[i]!;

function convWeightGrad(x: Tensor, dy: Tensor, w: Shape, attrs: Tensor['attrs']): Tensor {
  // dW[g·Co+o, i, k] = Σ_{n,t} dY[n, g·Co+o, t] · Xpad[n, g·Ci+i, t·s + k·d]: a conv of X (channels as
  // batch) with dY (batch as channels), stride and dilation swapped.
  const group = attrs['group'] as number;
  const strides = attrs['strides'] as number[];
  const dilations = attrs['dilations'] as number[];
  const pads = attrs['pads'] as number[];
  const n = x.rank - 2;
  const N = x.dim(0);
  const Ci = x.dim(1) / group;
  const spatialX = x.shape.slice(2);
  const xr = o.reshape(x, [N, group, Ci, ...spatialX]); // [N, G, Ci, *S]
  const xt = o.reshape(o.transpose(xr, [2, 1, 0, ...spatialX.map((_, i) => 3 + i)]), [Ci, group * N, ...spatialX]); // [Ci, G·N, *S]
  const dyt = o.transpose(dy, [1, 0, ...dy.shape.slice(2).map((_, i) => 2 + i)]); // [G·Co, N, *T]
  let out = o.conv(xt, dyt, { strides: dilations, dilations: strides, pads, group }); // [Ci, G·Co, *K']
  for (let i = 0; i < n; i++) out = o.slice(out, 2 + i, 0, w[2 + i] as number);
  return o.transpose(out, [1, 0, ...spatialX.map((_, i) => 2 + i)]); // [G·Co, Ci, *K]
}

export const VJP: Partial<Record<OpName, Vjp>> = {
  neg: (_, g) => [o.neg(g)],
  exp: (y, g) => [o.mul(g, y)],
  log: (y, g) => [o.div(g, inp(y, A))],
  sqrt: (y, g) => [o.div(o.mul(g, 0.5), y)],
  tanh: (y, g) => [o.mul(g, o.sub(1, o.mul(y, y)))],
  sigmoid: (y, g) => [o.mul(g, o.mul(y, o.sub(1, y)))],
  erf: (y, g) => {
    const x = inp(y, A);
    return [o.mul(g, o.mul(o.exp(o.neg(o.mul(x, x))), 2 / Math.sqrt(Math.PI)))];
  },
  relu: (y, g) => [o.where(o.greater(inp(y, A), 0), g, 0)],
  abs: (y, g) => {
    const x = inp(y, A);
    return [o.where(o.greater(x, 0), g, o.where(o.less(x, 0), o.neg(g), 0))];
  },
  reciprocal: (y, g) => [o.neg(o.mul(g, o.mul(y, y)))],
  sin: (y, g) => [o.mul(g, o.cos(inp(y, A)))],
  cos: (y, g) => [o.neg(o.mul(g, o.sin(inp(y, A))))],
  add: (y, g) => [unbroadcast(g, inp(y, A).shape), unbroadcast(g, inp(y, B).shape)],
  sub: (y, g) => [unbroadcast(g, inp(y, A).shape), unbroadcast(o.neg(g), inp(y, B).shape)],
  mul: (y, g) => [unbroadcast(o.mul(g, inp(y, B)), inp(y, A).shape), unbroadcast(o.mul(g, inp(y, A)), inp(y, B).shape)],
  div: (y, g) => {
    const b = inp(y, B);
    const ga = o.div(g, b);
    return [unbroadcast(ga, inp(y, A).shape), unbroadcast(o.neg(o.mul(ga, y)), b.shape)];
  },
  pow: (y, g) => {
    const a = inp(y, A);
    const b = inp(y, B);
    const ga = o.mul(g, o.mul(b, o.pow(a, o.sub(b, 1))));
    // d/db a^b = a^b·ln a; only defined for a > 0, so guard the log elsewhere.
    const gb = o.mul(g, o.mul(y, o.log(o.where(o.greater(a, 0), a, 1))));
    return [unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)];
  },
  maximum: (y, g) => {
    const [a, b] = [inp(y, A), inp(y, B)];
    const pick = o.less(a, b); // ties go to a
    return [unbroadcast(o.where(pick, 0, g), a.shape), unbroadcast(o.where(pick, g, 0), b.shape)];
  },
  minimum: (y, g) => {
    const [a, b] = [inp(y, A), inp(y, B)];
    const pick = o.greater(a, b);
    return [unbroadcast(o.where(pick, 0, g), a.shape), unbroadcast(o.where(pick, g, 0), b.shape)];
  },
  where: (y, g) => {
    const c = inp(y, A);
    return [undefined, unbroadcast(o.where(c, g, 0), inp(y, B).shape), unbroadcast(o.where(c, 0, g), inp(y, C).shape)];
  },
  cast: (y, g) => [o.cast(g, inp(y, A).dtype)],
  stopGradient: () => [undefined],
  reduceSum: (y, g) => {
    const x = inp(y, A);
    const axes = y.attrs['axes'] as number[];
    return [o.expand(o.reshape(g, keptShape(x, axes)), x.shape)];
  },
  reduceMean: (y, g) => {
    const x = inp(y, A);
    const axes = y.attrs['axes'] as number[];
    return [o.expand(o.reshape(o.mul(g, 1 / reducedCount(x, axes)), keptShape(x, axes)), x.shape)];
  },
  reduceMax: (y, g) => {
    const x = inp(y, A);
    const axes = y.attrs['axes'] as number[];
    const kept = keptShape(x, axes);
    const hit = o.cast(o.equal(x, o.reshape(y, kept)), x.dtype);
    const count = o.sum(hit, axes, true); // ties share the gradient
    return [o.mul(o.div(hit, count), o.reshape(g, kept))];
  },
  reduceLogSumExp: (y, g) => {
    const x = inp(y, A);
    const kept = keptShape(x, y.attrs['axes'] as number[]);
    return [o.mul(o.exp(o.sub(x, o.reshape(y, kept))), o.reshape(g, kept))];
  },
  reshape: (y, g) => [o.reshape(g, inp(y, A).shape)],
  transpose: (y, g) => {
    const perm = y.attrs['perm'] as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [o.transpose(g, inv)];
  },
  concat: (y, g) => {
    const axis = y.attrs['axis'] as number;
    let at = 0;
    return y.inputs.map((x) => {
      const len = x.dim(axis);
      const part = o.slice(g, axis, at, at + len);
      at += len;
      return part;
    });
  },
  slice: (y, g) => {
    const x = inp(y, A);
    const axis = y.attrs['axis'] as number;
    const [start, end, step] = [y.attrs['start'] as number, y.attrs['end'] as number, y.attrs['step'] as number];
    if (step !== 1) throw new HerdError('unsupported_op', `slice with step ${step} has no VJP yet (${y.describe()})`);
    const d = x.dim(axis);
    const pads: [number, number][] = x.shape.map((_, i) => (i === axis ? [start, d - Math.min(end, d)] : [0, 0]));
    return [o.pad(g, pads)];
  },
  expand: (y, g) => [unbroadcast(g, inp(y, A).shape)],
  pad: (y, g) => {
    const pads = y.attrs['pads'] as [number, number][];
    let out = g;
    pads.forEach(([a], i) => {
      if (pads[i]![0] || pads[i]![1]) out = o.slice(out, i, a, a + inp(y, A).dim(i));
    });
    return [out];
  },
  gather: (y, g) => {
    const [table, idx] = [inp(y, A), inp(y, B)];
    return [o.scatterAddRows(zerosLike(table), idx, g), undefined];
  },
  gatherElements: (y, g) => {
    const [x, idx] = [inp(y, A), inp(y, B)];
    return [o.scatterElementsAdd(zerosLike(x), idx, g, y.attrs['axis'] as number), undefined];
  },
  scatterNDAdd: (y, g) => [g, undefined, o.gather(g, inp(y, B))],
  scatterElementsAdd: (y, g) => [g, undefined, o.gatherElements(g, inp(y, B), y.attrs['axis'] as number)],
  matmul: (y, g) => {
    const [a, b] = [inp(y, A), inp(y, B)];
    const ga = o.matmul(g, o.swapAxes(b));
    let gb: Tensor;
    if (b.rank === 2 && a.rank > 2) {
      // Fold the batch into one product instead of a batched product and a sum: [K, M·] × [M·, N].
      const k = a.shape[a.rank - 1]!;
      const n = g.shape[g.rank - 1]!;
      gb = o.matmul(o.swapAxes(o.reshape(a, [-1, k])), o.reshape(g, [-1, n]));
    } else {
      gb = o.matmul(o.swapAxes(a), g);
    }
    return [unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)];
  },
  conv: (y, g) => {
    const [x, w] = [inp(y, A), inp(y, B)];
    const opts = { strides: y.attrs['strides'] as number[], pads: y.attrs['pads'] as number[], dilations: y.attrs['dilations'] as number[], group: y.attrs['group'] as number };
    const gx = o.convTranspose(g, w, x.shape.slice(2) as number[], opts);
    return [gx, convWeightGrad(x, g, w.shape, y.attrs)];
  },
  convTranspose: (y, g) => {
    const [dy, w] = [inp(y, A), inp(y, B)];
    const opts = { strides: y.attrs['strides'] as number[], pads: y.attrs['pads'] as number[], dilations: y.attrs['dilations'] as number[], group: y.attrs['group'] as number };
    // convTranspose is conv's adjoint in x, so its own adjoint in y is conv; its weight gradient is
    // conv's weight gradient with the roles of input and output swapped.
    return [o.conv(g, w, opts), convWeightGrad(g, dy, w.shape, y.attrs)];
  },
  softmax: (y, g) => {
    const axis = y.attrs['axis'] as number;
    return [o.mul(y, o.sub(g, o.sum(o.mul(g, y), axis, true)))];
  },
};

/** Ops whose outputs never carry gradients (boolean or index results). */
export const NON_DIFFERENTIABLE: ReadonlySet<OpName> = new Set<OpName>([
  'equal', 'less', 'greater', 'and', 'or', 'not', 'isnan', 'isinf', 'stopGradient',
]);
