/**
 * Parameter names and shapes of the image encoder, the projector and the cross-attention adapter,
 * under Hugging Face `MllamaForConditionalGeneration` hub names (linear weights [out, in]), so real
 * Llama 3.2 Vision checkpoints load by name. Adapter layers keep their index in HF's interleaved text
 * stack (`language_model.model.layers.{c}.cross_attn…`); the core's own layers are renumbered by the
 * loader. Meta's `learnable_embedding` (ids past the core's vocabulary) is `learnable_embedding.weight`.
 */
import { type ParamSpec } from '@herd/graph';
import { type MllamaConfig, type VisionConfig, patchesPerTile, placeBinsOf, silhouetteLayersOf, visionOutputDim } from '../config.js';
import { crossAttentionLayerSpecs } from './cross-attention.js';
import { vitLayerSpecs } from './vit-layer.js';

/** The image encoder (`vision_model.*`). */
export function encoderParamSpecs(cfg: VisionConfig): ParamSpec[] {
  const D = cfg.dim;
  const P = patchesPerTile(cfg);
  const nIds = cfg.supportedAspectRatios.length + 1; // id 0 = padding image
  const v = 'vision_model';
  const specs: ParamSpec[] = [
    { name: `${v}.patch_embedding.weight`, shape: [D, 3, cfg.patchSize, cfg.patchSize], init: 'normal' },
    { name: `${v}.class_embedding`, shape: [D], init: 'normal' },
    { name: `${v}.pre_tile_positional_embedding.embedding.weight`, shape: [nIds, cfg.maxTiles * D], init: 'normal' },
    { name: `${v}.pre_tile_positional_embedding.gate`, shape: [1], init: 'zeros' },
    { name: `${v}.gated_positional_embedding.embedding`, shape: [P, D], init: 'normal' },
    { name: `${v}.gated_positional_embedding.tile_embedding.weight`, shape: [nIds, cfg.maxTiles * P * D], init: 'normal' },
    { name: `${v}.gated_positional_embedding.gate`, shape: [1], init: 'zeros' },
    { name: `${v}.layernorm_pre.weight`, shape: [D], init: 'ones' },
    { name: `${v}.layernorm_pre.bias`, shape: [D], init: 'zeros' },
  ];
  for (let i = 0; i < cfg.nLayers; i++) specs.push(...vitLayerSpecs(cfg, `${v}.transformer.layers.${i}`, false));
  specs.push(
    { name: `${v}.layernorm_post.weight`, shape: [D], init: 'ones' },
    { name: `${v}.layernorm_post.bias`, shape: [D], init: 'zeros' },
    { name: `${v}.post_tile_positional_embedding.embedding.weight`, shape: [nIds, cfg.maxTiles * D], init: 'normal' },
    { name: `${v}.post_tile_positional_embedding.gate`, shape: [1], init: 'zeros' },
  );
  for (let i = 0; i < cfg.nGlobalLayers; i++) specs.push(...vitLayerSpecs(cfg, `${v}.global_transformer.layers.${i}`, true));
  return specs;
}

/** The projector of each view the model reads: the image's (HF's name), and the silhouette's with a silhouette stream. */
export const IMAGE_PROJECTOR = 'multi_modal_projector';
export const SILHOUETTE_PROJECTOR = 'silhouette_projector';
export const isProjectorParam = (name: string): boolean => name.startsWith(`${IMAGE_PROJECTOR}.`) || name.startsWith(`${SILHOUETTE_PROJECTOR}.`);

/** The projector(s) and the gated cross-attention layers (§7.3) plus the learnable token rows. */
export function adapterParamSpecs(m: MllamaConfig): ParamSpec[] {
  const t = m.text;
  const projector = (name: string): ParamSpec[] => [
    { name: `${name}.weight`, shape: [t.dim, visionOutputDim(m.vision)], init: 'normal' },
    { name: `${name}.bias`, shape: [t.dim], init: 'zeros' },
  ];
  const specs: ParamSpec[] = [
    ...projector(IMAGE_PROJECTOR),
    ...(silhouetteLayersOf(m).length > 0 ? projector(SILHOUETTE_PROJECTOR) : []),
    { name: 'learnable_embedding.weight', shape: [m.nLearnableTokens, t.dim], init: 'normal' },
  ];
  for (const c of m.crossAttentionLayers) specs.push(...crossAttentionLayerSpecs(t, c));
  return [...specs, ...placeParamSpecs(m)];
}

/** Names of the place tables (`MllamaConfig.placeBins`). */
export const PLACE_ROW = 'vision_place.row.weight';
export const PLACE_COL = 'vision_place.col.weight';
export const isPlaceParam = (name: string): boolean => name === PLACE_ROW || name === PLACE_COL;

/** The learned row / column place tables [G, core dim] added to the projected image tokens; none when placeBins is 0. */
export function placeParamSpecs(m: Pick<MllamaConfig, 'placeBins' | 'text'>): ParamSpec[] {
  const G = placeBinsOf(m);
  if (G === 0) return [];
  return [PLACE_ROW, PLACE_COL].map((name) => ({ name, shape: [G, m.text.dim], init: 'zeros' as const }));
}
