/**
 * Loading Hugging Face `MllamaForConditionalGeneration` folders (config.json + model.safetensors or a
 * sharded index) into the three parts herd keeps apart: the frozen core (self-attention layers
 * renumbered 0..n−1 under Llama names), the image encoder, and the adapter (projector, cross-attention
 * layers under their stack indices, the learnable token rows split off the embedding table).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, ProblemList, SAFETENSORS_INDEX_NAME, SAFETENSORS_SINGLE_NAME, type SafetensorsSource, isRecord, openSafetensors, readJsonFile } from '@herd/core';
import { type Weights, llamaParamSpecs, parseLlamaConfig } from '@herd/llama3';
import { type MllamaConfig, parseVisionConfig } from '../config.js';
import { type VisionWeights } from './graphs.js';
import { adapterParamSpecs, encoderParamSpecs } from './params.js';

/**
 * An HF Mllama config.json as herd configs. `embedRows` is the checkpoint's embedding-table height
 * (vocab + learnable rows); `preprocessor` is preprocessor_config.json when there is one (image mean/std).
 */
export function mllamaFromHfConfig(json: unknown, embedRows: number, preprocessor?: Record<string, unknown>, visionOverrides: Readonly<Record<string, unknown>> = {}): MllamaConfig {
  if (!isRecord(json) || !isRecord(json['text_config']) || !isRecord(json['vision_config'])) {
    throw new HerdError('invalid_config', 'Mllama config.json needs text_config and vision_config objects');
  }
  const t = json['text_config'];
  const v = json['vision_config'];
  const p = new ProblemList();
  const cross = t['cross_attention_layers'];
  if (!Array.isArray(cross) || cross.some((c) => !Number.isSafeInteger(c))) p.add(`text_config.cross_attention_layers must be a list of layer indices, got ${JSON.stringify(cross)}`);
  const crossAttentionLayers = (cross as number[]) ?? [];
  const nStack = t['num_hidden_layers'] as number;
  if (t['hidden_act'] !== undefined && t['hidden_act'] !== 'silu') p.add(`text_config.hidden_act must be "silu", got ${JSON.stringify(t['hidden_act'])}`);
  if (v['hidden_act'] !== undefined && v['hidden_act'] !== 'gelu') p.add(`vision_config.hidden_act must be "gelu", got ${JSON.stringify(v['hidden_act'])}`);
  if (v['num_channels'] !== undefined && v['num_channels'] !== 3) p.add(`vision_config.num_channels must be 3, got ${JSON.stringify(v['num_channels'])}`);
  const rp = isRecord(t['rope_parameters']) ? t['rope_parameters'] : isRecord(t['rope_scaling']) ? t['rope_scaling'] : null;
  const ropeTheta = (rp?.['rope_theta'] as number | undefined) ?? (t['rope_theta'] as number | undefined) ?? 500_000;
  const ropeType = rp?.['rope_type'] ?? rp?.['type'];
  if (rp && ropeType !== 'llama3' && ropeType !== 'default') p.add(`text_config rope_type ${JSON.stringify(ropeType)} is not supported (llama3 or default)`);
  const vocab = t['vocab_size'] as number;
  const imageTokenId = (json['image_token_index'] ?? json['image_token_id'] ?? vocab) as number;
  if (imageTokenId < vocab || imageTokenId >= embedRows) p.add(`image_token_index ${imageTokenId} must lie in the learnable rows [${vocab}, ${embedRows}) of the embedding table`);
  p.throwIfAny('invalid_config', 'Mllama config.json');
  const text = parseLlamaConfig({
    dim: t['hidden_size'],
    nLayers: nStack - crossAttentionLayers.length,
    nHeads: t['num_attention_heads'],
    nKvHeads: t['num_key_value_heads'],
    vocabSize: vocab,
    ffnDim: t['intermediate_size'],
    normEps: t['rms_norm_eps'],
    ropeTheta,
    ropeScaling:
      rp && ropeType === 'llama3'
        ? { factor: rp['factor'], lowFreqFactor: rp['low_freq_factor'], highFreqFactor: rp['high_freq_factor'], originalMaxPositionEmbeddings: rp['original_max_position_embeddings'] }
        : null,
    maxSeqLen: t['max_position_embeddings'],
    tieEmbeddings: t['tie_word_embeddings'] ?? false,
  });
  const vision = parseVisionConfig({
    tileSize: v['image_size'],
    patchSize: v['patch_size'],
    dim: v['hidden_size'],
    nLayers: v['num_hidden_layers'],
    nGlobalLayers: v['num_global_layers'],
    nHeads: v['attention_heads'],
    ffnDim: v['intermediate_size'],
    normEps: v['norm_eps'] ?? 1e-5,
    intermediateLayers: v['intermediate_layers_indices'],
    maxTiles: v['max_num_tiles'],
    ...(v['supported_aspect_ratios'] ? { supportedAspectRatios: v['supported_aspect_ratios'] } : {}),
    ...(preprocessor?.['image_mean'] ? { imageMean: preprocessor['image_mean'] } : {}),
    ...(preprocessor?.['image_std'] ? { imageStd: preprocessor['image_std'] } : {}),
    ...visionOverrides,
  });
  if (v['vision_output_dim'] !== undefined && v['vision_output_dim'] !== vision.dim * (1 + vision.intermediateLayers.length)) {
    throw new HerdError('invalid_config', `vision_output_dim ${JSON.stringify(v['vision_output_dim'])} ≠ hidden_size × (1 + intermediate layers) = ${vision.dim * (1 + vision.intermediateLayers.length)}`);
  }
  return { text, vision, crossAttentionLayers, imageTokenId, nLearnableTokens: embedRows - vocab };
}

