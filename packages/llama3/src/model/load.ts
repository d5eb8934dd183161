/**
 * Loading Hugging Face Llama checkpoints (config.json + model.safetensors or a sharded
 * model.safetensors.index.json), bf16/f16/f32, by tensor name.
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { HerdError, SAFETENSORS_INDEX_NAME, readJsonFile, SAFETENSORS_SINGLE_NAME, type SafetensorsSource, openSafetensors } from '@herd/core';
import { type LlamaConfig, fromHfConfig } from '../config.js';
import { type FrozenWeights, type Weights } from './graphs.js';
import { llamaParamSpecs } from './weights.js';

export interface LoadedLlama {
  readonly config: LlamaConfig;
  readonly weights: Weights;
  /** What was accepted but looked wrong: unknown config.json keys, an unknown torch_dtype. */
  readonly warnings: readonly string[];
}

export interface LoadedLlamaExternal {
  readonly config: LlamaConfig;
  /** f32 tensors stay in the checkpoint's files; sessions need `modelDir` = `dir`. */
  readonly weights: FrozenWeights;
  readonly dir: string;
  readonly warnings: readonly string[];
}

export interface LoadHfOptions {
  /**
   * Check every tensor read for NaN/±Infinity (HerdError 'non_finite' naming the tensor). Default
   * true; false skips the scan for trusted checkpoints. Weights left in place (`external`) are scanned in chunks.
   */
  readonly checkFinite?: boolean;
}

/** Reads and checks `config.json` of a Hugging Face model folder; errors name the file and folder. */
export function readHfLlamaConfig(dir: string, warnings?: string[]): LlamaConfig {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new HerdError('io_error', `${dir}: no config.json (expected a Hugging Face model folder)`);
  const json = readJsonFile(cfgPath, { what: 'config file' });
  return fromHfConfig(json, { source: cfgPath, ...(warnings ? { warnings } : {}) });
}

/**
 * Reads every parameter the config needs, checking names and shapes; all problems are reported at
 * once. With `externalDir`, f32 tensors are not read but referenced in place (paths relative to
 * that folder); other dtypes are converted to f32 in memory.
 */
export function readLlamaWeights(source: SafetensorsSource, cfg: LlamaConfig, label: string): Weights;
export function readLlamaWeights(source: SafetensorsSource, cfg: LlamaConfig, label: string, externalDir: string): FrozenWeights;
export function readLlamaWeights(source: SafetensorsSource, cfg: LlamaConfig, label: string, externalDir?: string): FrozenWeights {
  const out: Record<string, { dtype: 'f32'; shape: readonly number[]; data?: Float32Array; external?: { path: string; offset: number; length: number } }> = {};
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
    // Weights left in the file are still scanned for NaN/Inf (in chunks) unless the source skips it.
    if (externalDir !== undefined && info.dtype === 'F32') source.assertFinite(spec.name);
    out[spec.name] =
      externalDir !== undefined && info.dtype === 'F32'
        ? { dtype: 'f32', shape: spec.shape, external: { path: relative(externalDir, info.file), offset: info.byteOffset, length: info.byteLength } }
        : { dtype: 'f32', shape: spec.shape, data: source.readFloat32(spec.name) };
  }
  if (problems.length) throw new HerdError('checkpoint_mismatch', `${label}: the checkpoint does not match the config:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return out;
}

/**
 * Loads a Hugging Face Llama model folder. With `{ external: true }`, f32 weights are not copied into
 * memory: the ONNX graph points straight into the safetensors files (the way to run models larger
 * than host memory allows twice over).
 */
export function loadHfLlama(dir: string, options?: LoadHfOptions): LoadedLlama;
export function loadHfLlama(dir: string, options: LoadHfOptions & { external: true }): LoadedLlamaExternal;
export function loadHfLlama(dir: string, options?: LoadHfOptions & { external?: true }): LoadedLlama | LoadedLlamaExternal {
  const warnings: string[] = [];
  const config = readHfLlamaConfig(dir, warnings);
  const index = join(dir, SAFETENSORS_INDEX_NAME);
  const single = join(dir, SAFETENSORS_SINGLE_NAME);
  const source = openSafetensors(existsSync(index) ? index : single, { checkFinite: options?.checkFinite ?? true });
  if (options?.external) return { config, weights: readLlamaWeights(source, config, dir, dir), dir, warnings };
  return { config, weights: readLlamaWeights(source, config, dir), warnings };
}
