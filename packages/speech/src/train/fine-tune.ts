/**
 * Speech adapter fine-tuning with the core frozen (Llama 3 paper §7.1 Speech, "trained with the
 * language model frozen on a mixture of ASR, AST and spoken dialogue"): the shared adapter recipe
 * `trainAdapter` with the speech extension; the groups `speechEncoder` (the BEST-RQ pre-trained
 * Conformer) and `speechAdapter` train, every core weight is a frozen initializer (no gradient, no
 * optimizer state). Reads top to bottom: config → data → train (trainAdapter) → the trained values.
 */
import { join } from 'node:path';
import { HerdError } from '@herd/core';
import { type FrozenWeights, type LanguageCore, type Llama3Tokenizer, type LlamaConfig, trainAdapter } from '@herd/llama3';
import { type Device, type HostTensor } from '@herd/runtime';
import { type LrSchedule } from '@herd/trainer';
import { itemSeed } from '@herd/datasets';
import { type SpeechConfig } from '../config.js';
import { type SpecAugmentConfig, specAugment } from '../data/spec-augment.js';
import { SPEECH_ADAPTER_GROUP, SPEECH_CTC_GROUP, SPEECH_ENCODER_GROUP, type SpeechModelConfig, miniAdapterConfig, speechAdapterSpecs, speechCtcSpecs, speechEncoderSpecs, speechSpec } from '../model/extension.js';
import { type SpeechItem, collateSpeech, sampleToItem } from './speech-data.js';

export interface SpeechFineTuneOptions {
  readonly core: LanguageCore;
  readonly tokenizer: Llama3Tokenizer;
  readonly model: SpeechModelConfig;
  /** Starting encoder values (the pre-trained mini encoder), and adapter values for a warm start; what is missing starts fresh. */
  readonly encoderInit?: Readonly<Record<string, { shape: readonly number[]; data: Float32Array }>>;
  /** A prepared item dataset (`prepareSpeechSet`). */
  readonly dataDir: string;
  /** Padded input frames of the training graph (longest utterance, a multiple of 8). */
  readonly frames: number;
  readonly seqLen: number;
  readonly batch: number;
  readonly steps: number;
  readonly lr: number;
  readonly warmup?: number;
  readonly seed: number;
  /** Held-out items for the eval loss (trimmed to whole batches). */
  readonly heldout?: readonly SpeechItem[];
  readonly evalEvery?: number;
  readonly workDir?: string;
  readonly checkpointEvery?: number;
  readonly resume?: boolean;
  readonly stopAfter?: number;
  /**
   * The alignment objective: CTC of the adapter's frames against the transcript's tokens, scored
   * against the frozen core's embedding rows (`speechCtcLogits`), added to the next-token loss with
   * `weight`; its head (the group `speechCtc`) trains too and is returned with the weights.
   */
  readonly ctc?: { readonly weight: number; readonly maxLabels: number };
  /**
   * SpecAugment of every training utterance's log-mel (frequency and time masks over its real
   * frames), seeded by (seed, batch index, place in the batch): the same masks after a resume, and
   * fresh masks each time an utterance comes round again. Held-out batches are never masked.
   */
  readonly specAugment?: SpecAugmentConfig;
  /** Where the training and eval-loss sessions run; resolved by the app (default DEFAULT_DEVICE). */
  readonly device?: Device;
}

/** The training items of batch `index` with their log-mel masked (`specAugment`, seeded per utterance). */
export function augmentBatch(items: readonly SpeechItem[], index: number, seed: number, cfg: SpecAugmentConfig): SpeechItem[] {
  return items.map((item, j) => {
    const nMels = item.features.length / item.frames;
    const masked = specAugment({ data: item.features, frames: item.frames, nMels }, itemSeed(seed, 'speech/spec-augment', index * items.length + j), cfg);
    return { ...item, features: masked.data };
  });
}

export interface SpeechFineTuneResult {
  /** Encoder + adapter values (f32). */
  readonly weights: Record<string, HostTensor>;
  readonly losses: ReadonlyMap<number, number>;
  readonly evals: ReadonlyMap<number, Readonly<Record<string, number>>>;
  readonly finalStep: number;
  readonly finalEvalLoss?: number;
  readonly seconds: number;
}

