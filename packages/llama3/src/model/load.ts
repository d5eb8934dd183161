/**
 * Loading Hugging Face Llama checkpoints (config.json + model.safetensors or a sharded
 * model.safetensors.index.json), bf16/f16/f32, by tensor name.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, SAFETENSORS_INDEX_NAME, SAFETENSORS_SINGLE_NAME, type SafetensorsSource, openSafetensors } from '@herd/core';
import { type LlamaConfig, fromHfConfig } from '../config.js';
import { type Weights } from './graphs.js';
import { llamaParamSpecs } from './weights.js';

export interface LoadedLlama {
  readonly config: LlamaConfig;
  readonly weights: Weights;
}

/** Reads every parameter the config needs, checking names and shapes; all problems are reported at once. */
export function readLlamaWeights(source: SafetensorsSource, cfg: LlamaConfig, label: string): Weights {
  const out: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  const problems: string[] = [];
  for (const spec of llamaParamSpecs(cfg)) {
    if (!source.has(spec.name)) {
      problems.push(`missing tensor '${spec.name}' (shape [${spec.shape}])`);
      continue;
    }
    const info = source.info(spec.name);
    if (info.shape.join() !== spec.shape.join()) {
      problems.push(`tensor '${spec.name}' has shape [${info.shape}], the config needs [${spec.shape}]`);
      continue;
    }
    out[spec.name] = { shape: spec.shape, data: source.readFloat32(spec.name) };
  }
  if (problems.length) throw new HerdError('checkpoint_mismatch', `${label}: the checkpoint does not match the config:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return out;
}

/** Loads a Hugging Face Llama model folder. */
export function loadHfLlama(dir: string): LoadedLlama {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new HerdError('io_error', `${dir}: no config.json (expected a Hugging Face model folder)`);
  const config = fromHfConfig(JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>);
  const index = join(dir, SAFETENSORS_INDEX_NAME);
  const single = join(dir, SAFETENSORS_SINGLE_NAME);
  const source = openSafetensors(existsSync(index) ? index : single);
  return { config, weights: readLlamaWeights(source, config, dir) };
}
