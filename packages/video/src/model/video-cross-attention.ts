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
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type AttentionConfig, type MlpConfig, type ParamSpec, type Params, type Tensor } from '@herd/graph';
import { type LlamaConfig, headDim } from '@herd/llama3';
import { type LayerLook } from '@herd/vision';
import { placeDirections } from './resampler.js';

/** Name prefix of video cross-attention layer j. */
export function videoLayerPrefix(j: number): string {
  return `video.cross_attention.${j}`;
}

export function videoAttentionConfig(cfg: LlamaConfig): AttentionConfig {
  return { dim: cfg.dim, nHeads: cfg.nHeads, nKvHeads: cfg.nKvHeads, headDim: headDim(cfg), qkNorm: { eps: cfg.normEps } };
}

const ffnConfig = (cfg: LlamaConfig, hidden: number): MlpConfig => ({ kind: 'swiglu', dim: cfg.dim, hidden: hidden || cfg.ffnDim });
const rms = (cfg: LlamaConfig) => ({ kind: 'rms', eps: cfg.normEps }) as const;

/** A video cross-attention layer's shape: `ffnHidden` 0 = the core's ffnDim; `motionReadout` and `rowGates` (video config's, default none). */
export interface VideoLayerShape {
  readonly ffnHidden: number;
  readonly motionReadout?: boolean;
  readonly rowGates?: boolean;
}

const GATES = ['cross_attn_attn_gate', 'cross_attn_mlp_gate'] as const;

/**
 * Per head h, output dims 2h, 2h+1: (x, y), the object-motion tokens' place term (`placeDirections`: size × time ×
 * place along x and y) averaged with head h's attention — the way the tokens the head looks at moved. The layer's own
 * query side and keys (`${pre}` = its `cross_attn` prefix: q/k projections and norms) decide where it looks; values and
 * output are fixed (each kv head's dims 0, 1 = the token along u_x, u_y). q [B, T, D], tokens [B, V, D], mask
 * [B, 1, T, V] (optional) → [B, T, 2H]. Shared by the look-up loss (`lookupLoss`) and the motion readout.
 */
export function placeRead(cfg: LlamaConfig, p: Params, pre: string, q: Tensor, tokens: Tensor, mask?: Tensor, keys?: Tensor): Tensor {
  const g = tokens.graph;
  const a = videoAttentionConfig(cfg);
  const [H, K, Dh, D] = [a.nHeads, a.nKvHeads ?? a.nHeads, a.headDim ?? cfg.dim / a.nHeads, cfg.dim];
  if (Dh < 2) throw new HerdError('invalid_config', `place read: heads of ${Dh} dims cannot carry (x, y)`);
  const u = placeDirections(D);
  const value = new Float32Array(K * Dh * D);
  for (let k = 0; k < K; k++) for (let c = 0; c < 2; c++) value.set(u.subarray(c * D, (c + 1) * D), (k * Dh + c) * D);
  const out = new Float32Array(2 * H * H * Dh);
  for (let h = 0; h < H; h++) for (let c = 0; c < 2; c++) out[(2 * h + c) * H * Dh + h * Dh + c] = 1;
  const fixed: Params = (name) => (name === `${pre}.v_proj.weight` ? g.constant(value, 'f32', [K * Dh, D]) : name === `${pre}.o_proj.weight` ? g.constant(out, 'f32', [2 * H, H * Dh]) : p(name));
  return G.multiHeadAttention(fixed, pre, q, { ...a, ...(keys ? { kv: keys, values: tokens } : { kv: tokens }), ...(mask ? { mask } : {}) }).out; // [B, T, 2H]
}

/**
 * Where video layer j's heads look (the look loss, `videoLookLoss`): its normed queries [B, H, T, Dh] from the rows
 * `hn` [B, T, D] it was given (the layer's `query` callback), its normed keys [B, K, V, Dh] from `keys` [B, V, D] (the
 * video tokens, or the video config's lookKeys input), and the video mask [B, 1, T, V] — the same q / k the layer's
 * attention computes (the layer has no RoPE and no projection biases).
 */
export function videoLayerLook(cfg: LlamaConfig, p: Params, j: number, hn: Tensor, keys: Tensor, mask: Tensor): LayerLook {
  const pre = `${videoLayerPrefix(j)}.cross_attn`;
  const a = videoAttentionConfig(cfg);
  const [H, K, Dh] = [a.nHeads, a.nKvHeads ?? a.nHeads, a.headDim ?? cfg.dim / a.nHeads];
  const q = G.rmsNorm(G.splitHeads(G.linear(hn, p(`${pre}.q_proj.weight`)), H, Dh), p(`${pre}.q_norm.weight`), cfg.normEps);
  const k = G.rmsNorm(G.splitHeads(G.linear(keys, p(`${pre}.k_proj.weight`)), K, Dh), p(`${pre}.k_norm.weight`), cfg.normEps);
  return { q, k, mask };
}

