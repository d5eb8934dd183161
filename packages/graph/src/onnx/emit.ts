/**
 * Lowering of the IR to ONNX (opset 18) and serialization with onnx-proto. Each primitive maps to
 * one or a few standard ONNX nodes; symbolic dims are resolved at run time with Shape nodes.
 */
import { HerdError } from '@herd/core';
import onnxProto from 'onnx-proto';
import { type DType, type HostArray } from '../ir/dtype.js';
import { type Dim, type Shape } from '../ir/shape.js';
import { type ExternalData, type Graph, Tensor, f32ToF16Bits } from '../ir/tensor.js';

const { onnx } = onnxProto;

export const OPSET = 18;

const DTYPE_CODE: Record<DType, number> = { f32: 1, u8: 2, i32: 6, i64: 7, bool: 9, f16: 10, f64: 11 };

/** A parameter emitted as a slice of a packed 1-D input (how training graphs carry trainable weights). */
export interface ParamView {
  readonly source: Tensor;
  readonly offset: number;
}

export interface EmitOptions {
  /** Named graph outputs. */
  outputs: Readonly<Record<string, Tensor>>;
  /** Parameters emitted as graph inputs rather than initializers. */
  paramsAsInputs?: ReadonlySet<Tensor> | 'trainable' | 'none';
  /** Parameters emitted as views (Slice + Reshape) of packed inputs. */
  paramViews?: ReadonlyMap<Tensor, ParamView>;
  /** Graph name stored in the model. */
  name?: string;
}

export interface IoSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export interface EmittedModel {
  readonly bytes: Uint8Array;
  readonly inputs: readonly IoSpec[];
  readonly outputs: readonly IoSpec[];
  /** Files the model's external initializers point into (relative paths resolve against the model's folder). */
  readonly externalFiles: readonly string[];
}

type NodeProto = ReturnType<typeof onnx.NodeProto.create>;
type TensorProto = ReturnType<typeof onnx.TensorProto.create>;

function hostBytes(a: HostArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function valueInfo(name: string, dtype: DType, shape: Shape) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: DTYPE_CODE[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

function attr(name: string, v: number | string | readonly number[] | TensorProto) {
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v } : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v };
  }
  if (typeof v === 'string') return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v as number[] };
  return { name, type: onnx.AttributeProto.AttributeType.TENSOR, t: v as TensorProto };
}

