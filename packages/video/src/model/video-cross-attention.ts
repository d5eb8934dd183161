/**
 * A video cross-attention layer (§7.4): the same gated form as the image adapter's layers (§7.3,
 * Mllama's cross-attention block) — the core's token states attend to the video tokens (the
 * aggregator's output) with GQA and RMSNorm on q and k, then
 *   h = x + tanh(g_attn) · xattn(x)
 *   h = h + tanh(g_ffn) · ffn(h)
 * with both gates 0 at init, so a fresh video adapter leaves the image model exactly as it was.
 * Text rows that see no video are fully masked (attention and FFN outputs zeroed; Meta's masking as
 * in the image layers), so a prompt without a clip gives the image model's output bit for bit even
 * after training.
 *
 * Unlike the image layers, the keys/values are projected here from the video tokens on every call
 * (`G.multiHeadAttention` with `kv`): there are few video tokens (E·L), and the decoder is fed the
 * tokens, computed once per clip.
 *
 * Legend: B batch, T text tokens, V video tokens, D core width.
 */
import * as G from '@herd/graph';
import { type AttentionConfig, type MlpConfig, type ParamSpec, type Params, type Tensor } from '@herd/graph';
import { type LlamaConfig, headDim } from '@herd/llama3';

/** Name prefix of video cross-attention layer j. */
export function videoLayerPrefix(j: number): string {
  return `video.cross_attention.${j}`;
}

export function videoAttentionConfig(cfg: LlamaConfig): AttentionConfig {
  return { dim: cfg.dim, nHeads: cfg.nHeads, nKvHeads: cfg.nKvHeads, headDim: headDim(cfg), qkNorm: { eps: cfg.normEps } };
}

const ffnConfig = (cfg: LlamaConfig, hidden: number): MlpConfig => ({ kind: 'swiglu', dim: cfg.dim, hidden: hidden || cfg.ffnDim });
const rms = (cfg: LlamaConfig) => ({ kind: 'rms', eps: cfg.normEps }) as const;

/** `ffnHidden` 0 = the core's ffnDim. */
export function videoCrossAttentionSpecs(cfg: LlamaConfig, j: number, ffnHidden: number): ParamSpec[] {
  const pre = videoLayerPrefix(j);
  return [
    ...G.normParamSpecs(`${pre}.input_layernorm`, cfg.dim, rms(cfg)),
    ...G.attentionParamSpecs(`${pre}.cross_attn`, videoAttentionConfig(cfg)),
    { name: `${pre}.cross_attn_attn_gate`, shape: [1], init: 'zeros' },
    ...G.normParamSpecs(`${pre}.post_attention_layernorm`, cfg.dim, rms(cfg)),
    ...G.mlpParamSpecs(`${pre}.mlp`, ffnConfig(cfg, ffnHidden)),
    { name: `${pre}.cross_attn_mlp_gate`, shape: [1], init: 'zeros' },
  ];
}

/** 1 for text rows that see at least one video token: [B, T, 1] from the mask [B, 1, T, V]. */
export function rowsWithVideo(mask: Tensor): Tensor {
  return G.squeeze(G.max(G.cast(mask, 'f32'), -1, true), 1);
}

/**
 * x [B, T, D], video [B, V, D], mask bool [B, 1, T, V], rows [B, T, 1] → [B, T, D]. `query`, when
 * given, receives the normed rows [B, T, D] the attention queries with (the recipe's look-up loss,
 * `lookupLoss`, trains where they look).
 */
export function videoCrossAttentionLayer(cfg: LlamaConfig, p: Params, j: number, ffnHidden: number, x: Tensor, video: Tensor, mask: Tensor, rows: Tensor, query?: (hn: Tensor) => void): Tensor {
  const pre = videoLayerPrefix(j);
  const hn = G.norm(p, `${pre}.input_layernorm`, x, rms(cfg));
  query?.(hn);
  const attn = G.mul(G.multiHeadAttention(p, `${pre}.cross_attn`, hn, { ...videoAttentionConfig(cfg), kv: video, mask }).out, rows); // rows with no video → 0
  const h = G.add(x, G.mul(G.tanh(p(`${pre}.cross_attn_attn_gate`)), attn));
  const ffn = G.mul(G.mlp(p, `${pre}.mlp`, G.norm(p, `${pre}.post_attention_layernorm`, h, rms(cfg)), ffnConfig(cfg, ffnHidden)), rows);
  return G.add(h, G.mul(G.tanh(p(`${pre}.cross_attn_mlp_gate`)), ffn));
}
