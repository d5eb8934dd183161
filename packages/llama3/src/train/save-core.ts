/**
 * Freezing a trained language core into its model folder (Hugging Face layout): f16 weights,
 * config.json, the pruned vocabulary, the training report and the model card. `roundToF16` gives
 * the weights exactly as they will be after saving, so the reported evaluation is of what is saved.
 */
import { join } from 'node:path';
import { cardPath, writeFileAtomic, writeSafetensors } from '@herd/core';
import * as G from '@herd/graph';
import { type HostTensor, hostTensor } from '@herd/runtime';
import { type LlamaConfig, toHfConfig } from '../config.js';
import { BEGIN_OF_TEXT_ID, EOT_ID } from '../tokenizer/special.js';
import { type PrunedVocab } from '../tokenizer/pruned.js';
import { type CoreData, modelCard } from './core-card.js';
import { type LanguageCoreRecipe, type LanguageCoreReport } from './language-core.js';

export const LANGUAGE_CORE_FILES = { config: 'config.json', weights: 'model.safetensors', vocab: 'vocab.json', card: 'MODEL_CARD.md', report: 'training.json' } as const;

/** f32 → f16 → f32: the weights as they will be after saving. */
export function roundToF16(params: Readonly<Record<string, HostTensor>>): Record<string, HostTensor> {
  return Object.fromEntries(Object.entries(params).map(([k, t]) => [k, hostTensor('f32', t.shape, Float32Array.from(t.data as Float32Array, (x) => f16Round(x)))]));
}

const f16buf = new Float32Array(1);
function f16Round(x: number): number {
  const bits = G.f32ToF16Bits(x);
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const f = bits & 0x3ff;
  f16buf[0] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
  return f16buf[0];
}

export async function saveLanguageCore(dir: string, config: LlamaConfig, params: Readonly<Record<string, HostTensor>>, vocab: PrunedVocab, report: LanguageCoreReport, recipe: LanguageCoreRecipe, data: CoreData): Promise<void> {
  await writeCoreWeights(dir, params);
  await writeCoreShape(dir, config, vocab);
  await writeFileAtomic(join(dir, LANGUAGE_CORE_FILES.report), JSON.stringify({ recipe, ...report }, null, 2) + '\n');
  await writeFileAtomic(join(dir, LANGUAGE_CORE_FILES.card), modelCard(report, recipe, data, cardPath(dir)));
}

/** The weights of a core folder, f16 (what `roundToF16` predicts). */
export async function writeCoreWeights(dir: string, params: Readonly<Record<string, HostTensor>>): Promise<void> {
  const tensors = Object.fromEntries(
    Object.entries(params).map(([k, t]) => [k, { dtype: 'f16' as const, shape: t.shape, data: Uint16Array.from(t.data as Float32Array, (x) => G.f32ToF16Bits(x)) }]),
  );
  await writeSafetensors(join(dir, LANGUAGE_CORE_FILES.weights), tensors, { format: 'pt' });
}

/**
 * What a core's weights mean: config.json (Hugging Face names, pointing at the vocabulary) and the pruned
 * vocabulary. A training run writes these beside its checkpoints too, so `freezeCheckpoint` can make any
 * checkpoint a core folder.
 */
export async function writeCoreShape(dir: string, config: LlamaConfig, vocab: PrunedVocab): Promise<void> {
  await writeFileAtomic(join(dir, LANGUAGE_CORE_FILES.config), JSON.stringify(toHfConfig(config, { torch_dtype: 'float16', bos_token_id: vocab.toCompact([BEGIN_OF_TEXT_ID])[0], eos_token_id: vocab.toCompact([EOT_ID])[0], herd_vocab: LANGUAGE_CORE_FILES.vocab }), null, 2) + '\n');
  await vocab.save(join(dir, LANGUAGE_CORE_FILES.vocab));
}

