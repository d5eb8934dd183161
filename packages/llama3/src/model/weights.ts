/**
 * Parameter names and shapes of a Llama decoder, in the Hugging Face layout (`model.layers.{i}...`,
 * linear weights stored [out, in]), so real checkpoints load by name and ours load in HF tools.
 */
import { type LlamaConfig } from '../config.js';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** How a fresh model initialises it. */
  readonly init: 'normal' | 'ones' | 'residual';
}

export function headDim(cfg: LlamaConfig): number {
  return cfg.dim / cfg.nHeads;
}

export function layerParamSpecs(cfg: LlamaConfig, i: number): ParamSpec[] {
  const hd = headDim(cfg);
  const p = `model.layers.${i}`;
  return [
    { name: `${p}.input_layernorm.weight`, shape: [cfg.dim], init: 'ones' },
    { name: `${p}.self_attn.q_proj.weight`, shape: [cfg.nHeads * hd, cfg.dim], init: 'normal' },
    { name: `${p}.self_attn.k_proj.weight`, shape: [cfg.nKvHeads * hd, cfg.dim], init: 'normal' },
    { name: `${p}.self_attn.v_proj.weight`, shape: [cfg.nKvHeads * hd, cfg.dim], init: 'normal' },
    { name: `${p}.self_attn.o_proj.weight`, shape: [cfg.dim, cfg.nHeads * hd], init: 'residual' },
    { name: `${p}.post_attention_layernorm.weight`, shape: [cfg.dim], init: 'ones' },
    { name: `${p}.mlp.gate_proj.weight`, shape: [cfg.ffnDim, cfg.dim], init: 'normal' },
    { name: `${p}.mlp.up_proj.weight`, shape: [cfg.ffnDim, cfg.dim], init: 'normal' },
    { name: `${p}.mlp.down_proj.weight`, shape: [cfg.dim, cfg.ffnDim], init: 'residual' },
  ];
}

export function llamaParamSpecs(cfg: LlamaConfig): ParamSpec[] {
  const specs: ParamSpec[] = [{ name: 'model.embed_tokens.weight', shape: [cfg.vocabSize, cfg.dim], init: 'normal' }];
  for (let i = 0; i < cfg.nLayers; i++) specs.push(...layerParamSpecs(cfg, i));
  specs.push({ name: 'model.norm.weight', shape: [cfg.dim], init: 'ones' });
  if (!cfg.tieEmbeddings) specs.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, cfg.dim], init: 'normal' });
  return specs;
}
