/**
 * Named speech encoder configs as JSON data files: `llama3-speech` is the paper's 1B Conformer
 * (24 layers, dim 1536, 24 heads, FFN 4096, kernel 7; BEST-RQ 16 × 8,192 codes of dim 16), `mini`
 * the mini herd's encoder that trains on a laptop CPU.
 */
import { HerdError } from '@herd/core';
import { type SpeechConfig, parseSpeechConfig } from '../config.js';
import llama3Speech from './llama3-speech.json' with { type: 'json' };
import mini from './mini.json' with { type: 'json' };

const PRESETS = { 'llama3-speech': llama3Speech, mini } as const satisfies Record<string, Record<string, unknown>>;

export type SpeechPresetName = keyof typeof PRESETS;
export const SPEECH_PRESET_NAMES = Object.keys(PRESETS) as readonly SpeechPresetName[];

/** The preset with top-level `overrides` applied (a `bestRq` override replaces fields of the preset's). */
export function loadSpeechPreset(name: string, overrides: Readonly<Record<string, unknown>> = {}): SpeechConfig {
  if (!Object.hasOwn(PRESETS, name)) throw new HerdError('invalid_config', `unknown speech preset ${JSON.stringify(name)}; valid presets: ${SPEECH_PRESET_NAMES.join(', ')}`);
  const base = PRESETS[name as SpeechPresetName];
  const bestRq = overrides['bestRq'] && typeof overrides['bestRq'] === 'object' ? { ...base.bestRq, ...(overrides['bestRq'] as object) } : base.bestRq;
  return parseSpeechConfig({ ...base, ...overrides, bestRq });
}
