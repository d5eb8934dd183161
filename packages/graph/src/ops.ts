/**
 * The primitive ops of the IR as builder functions. Each checks its inputs (dtype, shape) and
 * computes the output's dtype and shape, so shape errors are raised when the graph is built with
 * a message that names the op and the shapes involved.
 *
 * Shape legend used in comments: B batch, T tokens, C channels, H heads, D head dim, V vocab.
 */
import { HerdError } from '@herd/core';
import { type DType, isFloat } from './ir/dtype.js';
import { type Dim, type Shape, addDims, broadcastShapes, formatShape, isStatic, normAxis, numel } from './ir/shape.js';
import { type Attrs, type OpName, Tensor } from './ir/tensor.js';

export type TensorLike = Tensor | number;

function make(op: OpName, inputs: readonly Tensor[], attrs: Attrs, dtype: DType, shape: Shape): Tensor {
  const g = inputs[0]!.graph;
  for (const t of inputs) {
    if (t.graph !== g) throw new HerdError('invalid_argument', `${op}: inputs come from different graphs (${inputs.map((i) => i.describe()).join(', ')})`);
  }
  return new Tensor(g, op, inputs, attrs, dtype, shape);
}

function requireFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (!isFloat(t.dtype)) throw new HerdError('dtype_mismatch', `${op}: expected a float tensor, got ${t.describe()}`);
  }
}

function sameDtype(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) throw new HerdError('dtype_mismatch', `${op}: dtypes differ: ${a.describe()} vs ${b.describe()} (cast one of them)`);
}

/** Lifts a number to a scalar constant of the other operand's dtype. */
function lift(a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') throw new HerdError('invalid_argument', 'binary op on two numbers: at least one tensor is needed');
  const ta = typeof a === 'number' ? (b as Tensor).graph.scalar(a, (b as Tensor).dtype) : a;
  const tb = typeof b === 'number' ? ta.graph.scalar(b, ta.dtype) : b;
  return [ta, tb];
}

// ---------------------------------------------------------------- elementwise

function unary(op: OpName, x: Tensor, floatOnly = true): Tensor {
  if (floatOnly) requireFloat(op, x);
  return make(op, [x], {}, x.dtype, x.shape);
}

export const neg = (x: Tensor): Tensor => make('neg', [x], {}, x.dtype, x.shape);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const erf = (x: Tensor): Tensor => unary('erf', x);
export const relu = (x: Tensor): Tensor => unary('relu', x);
export const abs = (x: Tensor): Tensor => make('abs', [x], {}, x.dtype, x.shape);
export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x);
export const sin = (x: Tensor): Tensor => unary('sin', x);
export const cos = (x: Tensor): Tensor => unary('cos', x);
export const rsqrt = (x: Tensor): Tensor => reciprocal(sqrt(x));

export function logicalNot(x: Tensor): Tensor {
  if (x.dtype !== 'bool') throw new HerdError('dtype_mismatch', `not: expected bool, got ${x.describe()}`);
  return make('not', [x], {}, 'bool', x.shape);
}
export const isNaN = (x: Tensor): Tensor => (requireFloat('isnan', x), make('isnan', [x], {}, 'bool', x.shape));
export const isInf = (x: Tensor): Tensor => (requireFloat('isinf', x), make('isinf', [x], {}, 'bool', x.shape));

function binary(op: OpName, a: TensorLike, b: TensorLike, outDtype?: DType): Tensor {
  const [ta, tb] = lift(a, b);
  sameDtype(op, ta, tb);
  const shape = broadcastShapes(op, [ta.shape, tb.shape]);
  return make(op, [ta, tb], {}, outDtype ?? ta.dtype, shape);
}

