/**
 * Compiles a model's loss into training-step graphs. The trainable parameters and their AdamW
 * moments travel packed, each as one flat vector (`state.params`, `state.adam.m`, `state.adam.v`):
 * the model sees each parameter as a slice of the packed vector, and the optimizer updates the whole
 * vector with a handful of kernels instead of a dozen per parameter — on a GPU, per-kernel dispatch
 * cost would otherwise dominate small models. Frozen parameters stay initializers.
 *
 * Inputs: the batch, the packed state, `opt.step` and `opt.lr` (and `opt.lossScale` with loss
 * scaling); outputs: the loss, metrics, `opt.gradNorm` and the new packed state. The runtime feeds
 * step t's outputs to step t+1 following `state`.
 *
 * With gradient accumulation two more graphs are made: `accumulate` adds one micro-batch's
 * gradients to a packed running sum, and `apply` turns the sum into one update.
 */
import { HerdError } from '@herd/core';
import { grad } from '../autodiff/grad.js';
import { type DType } from '../ir/dtype.js';
import { type Graph, type Tensor } from '../ir/tensor.js';
import { type EmittedModel, type ParamView, toOnnx } from '../onnx/emit.js';
import * as o from '../ops.js';
import { ADAMW_DEFAULTS, type AdamWConfig, type AdamWUpdate, adamw } from './adamw.js';

/** Where each trainable parameter lives in the packed vectors. Decayed parameters come first. */
export interface PackedLayout {
  readonly dtype: DType;
  readonly size: number;
  readonly entries: readonly { readonly name: string; readonly offset: number; readonly length: number; readonly shape: readonly number[] }[];
  /** Elements [0, decayed) get weight decay (matrices); the rest (gains, biases) do not. */
  readonly decayed: number;
}

/** One carried packed vector: fed as `input`, replaced each step by the output `output`. */
export interface StateSlot {
  readonly input: string;
  readonly output: string;
  /** How the first value is made: the packed parameter values, or zeros. */
  readonly init: 'params' | 'zeros';
}

export interface TrainingGraphs {
  /** One full step (forward, backward, update). */
  readonly step: EmittedModel;
  readonly state: readonly StateSlot[];
  readonly layout: PackedLayout;
  /** Present when accumulation was asked for. */
  readonly accumulate?: { readonly model: EmittedModel; readonly state: readonly StateSlot[] };
  readonly apply?: { readonly model: EmittedModel; readonly state: readonly StateSlot[] };
  readonly metricNames: readonly string[];
  /** True when the graphs take `opt.lossScale` and report `opt.finite`. */
  readonly lossScaling: boolean;
}

export interface TrainingSpec {
  readonly loss: Tensor;
  readonly metrics?: Readonly<Record<string, Tensor>>;
  readonly optimizer?: Partial<AdamWConfig>;
  /** Parameters to train; defaults to every param marked trainable. */
  readonly params?: readonly Tensor[];
  /** Also build accumulate/apply graphs for gradient accumulation. */
  readonly accumulation?: boolean;
  /**
   * Loss scaling for reduced-precision compute (f16 activations, f32 master parameters): the loss is
   * multiplied by the `opt.lossScale` input before differentiation and the gradients divided by it;
   * an update whose gradients are not finite is skipped (parameters and moments pass through) and
   * `opt.finite` says so, so the runner can lower the scale.
   */
  readonly lossScaling?: boolean;
}

export const STEP_INPUT = 'opt.step';
export const LR_INPUT = 'opt.lr';
/** For accumulation: 1/number of micro-batches, multiplied into the summed gradients. */
export const ACC_SCALE_INPUT = 'opt.accScale';
export const LOSS_SCALE_INPUT = 'opt.lossScale';
/** 1 when the update was applied, 0 when it was skipped for non-finite gradients (loss scaling only). */
export const FINITE_OUTPUT = 'opt.finite';
export const PARAMS_STATE = 'state.params';
export const M_STATE = 'state.adam.m';
export const V_STATE = 'state.adam.v';
export const ACC_STATE = 'state.acc';

const slot = (input: string, init: StateSlot['init']): StateSlot => ({ input, output: `new.${input}`, init });

/** Packs parameters: matrices (decayed) first, then the rest, each group in declaration order. */
export function packLayout(params: readonly Tensor[]): PackedLayout {
  const dtype = params[0]!.dtype;
  const bad = params.filter((p) => p.dtype !== dtype);
  if (bad.length) throw new HerdError('dtype_mismatch', `trainable parameters must share one dtype: ${params[0]!.describe()} vs ${bad.map((b) => b.describe()).join(', ')}`);
  const ordered = [...params.filter((p) => p.rank >= 2), ...params.filter((p) => p.rank < 2)];
  let offset = 0;
  let decayed = 0;
  const entries = ordered.map((p) => {
    const length = (p.shape as number[]).reduce((a, b) => a * b, 1);
    const e = { name: p.name!, offset, length, shape: p.shape as number[] };
    offset += length;
    if (p.rank >= 2) decayed = offset;
    return e;
  });
  return { dtype, size: offset, entries, decayed };
}

