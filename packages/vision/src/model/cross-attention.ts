/**
 * The image adapter's gated cross-attention layer (§7.3; Meta's `CrossAttentionTransformerBlock`,
 * HF `MllamaCrossAttentionDecoderLayer`): the core's token states attend to the image tokens with GQA
 * and RMSNorm on q and k, then
 *   h = x + tanh(g_attn) · xattn(x)
 *   h = h + tanh(g_ffn) · ffn(h)
 * with both gates 0 at init, so a fresh adapter leaves the frozen core exactly as it was.
 * Text rows with no image to attend to (before the first `<|image|>`) are fully masked: their
 * attention output AND their FFN output are zeroed — Meta's masking; HF zeroes only the FFN output.
 *
 * Legend: B batch, T text tokens, S image tokens (images × tiles × tokens per tile), D core width,
 * H query heads, K kv heads, Dh head dim.
 */
import * as G from '@herd/graph';
import { type Tensor } from '@herd/graph';
import { type LlamaConfig, type Params, headDim, swiglu } from '@herd/llama3';
import { crossLayerPrefix } from './params.js';
import { mergeHeads, splitHeads } from './vit-layer.js';

export interface ImageKv {
  readonly k: Tensor; // [B, K, S, Dh]
  readonly v: Tensor;
}

/**
 * Keys and values of one cross-attention layer from the projected image tokens [B, S, D]: computed
 * once per image and reused by every text token, also during generation.
 */
export function imageKeysValues(cfg: LlamaConfig, p: Params, stackIndex: number, imageTokens: Tensor): ImageKv {
  const pre = `${crossLayerPrefix(stackIndex)}.cross_attn`;
  const k = G.rmsNorm(splitHeads(G.linear(imageTokens, p(`${pre}.k_proj.weight`)), cfg.nKvHeads), p(`${pre}.k_norm.weight`), cfg.normEps); // [B, K, S, Dh]
  const v = splitHeads(G.linear(imageTokens, p(`${pre}.v_proj.weight`)), cfg.nKvHeads);
  return { k, v };
}

/** 1 for text rows that see at least one image token, else 0: [B, 1, T, 1] from the mask [B, 1, T, S]. */
export function rowsWithImage(mask: Tensor): Tensor {
  return G.max(G.cast(mask, 'f32'), -1, true);
}

/**
 * How rows with no image are treated: 'meta' zeroes their attention and FFN outputs (the paper and
 * Meta's reference; herd's default); 'hf' reproduces transformers, which lets such rows attend to
 * every image token unmasked and zeroes only their FFN output. Only for comparing with HF.
 */
export type PreImageMasking = 'meta' | 'hf';

/** x [B, T, D] → [B, T, D]; `mask` bool [B, 1, T, S], `rows` from rowsWithImage. */
export function crossAttentionLayer(cfg: LlamaConfig, p: Params, stackIndex: number, x: Tensor, kv: ImageKv, mask: Tensor, rows: Tensor, masking: PreImageMasking = 'meta'): Tensor {
  const pre = crossLayerPrefix(stackIndex);
  const dh = headDim(cfg);
  const hn = G.rmsNorm(x, p(`${pre}.input_layernorm.weight`), cfg.normEps);
  const q = G.rmsNorm(splitHeads(G.linear(hn, p(`${pre}.cross_attn.q_proj.weight`)), cfg.nHeads), p(`${pre}.cross_attn.q_norm.weight`), cfg.normEps); // [B, H, T, Dh]
  const o =
    masking === 'meta'
      ? G.mul(G.attention(q, kv.k, kv.v, { mask, scale: 1 / Math.sqrt(dh) }), rows) // fully masked rows → 0
      : G.attention(q, kv.k, kv.v, { mask: G.logicalOr(mask, G.less(rows, 0.5)), scale: 1 / Math.sqrt(dh) });
  const attn = G.linear(mergeHeads(o), p(`${pre}.cross_attn.o_proj.weight`));
  const h = G.add(x, G.mul(G.tanh(p(`${pre}.cross_attn_attn_gate`)), attn));
  const ffn = G.mul(swiglu(p, `${pre}.mlp`, G.rmsNorm(h, p(`${pre}.post_attention_layernorm.weight`), cfg.normEps)), G.squeeze(rows, 1)); // rows [B, T, 1]
  return G.add(h, G.mul(G.tanh(p(`${pre}.cross_attn_mlp_gate`)), ffn));
}
