/**
 * Named Llama 3 configs, kept as JSON data files beside this module. The 8B/70B/405B presets are the
 * Llama 3.1 models of the paper (128K context with RoPE scaling); `mini` is our small model whose
 * vocabSize comes from the pruned vocabulary it is trained with.
 */
import { HerdError } from '@herd/core';
import { parseLlamaConfig, type LlamaConfig } from '../config.js';
import llama3_405b from './llama3-405b.json' with { type: 'json' };
import llama3_70b from './llama3-70b.json' with { type: 'json' };
import llama3_8b from './llama3-8b.json' with { type: 'json' };
import llama3_2_1b from './llama3.2-1b.json' with { type: 'json' };
import llama3_2_3b from './llama3.2-3b.json' with { type: 'json' };
import mini from './mini.json' with { type: 'json' };

const PRESETS = {
  'llama3-8b': llama3_8b,
  'llama3-70b': llama3_70b,
  'llama3-405b': llama3_405b,
  'llama3.2-1b': llama3_2_1b,
  'llama3.2-3b': llama3_2_3b,
  mini,
} as const satisfies Record<string, Record<string, unknown>>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as readonly PresetName[];

/**
 * The preset with `overrides` applied, checked by parseLlamaConfig. `mini` has no vocabSize of its
 * own: pass `{ vocabSize: prunedVocab.size }`.
 */
export function loadPreset(name: string, overrides: Readonly<Record<string, unknown>> = {}): LlamaConfig {
  if (!Object.hasOwn(PRESETS, name)) {
    throw new HerdError('invalid_config', `unknown preset ${JSON.stringify(name)}; valid presets: ${PRESET_NAMES.join(', ')}`);
  }
  const merged: Record<string, unknown> = { ...PRESETS[name as PresetName], ...overrides };
  if (merged['vocabSize'] === null) {
    throw new HerdError(
      'invalid_config',
      `preset '${name}' leaves vocabSize open: pass loadPreset('${name}', { vocabSize: prunedVocab.size }) with the PrunedVocab it is trained on`,
    );
  }
  return parseLlamaConfig(merged);
}
