/**
 * The built-in mini speech checkpoint: the fine-tuned encoder + adapter groups of the mini herd (f16
 * safetensors, one file), their config, eval report and model card, attached to the committed frozen
 * mini language core. The core's weights are not copied here: they load from the core's folder.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, ProblemList, SafetensorsFile, castFloat, hostTensor, readJsonFile, writeFileAtomic, writeSafetensors } from '@herd/core';
import { type LanguageCore, loadLanguageCore } from '@herd/llama3';
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

export const MINI_SPEECH_FILES = { weights: 'speech.safetensors', config: 'config.json', eval: 'eval.json', card: 'MODEL_CARD.md' } as const;

export interface MiniSpeech {
  readonly dir: string;
  readonly model: SpeechModelConfig;
  /** Longest audio the model takes, in 10 ms input frames (its graphs are padded to this). */
  readonly maxFrames: number;
  readonly core: LanguageCore;
  /** Encoder + adapter (f32 after loading the f16 file). */
  readonly weights: Readonly<Record<string, { shape: readonly number[]; data: Float32Array }>>;
}

interface StoredConfig {
  readonly format: 'herd-mini-speech';
  readonly encoder: unknown;
  readonly adapter: SpeechAdapterConfig;
  readonly maxFrames: number;
  /** The core it was trained against, checked on load. */
  readonly core: { readonly dim: number; readonly nLayers: number; readonly vocabSize: number };
}

/** Writes the encoder + adapter as f16 plus config.json (and eval.json / the card when given). */
export async function saveMiniSpeech(dir: string, m: SpeechModelConfig, maxFrames: number, core: LanguageCore, weights: Readonly<Record<string, HostTensor | { shape: readonly number[]; data: Float32Array }>>, extra: { eval?: unknown; card?: string } = {}): Promise<void> {
  // The CTC head (training only) is kept when it was trained: it gives the encoder + adapter's own transcripts.
  const names = [...speechEncoderSpecs(m), ...speechAdapterSpecs(m), ...speechCtcSpecs(m).filter((c) => weights[c.name])].map((s) => s.name);
  const tensors = Object.fromEntries(names.map((n) => {
    const t = weights[n];
    if (!t) throw new HerdError('invalid_argument', `saveMiniSpeech: no value for ${n}`);
    return [n, castFloat(hostTensor('f32', [...t.shape], t.data as Float32Array), 'f16')];
  }));
  await writeSafetensors(join(dir, MINI_SPEECH_FILES.weights), tensors, { format: 'pt' });
  const cfg: StoredConfig = { format: 'herd-mini-speech', encoder: m.encoder, adapter: m.adapter, maxFrames, core: { dim: core.config.dim, nLayers: core.config.nLayers, vocabSize: core.config.vocabSize } };
  await writeFileAtomic(join(dir, MINI_SPEECH_FILES.config), JSON.stringify(cfg, null, 2) + '\n');
  if (extra.eval !== undefined) await writeFileAtomic(join(dir, MINI_SPEECH_FILES.eval), JSON.stringify(extra.eval, null, 2) + '\n');
  if (extra.card !== undefined) await writeFileAtomic(join(dir, MINI_SPEECH_FILES.card), extra.card);
}

/** Loads the speech checkpoint and the core it attaches to (default: the committed mini core). */
export function loadMiniSpeech(dir: string = MINI_SPEECH_DIR, core: LanguageCore = loadLanguageCore()): MiniSpeech {
  const cfgPath = join(dir, MINI_SPEECH_FILES.config);
  if (!existsSync(cfgPath)) throw new HerdError('io_error', `no speech checkpoint at ${dir}: expected ${MINI_SPEECH_FILES.config} + ${MINI_SPEECH_FILES.weights} (train one with 'herd speech train')`);
  const stored = readJsonFile(cfgPath, { what: 'speech config' }) as StoredConfig;
  const problems = new ProblemList();
  if (stored.format !== 'herd-mini-speech') problems.add(`${cfgPath}: format is ${JSON.stringify(stored.format)}, expected "herd-mini-speech"`);
  const t = core.config;
  if (stored.core?.dim !== t.dim || stored.core?.nLayers !== t.nLayers || stored.core?.vocabSize !== t.vocabSize) {
    problems.add(`${cfgPath}: trained against a core with dim ${stored.core?.dim}, ${stored.core?.nLayers} layers, vocabulary ${stored.core?.vocabSize}; the core at ${core.dir} has dim ${t.dim}, ${t.nLayers} layers, vocabulary ${t.vocabSize}`);
  }
  problems.throwIfAny('checkpoint_mismatch', `speech checkpoint ${dir} does not fit its language core`);
  const model: SpeechModelConfig = { encoder: parseSpeechConfig(stored.encoder), adapter: stored.adapter };
  const file = SafetensorsFile.open(join(dir, MINI_SPEECH_FILES.weights));
  const weights: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const spec of [...speechEncoderSpecs(model), ...speechAdapterSpecs(model)]) {
    if (!file.has(spec.name)) {
      problems.add(`missing tensor ${spec.name}`);
      continue;
    }
    const shape = file.info(spec.name).shape;
    if (shape.join(',') !== spec.shape.join(',')) problems.add(`tensor ${spec.name}: shape [${shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
    else weights[spec.name] = { shape, data: file.readFloat32(spec.name) };
  }
  // The CTC head is optional (checkpoints trained without the alignment objective have none), but whole when present.
  const head = speechCtcSpecs(model);
  const present = head.filter((c) => file.has(c.name));
  if (present.length && present.length < head.length) problems.add(`the CTC head is incomplete: has ${present.map((c) => c.name).join(', ')}, needs ${head.map((c) => c.name).join(', ')}`);
  for (const spec of present) {
    const shape = file.info(spec.name).shape;
    if (shape.join(',') !== spec.shape.join(',')) problems.add(`tensor ${spec.name}: shape [${shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
    else weights[spec.name] = { shape, data: file.readFloat32(spec.name) };
  }
  problems.throwIfAny('checkpoint_mismatch', `speech checkpoint ${join(dir, MINI_SPEECH_FILES.weights)}`);
  return { dir, model, maxFrames: stored.maxFrames, core, weights };
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
  for (const spec of conformerParamSpecs(config)) {
    if (!file.has(spec.name)) problems.add(`missing tensor ${spec.name}`);
    else weights[spec.name] = { shape: file.info(spec.name).shape, data: file.readFloat32(spec.name) };
  }
  problems.throwIfAny('checkpoint_mismatch', `speech encoder ${join(dir, BEST_RQ_FILES.weights)}`);
  return { config, weights };
}
