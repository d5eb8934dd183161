/**
 * Named video configs (data files beside this module):
 * - `paper`: §7.4 — 16 frames merged 16→1 for pre-training, 64 frames merged 32→1 for fine-tuning,
 *   video cross-attention before every 4th image cross-attention layer, FFN as the core's (8B width
 *   shown; the resampler's latents/layers are not stated in the paper: Flamingo's 64 latents, 6 layers);
 * - `mini`: the built-in size for the synthetic world: 8 frames (8→1 pre-training, 4→1 fine-tuning),
 *   8 latents, 2 layers; the mini image adapter has only 2 cross-attention layers, so `crossEvery` 1
 *   puts a video layer before each of them (the paper's 4 would leave only the fallback's one).
 */
import { HerdError } from '@herd/core';
import { type VideoConfig, parseVideoConfig } from '../config.js';
import mini from './mini.json' with { type: 'json' };
import paper from './paper.json' with { type: 'json' };

const PRESETS = { paper, mini } as const satisfies Record<string, Record<string, unknown>>;

export type VideoPresetName = keyof typeof PRESETS;
export const VIDEO_PRESET_NAMES = Object.keys(PRESETS) as readonly VideoPresetName[];

export function loadVideoPreset(name: string): VideoConfig {
  if (!Object.hasOwn(PRESETS, name)) throw new HerdError('invalid_config', `unknown video preset ${JSON.stringify(name)}; valid presets: ${VIDEO_PRESET_NAMES.join(', ')}`);
  return parseVideoConfig(PRESETS[name as VideoPresetName]);
}
