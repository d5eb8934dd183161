/**
 * Rotary multi-head self-attention of the Conformer (Llama 3 paper §7.1: "rotary self-attention with
 * 24 heads"), bidirectional, with a padding mask so frames of shorter utterances never attend to
 * padding. Rotary tables and the attention core are the language core's (`@herd/llama3` applyRope,
 * `@herd/graph` attention), not a second implementation.
 * Legend: B batch, S encoder frames, D model dim, H heads, Dh head dim.
 */
import * as G from '@herd/graph';
import { type Tensor } from '@herd/graph';
import { applyRope } from '@herd/llama3';
import { type SpeechConfig, headDim } from '../config.js';
import { type Params } from './encoder-params.js';

export interface AttentionContext {
  /** Rotary cos/sin [B or 1, 1, S, Dh]. */
  readonly cos: Tensor;
  readonly sin: Tensor;
  /** Boolean [B, 1, 1, S]: true for real (unpadded) keys. */
  readonly mask: Tensor;
}

/** x [B, S, D] (already normed) → [B, S, D]. */
export function rotarySelfAttention(cfg: SpeechConfig, p: Params, prefix: string, x: Tensor, ctx: AttentionContext): Tensor {
  const [b, s] = x.shape;
  const dh = headDim(cfg);
  const heads = (t: Tensor) => G.transpose(G.reshape(t, [b!, s!, cfg.nHeads, dh]), [0, 2, 1, 3]); // [B, H, S, Dh]
  const proj = (n: string) => G.linear(x, p(`${prefix}.${n}.weight`), p(`${prefix}.${n}.bias`));
  const q = applyRope(heads(proj('linear_q')), ctx.cos, ctx.sin);
  const k = applyRope(heads(proj('linear_k')), ctx.cos, ctx.sin);
  const v = heads(proj('linear_v'));
  const o = G.attention(q, k, v, { mask: ctx.mask }); // [B, H, S, Dh]
  const merged = G.reshape(G.transpose(o, [0, 2, 1, 3]), [b!, s!, cfg.dim]); // [B, S, D]
  return G.linear(merged, p(`${prefix}.linear_out.weight`), p(`${prefix}.linear_out.bias`));
}