class Emitter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly externalFiles = new Set<string>();
  private readonly names = new Map<number, string>();
  private readonly dimSources = new Map<string, { value: string; axis: number }>();
  private readonly dimValues = new Map<string, string>();
  private readonly consts = new Map<string, string>();
  private counter = 0;

  constructor(
    private readonly paramsAsInputs: (t: Tensor) => boolean,
    private readonly views: ReadonlyMap<Tensor, ParamView> = new Map(),
  ) {}

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  node(op: string, inputs: readonly string[], outputs: readonly string[], attrs: ReturnType<typeof attr>[] = [], domain = ''): void {
    this.nodes.push(onnx.NodeProto.create({ opType: op, input: [...inputs], output: [...outputs], attribute: attrs, name: outputs[0], domain }));
  }

  /** An int64 vector constant, deduplicated. */
  i64(values: readonly number[]): string {
    const key = values.join(',');
    const hit = this.consts.get(key);
    if (hit) return hit;
    const name = this.fresh('i64');
    this.initializers.push(onnx.TensorProto.create({ name, dataType: DTYPE_CODE.i64, dims: [values.length], rawData: hostBytes(BigInt64Array.from(values.map((v) => BigInt(v)))) }));
    this.consts.set(key, name);
    return name;
  }

  scalarLike(v: number, dtype: DType): string {
    const name = this.fresh('s');
    const a: HostArray =
      dtype === 'f64' ? new Float64Array([v])
      : dtype === 'f16' ? new Uint16Array([f32ToF16Bits(v)])
      : dtype === 'i64' ? new BigInt64Array([BigInt(v)])
      : dtype === 'i32' ? new Int32Array([v])
      : dtype === 'bool' || dtype === 'u8' ? new Uint8Array([v])
      : new Float32Array([v]);
    this.initializers.push(onnx.TensorProto.create({ name, dataType: DTYPE_CODE[dtype], dims: [], rawData: hostBytes(a) }));
    return name;
  }

  /**
   * Emits `body` on f32 copies of f16 values and casts the result back: scatter-add has no f16
   * kernel on the CPU and WebGPU providers (and accumulating in f32 is more accurate anyway).
   */
  private inF32(dtype: DType, values: readonly string[], out: string, body: (vs: string[], out: string) => void): void {
    if (dtype !== 'f16') return body([...values], out);
    const up = values.map((v) => {
      const c = this.fresh('f32');
      this.node('Cast', [v], [c], [attr('to', DTYPE_CODE.f32)]);
      return c;
    });
    const tmp = this.fresh('f32');
    body(up, tmp);
    this.node('Cast', [tmp], [out], [attr('to', DTYPE_CODE.f16)]);
  }

  /** Records which emitted value carries each symbolic dim, for Shape-based lookups later. */
  noteDims(t: Tensor, value: string): void {
    t.shape.forEach((d, axis) => {
      if (typeof d === 'string' && !this.dimSources.has(d)) this.dimSources.set(d, { value, axis });
    });
  }

  /** A 1-element int64 tensor holding a dim's size at run time. */
  private dimValue(d: string): string {
    const hit = this.dimValues.get(d);
    if (hit) return hit;
    const src = this.dimSources.get(d);
    if (!src) throw new HerdError('shape_mismatch', `symbolic dim '${d}' is not carried by any tensor emitted so far`);
    const out = this.fresh(`dim_${d.replace(/[^A-Za-z0-9]/g, '_')}`);
    this.node('Shape', [src.value], [out], [attr('start', src.axis), attr('end', src.axis + 1)]);
    this.dimValues.set(d, out);
    return out;
  }

  /** A shape vector: a constant when static, else concatenated Shape lookups. */
  shapeValue(shape: readonly Dim[]): string {
    if (shape.every((d) => typeof d === 'number')) return this.i64(shape as number[]);
    const parts = shape.map((d) => (typeof d === 'number' ? this.i64([d]) : this.dimValue(d)));
    const out = this.fresh('shape');
    this.node('Concat', parts, [out], [attr('axis', 0)]);
    return out;
  }

  name(t: Tensor): string {
    const n = this.names.get(t.id);
    if (n === undefined) throw new HerdError('invalid_argument', `internal: ${t.describe()} used before it was emitted`);
    return n;
  }

  emit(t: Tensor): void {
    const out = t.op === 'input' || t.op === 'param' ? (t.name as string) : `t${t.id}`;
    this.names.set(t.id, out);
    this.noteDims(t, out);
    const x = t.inputs.map((i) => this.name(i));
    const a = t.attrs;
    switch (t.op) {
      case 'input':
        return;
      case 'param': {
        const view = this.views.get(t);
        if (view) {
          const n = (t.shape as number[]).reduce((p, q) => p * q, 1);
          const flat = this.fresh('view');
          this.node('Slice', [view.source.name!, this.i64([view.offset]), this.i64([view.offset + n]), this.i64([0])], [flat]);
          return this.node('Reshape', [flat, this.i64(t.shape as number[])], [out]);
        }
        if (this.paramsAsInputs(t)) return;
        const external = a['external'] as ExternalData | undefined;
        const value = a['value'] as HostArray | undefined;
        if (external) {
          this.externalFiles.add(external.path);
          this.initializers.push(onnx.TensorProto.create({
            name: out, dataType: DTYPE_CODE[t.dtype], dims: t.shape as number[], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
            externalData: [{ key: 'location', value: external.path }, { key: 'offset', value: String(external.offset) }, { key: 'length', value: String(external.length) }],
          }));
        } else if (value) {
          this.initializers.push(onnx.TensorProto.create({ name: out, dataType: DTYPE_CODE[t.dtype], dims: t.shape as number[], rawData: hostBytes(value) }));
        } else {
          throw new HerdError('missing_input', `param '${out}' has no value: load weights, or emit it as an input`);
        }
        return;
      }
      case 'const':
        this.initializers.push(onnx.TensorProto.create({ name: out, dataType: DTYPE_CODE[t.dtype], dims: t.shape as number[], rawData: hostBytes(a['value'] as HostArray) }));
        return;
      case 'neg': case 'exp': case 'log': case 'sqrt': case 'tanh': case 'sigmoid': case 'erf': case 'relu':
      case 'abs': case 'reciprocal': case 'sin': case 'cos': case 'not': {
        const op = { neg: 'Neg', exp: 'Exp', log: 'Log', sqrt: 'Sqrt', tanh: 'Tanh', sigmoid: 'Sigmoid', erf: 'Erf', relu: 'Relu', abs: 'Abs', reciprocal: 'Reciprocal', sin: 'Sin', cos: 'Cos', not: 'Not' }[t.op];
        return this.node(op, x, [out]);
      }
      case 'isnan':
        return this.node('IsNaN', x, [out]);
      case 'isinf':
        return this.node('IsInf', x, [out]);
      case 'add': case 'sub': case 'mul': case 'div': case 'pow': case 'maximum': case 'minimum':
      case 'equal': case 'less': case 'greater': case 'and': case 'or': {
        const op = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', pow: 'Pow', maximum: 'Max', minimum: 'Min', equal: 'Equal', less: 'Less', greater: 'Greater', and: 'And', or: 'Or' }[t.op];
        return this.node(op, x, [out]);
      }
      case 'where':
        return this.node('Where', x, [out]);
      case 'cast':
        return this.node('Cast', x, [out], [attr('to', DTYPE_CODE[a['to'] as DType])]);
      case 'stopGradient':
        return this.node('Identity', x, [out]);
      case 'reduceSum': case 'reduceMean': case 'reduceMax': case 'reduceLogSumExp': {
        const axes = a['axes'] as number[];
        if (axes.length === 0) return this.node('Identity', x, [out]);
        const op = { reduceSum: 'ReduceSum', reduceMean: 'ReduceMean', reduceMax: 'ReduceMax', reduceLogSumExp: 'ReduceLogSumExp' }[t.op];
        return this.node(op, [x[0]!, this.i64(axes)], [out], [attr('keepdims', a['keepDims'] ? 1 : 0)]);
      }
      case 'reshape': {
        const infer = a['inferAxis'] as number | undefined;
        const target = infer === undefined ? t.shape : t.shape.map((d, i) => (i === infer ? -1 : d));
        return this.node('Reshape', [x[0]!, this.shapeValue(target)], [out], [attr('allowzero', infer === undefined ? 1 : 0)]);
      }
      case 'transpose':
        return this.node('Transpose', x, [out], [attr('perm', a['perm'] as number[])]);
      case 'concat':
        return this.node('Concat', x, [out], [attr('axis', a['axis'] as number)]);
      case 'slice': {
        const end = a['end'] as number;
        return this.node('Slice', [x[0]!, this.i64([a['start'] as number]), this.i64([end >= Number.MAX_SAFE_INTEGER ? 2 ** 53 : end]), this.i64([a['axis'] as number]), this.i64([a['step'] as number])], [out]);
      }
      case 'expand':
        return this.node('Expand', [x[0]!, this.shapeValue(t.shape)], [out]);
      case 'pad': {
        const pads = a['pads'] as [number, number][];
        return this.node('Pad', [x[0]!, this.i64([...pads.map((p) => p[0]), ...pads.map((p) => p[1])]), this.scalarLike(a['value'] as number, t.dtype)], [out], [attr('mode', 'constant')]);
      }
      case 'gather':
        return this.node('Gather', x, [out], [attr('axis', 0)]);
      case 'gatherElements':
        return this.node('GatherElements', x, [out], [attr('axis', a['axis'] as number)]);
      case 'scatterNDAdd': {
        const idx = t.inputs[1]!;
        let i64 = x[1]!;
        if (idx.dtype !== 'i64') {
          i64 = this.fresh('idx64');
          this.node('Cast', [x[1]!], [i64], [attr('to', DTYPE_CODE.i64)]);
        }
        const idx1 = this.fresh('idx1');
        this.node('Unsqueeze', [i64, this.i64([-1])], [idx1]);
        return this.inF32(t.dtype, [x[0]!, x[2]!], out, ([base, upd], o) => this.node('ScatterND', [base!, idx1, upd!], [o], [attr('reduction', 'add')]));
      }
      case 'scatterElementsAdd':
        return this.inF32(t.dtype, [x[0]!, x[2]!], out, ([base, upd], o) => this.node('ScatterElements', [base!, x[1]!, upd!], [o], [attr('axis', a['axis'] as number), attr('reduction', 'add')]));
      case 'matmul':
        return this.node('MatMul', x, [out]);
      case 'conv': case 'convTranspose': {
        const w = t.inputs[1]!;
        const attrs = [
          attr('strides', a['strides'] as number[]), attr('pads', a['pads'] as number[]), attr('dilations', a['dilations'] as number[]),
          attr('group', a['group'] as number), attr('kernel_shape', w.shape.slice(2) as number[]),
        ];
        if (t.op === 'convTranspose') attrs.push(attr('output_padding', a['outputPadding'] as number[]));
        return this.node(t.op === 'conv' ? 'Conv' : 'ConvTranspose', x, [out], attrs);
      }
      case 'softmax':
        return this.node('Softmax', x, [out], [attr('axis', a['axis'] as number)]);
    }
  }
}

