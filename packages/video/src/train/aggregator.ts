/**
 * Stage 0 of the mini video recipe (herd's addition; the paper trains the aggregator only through the
 * language model): the temporal aggregator pre-trained on its own with a caption-words head, before
 * any video cross-attention opens.
 *
 * Why: trained only through the language-model loss, the aggregator collapses — its tokens become the
 * same for every clip (pairwise cosine between clips 0.77 at init → 0.99998 after training, `vid2`), so
 * the video layers can only learn answer priors. While the video gates are small, the frame-dependent
 * part of the tokens reaches the language model as noise, and the cheapest way down the loss is to make
 * the tokens constant. Here nothing but the clip can lower the loss: the head reads the mean of the
 * clip's video tokens and must give the words of the clip's caption (a bag of words: the caption's
 * tokens are the targets of one distribution over the core's vocabulary). The synthetic world's
 * captions name the motion ("moves to the left", "stays still", "appears"), so a collapsed aggregator
 * costs loss. The head is thrown away afterwards; the language-model stages then train the video
 * cross-attention on the frozen aggregator (`trainMiniVideo({ aggregatorSteps })`).
 *
 * The head reads the MEAN token on purpose: a cross-attention that has not yet learnt where to look
 * is near-uniform over the video tokens and passes on about their mean (measured on the image adapter,
 * vsee2), so what the mean carries is what the video layers can use from their first steps.
 *
 * Legend: B clips, F frames, S image tokens per frame, D core width, V video tokens, W caption tokens,
 * N the core's vocabulary.
 */
import { HerdError, Rng, decodeF16 } from '@herd/core';
import * as G from '@herd/graph';
import { Graph, type ParamSpec, type TrainingGraphs } from '@herd/graph';
import { type Device, type HostTensor, Session, type SessionOptions, TrainingRun, hostTensor } from '@herd/runtime';
import { type VisionWeights } from '@herd/vision';
import { type ClipSampling } from '../config.js';
import { type ClipFeatures, type VideoExample, clipCanvasFeeds } from '../data/features.js';
import { type MotionObject } from '@herd/datasets';
import { type VideoModelConfig, clipPlacesInput, frameTokens } from '../model/graphs.js';
import { RESAMPLER_PREFIX, perceiverResampler, resamplerParamSpecs } from '../model/resampler.js';

const HEAD = 'video_aux.caption_head';
const MOTION_HEAD = 'video_aux.motion_head';

/**
 * The classes of the motion head (`motionWeight` > 0): the one direction the clip's moving shapes
 * share, or `still` when nothing moves. A stand-in target, like vision's dense stage: it is trained
 * on the synthetic world's ground-truth motion labels, which real clip–caption data would not have.
 */
export const MOTION_CLASSES = ['left', 'right', 'up', 'down', 'still'] as const;

/** The motion head's class of a clip (`MOTION_CLASSES` index), or −100 (ignored) when it has none: shapes moving different ways, or one appearing/disappearing. */
export function motionClass(objects: readonly MotionObject[]): number {
  if (objects.some((ob) => ob.motion.kind === 'appear' || ob.motion.kind === 'disappear')) return -100;
  const dirs = new Set(objects.flatMap((ob) => (ob.motion.kind === 'move' ? [ob.motion.direction] : [])));
  if (dirs.size === 0) return MOTION_CLASSES.indexOf('still');
  return dirs.size === 1 ? MOTION_CLASSES.indexOf([...dirs][0]!) : -100;
}

/** The caption-words head (mean video token [D] → logits over the core's vocabulary [N]) and, with `motion`, the motion head ([D] → `MOTION_CLASSES`). Not part of the checkpoint. */
export function aggregatorHeadSpecs(dim: number, vocab: number, motion = false): ParamSpec[] {
  return [
    { name: `${HEAD}.weight`, shape: [vocab, dim], init: 'normal' },
    { name: `${HEAD}.bias`, shape: [vocab], init: 'zeros' },
    ...(motion ? [{ name: `${MOTION_HEAD}.weight`, shape: [MOTION_CLASSES.length, dim], init: 'normal' as const }, { name: `${MOTION_HEAD}.bias`, shape: [MOTION_CLASSES.length], init: 'zeros' as const }] : []),
  ];
}

const hasMotionHead = (values: VisionWeights) => `${MOTION_HEAD}.weight` in values;