export const add = (a: TensorLike, b: TensorLike): Tensor => binary('add', a, b);
export const sub = (a: TensorLike, b: TensorLike): Tensor => binary('sub', a, b);
export const mul = (a: TensorLike, b: TensorLike): Tensor => binary('mul', a, b);
export const div = (a: TensorLike, b: TensorLike): Tensor => binary('div', a, b);
export const pow = (a: TensorLike, b: TensorLike): Tensor => binary('pow', a, b);
export const maximum = (a: TensorLike, b: TensorLike): Tensor => binary('maximum', a, b);
export const minimum = (a: TensorLike, b: TensorLike): Tensor => binary('minimum', a, b);
export const equal = (a: TensorLike, b: TensorLike): Tensor => binary('equal', a, b, 'bool');
export const less = (a: TensorLike, b: TensorLike): Tensor => binary('less', a, b, 'bool');
export const greater = (a: TensorLike, b: TensorLike): Tensor => binary('greater', a, b, 'bool');
export const logicalAnd = (a: Tensor, b: Tensor): Tensor => binary('and', a, b, 'bool');
export const logicalOr = (a: Tensor, b: Tensor): Tensor => binary('or', a, b, 'bool');

/** cond ? a : b, broadcasting all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (cond.dtype !== 'bool') throw new HerdError('dtype_mismatch', `where: condition must be bool, got ${cond.describe()}`);
  const [ta, tb] = lift(a, b);
  sameDtype('where', ta, tb);
  return make('where', [cond, ta, tb], {}, ta.dtype, broadcastShapes('where', [cond.shape, ta.shape, tb.shape]));
}

export function cast(x: Tensor, to: DType): Tensor {
  if (x.dtype === to) return x;
  return make('cast', [x], { to }, to, x.shape);
}

/** Identity in the forward pass; no gradient flows through it. */
export const stopGradient = (x: Tensor): Tensor => make('stopGradient', [x], {}, x.dtype, x.shape);

// ---------------------------------------------------------------- reductions

function reduce(op: OpName, x: Tensor, axes: number | readonly number[] | undefined, keepDims: boolean): Tensor {
  const list = axes === undefined ? x.shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : axes;
  const norm = [...new Set(list.map((a) => normAxis(op, a, x.rank)))].sort((a, b) => a - b);
  const shape: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!norm.includes(i)) shape.push(d);
    else if (keepDims) shape.push(1);
  });
  if (op !== 'reduceMax') requireFloat(op, x);
  return make(op, [x], { axes: norm, keepDims }, x.dtype, shape);
}

export const sum = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => reduce('reduceSum', x, axes, keepDims);
export const mean = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => reduce('reduceMean', x, axes, keepDims);
export const max = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => reduce('reduceMax', x, axes, keepDims);
export const logSumExp = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => reduce('reduceLogSumExp', x, axes, keepDims);

// ---------------------------------------------------------------- layout

/**
 * Reshape. One entry may be -1 (inferred). Symbolic dims may appear in the target; they are
 * resolved at run time from the tensors that carry them.
 */
export function reshape(x: Tensor, shape: readonly Dim[]): Tensor {
  const target = [...shape];
  const minus = target.filter((d) => d === -1).length;
  if (minus > 1) throw new HerdError('shape_mismatch', `reshape: at most one -1 in ${formatShape(shape)}`);
  if (isStatic(x.shape) && target.every((d) => typeof d === 'number')) {
    const n = numel(x.shape);
    const known = (target as number[]).filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    if (minus === 1) {
      if (known === 0 || n % known !== 0) throw new HerdError('shape_mismatch', `reshape: cannot reshape ${x.describe()} to ${formatShape(shape)}`);
      target[target.indexOf(-1)] = n / known;
    } else if (known !== n) {
      throw new HerdError('shape_mismatch', `reshape: ${x.describe()} has ${n} elements, target ${formatShape(shape)} has ${known}`);
    }
  } else if (minus === 1) {
    // Infer the -1 symbolically: static sizes must divide, and at most one symbolic dim of x may be left over.
    const rest = target.filter((d) => d !== -1);
    const leftover = x.shape.filter((d): d is string => typeof d === 'string' && !rest.includes(d));
    const staticX = x.shape.filter((d): d is number => typeof d === 'number').reduce((a, b) => a * b, 1);
    const staticT = rest.filter((d): d is number => typeof d === 'number').reduce((a, b) => a * b, 1);
    if (leftover.length === 0 && staticX % staticT === 0) target[target.indexOf(-1)] = staticX / staticT;
    else if (leftover.length === 1 && staticX === staticT) target[target.indexOf(-1)] = leftover[0]!;
    else if (staticX % staticT === 0) {
      // A product of symbolic dims: named by its expression, and left to ONNX Runtime to infer (-1).
      const axis = target.indexOf(-1);
      const factor = staticX / staticT;
      target[axis] = [...leftover, ...(factor === 1 ? [] : [String(factor)])].join('*');
      return make('reshape', [x], { inferAxis: axis }, x.dtype, target);
    } else throw new HerdError('shape_mismatch', `reshape: cannot infer -1 of ${formatShape(shape)} from symbolic ${x.describe()}`);
  }
  if (target.length === x.rank && target.every((d, i) => d === x.shape[i])) return x;
  return make('reshape', [x], {}, x.dtype, target);
}

