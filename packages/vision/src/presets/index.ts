/**
 * Named image-encoder configs (data files beside this module) and the adapter placement of the
 * released Llama 3.2 Vision models:
 * - `vit-h14-336`: the paper's ViT-H/14 (§7.2) at 336-px tiles, 32 + 8 gated global layers;
 * - `llama3.2-vision`: the encoder of Llama 3.2 11B and 90B Vision (identical in both), 560-px tiles;
 * - `mini`: the built-in size for the synthetic world (48-px tiles of 6×6 patches of 8 px, up to 2×2 tiles);
 * - `mini-patch4`: `mini` with 4-px patches (12×12 per tile, 145 tokens per tile instead of 37), nothing else
 *   changed. Why: the world's shapes are ~9–22 px across on the ≤ 96-px canvas, so at patch 8 a shape falls
 *   into 2–8 patches (median 4) and its outline inside one linear patch embedding; at patch 4 it gets 4–25
 *   (median 12). The canvas itself is not the limit: a linear probe on the cell's raw ink mask reads the
 *   shape as well at 96 px as at 192 (85 vs 86 % held-out; eye13's report, `bench/src/vision-shape-probe.ts`).
 */
import { HerdError } from '@herd/core';
import { type VisionConfig, parseVisionConfig } from '../config.js';
import llama32Vision from './llama3.2-vision.json' with { type: 'json' };
import mini from './mini.json' with { type: 'json' };
import miniPatch4 from './mini-patch4.json' with { type: 'json' };
import vitH14 from './vit-h14-336.json' with { type: 'json' };

const PRESETS = { 'vit-h14-336': vitH14, 'llama3.2-vision': llama32Vision, mini, 'mini-patch4': miniPatch4 } as const satisfies Record<string, Record<string, unknown>>;

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