function declare(g: Graph, specs: readonly ParamSpec[], values: VisionWeights, trainable: boolean) {
  return G.declareParams(g, specs, (name, shape) => {
    const v = values[name];
    if (!v) throw new HerdError('checkpoint_mismatch', `aggregator stage: no value for '${name}'`);
    if (v.shape.join() !== shape.join()) throw new HerdError('checkpoint_mismatch', `aggregator stage: '${name}' has shape [${v.shape}], the config needs [${shape}]`);
    return g.param(name, 'f32', shape as number[], { trainable, value: v.data as Float32Array });
  });
}

/** Per sampling: the mean video token [B, D], the caption-word logits [B, N] read from it and, with `motion`, the motion logits [B, C]. */
function headLogits(m: VideoModelConfig, samplings: readonly ClipSampling[], p: G.Params, x: ReturnType<typeof inputs>, motion: boolean): { pooled: G.Tensor; logits: G.Tensor; motion?: G.Tensor }[] {
  return samplings.map((clip) => {
    const pooled = G.mean(perceiverResampler(m.video.resampler, clip, p, x.frames, x.frameMask, m.image.vision, x.at), 1); // [B, D]
    return { pooled, logits: G.linear(pooled, p(`${HEAD}.weight`), p(`${HEAD}.bias`)), ...(motion ? { motion: G.linear(pooled, p(`${MOTION_HEAD}.weight`), p(`${MOTION_HEAD}.bias`)) } : {}) }; // [B, N], [B, C]
  });
}

/**
 * The across-clip spread each dimension of the mean video token must keep (VICReg's variance term):
 * mean over d of relu(target − std over the batch of z_d). Why: with the caption words alone the
 * aggregator collapsed in stage 0 exactly as it does under the language-model loss (token cosine
 * between clips 0.56 at init → 0.9998 after 100 steps, measured on vsee3's encoder): at first the
 * frame-dependent part of the tokens is noise to the head, and Adam moves the final LayerNorm's scale
 * towards 0 at the learning rate whatever the gradient's size. This term makes collapse cost loss.
 * Target 0.5: about the init's spread of LayerNorm'd tokens averaged over a clip.
 */
export const SPREAD_TARGET = 0.5;

function spreadLoss(pooled: G.Tensor): G.Tensor {
  const centred = G.sub(pooled, G.mean(pooled, 0, true)); // [B, D]
  const std = G.sqrt(G.add(G.mean(G.mul(centred, centred), 0), 1e-4)); // [D]
  return G.mean(G.relu(G.sub(SPREAD_TARGET, std)));
}

function inputs(g: Graph, m: VideoModelConfig, batch: number, frames: number) {
  const S = frameTokens(m.image);
  const at = clipPlacesInput(g, m, batch);
  return { frames: g.input('video.frames', 'f32', [batch, frames, S, m.image.text.dim]), frameMask: g.input('video.frameMask', 'bool', [batch, S]), at };
}

/**
 * One AdamW step on the aggregator and the heads: cross-entropy of every caption token (`words`
 * [B, W] i32, −100 = padding) under the clip's word distribution, plus the spread term
 * (`SPREAD_TARGET`), plus — with `motionWeight` > 0 — `motionWeight` × the motion head's
 * cross-entropy against the clip's class (`motion` [B] i32, −100 = none), summed over the samplings
 * (the same frames merged as in pre-training and as in fine-tuning, so both token layouts carry the clip).
 */
export function buildAggregatorTraining(m: VideoModelConfig, samplings: readonly ClipSampling[], values: VisionWeights, vocab: number, batch: number, words: number, optimizer: Partial<G.AdamWConfig> = {}, motionWeight = 0): TrainingGraphs {
  const g = new Graph();
  const D = m.image.text.dim;
  const withMotion = motionWeight > 0;
  const p = declare(g, [...resamplerParamSpecs(m.video.resampler, D), ...aggregatorHeadSpecs(D, vocab, withMotion)], values, true);
  const x = inputs(g, m, batch, samplings[0]!.frames);
  const targets = g.input('words', 'i32', [batch, words]);
  const motionTargets = withMotion ? g.input('motion', 'i32', [batch]) : undefined;
  const losses = headLogits(m, samplings, p, x, withMotion).map(({ pooled, logits, motion }) => {
    const wordLoss = G.add(G.crossEntropy(G.expand(G.reshape(logits, [batch, 1, vocab]), [batch, words, vocab]), targets, -100).loss, spreadLoss(pooled));
    return motion && motionTargets ? G.add(wordLoss, G.mul(G.crossEntropy(motion, motionTargets, -100).loss, motionWeight)) : wordLoss;
  });
  return G.buildTraining(g, { loss: losses.reduce((a, b) => G.add(a, b)), optimizer, params: g.trainableParams });
}

