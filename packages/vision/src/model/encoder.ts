/**
 * The image encoder (§7.2; Meta's `VisionEncoder`, HF `MllamaVisionModel`): a ViT-H/14 over every
 * tile of an image with gated tile-position and aspect-ratio embeddings, all tiles of one image
 * attending to each other, multi-layer features kept, then the gated global layers.
 *
 * Legend: B images, N tile slots (maxTiles), S tile side, g = S / patch, P = g² + 1 tokens per tile
 * (class token first), Pp = P padded up to a multiple of 8, L = N·Pp, D width, k intermediate layers.
 */
import * as G from '@herd/graph';
import { type Params, type Tensor } from '@herd/graph';
import { type VisionConfig, patchesPerTile } from '../config.js';
import { aspectRatioEmbedding, gatedPositionalEmbedding } from './tile-embeddings.js';
import { vitLayer } from './vit-layer.js';

export interface EncoderInputs {
  /** [B, N, 3, S, S] normalised pixels (absent tiles zero). */
  readonly pixels: Tensor;
  /** [B] aspect-ratio ids (i32). */
  readonly aspectRatioIds: Tensor;
  /** [B, N] bool: true for the image's real tiles. */
  readonly tileMask: Tensor;
}

/** Tokens per tile after padding: Meta and HF pad to a multiple of 8 (for kernel alignment). */
export function paddedTokensPerTile(cfg: VisionConfig): number {
  const P = patchesPerTile(cfg);
  return P + ((8 - (P % 8)) % 8);
}

/**
 * The encoder's self-attention mask [B, 1, L, L]. A token is "padding" when its tile is absent or it
 * is a padded patch; the reference masks a (query, key) pair only when BOTH are padding (its mask is
 * the outer product of the padding indicator), so real tokens still see padded keys — reproduced
 * here because the checkpoints were trained that way.
 */
export function encoderMask(cfg: VisionConfig, tileMask: Tensor): Tensor {
  const [b, n] = tileMask.shape;
  const P = patchesPerTile(cfg);
  const Pp = paddedTokensPerTile(cfg);
  const realPatch = tileMask.graph.constant(Uint8Array.from({ length: Pp }, (_, j) => (j < P ? 1 : 0)), 'bool', [1, 1, Pp]);
  const real = G.reshape(G.logicalAnd(G.unsqueeze(tileMask, 2), realPatch), [b!, (n as number) * Pp]); // [B, N, Pp] → [B, L]
  return G.unsqueeze(G.logicalOr(G.unsqueeze(real, 2), G.unsqueeze(real, 1)), 1); // [B, 1, L, L]
}

/** Image features [B, N, P, D·(1 + k)]: last layer, then the k intermediate layers interleaved. */
export function encodeImages(cfg: VisionConfig, p: Params, x: EncoderInputs): Tensor {
  const v = 'vision_model';
  const [B, N] = x.pixels.shape as [number, number];
  const D = cfg.dim;
  const g = cfg.tileSize / cfg.patchSize;
  const P = patchesPerTile(cfg);
  const Pp = paddedTokensPerTile(cfg);
  // Patch embedding: a stride-14 convolution without bias.
  const tiles = G.reshape(x.pixels, [B * N, 3, cfg.tileSize, cfg.tileSize]);
  const patches = G.conv(tiles, p(`${v}.patch_embedding.weight`), { strides: [cfg.patchSize, cfg.patchSize] }); // [B·N, D, g, g]
  let h = G.reshape(G.transpose(G.reshape(patches, [B * N, D, g * g]), [0, 2, 1]), [B, N, g * g, D]); // [B, N, g², D]
  h = aspectRatioEmbedding(p, `${v}.pre_tile_positional_embedding`, h, x.aspectRatioIds);
  const cls = G.expand(G.reshape(p(`${v}.class_embedding`), [1, 1, 1, D]), [B, N, 1, D]);
  h = G.concat([cls, h], 2); // [B, N, P, D]
  h = gatedPositionalEmbedding(p, `${v}.gated_positional_embedding`, h, x.aspectRatioIds);
  h = G.layerNorm(h, p(`${v}.layernorm_pre.weight`), p(`${v}.layernorm_pre.bias`), cfg.normEps);
  h = G.pad(h, [[0, 0], [0, 0], [0, Pp - P], [0, 0]]); // [B, N, Pp, D]
  const mask = encoderMask(cfg, x.tileMask);
  h = G.reshape(h, [B, N * Pp, D]); // every tile of an image attends to every other
  const kept: Tensor[] = [];
  for (let i = 0; i < cfg.nLayers; i++) {
    const tap = cfg.intermediateLayers.includes(i);
    if (tap && cfg.intermediateTap === 'layerInput') kept.push(h);
    h = vitLayer(cfg, p, `${v}.transformer.layers.${i}`, h, mask, false);
    if (tap && cfg.intermediateTap === 'layerOutput') kept.push(h);
  }
  h = G.layerNorm(h, p(`${v}.layernorm_post.weight`), p(`${v}.layernorm_post.bias`), cfg.normEps);
  h = aspectRatioEmbedding(p, `${v}.post_tile_positional_embedding`, G.reshape(h, [B, N, Pp, D]), x.aspectRatioIds);
  h = G.reshape(h, [B, N * Pp, D]);
  for (let i = 0; i < cfg.nGlobalLayers; i++) h = vitLayer(cfg, p, `${v}.global_transformer.layers.${i}`, h, mask, true);
  const last = G.slice(G.reshape(h, [B, N, Pp, D]), 2, 0, P); // [B, N, P, D]
  if (kept.length === 0) return last;
  // Stacked on a new last axis, so channel c·k + j is channel c of the j-th kept layer (interleaved).
  const stacked = G.concat(kept.map((t) => G.unsqueeze(t, 3)), 3); // [B, L, D, k]
  const inter = G.slice(G.reshape(stacked, [B, N, Pp, D * kept.length]), 2, 0, P); // [B, N, P, D·k]
  return G.concat([last, inter], 3); // [B, N, P, D·(1 + k)]
}

/** Projection to the core's width (HF `multi_modal_projector`): [B, N, P, Dv] → [B, N, P, Dtext]. */
export function projectToCore(p: Params, features: Tensor, projector = 'multi_modal_projector'): Tensor {
  return G.linear(features, p(`${projector}.weight`), p(`${projector}.bias`));
}
