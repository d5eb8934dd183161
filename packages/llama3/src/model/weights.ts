/**
 * Parameter names and shapes of a Llama decoder, in the Hugging Face layout (`model.layers.{i}...`,
 * linear weights stored [out, in]), so real checkpoints load by name and ours load in HF tools.
 * A layer is @herd/graph's pre-norm Transformer block; its specs come from the same config its
 * forward uses.
 */
import { type ParamSpec, type TransformerBlockConfig, transformerBlockParamSpecs } from '@herd/graph';
import { type LlamaConfig } from '../config.js';

export function headDim(cfg: LlamaConfig): number {
  return cfg.dim / cfg.nHeads;
}

/** A decoder layer as a shared block: RMSNorm, GQA attention without biases, SwiGLU. */
export function llamaBlockConfig(cfg: LlamaConfig): TransformerBlockConfig {
  return {
    norm: { kind: 'rms', eps: cfg.normEps },
    attention: { dim: cfg.dim, nHeads: cfg.nHeads, nKvHeads: cfg.nKvHeads, headDim: headDim(cfg) },
    mlp: { kind: 'swiglu', dim: cfg.dim, hidden: cfg.ffnDim },
  };
}

export function layerParamSpecs(cfg: LlamaConfig, i: number): ParamSpec[] {
  return transformerBlockParamSpecs(`model.layers.${i}`, llamaBlockConfig(cfg));
}

export function llamaParamSpecs(cfg: LlamaConfig): ParamSpec[] {
  const specs: ParamSpec[] = [{ name: 'model.embed_tokens.weight', shape: [cfg.vocabSize, cfg.dim], init: 'normal' }];
  for (let i = 0; i < cfg.nLayers; i++) specs.push(...layerParamSpecs(cfg, i));
  specs.push({ name: 'model.norm.weight', shape: [cfg.dim], init: 'ones' });
  if (!cfg.tieEmbeddings) specs.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, cfg.dim], init: 'normal' });
  return specs;
}