/** Inference: log-probabilities [B, N] of the words of clips (the fine-tuning sampling) and, when `values` hold a motion head, of its classes (`motionLogProbs` [B, C]). */
export function buildAggregatorHead(m: VideoModelConfig, clip: ClipSampling, values: VisionWeights, vocab: number): G.EmittedModel {
  const g = new Graph();
  const D = m.image.text.dim;
  const withMotion = hasMotionHead(values);
  const p = declare(g, [...resamplerParamSpecs(m.video.resampler, D), ...aggregatorHeadSpecs(D, vocab, withMotion)], values, false);
  const x = inputs(g, m, 1, clip.frames);
  const { logits, motion } = headLogits(m, [clip], p, x, withMotion)[0]!;
  return G.toOnnx(g, { outputs: { logProbs: G.logSoftmax(logits), ...(motion ? { motionLogProbs: G.logSoftmax(motion) } : {}) }, name: 'video_aggregator_head' });
}

/** A clip, the ids (the core's) of its caption's words and its motion class (`motionClass`; used with `motionWeight` > 0). */
export interface CaptionedClip {
  readonly clip: ClipFeatures;
  readonly words: readonly number[];
  readonly motion?: number;
}

export interface AggregatorPretrainOptions {
  readonly config: VideoModelConfig;
  /** Samplings to train on (all with the clips' frame count); default: pre-training and fine-tuning, those with the features' frames. */
  readonly samplings?: readonly ClipSampling[];
  /** Starting values: at least the aggregator's (`video.resampler.*`); the head starts fresh. */
  readonly values: VisionWeights;
  readonly clips: readonly CaptionedClip[];
  /** The core's vocabulary size (the head's classes). */
  readonly vocab: number;
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed: number;
  /** Caption tokens per clip kept as targets (default 24). */
  readonly words?: number;
  /** Weight of the motion head's loss (default 0 = no motion head; the clips need `motion`). */
  readonly motionWeight?: number;
  /** Where the training run's sessions run; resolved by the app (default DEFAULT_DEVICE). */
  readonly device?: Device;
  readonly onStep?: (step: number, loss: number) => void;
}

export interface AggregatorPretrainResult {
  /** The aggregator's values (`video.resampler.*`) and the head's (`video_aux.*`, not saved in checkpoints). */
  readonly values: Record<string, HostTensor>;
  readonly losses: number[];
}

function framesOf(m: VideoModelConfig, clips: readonly ClipFeatures[], frames: number): Record<string, HostTensor> {
  const S = frameTokens(m.image);
  const D = m.image.text.dim;
  const f = new Float32Array(clips.length * frames * S * D);
  const mask = new Uint8Array(clips.length * S);
  clips.forEach((c, b) => {
    if (c.features.length !== frames * S * D) throw new HerdError('shape_mismatch', `aggregator stage: a clip has ${c.features.length} feature values, the sampling takes ${frames}×${S}×${D}`);
    f.set(decodeF16(c.features), b * frames * S * D);
    mask.set(c.frameMask, b * S);
  });
  return { 'video.frames': hostTensor('f32', [clips.length, frames, S, D], f), 'video.frameMask': hostTensor('bool', [clips.length, S], mask), ...clipCanvasFeeds(m, clips) };
}