/** HF stack index of core layer i: the i-th layer that is not a cross-attention layer. */
export function stackIndexOfCoreLayer(crossAttentionLayers: readonly number[], nCore: number): number[] {
  const out: number[] = [];
  for (let s = 0; out.length < nCore; s++) if (!crossAttentionLayers.includes(s)) out.push(s);
  return out;
}

export interface LoadedMllama {
  readonly config: MllamaConfig;
  /** The frozen core under Llama names (`model.layers.{i}`, i over self-attention layers only). */
  readonly core: Weights;
  /** Encoder + adapter under hub names (plus `learnable_embedding.weight`). */
  readonly vision: VisionWeights;
}

const EMBED = 'language_model.model.embed_tokens.weight';

/** Reads every tensor the configs need, checking names and shapes, and reports all problems at once. */
export function readMllamaWeights(source: SafetensorsSource, m: MllamaConfig, label: string): { core: Weights; vision: VisionWeights } {
  const problems = new ProblemList();
  const read = (hub: string, shape: readonly number[]): Float32Array | undefined => {
    if (!source.has(hub)) {
      problems.add(`missing tensor '${hub}' (shape [${shape}])`);
      return undefined;
    }
    const got = source.info(hub).shape;
    if (got.join() !== shape.join()) {
      problems.add(`tensor '${hub}' has shape [${got}], the config needs [${shape}]`);
      return undefined;
    }
    return source.readFloat32(hub);
  };
  const stack = stackIndexOfCoreLayer(m.crossAttentionLayers, m.text.nLayers);
  const core: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  const vision: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  const D = m.text.dim;
  const V = m.text.vocabSize;
  const table = read(EMBED, [V + m.nLearnableTokens, D]);
  if (table) {
    core['model.embed_tokens.weight'] = { shape: [V, D], data: table.slice(0, V * D) };
    vision['learnable_embedding.weight'] = { shape: [m.nLearnableTokens, D], data: table.slice(V * D) };
  }
  for (const spec of llamaParamSpecs(m.text)) {
    if (spec.name === 'model.embed_tokens.weight') continue;
    const hub =
      spec.name === 'lm_head.weight'
        ? 'language_model.lm_head.weight'
        : `language_model.${spec.name.replace(/^model\.layers\.(\d+)\./, (_, i: string) => `model.layers.${stack[Number(i)]}.`)}`;
    const data = read(hub, spec.shape);
    if (data) core[spec.name] = { shape: spec.shape, data };
  }
  for (const spec of [...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)]) {
    if (spec.name === 'learnable_embedding.weight') continue;
    const data = read(spec.name, spec.shape);
    if (data) vision[spec.name] = { shape: spec.shape, data };
  }
  problems.throwIfAny('checkpoint_mismatch', `${label}: the checkpoint does not match its config`);
  return { core, vision };
}

/**
 * Loads an HF Mllama model folder. `visionOverrides` are merged into the vision config (e.g.
 * `{ intermediateTap: 'layerOutput' }` to reproduce transformers 5.17, `imageMean`/`imageStd`).
 */
export function loadHfMllama(dir: string, visionOverrides: Readonly<Record<string, unknown>> = {}): LoadedMllama {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new HerdError('io_error', `${dir}: no config.json (expected a Hugging Face Mllama model folder)`);
  const index = join(dir, SAFETENSORS_INDEX_NAME);
  const source = openSafetensors(existsSync(index) ? index : join(dir, SAFETENSORS_SINGLE_NAME));
  if (!source.has(EMBED)) throw new HerdError('checkpoint_mismatch', `${dir}: no '${EMBED}' — is this an MllamaForConditionalGeneration checkpoint?`);
  const pre = join(dir, 'preprocessor_config.json');
  const preprocessorJson = existsSync(pre) ? readJsonFile(pre, { what: 'the image processor config' }) : undefined;
  if (preprocessorJson !== undefined && !isRecord(preprocessorJson)) throw new HerdError('invalid_config', `${pre} must hold a JSON object`);
  const config = mllamaFromHfConfig(readJsonFile(cfgPath, { what: 'the Mllama config' }), source.info(EMBED).shape[0]!, preprocessorJson, visionOverrides);
  return { config, ...readMllamaWeights(source, config, dir) };
}
