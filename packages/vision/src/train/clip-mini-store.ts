/**
 * Small f16 checkpoints of the curation models (mini CLIP, mini copy-detection): one safetensors
 * file of named parameters checked against the model's parameter specs on load, a config.json, an
 * eval.json and a model card, each written atomically.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, ProblemList, SafetensorsFile, castFloat, hostTensor, readJsonFile, writeFileAtomic, writeSafetensors } from '@herd/core';
import { type ParamSpec, type ParamValues } from '@herd/graph';
import { filesSha256, readCheckpointTensors } from '@herd/llama3';

export const MINI_STORE_FILES = { weights: 'model.safetensors', config: 'config.json', eval: 'eval.json', card: 'MODEL_CARD.md' } as const;

/** Writes `specs`' values as f16 plus the config (and eval / card when given). */
export async function saveMiniModel(dir: string, specs: readonly ParamSpec[], params: ParamValues, config: unknown, extra: { eval?: unknown; card?: string } = {}): Promise<void> {
  const problems = new ProblemList();
  const tensors: Record<string, ReturnType<typeof castFloat>> = {};
  for (const s of specs) {
    const v = params[s.name];
    if (!v) problems.add(`no value for ${s.name}`);
    else tensors[s.name] = castFloat(hostTensor('f32', v.shape, v.data), 'f16');
  }
  problems.throwIfAny('invalid_argument', `saveMiniModel ${dir}`);
  await writeSafetensors(join(dir, MINI_STORE_FILES.weights), tensors, { format: 'pt' });
  await writeFileAtomic(join(dir, MINI_STORE_FILES.config), JSON.stringify(config, null, 2) + '\n');
  if (extra.eval !== undefined) await writeFileAtomic(join(dir, MINI_STORE_FILES.eval), JSON.stringify(extra.eval, null, 2) + '\n');
  if (extra.card !== undefined) await writeFileAtomic(join(dir, MINI_STORE_FILES.card), extra.card);
}

/** The stored config of a checkpoint folder, checked for its `format` tag. */
export function readMiniConfig<T extends { format: string }>(dir: string, format: T['format'], trainWith: string): T {
  const path = join(dir, MINI_STORE_FILES.config);
  if (!existsSync(path)) throw new HerdError('io_error', `no ${format} checkpoint at ${dir}: expected ${MINI_STORE_FILES.config} + ${MINI_STORE_FILES.weights} (train one with '${trainWith}')`);
  const cfg = readJsonFile(path, { what: `${format} config` }) as T;
  if (cfg.format !== format) throw new HerdError('checkpoint_mismatch', `${path}: format '${String(cfg.format)}', expected '${format}'`);
  return cfg;
}

/** Loads every spec'd tensor (f32), reporting all missing or mis-shaped tensors at once. */
export function loadMiniParams(dir: string, specs: readonly ParamSpec[]): ParamValues {
  const path = join(dir, MINI_STORE_FILES.weights);
  const problems = new ProblemList();
  const read: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  readCheckpointTensors(SafetensorsFile.open(path), specs, problems, read);
  problems.throwIfAny('checkpoint_mismatch', `checkpoint ${path}`);
  return Object.fromEntries(Object.entries(read).map(([name, t]) => [name, { dtype: 'f32', shape: [...t.shape], data: t.data }])) as ParamValues;
}

/** A short digest of a checkpoint's weights: names the model in a curation run's fingerprint. */
export function checkpointId(dir: string): string {
  return filesSha256([join(dir, MINI_STORE_FILES.weights)]).slice(0, 16);
}