export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new HerdError('shape_mismatch', `transpose: perm [${perm.join(', ')}] is not a permutation of the axes of ${x.describe()}`);
  }
  if (perm.every((p, i) => p === i)) return x;
  return make('transpose', [x], { perm: [...perm] }, x.dtype, perm.map((p) => x.shape[p] as Dim));
}

/** Swaps two axes (default: the last two). */
export function swapAxes(x: Tensor, a = -2, b = -1): Tensor {
  const perm = x.shape.map((_, i) => i);
  const ia = normAxis('swapAxes', a, x.rank);
  const ib = normAxis('swapAxes', b, x.rank);
  perm[ia] = ib;
  perm[ib] = ia;
  return transpose(x, perm);
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new HerdError('invalid_argument', 'concat: no inputs');
  if (xs.length === 1) return xs[0]!;
  const first = xs[0]!;
  const ax = normAxis('concat', axis, first.rank);
  let along: Dim = 0;
  for (const x of xs) {
    sameDtype('concat', first, x);
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new HerdError('shape_mismatch', `concat on axis ${axis}: ${xs.map((t) => formatShape(t.shape)).join(', ')} differ off that axis`);
    }
    along = addDims(along, x.shape[ax]!);
  }
  const shape = [...first.shape];
  shape[ax] = along;
  return make('concat', xs, { axis: ax }, first.dtype, shape);
}

/** Static slice [start, end) with step along the given axes; negative indices count from the end. */
export function slice(x: Tensor, axis: number, start: number, end: number = Number.MAX_SAFE_INTEGER, step = 1): Tensor {
  const ax = normAxis('slice', axis, x.rank);
  const d = x.shape[ax]!;
  if (step < 1) throw new HerdError('invalid_argument', `slice: step must be ≥ 1, got ${step}`);
  let len: Dim;
  if (typeof d === 'number') {
    const s = Math.min(Math.max(start < 0 ? start + d : start, 0), d);
    const e = Math.min(Math.max(end < 0 ? end + d : end, 0), d);
    len = Math.max(0, Math.ceil((e - s) / step));
    if (len === d) return x;
    return make('slice', [x], { axis: ax, start: s, end: e, step }, x.dtype, x.shape.map((v, i) => (i === ax ? len : v)));
  }
  // A symbolic dim can only be sliced to a static length from its start.
  if (start >= 0 && end !== Number.MAX_SAFE_INTEGER && end >= 0 && step === 1) len = end - start;
  else if (start === 0 && end === Number.MAX_SAFE_INTEGER && step === 1) return x;
  else throw new HerdError('shape_mismatch', `slice: cannot slice symbolic dim ${d} of ${x.describe()} with [${start}, ${end})`);
  return make('slice', [x], { axis: ax, start, end, step }, x.dtype, x.shape.map((v, i) => (i === ax ? len : v)));
}

