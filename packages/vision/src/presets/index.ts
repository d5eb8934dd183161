/**
 * Named image-encoder configs (data files beside this module) and the adapter placement of the
 * released Llama 3.2 Vision models:
 * - `vit-h14-336`: the paper's ViT-H/14 (§7.2) at 336-px tiles, 32 + 8 gated global layers;
 * - `llama3.2-vision`: the encoder of Llama 3.2 11B and 90B Vision (identical in both), 560-px tiles;
 * - `mini`: the built-in size for the synthetic world (56-px tiles of 4×4 patches).
 */
import { HerdError } from '@herd/core';
import { type VisionConfig, parseVisionConfig } from '../config.js';
import llama32Vision from './llama3.2-vision.json' with { type: 'json' };
import mini from './mini.json' with { type: 'json' };
import vitH14 from './vit-h14-336.json' with { type: 'json' };

const PRESETS = { 'vit-h14-336': vitH14, 'llama3.2-vision': llama32Vision, mini } as const satisfies Record<string, Record<string, unknown>>;

export type VisionPresetName = keyof typeof PRESETS;
export const VISION_PRESET_NAMES = Object.keys(PRESETS) as readonly VisionPresetName[];

export function loadVisionPreset(name: string, overrides: Readonly<Record<string, unknown>> = {}): VisionConfig {
  if (!Object.hasOwn(PRESETS, name)) throw new HerdError('invalid_config', `unknown vision preset ${JSON.stringify(name)}; valid presets: ${VISION_PRESET_NAMES.join(', ')}`);
  return parseVisionConfig({ ...PRESETS[name as VisionPresetName], ...overrides });
}

/**
 * Cross-attention layer indices in the interleaved text stack of the released models (HF
 * `cross_attention_layers`): every 5th slot from 3, i.e. one before every 4th self-attention layer.
 * 11B: 32 self + 8 cross = 40 slots (text core = Llama 3.1 8B); 90B: 80 + 20 = 100 (core = 70B).
 */
export const LLAMA32_VISION_CROSS_LAYERS = {
  '11b': Array.from({ length: 8 }, (_, k) => 3 + 5 * k),
  '90b': Array.from({ length: 20 }, (_, k) => 3 + 5 * k),
} as const;