export function buildTraining(graph: Graph, spec: TrainingSpec): TrainingGraphs {
  const cfg: AdamWConfig = { ...ADAMW_DEFAULTS, ...spec.optimizer };
  const params = spec.params ?? graph.trainableParams;
  if (params.length === 0) throw new HerdError('invalid_argument', 'buildTraining: no trainable parameters (mark some with trainable: true)');
  if (spec.loss.rank !== 0) throw new HerdError('shape_mismatch', `buildTraining: loss must be a scalar, got ${spec.loss.describe()}`);
  const layout = packLayout(params);
  const byName = new Map(params.map((p) => [p.name!, p]));
  const ordered = layout.entries.map((e) => byName.get(e.name)!);
  const N = layout.size;

  const flatP = graph.input(PARAMS_STATE, layout.dtype, [N]);
  const flatM = graph.input(M_STATE, layout.dtype, [N]);
  const flatV = graph.input(V_STATE, layout.dtype, [N]);
  // Every trainable parameter is emitted as a view (slice + reshape) of the packed input.
  const views = new Map<Tensor, ParamView>(layout.entries.map((e, i) => [ordered[i]!, { source: flatP, offset: e.offset }]));

  const metrics = Object.entries(spec.metrics ?? {});
  const metricOutputs = Object.fromEntries(metrics.map(([n, t]) => [`metric.${n}`, t]));
  const step = graph.input(STEP_INPUT, 'f32', []);
  const lr = graph.input(LR_INPUT, 'f32', []);

  let grads: Tensor[];
  if (spec.lossScaling) {
    const scale = graph.input(LOSS_SCALE_INPUT, 'f32', []);
    grads = grad(o.mul(spec.loss, o.cast(scale, spec.loss.dtype)), ordered).map((g) => o.div(g, o.cast(scale, g.dtype)));
  } else {
    grads = grad(spec.loss, ordered);
  }
  const flatG = o.concat(grads.map((g) => o.reshape(g, [-1])), 0); // [N]

  // Decoupled weight decay on the matrices' part of the vector, then one AdamW update of the whole.
  const update = (g: Tensor): { u: AdamWUpdate; finite?: Tensor } => {
    let base = flatP;
    if (cfg.weightDecay > 0 && layout.decayed > 0) {
      const shrink = o.sub(1, o.mul(o.cast(lr, layout.dtype), cfg.weightDecay));
      const dec = o.mul(o.slice(flatP, 0, 0, layout.decayed), shrink);
      base = layout.decayed === N ? dec : o.concat([dec, o.slice(flatP, 0, layout.decayed, N)], 0);
    }
    const u = adamw([{ param: base, grad: g, m: flatM, v: flatV, decay: false }], step, lr, cfg);
    if (!spec.lossScaling) return { u };
    // With loss scaling, a non-finite gradient norm keeps the old parameters and moments.
    const finite = o.logicalNot(o.logicalOr(o.isNaN(u.gradNorm), o.isInf(u.gradNorm)));
    const keep = (next: Tensor, old: Tensor) => o.where(finite, next, old);
    return { u: { params: [keep(u.params[0]!, flatP)], m: [keep(u.m[0]!, flatM)], v: [keep(u.v[0]!, flatV)], gradNorm: u.gradNorm }, finite };
  };
  const finiteOutput = (f?: Tensor): Record<string, Tensor> => (f ? { [FINITE_OUTPUT]: o.cast(f, 'f32') } : {});
  const updateOutputs = (u: AdamWUpdate): Record<string, Tensor> => ({ [`new.${PARAMS_STATE}`]: u.params[0]!, [`new.${M_STATE}`]: u.m[0]!, [`new.${V_STATE}`]: u.v[0]! });
  const optState = [slot(PARAMS_STATE, 'params'), slot(M_STATE, 'zeros'), slot(V_STATE, 'zeros')];

  const { u: upd, finite } = update(flatG);
  const result: { -readonly [K in keyof TrainingGraphs]: TrainingGraphs[K] } = {
    step: toOnnx(graph, {
      name: 'train_step',
      outputs: { loss: spec.loss, 'opt.gradNorm': upd.gradNorm, ...finiteOutput(finite), ...metricOutputs, ...updateOutputs(upd) },
      paramViews: views,
    }),
    state: optState,
    layout,
    metricNames: metrics.map(([n]) => n),
    lossScaling: spec.lossScaling ?? false,
  };

  if (spec.accumulation) {
    const acc = graph.input(ACC_STATE, layout.dtype, [N]);
    result.accumulate = {
      model: toOnnx(graph, { name: 'accumulate', outputs: { loss: spec.loss, ...metricOutputs, [`new.${ACC_STATE}`]: o.add(acc, flatG) }, paramViews: views }),
      state: [slot(ACC_STATE, 'zeros')],
    };
    const scale = graph.input(ACC_SCALE_INPUT, 'f32', []);
    const applied = update(o.mul(acc, o.cast(scale, layout.dtype)));
    result.apply = {
      model: toOnnx(graph, { name: 'apply', outputs: { 'opt.gradNorm': applied.u.gradNorm, ...finiteOutput(applied.finite), ...updateOutputs(applied.u) }, paramViews: views }),
      state: optState,
    };
  }
  return result;
}