export function expand(x: Tensor, shape: readonly Dim[]): Tensor {
  const out = broadcastShapes('expand', [x.shape, shape]);
  if (out.length === x.rank && out.every((d, i) => d === x.shape[i])) return x;
  return make('expand', [x], { shape: out }, x.dtype, out);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = axis < 0 ? axis + x.rank + 1 : axis;
  const s = [...x.shape];
  s.splice(ax, 0, 1);
  return reshape(x, s);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const ax = normAxis('squeeze', axis, x.rank);
  if (x.shape[ax] !== 1) throw new HerdError('shape_mismatch', `squeeze: dim ${axis} of ${x.describe()} is not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== ax));
}

/** Constant padding: `pads` holds [before, after] per axis, for the trailing axes given. */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  if (pads.length > x.rank) throw new HerdError('shape_mismatch', `pad: ${pads.length} pad pairs for ${x.describe()}`);
  const full: [number, number][] = x.shape.map(() => [0, 0]);
  pads.forEach((p, i) => (full[x.rank - pads.length + i] = [p[0], p[1]]));
  if (full.some(([a, b]) => a < 0 || b < 0)) throw new HerdError('invalid_argument', 'pad: negative padding');
  const shape = x.shape.map((d, i) => {
    const [a, b] = full[i]!;
    if (a === 0 && b === 0) return d;
    if (typeof d !== 'number') throw new HerdError('shape_mismatch', `pad: cannot pad symbolic dim ${d}`);
    return d + a + b;
  });
  if (full.every(([a, b]) => a === 0 && b === 0)) return x;
  return make('pad', [x], { pads: full, value }, x.dtype, shape);
}

// ---------------------------------------------------------------- indexing

function requireIndex(op: string, i: Tensor): void {
  if (i.dtype !== 'i32' && i.dtype !== 'i64') throw new HerdError('dtype_mismatch', `${op}: indices must be i32 or i64, got ${i.describe()}`);
}

/** Rows of `table` (axis 0) picked by `indices`: [V, ...R] × I → [...I, ...R]. The embedding lookup. */
export function gather(table: Tensor, indices: Tensor): Tensor {
  requireIndex('gather', indices);
  return make('gather', [table, indices], {}, table.dtype, [...indices.shape, ...table.shape.slice(1)]);
}

/** out[..i..] = x[.. idx[..i..] ..] along `axis` (ONNX GatherElements); idx has x's rank. */
export function gatherElements(x: Tensor, idx: Tensor, axis: number): Tensor {
  requireIndex('gatherElements', idx);
  const ax = normAxis('gatherElements', axis, x.rank);
  if (idx.rank !== x.rank || idx.shape.some((d, i) => i !== ax && d !== x.shape[i])) {
    throw new HerdError('shape_mismatch', `gatherElements: indices ${formatShape(idx.shape)} must match ${x.describe()} off axis ${axis}`);
  }
  return make('gatherElements', [x, idx], { axis: ax }, x.dtype, idx.shape);
}

/** base with `updates` added at rows `indices` (axis 0; duplicates accumulate). The VJP of gather. */
export function scatterAddRows(base: Tensor, indices: Tensor, updates: Tensor): Tensor {
  requireIndex('scatterAddRows', indices);
  sameDtype('scatterAddRows', base, updates);
  const want = [...indices.shape, ...base.shape.slice(1)];
  if (updates.rank !== want.length || updates.shape.some((d, i) => d !== want[i])) {
    throw new HerdError('shape_mismatch', `scatterAddRows: updates ${formatShape(updates.shape)} should be ${formatShape(want)}`);
  }
  return make('scatterNDAdd', [base, indices, updates], {}, base.dtype, base.shape);
}

/** base with `updates` added at idx along `axis` (ONNX ScatterElements, reduction add). */
export function scatterElementsAdd(base: Tensor, idx: Tensor, updates: Tensor, axis: number): Tensor {
  requireIndex('scatterElementsAdd', idx);
  sameDtype('scatterElementsAdd', base, updates);
  const ax = normAxis('scatterElementsAdd', axis, base.rank);
  if (idx.rank !== base.rank || updates.rank !== base.rank) {
    throw new HerdError('shape_mismatch', `scatterElementsAdd: ranks differ: ${base.describe()}, ${idx.describe()}, ${updates.describe()}`);
  }
  return make('scatterElementsAdd', [base, idx, updates], { axis: ax }, base.dtype, base.shape);
}

// ---------------------------------------------------------------- linear algebra

/** Batched matrix product with numpy broadcasting of the batch dims: [..., M, K] × [..., K, N]. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  sameDtype('matmul', a, b);
  requireFloat('matmul', a);
  if (a.rank < 2 || b.rank < 2) throw new HerdError('shape_mismatch', `matmul: both operands need rank ≥ 2: ${a.describe()} × ${b.describe()}`);
  const k1 = a.shape[a.rank - 1]!;
  const k2 = b.shape[b.rank - 2]!;
  if (k1 !== k2) throw new HerdError('shape_mismatch', `matmul: inner dims differ: ${a.describe()} × ${b.describe()} (${k1} vs ${k2})`);
  const batch = broadcastShapes('matmul', [a.shape.slice(0, -2), b.shape.slice(0, -2)]);
  return make('matmul', [a, b], {}, a.dtype, [...batch, a.shape[a.rank - 2]!, b.shape[b.rank - 1]!]);
}

export interface ConvOptions {
  strides?: readonly number[];
  /** Symmetric padding per spatial axis, or [begin..., end...] as ONNX. */
  pads?: readonly number[];
  dilations?: readonly number[];
  group?: number;
}

function convOut(len: Dim, k: number, s: number, d: number, p0: number, p1: number): Dim {
  if (typeof len !== 'number') throw new HerdError('shape_mismatch', `conv: symbolic spatial dim ${len} is not supported`);
  return Math.floor((len + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

function fullPads(n: number, pads: readonly number[] | undefined): number[] {
  if (!pads) return new Array(2 * n).fill(0);
  if (pads.length === n) return [...pads, ...pads];
  if (pads.length === 2 * n) return [...pads];
  throw new HerdError('invalid_argument', `conv: pads must have ${n} or ${2 * n} entries, got ${pads.length}`);
}

/** N-d convolution (1-d: x [B, C, L], w [O, C/g, K]; 2-d: x [B, C, H, W], w [O, C/g, KH, KW]). */
export function conv(x: Tensor, w: Tensor, options: ConvOptions = {}): Tensor {
  sameDtype('conv', x, w);
  requireFloat('conv', x);
  const n = x.rank - 2;
  if (n < 1 || w.rank !== x.rank) throw new HerdError('shape_mismatch', `conv: x ${x.describe()} and w ${w.describe()} must have equal rank ≥ 3`);
  const group = options.group ?? 1;
  const strides = options.strides ?? new Array(n).fill(1);
  const dilations = options.dilations ?? new Array(n).fill(1);
  const pads = fullPads(n, options.pads);
  const c = x.dim(1);
  if (c % group !== 0 || w.dim(1) * group !== c || w.dim(0) % group !== 0) {
    throw new HerdError('shape_mismatch', `conv: channels ${c}, group ${group} and weight ${formatShape(w.shape)} disagree (need w[1]·group = C and group | O)`);
  }
  const spatial = x.shape.slice(2).map((len, i) => convOut(len, w.dim(2 + i), strides[i]!, dilations[i]!, pads[i]!, pads[n + i]!));
  if (spatial.some((d) => typeof d === 'number' && d < 1)) throw new HerdError('shape_mismatch', `conv: kernel larger than input: ${x.describe()} with ${w.describe()}`);
  return make('conv', [x, w], { strides, pads, dilations, group }, x.dtype, [x.shape[0]!, w.dim(0), ...spatial]);
}

/** Transposed convolution (the adjoint of conv in x); `outputShape` fixes the spatial size. */
export function convTranspose(y: Tensor, w: Tensor, outputSpatial: readonly number[], options: ConvOptions = {}): Tensor {
  sameDtype('convTranspose', y, w);
  const n = y.rank - 2;
  const group = options.group ?? 1;
  const strides = options.strides ?? new Array(n).fill(1);
  const dilations = options.dilations ?? new Array(n).fill(1);
  const pads = fullPads(n, options.pads);
  if (y.dim(1) !== w.dim(0)) throw new HerdError('shape_mismatch', `convTranspose: y ${y.describe()} channels must equal w[0] of ${w.describe()}`);
  const outputPadding = outputSpatial.map((o, i) => {
    const base = (y.dim(2 + i) - 1) * strides[i]! - pads[i]! - pads[n + i]! + dilations[i]! * (w.dim(2 + i) - 1) + 1;
    const extra = o - base;
    if (extra < 0 || extra >= Math.max(strides[i]!, dilations[i]!)) throw new HerdError('shape_mismatch', `convTranspose: output size ${o} unreachable from ${y.describe()}`);
    return extra;
  });
  return make('convTranspose', [y, w], { strides, pads, dilations, group, outputPadding }, y.dtype, [y.shape[0]!, w.dim(1) * group, ...outputSpatial]);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  requireFloat('softmax', x);
  return make('softmax', [x], { axis: normAxis('softmax', axis, x.rank) }, x.dtype, x.shape);
}
