import { HerdError, f32ToF16 } from '@herd/core';
import { type DType, type HostArray, allocHost, isFloat } from './dtype.js';
import { type Dim, type Shape, formatShape, numel } from './shape.js';

/** Every op of the IR. Leaves first, then primitives; composites (softmax, norms, attention) are built from these. */
export type OpName =
  // leaves
  | 'input' | 'param' | 'const'
  // elementwise
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'tanh' | 'sigmoid' | 'erf' | 'relu' | 'abs' | 'reciprocal' | 'sin' | 'cos'
  | 'not' | 'isnan' | 'isinf'
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'equal' | 'less' | 'greater' | 'and' | 'or'
  | 'where' | 'cast' | 'stopGradient'
  // reductions
  | 'reduceSum' | 'reduceMean' | 'reduceMax' | 'reduceLogSumExp'
  // layout
  | 'reshape' | 'transpose' | 'concat' | 'slice' | 'expand' | 'pad'
  // indexing
  | 'gather' | 'gatherElements' | 'scatterNDAdd' | 'scatterElementsAdd'
  // linear algebra and networks
  | 'matmul' | 'conv' | 'convTranspose' | 'softmax';

export type Attrs = Readonly<Record<string, unknown>>;

/** Where a parameter's value lives when it is not held in memory: a byte range of a file (e.g. a .safetensors). */
export interface ExternalData {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/**
 * A symbolic tensor: the output of one op. It knows its graph, dtype and shape; shapes are checked
 * when the op is built, so a mistake shows up at the line that made it.
 */
export class Tensor {
  readonly id: number;

  constructor(
    readonly graph: Graph,
    readonly op: OpName,
    readonly inputs: readonly Tensor[],
    readonly attrs: Attrs,
    readonly dtype: DType,
    readonly shape: Shape,
  ) {
    this.id = graph.register(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Static size of one dim (errors on a symbolic one). */
  dim(axis: number): number {
    const d = this.shape[axis < 0 ? axis + this.rank : axis];
    if (typeof d !== 'number') {
      throw new HerdError('shape_mismatch', `${this.describe()}: dim ${axis} is ${String(d)}, a static size is needed here`);
    }
    return d;
  }

  /** Name for errors: op, id, dtype and shape. */
  describe(): string {
    const name = typeof this.attrs['name'] === 'string' ? ` '${this.attrs['name']}'` : '';
    return `${this.op}${name}#${this.id} ${this.dtype}${formatShape(this.shape)}`;
  }

  get name(): string | undefined {
    const n = this.attrs['name'];
    return typeof n === 'string' ? n : undefined;
  }
}

export interface ParamOptions {
  /** Trainable parameters get gradients and become step-graph inputs; frozen ones stay initializers. */
  trainable?: boolean;
  value?: HostArray;
  external?: ExternalData;
}

/**
 * A graph under construction. Tensors are registered in creation order, which is a topological
 * order, so passes walk `tensors` forwards (emission) or backwards (autodiff).
 */
export class Graph {
  readonly tensors: Tensor[] = [];
  private readonly leafNames = new Map<string, Tensor>();

  register(t: Tensor): number {
    if (t.graph !== this) throw new HerdError('invalid_argument', 'tensor registered in a foreign graph');
    this.tensors.push(t);
    return this.tensors.length - 1;
  }

  private claimName(kind: string, name: string): void {
    if (this.leafNames.has(name)) {
      throw new HerdError('invalid_argument', `${kind} '${name}': the name is already used by ${this.leafNames.get(name)!.describe()}`);
    }
  }

  input(name: string, dtype: DType, shape: Shape): Tensor {
    this.claimName('input', name);
    const t = new Tensor(this, 'input', [], { name }, dtype, shape);
    this.leafNames.set(name, t);
    return t;
  }

  param(name: string, dtype: DType, shape: readonly number[], options: ParamOptions = {}): Tensor {
    this.claimName('param', name);
    if (options.value && options.value.length !== numel(shape)) {
      throw new HerdError('shape_mismatch', `param '${name}': value has ${options.value.length} elements, shape ${formatShape(shape)} needs ${numel(shape)}`);
    }
    if (options.trainable && !isFloat(dtype)) {
      throw new HerdError('dtype_mismatch', `param '${name}': only float parameters can be trainable, got ${dtype}`);
    }
    const t = new Tensor(this, 'param', [], { name, trainable: options.trainable ?? false, value: options.value, external: options.external }, dtype, shape);
    this.leafNames.set(name, t);
    return t;
  }

  constant(value: HostArray, dtype: DType, shape: readonly number[]): Tensor {
    if (value.length !== numel(shape)) {
      throw new HerdError('shape_mismatch', `constant: ${value.length} values for shape ${formatShape(shape)}`);
    }
    return new Tensor(this, 'const', [], { value }, dtype, shape);
  }

  scalar(v: number, dtype: DType = 'f32'): Tensor {
    const a = allocHost(dtype, 1);
    if (a instanceof BigInt64Array) a[0] = BigInt(Math.trunc(v));
    else if (dtype === 'f16') (a as Uint16Array)[0] = f32ToF16Bits(v);
    else (a as Float32Array)[0] = v;
    return this.constant(a, dtype, []);
  }

  /** A constant filled with one value. */
  fill(v: number, dtype: DType, shape: readonly number[]): Tensor {
    const a = allocHost(dtype, numel(shape));
    if (a instanceof BigInt64Array) a.fill(BigInt(Math.trunc(v)));
    else if (dtype === 'f16') (a as Uint16Array).fill(f32ToF16Bits(v));
    else (a as Float32Array).fill(v);
    return this.constant(a, dtype, shape);
  }

  get inputs(): Tensor[] {
    return this.tensors.filter((t) => t.op === 'input');
  }

  get params(): Tensor[] {
    return this.tensors.filter((t) => t.op === 'param');
  }

  get trainableParams(): Tensor[] {
    return this.params.filter((t) => t.attrs['trainable'] === true);
  }

  leaf(name: string): Tensor | undefined {
    return this.leafNames.get(name);
  }
}

/** f32 → IEEE half bits: the one codec of `@herd/core`, under the name graph code has used. */
export const f32ToF16Bits: (v: number) => number = f32ToF16;

export type { Dim };
