/**
 * The graphs a Llama core is compiled to: a training step (next-token loss on packed sequences) and
 * an incremental decoder (KV cache, dynamic batch/length) for generation.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type EmittedModel, type ExternalData, Graph, type HostArray, type ParamSpec, type ParamValues, type Params, type Tensor, type TrainingGraphs } from '@herd/graph';
import { type LlamaConfig } from '../config.js';
import { type ForwardHooks, forward, lmHead } from './llama.js';
import { headDim, llamaParamSpecs } from './weights.js';

/** Host values of parameters by checkpoint name (f32). */
export type Weights = Readonly<Record<string, { readonly shape: readonly number[]; readonly data: HostArray }>>;

/** Frozen weights may also stay in their file: ONNX external data pointing into a .safetensors byte range. */
export type FrozenWeights = Readonly<Record<string, { readonly shape: readonly number[]; readonly data?: HostArray; readonly external?: ExternalData }>>;

/** Fresh weights: N(0, 0.02), residual output projections scaled by 1/√(2·layers), norms at 1. */
export function initWeights(cfg: LlamaConfig, seed: number, specs: readonly ParamSpec[] = llamaParamSpecs(cfg)): ParamValues {
  return G.initParams(specs, seed, { layers: cfg.nLayers });
}

/**
 * Declares the parameters with their values. With `compute` f16 the f32 parameters are the master
 * copies and the model computes with f16 casts of them (mixed precision).
 */
function paramsFrom(g: Graph, cfg: LlamaConfig, weights: FrozenWeights, trainable: boolean, compute: 'f32' | 'f16' = 'f32'): Params {
  return G.declareParams(g, llamaParamSpecs(cfg), (name, shape) => {
    const w = weights[name];
    if (!w) throw new HerdError('checkpoint_mismatch', `llama weights: missing '${name}'`);
    if (w.shape.join() !== shape.join()) throw new HerdError('checkpoint_mismatch', `llama weights: '${name}' has shape [${w.shape}], the config needs [${shape}]`);
    if (trainable && !w.data) throw new HerdError('invalid_argument', `llama weights: '${name}' is trainable but has no values in memory (load without external data to train)`);
    return G.cast(g.param(name, 'f32', shape as number[], { trainable, ...(w.data ? { value: w.data } : {}), ...(w.external ? { external: w.external } : {}) }), compute);
  });
}

export interface LmTrainingOptions {
  readonly batch: number;
  readonly seqLen: number;
  readonly optimizer?: Partial<G.AdamWConfig>;
  readonly accumulation?: boolean;
  readonly hooks?: ForwardHooks;
  /** 'f16': mixed precision — f16 activations, f32 master weights, dynamic loss scaling. */
  readonly computeDtype?: 'f32' | 'f16';
}

/**
 * Next-token training on packed sequences. Inputs: `tokens`, `targets` (−100 = ignore),
 * `positions` (restarting per document) and `docIds` [B, T], all i32; attention never crosses
 * documents.
 */
export function buildLmTraining(cfg: LlamaConfig, weights: Weights, o: LmTrainingOptions): TrainingGraphs {
  const g = new Graph();
  const p = paramsFrom(g, cfg, weights, true, o.computeDtype ?? 'f32');
  const { batch: B, seqLen: T } = o;
  const tokens = g.input('tokens', 'i32', [B, T]);
  const targets = g.input('targets', 'i32', [B, T]);
  const positions = g.input('positions', 'i32', [B, T]);
  const docIds = g.input('docIds', 'i32', [B, T]);
  const { hidden } = forward(cfg, p, { tokens, positions, mask: G.documentCausalMask(docIds) }, o.hooks);
  const logits = lmHead(cfg, p, hidden); // [B, T, V]
  const ce = G.crossEntropy(logits, targets, -100);
  return G.buildTraining(g, {
    loss: ce.loss,
    metrics: { tokens: ce.count },
    optimizer: o.optimizer ?? {},
    params: g.trainableParams,
    ...(o.accumulation ? { accumulation: true } : {}),
    ...(o.computeDtype === 'f16' ? { lossScaling: true } : {}),
  });
}

/** Evaluation graph: summed loss and token count over a batch (for perplexity). */
export function buildLmEval(cfg: LlamaConfig, weights: FrozenWeights, batch: number, seqLen: number): EmittedModel {
  const g = new Graph();
  const p = paramsFrom(g, cfg, weights, false);
  const tokens = g.input('tokens', 'i32', [batch, seqLen]);
  const targets = g.input('targets', 'i32', [batch, seqLen]);
  const positions = g.input('positions', 'i32', [batch, seqLen]);
  const docIds = g.input('docIds', 'i32', [batch, seqLen]);
  const { hidden } = forward(cfg, p, { tokens, positions, mask: G.documentCausalMask(docIds) });
  const ce = G.crossEntropy(lmHead(cfg, p, hidden), targets, -100);
  return G.toOnnx(g, { outputs: { lossSum: G.sum(ce.perToken), count: ce.count }, name: 'lm_eval' });
}

export const CACHE_LEN = 'P';
export const NEW_LEN = 'T';
export const KEY_LEN = 'P+T';

/**
 * Incremental decoder with dynamic batch `B`, new length `T` and cached length `P` (0 at the
 * first call). Inputs: `tokens` [B, T] i32, `positions` [B, T] i32, `mask` [B, 1, T, P+T] bool,
 * `lastIndex` [1] i32 (the position whose logits are returned), `past.k.{i}`/`past.v.{i}`
 * [B, K, P, Dh]. Outputs: `logits` [B, V] at `lastIndex` and `present.k.{i}`/`present.v.{i}`.
 */
export function buildDecoder(cfg: LlamaConfig, weights: FrozenWeights, hooks?: ForwardHooks, extraInputs?: (g: Graph) => void): EmittedModel {
  const g = new Graph();
  const p = paramsFrom(g, cfg, weights, false);
  extraInputs?.(g);
  const tokens = g.input('tokens', 'i32', ['B', NEW_LEN]);
  const positions = g.input('positions', 'i32', ['B', NEW_LEN]);
  const dh = headDim(cfg);
  const cache = Array.from({ length: cfg.nLayers }, (_, i) => ({
    k: g.input(`past.k.${i}`, 'f32', ['B', cfg.nKvHeads, CACHE_LEN, dh]),
    v: g.input(`past.v.${i}`, 'f32', ['B', cfg.nKvHeads, CACHE_LEN, dh]),
  }));
  const mask = g.input('mask', 'bool', ['B', 1, NEW_LEN, KEY_LEN]);
  const lastIndex = g.input('lastIndex', 'i32', [1]);
  const out = forward(cfg, p, { tokens, positions, mask, cache }, hooks);
  const last = G.gather(G.transpose(out.hidden, [1, 0, 2]), lastIndex); // [1, B, D]
  const logits = lmHead(cfg, p, G.reshape(last, ['B', cfg.dim])); // [B, V]
  const outputs: Record<string, Tensor> = { logits };
  out.cache.forEach((c, i) => {
    outputs[`present.k.${i}`] = c.k;
    outputs[`present.v.${i}`] = c.v;
  });
  return G.toOnnx(g, { outputs, name: 'llama_decoder' });
}
