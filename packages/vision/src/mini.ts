/**
 * The built-in mini vision checkpoint: the trained encoder + adapter groups of the mini herd (f16
 * safetensors, one file), its config, eval report and model card, attached to the committed frozen
 * mini language core. The core's weights are not copied here: they load from the core's folder.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { HerdError, ProblemList, SafetensorsFile, castFloat, hostTensor, readJsonFile, writeFileAtomic, writeSafetensors } from '@herd/core';
import { type LanguageCore, loadLanguageCore } from '@herd/llama3';
import { type HostTensor } from '@herd/runtime';
import { type MllamaConfig } from './config.js';
import { type VisionWeights } from './model/graphs.js';
import { adapterParamSpecs, encoderParamSpecs } from './model/params.js';
import { miniVisionConfig } from './train/mini.js';

/** packages/vision/weights/mini (the same from src/ and dist/). */
export const MINI_VISION_DIR = fileURLToPath(new URL('../weights/mini', import.meta.url));

export const MINI_VISION_FILES = { weights: 'vision.safetensors', config: 'config.json', eval: 'eval.json', card: 'MODEL_CARD.md' } as const;

export interface MiniVision {
  readonly dir: string;
  readonly config: MllamaConfig;
  readonly core: LanguageCore;
  /** Encoder + adapter (f32 after loading the f16 file). */
  readonly weights: VisionWeights;
}

interface StoredConfig {
  readonly format: 'herd-mini-vision';
  readonly vision: MllamaConfig['vision'];
  readonly crossAttentionLayers: readonly number[];
  readonly imageTokenId: number;
  readonly nLearnableTokens: number;
  /** The core it was trained against (dim, layers, vocab), checked on load. */
  readonly core: { readonly dim: number; readonly nLayers: number; readonly vocabSize: number };
}

/** Writes the encoder + adapter as f16 plus config.json (and eval.json / the card when given). */
export async function saveMiniVision(dir: string, m: MllamaConfig, weights: Readonly<Record<string, HostTensor>>, extra: { eval?: unknown; card?: string } = {}): Promise<void> {
  const names = [...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)].map((s) => s.name);
  const tensors = Object.fromEntries(names.map((n) => {
    const t = weights[n];
    if (!t) throw new HerdError('invalid_argument', `saveMiniVision: no value for ${n}`);
    return [n, castFloat(hostTensor('f32', t.shape, t.data as Float32Array), 'f16')];
  }));
  await writeSafetensors(join(dir, MINI_VISION_FILES.weights), tensors, { format: 'pt' });
  const cfg: StoredConfig = {
    format: 'herd-mini-vision', vision: m.vision, crossAttentionLayers: m.crossAttentionLayers, imageTokenId: m.imageTokenId, nLearnableTokens: m.nLearnableTokens,
    core: { dim: m.text.dim, nLayers: m.text.nLayers, vocabSize: m.text.vocabSize },
  };
  await writeFileAtomic(join(dir, MINI_VISION_FILES.config), JSON.stringify(cfg, null, 2) + '\n');
  if (extra.eval !== undefined) await writeFileAtomic(join(dir, MINI_VISION_FILES.eval), JSON.stringify(extra.eval, null, 2) + '\n');
  if (extra.card !== undefined) await writeFileAtomic(join(dir, MINI_VISION_FILES.card), extra.card);
}

/** Loads the vision checkpoint and the core it attaches to (default: the committed mini core). */
export function loadMiniVision(dir: string = MINI_VISION_DIR, core: LanguageCore = loadLanguageCore()): MiniVision {
  const cfgPath = join(dir, MINI_VISION_FILES.config);
  if (!existsSync(cfgPath)) throw new HerdError('io_error', `no vision checkpoint at ${dir}: expected ${MINI_VISION_FILES.config} + ${MINI_VISION_FILES.weights} (train one with 'herd vision train')`);
  const stored = readJsonFile(cfgPath, { what: 'vision config' }) as StoredConfig;
  const problems = new ProblemList();
  const t = core.config;
  if (stored.core?.dim !== t.dim || stored.core?.nLayers !== t.nLayers || stored.core?.vocabSize !== t.vocabSize) {
    problems.add(`${cfgPath}: trained against a core with dim ${stored.core?.dim}, ${stored.core?.nLayers} layers, vocabulary ${stored.core?.vocabSize}; the core at ${core.dir} has dim ${t.dim}, ${t.nLayers} layers, vocabulary ${t.vocabSize}`);
  }
  problems.throwIfAny('checkpoint_mismatch', `vision checkpoint ${dir} does not fit its language core`);
  const m: MllamaConfig = { ...miniVisionConfig(t), vision: stored.vision, crossAttentionLayers: stored.crossAttentionLayers, imageTokenId: stored.imageTokenId, nLearnableTokens: stored.nLearnableTokens };
  const file = SafetensorsFile.open(join(dir, MINI_VISION_FILES.weights));
  const weights: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const spec of [...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)]) {
    if (!file.has(spec.name)) {
      problems.add(`missing tensor ${spec.name}`);
      continue;
    }
    const shape = file.info(spec.name).shape;
    if (shape.join(',') !== spec.shape.join(',')) problems.add(`tensor ${spec.name}: shape [${shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
    else weights[spec.name] = { shape, data: file.readFloat32(spec.name) };
  }
  problems.throwIfAny('checkpoint_mismatch', `vision checkpoint ${join(dir, MINI_VISION_FILES.weights)}`);
  return { dir, config: m, core, weights };
}
