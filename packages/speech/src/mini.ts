/**
 * The built-in mini speech checkpoint: the fine-tuned encoder + adapter groups of the mini herd (f16
 * safetensors, one file), their config, eval report and model card, attached to the committed frozen
 * mini language core. The core's weights are not copied here: they load from the core's folder.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, ProblemList, SafetensorsFile, readJsonFile } from '@herd/core';
import { type LanguageCore, type TrainedAgainstCore, adapterCheckpointFiles, loadLanguageCore, openAdapterCheckpoint, readCheckpointTensors, trainedAgainst, writeAdapterCheckpoint } from '@herd/llama3';
import { type HostTensor, type SessionOptions } from '@herd/runtime';
import { type SpeechConfig, parseSpeechConfig } from './config.js';
import { conformerParamSpecs } from './model/params.js';
import { BEST_RQ_FILES } from './train/pretrain.js';
import { MINI_ENCODER_DIR } from './train/mini.js';
import { type SpeechAdapterConfig } from './model/adapter.js';
import { CTC_BLANK_PARAM, CTC_LOG_SCALE_PARAM, type SpeechModelConfig, speechAdapterSpecs, speechCtcSpecs, speechEncoderSpecs } from './model/extension.js';
import { type SpeechCtcHead } from './eval/ctc-decode.js';
import { SpeechGenerator } from './model/generate.js';

/** packages/speech/weights/mini (the same from src/ and dist/). */
export const MINI_SPEECH_DIR = fileURLToPath(new URL('../weights/mini', import.meta.url));

export const MINI_SPEECH_FILES = adapterCheckpointFiles('speech.safetensors');

export interface MiniSpeech {
  readonly dir: string;
  readonly model: SpeechModelConfig;
  /** Longest audio the model takes, in 10 ms input frames (its graphs are padded to this). */
  readonly maxFrames: number;
  readonly core: LanguageCore;
  /** Encoder + adapter (f32 after loading the f16 file). */
  readonly weights: Readonly<Record<string, { shape: readonly number[]; data: Float32Array }>>;
  /** Whether `core` is the one it was trained against (undefined: the checkpoint predates that record). */
  readonly coreMatches: boolean | undefined;
}

interface StoredConfig {
  readonly format: 'herd-mini-speech';
  readonly encoder: unknown;
  readonly adapter: SpeechAdapterConfig;
  readonly maxFrames: number;
  /** The core it was trained against: its shape is checked on load, its weights' hash compared. */
  readonly core: TrainedAgainstCore;
}

/** Writes the encoder + adapter as f16 plus config.json (and eval.json / the card when given), recording the core it was trained against. */
export async function saveMiniSpeech(dir: string, m: SpeechModelConfig, maxFrames: number, core: LanguageCore, weights: Readonly<Record<string, HostTensor | { shape: readonly number[]; data: Float32Array }>>, extra: { eval?: unknown; card?: string } = {}): Promise<void> {
  // The CTC head (training only) is kept when it was trained: it gives the encoder + adapter's own transcripts.
  const names = [...speechEncoderSpecs(m), ...speechAdapterSpecs(m), ...speechCtcSpecs(m).filter((c) => weights[c.name])].map((s) => s.name);
  const cfg: StoredConfig = { format: 'herd-mini-speech', encoder: m.encoder, adapter: m.adapter, maxFrames, core: trainedAgainst(core) };
  await writeAdapterCheckpoint(dir, MINI_SPEECH_FILES, names, weights, cfg, extra, 'saveMiniSpeech');
}

/** Loads the speech checkpoint and the core it attaches to (default: the committed mini core). */
export function loadMiniSpeech(dir: string = MINI_SPEECH_DIR, core: LanguageCore = loadLanguageCore()): MiniSpeech {
  const ckpt = openAdapterCheckpoint<StoredConfig>(dir, MINI_SPEECH_FILES, 'herd-mini-speech', 'speech', "train one with 'herd speech train'", core);
  const stored = ckpt.stored;
  const model: SpeechModelConfig = { encoder: parseSpeechConfig(stored.encoder), adapter: stored.adapter };
  const { weights: file, problems } = ckpt;
  const weights: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  readCheckpointTensors(file, [...speechEncoderSpecs(model), ...speechAdapterSpecs(model)], problems, weights);
  // The CTC head is optional (checkpoints trained without the alignment objective have none), but whole when present.
  const head = speechCtcSpecs(model);
  const present = head.filter((c) => file.has(c.name));
  if (present.length && present.length < head.length) problems.add(`the CTC head is incomplete: has ${present.map((c) => c.name).join(', ')}, needs ${head.map((c) => c.name).join(', ')}`);
  readCheckpointTensors(file, present, problems, weights);
  problems.throwIfAny('checkpoint_mismatch', `speech checkpoint ${join(dir, MINI_SPEECH_FILES.weights)}`);
  return { dir, model, maxFrames: stored.maxFrames, core, weights, coreMatches: ckpt.coreMatches };
}

/** The CTC head among speech weights, if they hold one. */
export function ctcHeadOf(weights: Readonly<Record<string, { readonly data: unknown } | undefined>>): SpeechCtcHead | undefined {
  const blank = weights[CTC_BLANK_PARAM];
  const scale = weights[CTC_LOG_SCALE_PARAM];
  return blank && scale ? { blank: Float32Array.from(blank.data as ArrayLike<number>), logScale: (scale.data as ArrayLike<number>)[0]! } : undefined;
}

/** A generator over a loaded checkpoint (core + speech weights). */
export function miniSpeechGenerator(s: MiniSpeech, options: SessionOptions = {}): Promise<SpeechGenerator> {
  return SpeechGenerator.create(s.core.config, s.model, { ...s.core.weights, ...s.weights }, s.maxFrames, options);
}

/** The BEST-RQ pre-trained encoder (default: the committed mini one): its config and f32 values. */
export function loadPretrainedEncoder(dir: string = MINI_ENCODER_DIR): { config: SpeechConfig; weights: Record<string, { shape: readonly number[]; data: Float32Array }> } {
  const cfgPath = join(dir, BEST_RQ_FILES.config);
  if (!existsSync(cfgPath)) throw new HerdError('io_error', `no speech encoder at ${dir}: expected ${BEST_RQ_FILES.config} + ${BEST_RQ_FILES.weights} (pre-train one with 'npm run train -w @herd/speech')`);
  const config = parseSpeechConfig(readJsonFile(cfgPath, { what: 'speech encoder config' }));
  const file = SafetensorsFile.open(join(dir, BEST_RQ_FILES.weights));
  const problems = new ProblemList();
  const weights: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  readCheckpointTensors(file, conformerParamSpecs(config), problems, weights);
  problems.throwIfAny('checkpoint_mismatch', `speech encoder ${join(dir, BEST_RQ_FILES.weights)}`);
  return { config, weights };
}
