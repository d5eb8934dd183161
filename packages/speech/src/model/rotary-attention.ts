/**
 * Rotary multi-head self-attention of the Conformer (Llama 3 paper §7.1: "rotary self-attention with
 * 24 heads"): the shared `multiHeadAttention` block, bidirectional, with a padding mask so frames of
 * shorter utterances never attend to padding, and RoPE on q and k.
 * Legend: B batch, S encoder frames, D model dim, Dh head dim.
 */
import * as G from '@herd/graph';
import { type Params, type Tensor } from '@herd/graph';
import { type SpeechConfig } from '../config.js';
import { attentionConfig } from './params.js';

export interface AttentionContext {
  /** Rotary cos/sin [1, 1, S, Dh]. */
  readonly cos: Tensor;
  readonly sin: Tensor;
  /** Boolean [B, 1, 1, S]: true for real (unpadded) keys. */
  readonly mask: Tensor;
}

/** x [B, S, D] (already normed) → [B, S, D]. */
export function rotarySelfAttention(cfg: SpeechConfig, p: Params, prefix: string, x: Tensor, ctx: AttentionContext): Tensor {
  return G.multiHeadAttention(p, prefix, x, { ...attentionConfig(cfg), mask: ctx.mask, rope: { cos: ctx.cos, sin: ctx.sin } }).out;
}
