/**
 * BEST-RQ pre-training graphs (Chiu et al. 2022; Llama 3 paper §7.1 Speech): the encoder reads
 * log-mel features whose masked spans were replaced by noise, and for every masked encoder frame
 * predicts, with one softmax per codebook, the code that the frozen random-projection quantizer
 * assigned to the clean features. The loss is the cross-entropy averaged over masked frames and
 * codebooks (multi-softmax); unmasked and padded frames carry target −100 and count for nothing.
 *
 * Inputs: `features` [B, T, F] f32 (masked + noised), `valid` [B, S] bool, `targets` [B, S, N] i32.
 * Legend: B batch, T input frames, F mel bins, S = T/stack encoder frames, N codebooks, C codes, D dim.
 */
import { HerdError, Rng } from '@herd/core';
import * as G from '@herd/graph';
import { type EmittedModel, Graph, type Params, type TrainingGraphs } from '@herd/graph';
import { type HostTensor, hostTensor } from '@herd/runtime';
import { type SpeechConfig } from '../config.js';
import { type LogMelFeatures } from '../data/log-mel.js';
import { conformerEncoder } from '../model/conformer.js';
import { bestRqHeadSpecs, conformerParamSpecs } from '../model/params.js';
import { applyMask, spanMask } from './masking.js';

export const IGNORE = -100;

/** Host values by parameter name. */
export type SpeechWeights = Readonly<Record<string, { readonly shape: readonly number[]; readonly data: Float32Array }>>;

export interface BestRqShape {
  readonly batch: number;
  /** Input frames per utterance in a batch (a multiple of stack); longer utterances are cropped. */
  readonly frames: number;
}

function checkShape(cfg: SpeechConfig, s: BestRqShape): void {
  if (!(Number.isInteger(s.batch) && s.batch > 0 && Number.isInteger(s.frames) && s.frames > 0 && s.frames % cfg.stack === 0)) {
    throw new HerdError('invalid_argument', `BEST-RQ batch shape: batch must be a positive integer and frames a positive multiple of ${cfg.stack}, got ${JSON.stringify(s)}`);
  }
}

/** The masked-frame multi-softmax loss of encoder + heads; returns the pieces for training and eval. */
function bestRqLoss(cfg: SpeechConfig, p: Params, g: Graph, s: BestRqShape) {
  const { batch: B, frames: T } = s;
  const S = T / cfg.stack;
  const { codebooks: N, codebookSize: C } = cfg.bestRq;
  const features = g.input('features', 'f32', [B, T, cfg.nMels]);
  const valid = g.input('valid', 'bool', [B, S]);
  const targets = g.input('targets', 'i32', [B, S, N]);
  const h = conformerEncoder(cfg, p, features, valid); // [B, S, D]
  const logits = G.reshape(G.linear(h, p('bestrq.heads.weight'), p('bestrq.heads.bias')), [B, S, N, C]); // [B, S, N, C]
  const ce = G.crossEntropy(logits, targets, IGNORE);
  // Accuracy of the masked predictions (argmax = target ⇔ the target's logit is the row max).
  const safe = G.where(G.equal(targets, IGNORE), 0, targets);
  const picked = G.squeeze(G.gatherElements(logits, G.unsqueeze(safe, -1), -1), -1); // [B, S, N]
  const hit = G.cast(G.logicalAnd(G.logicalNot(G.less(picked, G.max(logits, -1))), G.logicalNot(G.equal(targets, IGNORE))), 'f32');
  return { ce, correct: G.sum(hit) };
}

function paramsOf(g: Graph, cfg: SpeechConfig, weights: SpeechWeights | undefined, trainable: boolean): Params {
  return G.declareParams(g, [...conformerParamSpecs(cfg), ...bestRqHeadSpecs(cfg)], (name, shape) => {
    const w = weights?.[name];
    if (weights && !w) throw new HerdError('checkpoint_mismatch', `BEST-RQ weights: missing '${name}'`);
    if (w && w.shape.join() !== shape.join()) throw new HerdError('checkpoint_mismatch', `BEST-RQ weights: '${name}' has shape [${w.shape}], the config needs [${shape}]`);
    return g.param(name, 'f32', shape as number[], { trainable, ...(w ? { value: w.data } : {}) });
  });
}

/** One training step: forward, masked multi-softmax loss, backward, AdamW. */
export function buildBestRqTraining(cfg: SpeechConfig, weights: SpeechWeights, s: BestRqShape, optimizer: Partial<G.AdamWConfig> = {}): TrainingGraphs {
  checkShape(cfg, s);
  const g = new Graph();
  const p = paramsOf(g, cfg, weights, true);
  const { ce, correct } = bestRqLoss(cfg, p, g, s);
  return G.buildTraining(g, { loss: ce.loss, metrics: { masked: ce.count, correct }, optimizer, params: g.trainableParams });
}

/** Evaluation: summed loss, target count and correct predictions over a batch; parameters are inputs. */
export function buildBestRqEval(cfg: SpeechConfig, s: BestRqShape): EmittedModel {
  checkShape(cfg, s);
  const g = new Graph();
  const p = paramsOf(g, cfg, undefined, true);
  const { ce, correct } = bestRqLoss(cfg, p, g, s);
  return G.toOnnx(g, { outputs: { lossSum: G.sum(ce.perToken), count: ce.count, correct }, paramsAsInputs: 'trainable', name: 'bestrq_eval' });
}

/** An utterance ready for pre-training: its features and the quantizer's targets [S, N]. */
export interface BestRqItem {
  readonly key: string;
  readonly features: LogMelFeatures;
  readonly targets: Int32Array;
}

/**
 * A batch of `items` cropped or padded to `shape.frames`: a seeded crop offset (on encoder-frame
 * boundaries) for longer utterances, span masks with noise, targets only on masked real frames.
 */
export function bestRqBatch(cfg: SpeechConfig, items: readonly BestRqItem[], shape: BestRqShape, seed: number): Record<string, HostTensor> {
  checkShape(cfg, shape);
  if (items.length !== shape.batch) throw new HerdError('invalid_argument', `BEST-RQ batch: ${items.length} items for batch ${shape.batch}`);
  const { frames: T, batch: B } = shape;
  const F = cfg.nMels;
  const N = cfg.bestRq.codebooks;
  const S = T / cfg.stack;
  const features = new Float32Array(B * T * F);
  const valid = new Uint8Array(B * S);
  const targets = new Int32Array(B * S * N).fill(IGNORE);
  const rng = new Rng(seed);
  items.forEach((it, b) => {
    const have = it.targets.length / N; // encoder frames of the utterance
    const len = Math.min(have, S);
    const start = have > S ? rng.int(have - S + 1) : 0; // in encoder frames
    const mask = spanMask(len, cfg, rng.nextU32());
    const clean = it.features.data.subarray(start * cfg.stack * F, (start + len) * cfg.stack * F);
    features.set(applyMask(clean, F, mask, cfg, rng.nextU32()), b * T * F);
    valid.fill(1, b * S, b * S + len);
    for (let s = 0; s < len; s++) {
      if (!mask[s]) continue;
      targets.set(it.targets.subarray((start + s) * N, (start + s + 1) * N), (b * S + s) * N);
    }
  });
  return {
    features: hostTensor('f32', [B, T, F], features),
    valid: hostTensor('bool', [B, S], valid),
    targets: hostTensor('i32', [B, S, N], targets),
  };
}

