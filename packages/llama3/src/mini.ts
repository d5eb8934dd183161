/**
 * The built-in mini language core: where its committed checkpoint lives and how to load it with
 * its pruned vocabulary.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, readJsonFile } from '@herd/core';
import { type LlamaConfig } from './config.js';
import { type Weights } from './model/graphs.js';
import { loadHfLlama } from './model/load.js';
import { PrunedVocab } from './tokenizer/pruned.js';

/** packages/llama3/weights/mini (the same from src/ and dist/). */
export const MINI_CORE_DIR = fileURLToPath(new URL('../weights/mini', import.meta.url));

/** Whether a core folder is the committed mini core (how adapter cards decide to name another core and its --core flag). */
export function isMiniCoreDir(dir: string): boolean {
  return resolve(dir) === resolve(MINI_CORE_DIR);
}

export interface LanguageCore {
  readonly dir: string;
  readonly config: LlamaConfig;
  readonly weights: Weights;
  /** Present when the model was trained on a pruned vocabulary. */
  readonly vocab?: PrunedVocab;
  /** What config.json had that looked wrong but was accepted (unknown keys, an unknown torch_dtype): show them to the user. */
  readonly warnings: readonly string[];
}

/** Loads a Hugging Face-layout Llama folder, with herd's pruned vocabulary when config.json names one. */
export function loadLanguageCore(dir: string = MINI_CORE_DIR): LanguageCore {
  if (!existsSync(join(dir, 'config.json'))) {
    throw new HerdError('io_error', `no language core at ${dir}: expected config.json + model.safetensors (train one with 'herd train text')`);
  }
  const { config, weights, warnings } = loadHfLlama(dir);
  const raw = readJsonFile(join(dir, 'config.json'), { what: 'config file' }) as Record<string, unknown>;
  const vocabFile = typeof raw['herd_vocab'] === 'string' ? join(dir, raw['herd_vocab']) : undefined;
  const vocab = vocabFile ? PrunedVocab.load(vocabFile) : undefined;
  if (vocab && vocab.size !== config.vocabSize) {
    throw new HerdError('checkpoint_mismatch', `${dir}: vocab.json has ${vocab.size} entries but the model's vocab_size is ${config.vocabSize}`);
  }
  return { dir, config, weights, warnings, ...(vocab ? { vocab } : {}) };
}
