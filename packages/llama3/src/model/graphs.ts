/**
 * The graphs a Llama core (with an optional extension: a modality's encoder and adapter) is compiled
 * to: a training step (next-token loss on packed sequences) that trains the parameter groups it is
 * told to and keeps the rest frozen, an evaluation graph, and an incremental decoder (KV cache,
 * dynamic batch/length) for generation. Inputs and parameters are declared by `lm-spec.ts`.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type EmittedModel, Graph, type HostArray, type ParamSpec, type ParamValues, type Tensor, type TrainingGraphs } from '@herd/graph';
import { type LlamaConfig } from '../config.js';
import { lmHead } from './llama.js';
import { CORE_GROUP, type LmGraphSpec, type ParamValuesByName, asLmSpec, declareLmInputs, declareLmParams, lmForward, lmHookContext } from './lm-spec.js';
import { llamaParamSpecs } from './weights.js';

/** Host values of parameters by checkpoint name (f32). */
export type Weights = Readonly<Record<string, { readonly shape: readonly number[]; readonly data: HostArray }>>;

/** Frozen weights may also stay in their file: ONNX external data pointing into a .safetensors byte range. */
export type FrozenWeights = ParamValuesByName;

/** Fresh weights: N(0, 0.02), residual output projections scaled by 1/√(2·layers), norms at 1. */
export function initWeights(cfg: LlamaConfig, seed: number, specs: readonly ParamSpec[] = llamaParamSpecs(cfg)): ParamValues {
  return G.initParams(specs, seed, { layers: cfg.nLayers });
}

export interface LmTrainingOptions {
  readonly batch: number;
  readonly seqLen: number;
  /**
   * The parameter groups that train (get gradients and optimizer state); every other group is a
   * frozen initializer. Default: the core alone when there is no extension (pre-training the core);
   * with an extension it must be given.
   */
  readonly train?: readonly string[];
  readonly optimizer?: Partial<G.AdamWConfig>;
  readonly accumulation?: boolean;
  /** 'f16': mixed precision — f16 activations, f32 master weights, dynamic loss scaling. */
  readonly computeDtype?: 'f32' | 'f16';
  /**
   * Weight of the extension's `auxiliaryLoss` in the training loss (next-token loss + weight ·
   * auxiliary); 0 or absent: not built. The step then also reports `lmLoss` and the auxiliary metrics.
   */
  readonly auxiliaryWeight?: number;
  /**
   * A `targetWeights` input [batch, seqLen] (f32, ≥ 0): the next-token loss is the weighted mean over
   * the targets (`G.crossEntropy`'s weights), e.g. more weight on a reply's key words. Absent: the
   * plain mean, and no such input.
   */
  readonly targetWeights?: boolean;
}

function trainedGroups(spec: LmGraphSpec, train: readonly string[] | undefined): readonly string[] {
  if (train) {
    if (train.length === 0) throw new HerdError('invalid_argument', 'LM training: train names no parameter group, so nothing would learn');
    return train;
  }
  if (spec.extension) throw new HerdError('invalid_argument', `LM training with an extension: name the groups that train (e.g. train: ['${spec.extension.groups.map((g) => g.name).join("', '")}']); the core stays frozen unless listed`);
  return [CORE_GROUP];
}

/**
 * Next-token training on packed sequences (inputs: see `declareLmInputs`); attention never crosses
 * documents. Only the groups in `train` train.
 */
