/**
 * Compiles a model's loss into training-step graphs. Inputs: the batch, the trainable parameters,
 * the optimizer state, `opt.step` and `opt.lr`; outputs: the loss, metrics, and the new parameters
 * and state. Frozen parameters stay initializers. The runtime feeds step t's outputs to step t+1
 * following `state`.
 *
 * With gradient accumulation two more graphs are made: `accumulate` adds one micro-batch's
 * gradients to running sums, and `apply` turns the sums into one update.
 */
import { HerdError } from '@herd/core';
import { grad } from '../autodiff/grad.js';
import { type Graph, type Tensor } from '../ir/tensor.js';
import { type EmittedModel, toOnnx } from '../onnx/emit.js';
import * as o from '../ops.js';
import { ADAMW_DEFAULTS, type AdamWConfig, type AdamWUpdate, adamw } from './adamw.js';

/** One carried value: fed as `input`, replaced each step by the output `output`. */
export interface StateSlot {
  readonly input: string;
  readonly output: string;
  /** How the first value is made: the parameter's own value, or zeros of its shape. */
  readonly init: 'param' | 'zeros';
  readonly param: string;
  readonly shape: readonly number[];
  readonly dtype: Tensor['dtype'];
}

export interface TrainingGraphs {
  /** One full step (forward, backward, update). */
  readonly step: EmittedModel;
  readonly state: readonly StateSlot[];
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

export function buildTraining(graph: Graph, spec: TrainingSpec): TrainingGraphs {
  const cfg: AdamWConfig = { ...ADAMW_DEFAULTS, ...spec.optimizer };
  const params = spec.params ?? graph.trainableParams;
  if (params.length === 0) throw new HerdError('invalid_argument', 'buildTraining: no trainable parameters (mark some with trainable: true)');
  if (spec.loss.rank !== 0) throw new HerdError('shape_mismatch', `buildTraining: loss must be a scalar, got ${spec.loss.describe()}`);
  const paramSet = new Set(params);
  const names = params.map((p) => p.name!);
  const shapes = params.map((p) => p.shape as number[]);

  const metrics = Object.entries(spec.metrics ?? {});
  const metricOutputs = Object.fromEntries(metrics.map(([n, t]) => [`metric.${n}`, t]));
  const step = graph.input(STEP_INPUT, 'f32', []);
  const lr = graph.input(LR_INPUT, 'f32', []);
  let grads: Tensor[];
  if (spec.lossScaling) {
    const scale = graph.input(LOSS_SCALE_INPUT, 'f32', []);
    grads = grad(o.mul(spec.loss, o.cast(scale, spec.loss.dtype)), params).map((g) => o.div(g, o.cast(scale, g.dtype)));
  } else {
    grads = grad(spec.loss, params);
  }

  const moment = (kind: 'm' | 'v') => params.map((p, i) => graph.input(`adam.${kind}.${names[i]}`, p.dtype, shapes[i]!));
  const m = moment('m');
  const v = moment('v');
  const slotsFor = (gs: readonly Tensor[]) =>
    params.map((p, i) => ({ param: p, grad: gs[i]!, m: m[i]!, v: v[i]!, decay: p.rank >= 2 }));

  // With loss scaling, a non-finite gradient norm keeps the old parameters and moments.
  const update = (gs: readonly Tensor[]): { u: AdamWUpdate; finite?: Tensor } => {
    const u = adamw(slotsFor(gs), step, lr, cfg);
    if (!spec.lossScaling) return { u };
    const finite = o.logicalNot(o.logicalOr(o.isNaN(u.gradNorm), o.isInf(u.gradNorm)));
    const keep = (next: readonly Tensor[], old: readonly Tensor[]) => next.map((t, i) => o.where(finite, t, old[i]!));
    return { u: { params: keep(u.params, params), m: keep(u.m, m), v: keep(u.v, v), gradNorm: u.gradNorm }, finite };
  };
  const finiteOutput = (f?: Tensor): Record<string, Tensor> => (f ? { [FINITE_OUTPUT]: o.cast(f, 'f32') } : {});
  const { u: upd, finite } = update(grads);
  const optState = (): StateSlot[] =>
    params.flatMap((p, i) => [
      { input: names[i]!, output: `new.${names[i]}`, init: 'param' as const, param: names[i]!, shape: shapes[i]!, dtype: p.dtype },
      { input: `adam.m.${names[i]}`, output: `new.adam.m.${names[i]}`, init: 'zeros' as const, param: names[i]!, shape: shapes[i]!, dtype: p.dtype },
      { input: `adam.v.${names[i]}`, output: `new.adam.v.${names[i]}`, init: 'zeros' as const, param: names[i]!, shape: shapes[i]!, dtype: p.dtype },
    ]);
  const updateOutputs = (u: AdamWUpdate): Record<string, Tensor> =>
    Object.fromEntries(
      params.flatMap((_, i) => [
        [`new.${names[i]}`, u.params[i]!],
        [`new.adam.m.${names[i]}`, u.m[i]!],
        [`new.adam.v.${names[i]}`, u.v[i]!],
      ]),
    );

  const stepModel = toOnnx(graph, {
    name: 'train_step',
    outputs: { loss: spec.loss, 'opt.gradNorm': upd.gradNorm, ...finiteOutput(finite), ...metricOutputs, ...updateOutputs(upd) },
    paramsAsInputs: paramSet,
  });
  const result: { -readonly [K in keyof TrainingGraphs]: TrainingGraphs[K] } = {
    step: stepModel,
    state: optState(),
    metricNames: metrics.map(([n]) => n),
    lossScaling: spec.lossScaling ?? false,
  };

  if (spec.accumulation) {
    const acc = params.map((p, i) => graph.input(`acc.${names[i]}`, p.dtype, shapes[i]!));
    const accOut = acc.map((a, i) => o.add(a, grads[i]!));
    const accState: StateSlot[] = params.map((p, i) => ({ input: `acc.${names[i]}`, output: `new.acc.${names[i]}`, init: 'zeros', param: names[i]!, shape: shapes[i]!, dtype: p.dtype }));
    result.accumulate = {
      model: toOnnx(graph, {
        name: 'accumulate',
        outputs: { loss: spec.loss, ...metricOutputs, ...Object.fromEntries(accOut.map((t, i) => [`new.acc.${names[i]}`, t])) },
        paramsAsInputs: paramSet,
      }),
      state: accState,
    };
    const scale = graph.input(ACC_SCALE_INPUT, 'f32', []);
    const applied = update(acc.map((a) => o.mul(a, o.cast(scale, a.dtype))));
    result.apply = {
      model: toOnnx(graph, { name: 'apply', outputs: { 'opt.gradNorm': applied.u.gradNorm, ...finiteOutput(applied.finite), ...updateOutputs(applied.u) }, paramsAsInputs: paramSet }),
      state: optState(),
    };
  }
  return result;
}
