/**
 * One ViT layer of the image encoder (§7.2; HF `MllamaVisionEncoderLayer`): pre-LayerNorm
 * multi-head self-attention and a GELU MLP, each added to the residual stream. The global layers the
 * paper adds before adapter training scale both branches by tanh gates (0 at init, so a fresh global
 * stack starts as the identity).
 *
 * Legend: B images, L tokens (all tiles of an image, padded patches included), D width, H heads,
 * Dh = D / H.
 */
import * as G from '@herd/graph';
import { type Tensor } from '@herd/graph';
import { type Params } from '@herd/llama3';
import { type VisionConfig } from '../config.js';

/** [B, L, n·Dh] → [B, n, L, Dh]. */
export function splitHeads(x: Tensor, n: number): Tensor {
  const [b, l, d] = x.shape;
  return G.transpose(G.reshape(x, [b!, l!, n, (d as number) / n]), [0, 2, 1, 3]);
}

/** [B, n, L, Dh] → [B, L, n·Dh]. */
export function mergeHeads(x: Tensor): Tensor {
  const [b, n, l, dh] = x.shape;
  return G.reshape(G.transpose(x, [0, 2, 1, 3]), [b!, l!, (n as number) * (dh as number)]);
}

/** x [B, L, D], mask bool broadcastable to [B, 1, L, L] → [B, L, D]. */
export function vitLayer(cfg: VisionConfig, p: Params, prefix: string, x: Tensor, mask: Tensor, gated: boolean): Tensor {
  const ln1 = G.layerNorm(x, p(`${prefix}.input_layernorm.weight`), p(`${prefix}.input_layernorm.bias`), cfg.normEps);
  const q = splitHeads(G.linear(ln1, p(`${prefix}.self_attn.q_proj.weight`)), cfg.nHeads); // [B, H, L, Dh]
  const k = splitHeads(G.linear(ln1, p(`${prefix}.self_attn.k_proj.weight`)), cfg.nHeads);
  const v = splitHeads(G.linear(ln1, p(`${prefix}.self_attn.v_proj.weight`)), cfg.nHeads);
  let attn = G.linear(mergeHeads(G.attention(q, k, v, { mask })), p(`${prefix}.self_attn.o_proj.weight`));
  if (gated) attn = G.mul(G.tanh(p(`${prefix}.gate_attn`)), attn);
  const h = G.add(x, attn);
  const ln2 = G.layerNorm(h, p(`${prefix}.post_attention_layernorm.weight`), p(`${prefix}.post_attention_layernorm.bias`), cfg.normEps);
  let ffn = G.linear(G.gelu(G.linear(ln2, p(`${prefix}.mlp.fc1.weight`), p(`${prefix}.mlp.fc1.bias`))), p(`${prefix}.mlp.fc2.weight`), p(`${prefix}.mlp.fc2.bias`));
  if (gated) ffn = G.mul(G.tanh(p(`${prefix}.gate_ffn`)), ffn);
  return G.add(h, ffn);
}