export function buildLmTraining(model: LmGraphSpec | LlamaConfig, weights: FrozenWeights, o: LmTrainingOptions): TrainingGraphs {
  const spec = asLmSpec(model);
  const g = new Graph();
  const { p } = declareLmParams(g, spec, weights, { train: trainedGroups(spec, o.train), compute: o.computeDtype ?? 'f32' });
  const inputs = declareLmInputs(g, spec, 'train', { batch: o.batch, seqLen: o.seqLen });
  const ctx = lmHookContext(spec, p, inputs);
  const logits = lmHead(spec.config, p, lmForward(spec, p, inputs, ctx).hidden); // [B, T, V]
  const ce = G.crossEntropy(logits, inputs.targets!, -100, o.targetWeights ? g.input('targetWeights', 'f32', [o.batch, o.seqLen]) : undefined);
  const w = o.auxiliaryWeight ?? 0;
  if (w < 0 || !Number.isFinite(w)) throw new HerdError('invalid_argument', `LM training: auxiliaryWeight must be a finite number ≥ 0, got ${w}`);
  if (w > 0 && !spec.extension?.auxiliaryLoss) throw new HerdError('invalid_argument', `LM training: auxiliaryWeight ${w} given, but the extension defines no auxiliaryLoss`);
  const aux = w > 0 ? spec.extension!.auxiliaryLoss!(ctx) : undefined;
  return G.buildTraining(g, {
    loss: aux ? G.add(ce.loss, G.mul(aux.loss, w)) : ce.loss,
    metrics: { tokens: ce.count, ...(aux ? { lmLoss: ce.loss, ...aux.metrics } : {}) },
    optimizer: o.optimizer ?? {},
    params: g.trainableParams,
    ...(o.accumulation ? { accumulation: true } : {}),
    ...(o.computeDtype === 'f16' ? { lossScaling: true } : {}),
  });
}

export interface LmEvalOptions {
  readonly batch: number;
  readonly seqLen: number;
  /**
   * Groups whose values are fed with each run (graph inputs named like the parameters), e.g. the
   * groups being trained, so one session evaluates every checkpoint; the rest are frozen initializers.
   */
  readonly fed?: readonly string[];
}

/** Evaluation graph: summed loss `lossSum` and target count `count` over a batch (for perplexity). */
export function buildLmEval(model: LmGraphSpec | LlamaConfig, weights: FrozenWeights, o: LmEvalOptions): EmittedModel {
  const spec = asLmSpec(model);
  const g = new Graph();
  const { p, byGroup } = declareLmParams(g, spec, weights, { fed: o.fed ?? [] });
  const inputs = declareLmInputs(g, spec, 'eval', { batch: o.batch, seqLen: o.seqLen });
  const ce = G.crossEntropy(lmHead(spec.config, p, lmForward(spec, p, inputs).hidden), inputs.targets!, -100);
  const fedTensors = new Set((o.fed ?? []).flatMap((n) => byGroup.get(n) ?? []));
  return G.toOnnx(g, { outputs: { lossSum: G.sum(ce.perToken), count: ce.count }, paramsAsInputs: fedTensors, name: 'lm_eval' });
}

export { CACHE_LEN, NEW_LEN, KEY_LEN } from './lm-spec.js';

/**
 * Incremental decoder with dynamic batch `B`, new length `T` and cached length `P` (0 at the
 * first call); inputs per `declareLmInputs('decode')` plus the extension's. Outputs: `logits` [B, V]
 * at `lastIndex` and `present.k.{i}`/`present.v.{i}` [B, K, P+T, Dh].
 */
export function buildDecoder(model: LmGraphSpec | LlamaConfig, weights: FrozenWeights): EmittedModel {
  const spec = asLmSpec(model);
  const g = new Graph();
  const { p } = declareLmParams(g, spec, weights);
  const inputs = declareLmInputs(g, spec, 'decode');
  const out = lmForward(spec, p, inputs);
  const last = G.gather(G.transpose(out.hidden, [1, 0, 2]), inputs.lastIndex!); // [1, B, D]
  const logits = lmHead(spec.config, p, G.reshape(last, ['B', spec.config.dim])); // [B, V]
  const outputs: Record<string, Tensor> = { logits };
  out.cache.forEach((c, i) => {
    outputs[`present.k.${i}`] = c.k;
    outputs[`present.v.${i}`] = c.v;
  });
  return G.toOnnx(g, { outputs, name: 'llama_decoder' });
}