/** Trains the aggregator with the caption-words head (cosine schedule, 6 % warm-up, floor 10 %). */
export async function pretrainAggregator(o: AggregatorPretrainOptions): Promise<AggregatorPretrainResult> {
  const m = o.config;
  if (o.clips.length < o.batch) throw new HerdError('invalid_argument', `pretrainAggregator: ${o.clips.length} clips, fewer than one batch of ${o.batch}`);
  const frames = decodeF16Length(o.clips[0]!.clip, m);
  const samplings = o.samplings ?? [m.video.pretrain, m.video.finetune].filter((s, i, all) => s.frames === frames && all.findIndex((t) => t.frames === s.frames && t.groupFrames === s.groupFrames) === i);
  if (samplings.length === 0 || samplings.some((s) => s.frames !== frames)) throw new HerdError('invalid_argument', `pretrainAggregator: the clips have ${frames} frames; no given sampling takes that many (${JSON.stringify(samplings)})`);
  const W = o.words ?? 24;
  const D = m.image.text.dim;
  const motionWeight = o.motionWeight ?? 0;
  if (!(motionWeight >= 0)) throw new HerdError('invalid_argument', `pretrainAggregator: motionWeight must be ≥ 0, got ${motionWeight}`);
  if (motionWeight > 0 && o.clips.some((c) => c.motion === undefined)) throw new HerdError('invalid_argument', 'pretrainAggregator: motionWeight > 0 needs every clip\'s motion class');
  const head = G.initParams(aggregatorHeadSpecs(D, o.vocab, motionWeight > 0), o.seed, { std: 1 / Math.sqrt(D) });
  const start: VisionWeights = { ...Object.fromEntries(Object.entries(o.values).filter(([k]) => k.startsWith(`${RESAMPLER_PREFIX}.`))), ...head };
  const run = await TrainingRun.create(buildAggregatorTraining(m, samplings, start, o.vocab, o.batch, W, { weightDecay: 0.01 }, motionWeight), Object.fromEntries(Object.entries(start).map(([k, v]) => [k, hostTensor('f32', [...v.shape], Float32Array.from(v.data as Float32Array))])), { device: o.device });
  const rng = new Rng(o.seed);
  const order = o.clips.map((_, i) => i);
  let cursor = order.length;
  const next = (): CaptionedClip => {
    if (cursor >= order.length) (rng.shuffle(order), (cursor = 0));
    return o.clips[order[cursor++]!]!;
  };
  try {
    const losses: number[] = [];
    const warm = Math.max(1, Math.round(0.06 * o.steps));
    for (let s = 0; s < o.steps; s++) {
      const pick = Array.from({ length: o.batch }, next);
      const words = new Int32Array(o.batch * W).fill(-100);
      pick.forEach((c, b) => words.set(c.words.slice(0, W), b * W));
      const lr = s < warm ? (o.lr * (s + 1)) / warm : o.lr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (s - warm)) / Math.max(1, o.steps - warm))));
      const motion: Record<string, HostTensor> = motionWeight > 0 ? { motion: hostTensor('i32', [o.batch], Int32Array.from(pick, (c) => c.motion!)) } : {};
      const loss = (await run.trainStep({ ...framesOf(m, pick.map((c) => c.clip), frames), words: hostTensor('i32', [o.batch, W], words), ...motion }, lr)).loss;
      losses.push(loss);
      o.onStep?.(s + 1, loss);
    }
    return { values: await run.readParams(), losses };
  } finally {
    await run.release();
  }
}

function decodeF16Length(c: ClipFeatures, m: VideoModelConfig): number {
  const per = frameTokens(m.image) * m.image.text.dim;
  const F = c.features.length / per;
  if (!Number.isInteger(F)) throw new HerdError('shape_mismatch', `aggregator stage: ${c.features.length} feature values are not whole frames of ${per}`);
  return F;
}

/**
 * How well the heads read motion from held-out clips: per clip the log-probabilities of given word
 * ids (caption-words head) and, when `values` hold a motion head, of its `MOTION_CLASSES`.
 */
export async function aggregatorWordScores(m: VideoModelConfig, clip: ClipSampling, values: VisionWeights, vocab: number, clips: readonly ClipFeatures[], wordIds: readonly number[], options: SessionOptions = {}): Promise<{ words: number[]; motion?: number[] }[]> {
  const session = await Session.create(buildAggregatorHead(m, clip, values, vocab), options, 'video_aggregator_head');
  try {
    const out: { words: number[]; motion?: number[] }[] = [];
    for (const c of clips) {
      const r = await session.run(framesOf(m, [c], clip.frames));
      const lp = r['logProbs']!.data as Float32Array;
      const motion = r['motionLogProbs']?.data as Float32Array | undefined;
      out.push({ words: wordIds.map((id) => lp[id]!), ...(motion ? { motion: [...motion] } : {}) });
    }
    return out;
  } finally {
    await session.release();
  }
}

/** Train-split examples as captioned clips: the caption's token ids (the core's compact ids), from `wordsOf`, and the motion class (`motionClass`). */
export function captionedClips(examples: readonly VideoExample[], wordsOf: (caption: string) => number[]): CaptionedClip[] {
  return examples.map((x) => ({ clip: x.clip, words: wordsOf(x.caption), motion: motionClass(x.objects) }));
}
