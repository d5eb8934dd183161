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
import { ADAMW_DEFAULTS, type AdamWConfig, adamw } from './adamw.js';

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
}

export interface TrainingSpec {
  readonly loss: Tensor;
  readonly metrics?: Readonly<Record<string, Tensor>>;
  readonly optimizer?: Partial<AdamWConfig>;
  /** Parameters to train; defaults to every param marked trainable. */
  readonly params?: readonly Tensor[];
  /** Also build accumulate/apply graphs for gradient accumulation. */
  readonly accumulation?: boolean;
}

export const STEP_INPUT = 'opt.step';
export const LR_INPUT = 'opt.lr';
/** For accumulation: 1/number of micro-batches, multiplied into the summed gradients. */
export const ACC_SCALE_INPUT = 'opt.accScale';

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
  const grads = grad(spec.loss, params);

  const moment = (kind: 'm' | 'v') => params.map((p, i) => graph.input(`adam.${kind}.${names[i]}`, p.dtype, shapes[i]!));
  const m = moment('m');
  const v = moment('v');
  const slotsFor = (gs: readonly Tensor[]) =>
    params.map((p, i) => ({ param: p, grad: gs[i]!, m: m[i]!, v: v[i]!, decay: p.rank >= 2 }));

  const upd = adamw(slotsFor(grads), step, lr, cfg);
  const optState = (): StateSlot[] =>
    params.flatMap((p, i) => [
      { input: names[i]!, output: `new.${names[i]}`, init: 'param' as const, param: names[i]!, shape: shapes[i]!, dtype: p.dtype },
      { input: `adam.m.${names[i]}`, output: `new.adam.m.${names[i]}`, init: 'zeros' as const, param: names[i]!, shape: shapes[i]!, dtype: p.dtype },
      { input: `adam.v.${names[i]}`, output: `new.adam.v.${names[i]}`, init: 'zeros' as const, param: names[i]!, shape: shapes[i]!, dtype: p.dtype },
    ]);
  const updateOutputs = (u: typeof upd): Record<string, Tensor> =>
    Object.fromEntries(
      params.flatMap((_, i) => [
        [`new.${names[i]}`, u.params[i]!],
        [`new.adam.m.${names[i]}`, u.m[i]!],
        [`new.adam.v.${names[i]}`, u.v[i]!],
      ]),
    );

  const stepModel = toOnnx(graph, {
    name: 'train_step',
    outputs: { loss: spec.loss, 'opt.gradNorm': upd.gradNorm, ...metricOutputs, ...updateOutputs(upd) },
    paramsAsInputs: paramSet,
  });
  const result: { -readonly [K in keyof TrainingGraphs]: TrainingGraphs[K] } = {
    step: stepModel,
    state: optState(),
    metricNames: metrics.map(([n]) => n),
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
    const applied = adamw(slotsFor(acc.map((a) => o.mul(a, o.cast(scale, a.dtype)))), step, lr, cfg);
    result.apply = {
      model: toOnnx(graph, { name: 'apply', outputs: { 'opt.gradNorm': applied.gradNorm, ...updateOutputs(applied) }, paramsAsInputs: paramSet }),
      state: optState(),
    };
  }
  return result;
}
