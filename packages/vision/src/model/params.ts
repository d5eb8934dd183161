/**
 * Parameter names and shapes of the image encoder, the projector and the cross-attention adapter,
 * under Hugging Face `MllamaForConditionalGeneration` hub names (linear weights [out, in]), so real
 * Llama 3.2 Vision checkpoints load by name. Adapter layers keep their index in HF's interleaved text
 * stack (`language_model.model.layers.{c}.cross_attn…`); the core's own layers are renumbered by the
 * loader. Meta's `learnable_embedding` (ids past the core's vocabulary) is `learnable_embedding.weight`.
 */
import { headDim as coreHeadDim } from '@herd/llama3';
import { type MllamaConfig, type VisionConfig, patchesPerTile, visionOutputDim } from '../config.js';

export interface VisionParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** normal: N(0, 0.02); ones / zeros; gate: a tanh gate, 0 at init (§7.2, §7.3). */
  readonly init: 'normal' | 'ones' | 'zeros' | 'gate';
}

/** One ViT layer (pre-LN; gated layers add `gate_attn`/`gate_ffn`). */
export function vitLayerSpecs(cfg: VisionConfig, prefix: string, gated: boolean): VisionParamSpec[] {
  const D = cfg.dim;
  const specs: VisionParamSpec[] = [
    { name: `${prefix}.input_layernorm.weight`, shape: [D], init: 'ones' },
    { name: `${prefix}.input_layernorm.bias`, shape: [D], init: 'zeros' },
    { name: `${prefix}.self_attn.q_proj.weight`, shape: [D, D], init: 'normal' },
    { name: `${prefix}.self_attn.k_proj.weight`, shape: [D, D], init: 'normal' },
    { name: `${prefix}.self_attn.v_proj.weight`, shape: [D, D], init: 'normal' },
    { name: `${prefix}.self_attn.o_proj.weight`, shape: [D, D], init: 'normal' },
    { name: `${prefix}.post_attention_layernorm.weight`, shape: [D], init: 'ones' },
    { name: `${prefix}.post_attention_layernorm.bias`, shape: [D], init: 'zeros' },
    { name: `${prefix}.mlp.fc1.weight`, shape: [cfg.ffnDim, D], init: 'normal' },
    { name: `${prefix}.mlp.fc1.bias`, shape: [cfg.ffnDim], init: 'zeros' },
    { name: `${prefix}.mlp.fc2.weight`, shape: [D, cfg.ffnDim], init: 'normal' },
    { name: `${prefix}.mlp.fc2.bias`, shape: [D], init: 'zeros' },
  ];
  if (gated) specs.push({ name: `${prefix}.gate_attn`, shape: [1], init: 'gate' }, { name: `${prefix}.gate_ffn`, shape: [1], init: 'gate' });
  return specs;
}

/** The image encoder (`vision_model.*`). */
export function encoderParamSpecs(cfg: VisionConfig): VisionParamSpec[] {
  const D = cfg.dim;
  const P = patchesPerTile(cfg);
  const nIds = cfg.supportedAspectRatios.length + 1; // id 0 = padding image
  const v = 'vision_model';
  const specs: VisionParamSpec[] = [
    { name: `${v}.patch_embedding.weight`, shape: [D, 3, cfg.patchSize, cfg.patchSize], init: 'normal' },
    { name: `${v}.class_embedding`, shape: [D], init: 'normal' },
    { name: `${v}.pre_tile_positional_embedding.embedding.weight`, shape: [nIds, cfg.maxTiles * D], init: 'normal' },
    { name: `${v}.pre_tile_positional_embedding.gate`, shape: [1], init: 'gate' },
    { name: `${v}.gated_positional_embedding.embedding`, shape: [P, D], init: 'normal' },
    { name: `${v}.gated_positional_embedding.tile_embedding.weight`, shape: [nIds, cfg.maxTiles * P * D], init: 'normal' },
    { name: `${v}.gated_positional_embedding.gate`, shape: [1], init: 'gate' },
    { name: `${v}.layernorm_pre.weight`, shape: [D], init: 'ones' },
    { name: `${v}.layernorm_pre.bias`, shape: [D], init: 'zeros' },
  ];
  for (let i = 0; i < cfg.nLayers; i++) specs.push(...vitLayerSpecs(cfg, `${v}.transformer.layers.${i}`, false));
  specs.push(
    { name: `${v}.layernorm_post.weight`, shape: [D], init: 'ones' },
    { name: `${v}.layernorm_post.bias`, shape: [D], init: 'zeros' },
    { name: `${v}.post_tile_positional_embedding.embedding.weight`, shape: [nIds, cfg.maxTiles * D], init: 'normal' },
    { name: `${v}.post_tile_positional_embedding.gate`, shape: [1], init: 'gate' },
  );
  for (let i = 0; i < cfg.nGlobalLayers; i++) specs.push(...vitLayerSpecs(cfg, `${v}.global_transformer.layers.${i}`, true));
  return specs;
}

export const crossLayerPrefix = (stackIndex: number): string => `language_model.model.layers.${stackIndex}`;

/** The projector and the gated cross-attention layers (§7.3) plus the learnable token rows. */
export function adapterParamSpecs(m: MllamaConfig): VisionParamSpec[] {
  const t = m.text;
  const dh = coreHeadDim(t);
  const specs: VisionParamSpec[] = [
    { name: 'multi_modal_projector.weight', shape: [t.dim, visionOutputDim(m.vision)], init: 'normal' },
    { name: 'multi_modal_projector.bias', shape: [t.dim], init: 'zeros' },
    { name: 'learnable_embedding.weight', shape: [m.nLearnableTokens, t.dim], init: 'normal' },
  ];
  for (const c of m.crossAttentionLayers) {
    const p = crossLayerPrefix(c);
    specs.push(
      { name: `${p}.input_layernorm.weight`, shape: [t.dim], init: 'ones' },
      { name: `${p}.cross_attn.q_proj.weight`, shape: [t.nHeads * dh, t.dim], init: 'normal' },
      { name: `${p}.cross_attn.k_proj.weight`, shape: [t.nKvHeads * dh, t.dim], init: 'normal' },
      { name: `${p}.cross_attn.v_proj.weight`, shape: [t.nKvHeads * dh, t.dim], init: 'normal' },
      { name: `${p}.cross_attn.o_proj.weight`, shape: [t.dim, t.nHeads * dh], init: 'normal' },
      { name: `${p}.cross_attn.q_norm.weight`, shape: [dh], init: 'ones' },
      { name: `${p}.cross_attn.k_norm.weight`, shape: [dh], init: 'ones' },
      { name: `${p}.cross_attn_attn_gate`, shape: [1], init: 'gate' },
      { name: `${p}.post_attention_layernorm.weight`, shape: [t.dim], init: 'ones' },
      { name: `${p}.mlp.gate_proj.weight`, shape: [t.ffnDim, t.dim], init: 'normal' },
      { name: `${p}.mlp.up_proj.weight`, shape: [t.ffnDim, t.dim], init: 'normal' },
      { name: `${p}.mlp.down_proj.weight`, shape: [t.dim, t.ffnDim], init: 'normal' },
      { name: `${p}.cross_attn_mlp_gate`, shape: [1], init: 'gate' },
    );
  }
  return specs;
}
