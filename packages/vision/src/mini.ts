/**
 * The built-in mini vision checkpoint: the trained encoder + adapter groups of the mini herd (f16
 * safetensors, one file), its config, eval report and model card, attached to the committed frozen
 * mini language core. The core's weights are not copied here: they load from the core's folder.
 */
import { join } from 'node:path';
import { HerdError } from '@herd/core';
import { fileURLToPath } from 'node:url';
import { type LanguageCore, type TrainedAgainstCore, adapterCheckpointFiles, loadLanguageCore, openAdapterCheckpoint, readCheckpointTensors, trainedAgainst, writeAdapterCheckpoint } from '@herd/llama3';
import { type HostTensor } from '@herd/runtime';
import { type MllamaConfig, placeBinsOf, silhouetteLayersOf } from './config.js';
import { type VisionWeights } from './model/graphs.js';
import { adapterParamSpecs, encoderParamSpecs } from './model/params.js';
import { miniVisionConfig } from './train/mini.js';

/** packages/vision/weights/mini (the same from src/ and dist/). */
export const MINI_VISION_DIR = fileURLToPath(new URL('../weights/mini', import.meta.url));

export const MINI_VISION_FILES = adapterCheckpointFiles('vision.safetensors');

export interface MiniVision {
  readonly dir: string;
  readonly config: MllamaConfig;
  readonly core: LanguageCore;
  /** Encoder + adapter (f32 after loading the f16 file). */
  readonly weights: VisionWeights;
  /** Whether `core` is the one it was trained against (undefined: the checkpoint predates that record). */
  readonly coreMatches: boolean | undefined;
}

interface StoredConfig {
  readonly format: 'herd-mini-vision';
  readonly vision: MllamaConfig['vision'];
  readonly crossAttentionLayers: readonly number[];
  readonly imageTokenId: number;
  readonly nLearnableTokens: number;
  /** Learned place embeddings' bins (`MllamaConfig.placeBins`); absent in checkpoints without them (all before round 24). */
  readonly placeBins?: number;
  /** The silhouette stream's layers (`MllamaConfig.silhouetteLayers`); absent in checkpoints without one (all before round 32). */
  readonly silhouetteLayers?: readonly number[];
  /** The core it was trained against: its shape is checked on load, its weights' hash compared. */
  readonly core: TrainedAgainstCore;
}

/** Writes the encoder + adapter as f16 plus config.json (and eval.json / the card when given), recording the core it was trained against. */
export async function saveMiniVision(dir: string, m: MllamaConfig, core: LanguageCore, weights: Readonly<Record<string, HostTensor>>, extra: { eval?: unknown; card?: string } = {}): Promise<void> {
  const names = [...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)].map((s) => s.name);
  const cfg: StoredConfig = {
    format: 'herd-mini-vision', vision: m.vision, crossAttentionLayers: m.crossAttentionLayers, imageTokenId: m.imageTokenId, nLearnableTokens: m.nLearnableTokens,
    ...(placeBinsOf(m) > 0 ? { placeBins: m.placeBins } : {}), // absent without them: such a config.json is byte for byte the one before round 24
    ...(silhouetteLayersOf(m).length > 0 ? { silhouetteLayers: m.silhouetteLayers } : {}),
    core: trainedAgainst(core),
  };
  await writeAdapterCheckpoint(dir, MINI_VISION_FILES, names, weights, cfg, extra, 'saveMiniVision');
}

/** Loads the vision checkpoint and the core it attaches to (default: the committed mini core). */
export function loadMiniVision(dir: string = MINI_VISION_DIR, core: LanguageCore = loadLanguageCore()): MiniVision {
  const ckpt = openAdapterCheckpoint<StoredConfig>(dir, MINI_VISION_FILES, 'herd-mini-vision', 'vision', "train one with 'herd vision train'", core);
  const stored = ckpt.stored;
  const m: MllamaConfig = { ...miniVisionConfig(core.config), vision: stored.vision, crossAttentionLayers: stored.crossAttentionLayers, imageTokenId: stored.imageTokenId, nLearnableTokens: stored.nLearnableTokens, ...(stored.placeBins !== undefined ? { placeBins: stored.placeBins } : {}), ...(stored.silhouetteLayers !== undefined ? { silhouetteLayers: stored.silhouetteLayers } : {}) };
  try {
    placeBinsOf(m);
    silhouetteLayersOf(m);
  } catch (e) {
    throw new HerdError('checkpoint_mismatch', `vision checkpoint ${join(dir, MINI_VISION_FILES.config)}: ${(e as Error).message}`);
  }
  const weights: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  readCheckpointTensors(ckpt.weights, [...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)], ckpt.problems, weights);
  ckpt.problems.throwIfAny('checkpoint_mismatch', `vision checkpoint ${join(dir, MINI_VISION_FILES.weights)}`);
  return { dir, config: m, core, weights, coreMatches: ckpt.coreMatches };
}
