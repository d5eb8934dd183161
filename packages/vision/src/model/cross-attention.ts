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
 * The image side (k/v projections + k norm) runs once per image in the image graph and the text side
 * reads the result, so generated tokens reuse it: that split is why this layer calls the shared
 * scaled-dot-product `G.attention` itself rather than `G.multiHeadAttention`, which projects its kv
 * source on every call. Parameter specs, norms, head splitting and the MLP are the shared ones.
 *
 * Legend: B batch, T text tokens, S image tokens (images × tiles × tokens per tile), D core width,
 * H query heads, K kv heads, Dh head dim.
 */
import * as G from '@herd/graph';
import { type AttentionConfig, type MlpConfig, type ParamSpec, type Params, type Tensor } from '@herd/graph';
import { type LlamaConfig, headDim } from '@herd/llama3';

/** HF name prefix of the cross-attention layer at stack index c (the core's layers are renumbered apart). */
export function crossLayerPrefix(stackIndex: number): string {
  return `language_model.model.layers.${stackIndex}`;
}

export interface ImageKv {
  readonly k: Tensor; // [B, K, S, Dh]
  readonly v: Tensor;
}

/** The attention's static shape: GQA as the core, RMSNorm on q and k heads. */
export function crossAttentionConfig(cfg: LlamaConfig): AttentionConfig {
  return { dim: cfg.dim, nHeads: cfg.nHeads, nKvHeads: cfg.nKvHeads, headDim: headDim(cfg), qkNorm: { eps: cfg.normEps } };
}

const ffnConfig = (cfg: LlamaConfig): MlpConfig => ({ kind: 'swiglu', dim: cfg.dim, hidden: cfg.ffnDim });

/** Parameters of one cross-attention layer under HF names (`language_model.model.layers.{c}.…`). */
export function crossAttentionLayerSpecs(cfg: LlamaConfig, stackIndex: number): ParamSpec[] {
  const pre = crossLayerPrefix(stackIndex);
  const rms = { kind: 'rms', eps: cfg.normEps } as const;
  return [
    ...G.normParamSpecs(`${pre}.input_layernorm`, cfg.dim, rms),
    ...G.attentionParamSpecs(`${pre}.cross_attn`, crossAttentionConfig(cfg)),
    { name: `${pre}.cross_attn_attn_gate`, shape: [1], init: 'zeros' },
    ...G.normParamSpecs(`${pre}.post_attention_layernorm`, cfg.dim, rms),
    ...G.mlpParamSpecs(`${pre}.mlp`, ffnConfig(cfg)),
    { name: `${pre}.cross_attn_mlp_gate`, shape: [1], init: 'zeros' },
  ];
}

/**
 * Keys and values of one cross-attention layer from the projected image tokens [B, S, D]: computed
 * once per image and reused by every text token, also during generation.
 */
export function imageKeysValues(cfg: LlamaConfig, p: Params, stackIndex: number, imageTokens: Tensor): ImageKv {
  const pre = `${crossLayerPrefix(stackIndex)}.cross_attn`;
  const dh = headDim(cfg);
  const k = G.rmsNorm(G.splitHeads(G.linear(imageTokens, p(`${pre}.k_proj.weight`)), cfg.nKvHeads, dh), p(`${pre}.k_norm.weight`), cfg.normEps); // [B, K, S, Dh]
  const v = G.splitHeads(G.linear(imageTokens, p(`${pre}.v_proj.weight`)), cfg.nKvHeads, dh);
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

/**
 * x [B, T, D] → [B, T, D]; `mask` bool [B, 1, T, S], `rows` from rowsWithImage. `query`, when given, receives the
 * layer's normed queries [B, H, T, Dh] (training's look loss, `lookLoss`); the layer's output is the same.
 */
export function crossAttentionLayer(cfg: LlamaConfig, p: Params, stackIndex: number, x: Tensor, kv: ImageKv, mask: Tensor, rows: Tensor, masking: PreImageMasking = 'meta', query?: (q: Tensor) => void): Tensor {
  const pre = crossLayerPrefix(stackIndex);
  const dh = headDim(cfg);
  const hn = G.rmsNorm(x, p(`${pre}.input_layernorm.weight`), cfg.normEps);
  const q = G.rmsNorm(G.splitHeads(G.linear(hn, p(`${pre}.cross_attn.q_proj.weight`)), cfg.nHeads, dh), p(`${pre}.cross_attn.q_norm.weight`), cfg.normEps); // [B, H, T, Dh]
  query?.(q);
  const o =
    masking === 'meta'
      ? G.mul(G.attention(q, kv.k, kv.v, { mask }), rows) // fully masked rows → 0
      : G.attention(q, kv.k, kv.v, { mask: G.logicalOr(mask, G.less(rows, 0.5)) });
  const attn = G.linear(G.mergeHeads(o), p(`${pre}.cross_attn.o_proj.weight`));
  const h = G.add(x, G.mul(G.tanh(p(`${pre}.cross_attn_attn_gate`)), attn));
  const ffn = G.mul(G.mlp(p, `${pre}.mlp`, G.rmsNorm(h, p(`${pre}.post_attention_layernorm.weight`), cfg.normEps), ffnConfig(cfg)), G.squeeze(rows, 1)); // rows [B, T, 1]
  return G.add(h, G.mul(G.tanh(p(`${pre}.cross_attn_mlp_gate`)), ffn));
}