/** The mini speech model on a core: the mini encoder's config and the mini adapter. */
export function miniSpeechModel(encoder: SpeechConfig, core: LlamaConfig): SpeechModelConfig {
  return { encoder, adapter: miniAdapterConfig(encoder, core) };
}

export async function fineTuneSpeech(o: SpeechFineTuneOptions): Promise<SpeechFineTuneResult> {
  const t0 = performance.now();
  // 1. Config: the core and the speech extension for graphs padded to `frames`.
  const ctc = o.ctc && o.ctc.weight > 0 ? o.ctc : undefined;
  const spec = speechSpec(o.core.config, o.model, o.frames, ctc ? { ctc: { maxLabels: ctc.maxLabels } } : {});
  const weights: FrozenWeights = { ...o.core.weights, ...(o.encoderInit ?? {}) };
  const names = [...speechEncoderSpecs(o.model), ...speechAdapterSpecs(o.model), ...(ctc ? speechCtcSpecs(o.model) : [])].map((s) => s.name);
  const missingEncoder = speechEncoderSpecs(o.model).filter((s) => o.encoderInit && !o.encoderInit[s.name]);
  if (missingEncoder.length) throw new HerdError('checkpoint_mismatch', `speech fine-tuning: the encoder init lacks ${missingEncoder.slice(0, 5).map((s) => s.name).join(', ')}${missingEncoder.length > 5 ? ` and ${missingEncoder.length - 5} more` : ''}`);

  // 2. Data: prepared items → batches.
  const collateOptions = { tok: o.tokenizer, core: o.core, encoder: o.model.encoder, frames: o.frames, seqLen: o.seqLen, ...(ctc ? { ctcMaxLabels: ctc.maxLabels } : {}) };
  const nMels = o.model.encoder.nMels;
  const heldout = o.heldout ?? [];
  const evalBatches = [];
  for (let i = 0; i + o.batch <= heldout.length; i += o.batch) evalBatches.push(collateSpeech(collateOptions, heldout.slice(i, i + o.batch)));

  // 3. Train through the shared recipe.
  const schedule: LrSchedule = { kind: 'cosine', peak: o.lr, warmup: o.warmup ?? Math.max(1, Math.round(o.steps * 0.05)), total: o.steps, floor: o.lr * 0.1 };
  const r = await trainAdapter({
    spec,
    train: [SPEECH_ENCODER_GROUP, SPEECH_ADAPTER_GROUP, ...(ctc ? [SPEECH_CTC_GROUP] : [])],
    ...(ctc ? { auxiliaryWeight: ctc.weight } : {}),
    weights,
    seed: o.seed,
    batch: o.batch,
    seqLen: o.seqLen,
    steps: o.steps,
    schedule,
    optimizer: { weightDecay: 0.01 },
    data: {
      dir: o.dataDir,
      collate: (samples, index) => {
        const items = samples.map((s) => sampleToItem(s, nMels));
        return collateSpeech(collateOptions, o.specAugment ? augmentBatch(items, index, o.seed, o.specAugment) : items);
      },
      ...(o.specAugment ? { collateSettings: { specAugment: o.specAugment } } : {}),
      shuffleBuffer: 512,
    },
    ...(evalBatches.length ? { evalBatches, evalEvery: o.evalEvery ?? 100 } : {}),
    ...(o.workDir ? { checkpointDir: join(o.workDir, 'checkpoints'), logPath: join(o.workDir, 'train.jsonl'), checkpointEvery: o.checkpointEvery ?? 200 } : {}),
    ...(o.resume ? { resume: true } : {}),
    ...(o.stopAfter !== undefined ? { stopAfter: o.stopAfter } : {}),
    device: o.device,
    label: 'speech-adapter',
  });
  const trained = Object.fromEntries(names.map((n) => [n, r.trained[n]!]));
  return {
    weights: trained, losses: r.losses, evals: r.evals, finalStep: r.finalStep, ...(r.finalEvalLoss !== undefined ? { finalEvalLoss: r.finalEvalLoss } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
}
