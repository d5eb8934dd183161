/**
 * The Llama 3 decoder (§3 of the paper; Meta's `model.py`): pre-norm blocks of
 * RMSNorm → GQA self-attention with RoPE → residual → RMSNorm → SwiGLU FFN → residual.
 *
 * Legend: B batch, T new tokens, P cached tokens, S = P + T keys, D model dim, H query heads,
 * K kv heads, Dh head dim, F FFN dim, V vocabulary.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type KvCache, type Params, type Tensor, type TransformerBlockConfig } from '@herd/graph';
import { type LlamaConfig, ropeFrequencies } from '../config.js';
import { llamaBlockConfig } from './weights.js';

export interface LayerContext {
  readonly cos: Tensor;
  readonly sin: Tensor;
  /** Boolean [B or 1, 1, T, S]: true where a query may see a key. */
  readonly mask: Tensor;
}

/**
 * Decoder layer i: @herd/graph's pre-norm block with RMSNorm, GQA self-attention with RoPE (and the
 * KV cache) and SwiGLU, under the HF names `model.layers.{i}.{input_layernorm,self_attn,…}`.
 */
export function decoderLayer(cfg: LlamaConfig, p: Params, i: number, x: Tensor, ctx: LayerContext, cache?: KvCache, block: TransformerBlockConfig = llamaBlockConfig(cfg)): { h: Tensor; cache: KvCache } {
  const r = G.transformerBlock(p, `model.layers.${i}`, x, block, { mask: ctx.mask, rope: { cos: ctx.cos, sin: ctx.sin }, ...(cache ? { cache } : {}) });
  return { h: r.out, cache: r.cache };
}

/**
 * Where adapters attach (§7.3; Meta's fusion schedule): before layers N−1, 2N−1, …, i.e. every Nth
 * layer counted from the top, so the last layer always has one.
 */
export function fusionSchedule(nLayers: number, every: number): number[] {
  if (!(every >= 1)) throw new HerdError('invalid_config', `fusion schedule: every must be ≥ 1, got ${every}`);
  const out: number[] = [];
  for (let i = nLayers - 1; i >= 0; i -= every) out.push(i);
  return out.reverse();
}

export interface ForwardInputs {
  /** Token ids [B, T] (i32/i64), or `embeddings` [B, T, D] already spliced (speech path). */
  readonly tokens?: Tensor;
  readonly embeddings?: Tensor;
  /** Absolute positions [B, T] (i32/i64). */
  readonly positions: Tensor;
  /** Boolean [B or 1, 1, T, S]. */
  readonly mask: Tensor;
  /** Per-layer caches [B, K, P, Dh]. */
  readonly cache?: readonly KvCache[];
}

export interface ForwardHooks {
  /**
   * Called before decoder layer i with the residual stream [B, T, D]; returns the stream to use.
   * An adapter (e.g. a gated cross-attention block) placed at the fusion schedule's layers uses it;
   * without hooks the graph is exactly the plain model.
   */
  readonly beforeLayer?: (i: number, h: Tensor) => Tensor;
}

export interface ForwardOutputs {
  /** Final-norm hidden states [B, T, D]. */
  readonly hidden: Tensor;
  readonly cache: KvCache[];
}

/** Token embeddings [B, T, D]. */
export function embed(p: Params, tokens: Tensor): Tensor {
  return G.gather(p('model.embed_tokens.weight'), tokens);
}

/** The decoder stack up to the final norm. */
export function forward(cfg: LlamaConfig, p: Params, inputs: ForwardInputs, hooks: ForwardHooks = {}): ForwardOutputs {
  if (!inputs.tokens === !inputs.embeddings) throw new HerdError('invalid_argument', 'llama forward: pass exactly one of tokens or embeddings');
  let h = inputs.embeddings ?? embed(p, inputs.tokens!);
  const { cos, sin } = G.ropeTables(inputs.positions, ropeFrequencies(cfg.headDim, cfg.ropeTheta, cfg.ropeScaling ?? null));
  const ctx: LayerContext = { cos, sin, mask: inputs.mask };
  const block = llamaBlockConfig(cfg);
  const caches: KvCache[] = [];
  for (let i = 0; i < cfg.nLayers; i++) {
    if (hooks.beforeLayer) h = hooks.beforeLayer(i, h);
    const r = decoderLayer(cfg, p, i, h, ctx, inputs.cache?.[i], block);
    h = r.h;
    caches.push(r.cache);
  }
  return { hidden: G.rmsNorm(h, p('model.norm.weight'), cfg.normEps), cache: caches };
}

/** Output projection [.., D] → [.., V] (tied to the embedding when the config says so). */
export function lmHead(cfg: LlamaConfig, p: Params, hidden: Tensor): Tensor {
  return G.linear(hidden, p(cfg.tieEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'));
}