/** Tensors the outputs depend on, in creation (topological) order. */
export function reachable(outputs: readonly Tensor[]): Tensor[] {
  const seen = new Set<number>();
  const stack = [...outputs];
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    stack.push(...t.inputs);
  }
  const g = outputs[0]!.graph;
  return g.tensors.filter((t) => seen.has(t.id));
}

/** Lowers the part of `graph` that the outputs need to an ONNX model. */
export function toOnnx(graph: Graph, options: EmitOptions): EmittedModel {
  const outs = Object.entries(options.outputs);
  if (outs.length === 0) throw new HerdError('invalid_argument', 'toOnnx: no outputs');
  for (const [n, t] of outs) {
    if (t.graph !== graph) throw new HerdError('invalid_argument', `toOnnx: output '${n}' belongs to another graph`);
  }
  const policy = options.paramsAsInputs ?? 'none';
  const asInput = (t: Tensor): boolean => (policy === 'none' ? false : policy === 'trainable' ? t.attrs['trainable'] === true : policy.has(t));
  const views = options.paramViews ?? new Map<Tensor, ParamView>();
  const em = new Emitter(asInput, views);
  let order = reachable(outs.map(([, t]) => t));
  // A viewed parameter depends on its packed source, which the IR does not record as an input.
  const sources = [...new Set(order.filter((t) => views.has(t)).map((t) => views.get(t)!.source))];
  if (sources.length) order = reachable([...outs.map(([, t]) => t), ...sources]);
  for (const t of order) em.emit(t);

  const inputs: IoSpec[] = order
    .filter((t) => t.op === 'input' || (t.op === 'param' && !views.has(t) && asInput(t)))
    .map((t) => ({ name: t.name!, dtype: t.dtype, shape: t.shape }));
  const outputs: IoSpec[] = [];
  const used = new Set<string>(inputs.map((i) => i.name));
  for (const [name, t] of outs) {
    if (used.has(name)) throw new HerdError('invalid_argument', `toOnnx: output name '${name}' collides with an input or another output`);
    used.add(name);
    em.node('Identity', [em.name(t)], [name]);
    outputs.push({ name, dtype: t.dtype, shape: t.shape });
  }
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'herd',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: onnx.GraphProto.create({
      name: options.name ?? 'herd',
      node: em.nodes,
      initializer: em.initializers,
      input: inputs.map((i) => valueInfo(i.name, i.dtype, i.shape)),
      output: outputs.map((o) => valueInfo(o.name, o.dtype, o.shape)),
    }),
  });
  return { bytes: onnx.ModelProto.encode(model).finish(), inputs, outputs, externalFiles: [...em.externalFiles] };
}
