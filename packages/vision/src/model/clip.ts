/**
 * CLIP-style contrastive pre-training of the image encoder (§7.2: the ViT is "pre-trained
 * contrastively on image–text pairs"; Radford et al. 2021): the image encoder's class token and a
 * small text Transformer's last-token state are projected to a shared space, L2-normalised, and a
 * symmetric InfoNCE loss with a learned temperature pulls matching pairs together. The same
 * embeddings give the image–text similarity that image curation scores pairs with.
 *
 * Legend: B pairs, L text length, Dt text width, E shared embedding width, N tile slots.
 */
import * as G from '@herd/graph';
import { type Graph, type ParamSpec, type Params, type Tensor, type TransformerBlockConfig } from '@herd/graph';
import { type VisionConfig, visionOutputDim } from '../config.js';
import { encodeImages } from './encoder.js';
import { encoderParamSpecs } from './params.js';

export interface ClipConfig {
  readonly vision: VisionConfig;
  readonly textVocab: number;
  readonly textDim: number;
  readonly textLayers: number;
  readonly textHeads: number;
  readonly textLen: number;
  /** Width of the shared embedding space. */
  readonly embedDim: number;
}

/** CLIP's initial temperature 0.07, stored as log(1/τ); clamped at log 100 as CLIP does. */
export const LOGIT_SCALE_INIT = Math.log(1 / 0.07);
const LOGIT_SCALE_MAX = Math.log(100);

function textBlock(c: ClipConfig): TransformerBlockConfig {
  return { norm: { kind: 'layer', eps: 1e-5 }, attention: { dim: c.textDim, nHeads: c.textHeads }, mlp: { kind: 'gelu', dim: c.textDim, hidden: 4 * c.textDim } };
}

/** The image encoder (`vision_model.*`), the text encoder (`text_model.*`), both projections and the temperature. */
export function clipParamSpecs(c: ClipConfig): ParamSpec[] {
  const specs: ParamSpec[] = [
    ...encoderParamSpecs(c.vision),
    { name: 'text_model.embed_tokens.weight', shape: [c.textVocab, c.textDim], init: 'normal' },
    { name: 'text_model.position_embedding', shape: [c.textLen, c.textDim], init: 'normal' },
  ];
  for (let i = 0; i < c.textLayers; i++) specs.push(...G.transformerBlockParamSpecs(`text_model.layers.${i}`, textBlock(c)));
  specs.push(
    ...G.normParamSpecs('text_model.final_layer_norm', c.textDim, { kind: 'layer', eps: 1e-5 }),
    { name: 'visual_projection.weight', shape: [c.embedDim, visionOutputDim(c.vision)], init: 'normal' },
    { name: 'text_projection.weight', shape: [c.embedDim, c.textDim], init: 'normal' },
    { name: 'logit_scale', shape: [1], init: 'zeros' }, // set to LOGIT_SCALE_INIT by initClipParams
  );
  return specs;
}

const l2normalise = (x: Tensor): Tensor => G.div(x, G.sqrt(G.add(G.sum(G.mul(x, x), -1, true), 1e-12)));

/** Image embeddings [B, E] (unit length) from tiles [B, N, 3, S, S]: the first tile's class token, projected. */
export function embedImages(c: ClipConfig, p: Params, pixels: Tensor, aspectRatioIds: Tensor, tileMask: Tensor): Tensor {
  const feats = encodeImages(c.vision, p, { pixels, aspectRatioIds, tileMask }); // [B, N, P, Dv]
  const [b, , , d] = feats.shape;
  const cls = G.reshape(G.slice(G.slice(feats, 1, 0, 1), 2, 0, 1), [b!, d!]); // [B, 1, 1, Dv] → [B, Dv]
  return l2normalise(G.linear(cls, p('visual_projection.weight')));
}

/** Text embeddings [B, E] (unit length) from ids [B, L] (causal) at each text's last token `last` [B]. */
export function embedTexts(c: ClipConfig, p: Params, ids: Tensor, last: Tensor): Tensor {
  const B = ids.dim(0);
  let h = G.add(G.gather(p('text_model.embed_tokens.weight'), ids), p('text_model.position_embedding')); // [B, L, Dt]
  const mask = G.causalMask(ids.graph, c.textLen);
  for (let i = 0; i < c.textLayers; i++) h = G.transformerBlock(p, `text_model.layers.${i}`, h, textBlock(c), { mask }).out;
  h = G.norm(p, 'text_model.final_layer_norm', h, { kind: 'layer', eps: 1e-5 });
  const idx = G.expand(G.reshape(last, [B, 1, 1]), [B, 1, c.textDim]); // [B, 1, Dt]
  const at = G.reshape(G.gatherElements(h, idx, 1), [B, c.textDim]); // [B, Dt]
  return l2normalise(G.linear(at, p('text_projection.weight')));
}

/** Similarities scaled by the learned temperature: exp(min(s, log 100)) · img · txtᵀ, [Bi, Bt]. */
export function scaledSimilarity(p: Params, img: Tensor, txt: Tensor): Tensor {
  const scale = G.exp(G.minimum(p('logit_scale'), LOGIT_SCALE_MAX));
  return G.mul(G.matmul(img, G.transpose(txt, [1, 0])), scale);
}

/** Symmetric InfoNCE over a batch of matching pairs (pair i is the positive of row i and of column i). */
export function infoNce(g: Graph, logits: Tensor): Tensor {
  const B = logits.dim(0);
  const targets = g.constant(Int32Array.from({ length: B }, (_, i) => i), 'i32', [B]);
  const i2t = G.crossEntropy(logits, targets).loss;
  const t2i = G.crossEntropy(G.transpose(logits, [1, 0]), targets).loss;
  return G.mul(G.add(i2t, t2i), 0.5);
}