/** `shape.ffnHidden` 0 = the core's ffnDim. */
export function videoCrossAttentionSpecs(cfg: LlamaConfig, j: number, shape: VideoLayerShape): ParamSpec[] {
  const pre = videoLayerPrefix(j);
  const ffnHidden = shape.ffnHidden;
  return [
    ...G.normParamSpecs(`${pre}.input_layernorm`, cfg.dim, rms(cfg)),
    ...G.attentionParamSpecs(`${pre}.cross_attn`, videoAttentionConfig(cfg)),
    { name: `${pre}.cross_attn_attn_gate`, shape: [1], init: 'zeros' },
    // Zeros: a fresh readout adds nothing (the model is unchanged at init) and, outside the gate, still gets a gradient.
    ...(shape.motionReadout ? [{ name: `${pre}.motion_readout.weight`, shape: [cfg.dim, 2 * cfg.nHeads], init: 'zeros' } satisfies ParamSpec] : []),
    // Zeros: the row term starts at 0, so the gates start as the scalar ones (0).
    ...(shape.rowGates ? GATES.map((gate) => ({ name: `${pre}.${gate}_row.weight`, shape: [1, cfg.dim], init: 'zeros' }) satisfies ParamSpec) : []),
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
 * x [B, T, D], video [B, V, D], mask bool [B, 1, T, V], rows [B, T, 1] → [B, T, D]; `keys` [B, V, D] (optional): the
 * attention's keys from these instead of `video` (its values still from `video`). `query`, when
 * given, receives the normed rows [B, T, D] the attention queries with (the recipe's look-up loss,
 * `lookupLoss`, trains where they look).
 *
 * With `shape.motionReadout` (herd's addition; the video tokens must end with the object-motion tokens,
 * `resampler.motionTokens`): h += W · placeRead(hn), W [D, 2H] learned, zeros at init, outside the gate. Why: the
 * object-motion tokens carry each shape's own motion in a fixed place term, but the attention's learned values read
 * it poorly — even for one moving shape (12–15 of 19 held-out questions by the tokens alone, round 20) — and the
 * answers follow the clip-level code. Here what the heads look at arrives as its motion (x, y per head) directly, so
 * the answer loss trains where they look through a clean signal, in every path that runs the layer (training,
 * the exported decoder, chat).
 */
export function videoCrossAttentionLayer(cfg: LlamaConfig, p: Params, j: number, shape: VideoLayerShape, x: Tensor, video: Tensor, mask: Tensor, rows: Tensor, query?: (hn: Tensor) => void, keys?: Tensor): Tensor {
  const pre = videoLayerPrefix(j);
  const ffnHidden = shape.ffnHidden;
  const hn = G.norm(p, `${pre}.input_layernorm`, x, rms(cfg));
  query?.(hn);
  // `keys` (the video config's lookKeys): where a row looks comes from them, what it reads from `video`.
  const attn = G.mul(G.multiHeadAttention(p, `${pre}.cross_attn`, hn, { ...videoAttentionConfig(cfg), ...(keys ? { kv: keys, values: video } : { kv: video }), mask }).out, rows); // rows with no video → 0
  // With `shape.rowGates`: tanh(g + w · the normed row) [B, T, 1], else tanh(g) — so a row that needs the clip (the
  // answer) can open the layer further than the rows around it.
  const gate = (name: (typeof GATES)[number], normed: Tensor) => G.tanh(shape.rowGates ? G.add(p(`${pre}.${name}`), G.linear(normed, p(`${pre}.${name}_row.weight`))) : p(`${pre}.${name}`));
  const gated = G.add(x, G.mul(gate('cross_attn_attn_gate', hn), attn));
  const h = shape.motionReadout ? G.add(gated, G.mul(G.linear(placeRead(cfg, p, `${pre}.cross_attn`, hn, video, mask, keys), p(`${pre}.motion_readout.weight`)), rows)) : gated;
  const hn2 = G.norm(p, `${pre}.post_attention_layernorm`, h, rms(cfg));
  const ffn = G.mul(G.mlp(p, `${pre}.mlp`, hn2, ffnConfig(cfg, ffnHidden)), rows);
  return G.add(h, G.mul(gate('cross_attn_mlp_gate', hn2), ffn));
}
