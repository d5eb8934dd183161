/**
 * The Llama 3 decoder (§3 of the paper; Meta's `model.py`): pre-norm blocks of
 * RMSNorm → GQA self-attention with RoPE → residual → RMSNorm → SwiGLU FFN → residual.
 *
 * Legend: B batch, T new tokens, P cached tokens, S = P + T keys, D model dim, H query heads,
 * K kv heads, Dh head dim, F FFN dim, V vocabulary.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type Graph, type Tensor } from '@herd/graph';
import { type LlamaConfig, ropeFrequencies } from '../config.js';
import { applyRope, ropeTables } from './rope.js';
import { headDim } from './weights.js';

/** Looks up a parameter tensor by its checkpoint name. */
export type Params = (name: string) => Tensor;

export interface KvCache {
  readonly k: Tensor; // [B, K, P, Dh]
  readonly v: Tensor;
}

export interface LayerContext {
  readonly cos: Tensor;
  readonly sin: Tensor;
  /** Boolean [B or 1, 1, T, S]: true where a query may see a key. */
  readonly mask: Tensor;
}

/** Splits [B, T, n·Dh] into heads [B, n, T, Dh]. */
function heads(x: Tensor, n: number, dh: number): Tensor {
  const [b, t] = x.shape;
  return G.transpose(G.reshape(x, [b!, t!, n, dh]), [0, 2, 1, 3]);
}

/** Merges heads [B, H, T, Dh] back into [B, T, H·Dh]. */
function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, dh] = x.shape;
  return G.reshape(G.transpose(x, [0, 2, 1, 3]), [b!, t!, (h as number) * (dh as number)]);
}

/** GQA self-attention; with a cache, new keys/values are appended to it and returned. */
export function selfAttention(cfg: LlamaConfig, p: Params, prefix: string, x: Tensor, ctx: LayerContext, cache?: KvCache): { out: Tensor; cache: KvCache } {
  const dh = headDim(cfg);
  const q = applyRope(heads(G.linear(x, p(`${prefix}.q_proj.weight`)), cfg.nHeads, dh), ctx.cos, ctx.sin); // [B, H, T, Dh]
  let k = applyRope(heads(G.linear(x, p(`${prefix}.k_proj.weight`)), cfg.nKvHeads, dh), ctx.cos, ctx.sin); // [B, K, T, Dh]
  let v = heads(G.linear(x, p(`${prefix}.v_proj.weight`)), cfg.nKvHeads, dh);
  if (cache) {
    k = G.concat([cache.k, k], 2); // [B, K, S, Dh]
    v = G.concat([cache.v, v], 2);
  }
  const o = G.attention(q, k, v, { mask: ctx.mask });
  return { out: G.linear(mergeHeads(o), p(`${prefix}.o_proj.weight`)), cache: { k, v } };
}

/** SwiGLU: W2 · (silu(W1 x) ⊙ W3 x). */
export function swiglu(p: Params, prefix: string, x: Tensor): Tensor {
  const gate = G.silu(G.linear(x, p(`${prefix}.gate_proj.weight`)));
  return G.linear(G.mul(gate, G.linear(x, p(`${prefix}.up_proj.weight`))), p(`${prefix}.down_proj.weight`));
}

export function decoderLayer(cfg: LlamaConfig, p: Params, i: number, x: Tensor, ctx: LayerContext, cache?: KvCache): { h: Tensor; cache: KvCache } {
  const pre = `model.layers.${i}`;
  const attn = selfAttention(cfg, p, `${pre}.self_attn`, G.rmsNorm(x, p(`${pre}.input_layernorm.weight`), cfg.normEps), ctx, cache);
  const h = G.add(x, attn.out);
  const out = G.add(h, swiglu(p, `${pre}.mlp`, G.rmsNorm(h, p(`${pre}.post_attention_layernorm.weight`), cfg.normEps)));
  return { h: out, cache: attn.cache };
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
  /**
   * Replaces the token lookup [B, T] → [B, T, D], e.g. to embed ids past the core's vocabulary
   * (Llama 3.2 Vision's `<|image|>`) from an adapter's own rows while the core's table stays frozen.
   */
  readonly embedTokens?: (tokens: Tensor, p: Params) => Tensor;
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
  let h = inputs.embeddings ?? (hooks.embedTokens ? hooks.embedTokens(inputs.tokens!, p) : embed(p, inputs.tokens!));
  const { cos, sin } = ropeTables(inputs.positions, ropeFrequencies(headDim(cfg), cfg.ropeTheta, cfg.ropeScaling ?? null));
  const ctx: LayerContext = { cos, sin, mask: inputs.mask };
  const caches: KvCache[] = [];
  for (let i = 0; i < cfg.nLayers; i++) {
    if (hooks.beforeLayer) h = hooks.beforeLayer(i, h);
    const r = decoderLayer(cfg, p, i, h, ctx, inputs.cache?.[i]);
    h = r.h;
    caches.push(r.cache);
  }
  return { hidden: G.rmsNorm(h, p('model.norm.weight'), cfg.normEps), cache: caches };
}

/** Output projection [.., D] → [.., V] (tied to the embedding when the config says so). */
export function lmHead(cfg: LlamaConfig, p: Params, hidden: Tensor): Tensor {
  return G.linear(hidden, p(cfg.tieEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'));
}

/** Declares the model's parameters in a graph; values/trainability come from `define`. */
export function declareParams(g: Graph, specs: readonly { name: string; shape: readonly number[] }[], define: (name: string, shape: readonly number[]) => Tensor): Params {
  const map = new Map<string, Tensor>();
  for (const s of specs) map.set(s.name, define(s.name, s.shape));
  return (name) => {
    const t = map.get(name);
    if (!t) throw new HerdError('checkpoint_mismatch', `llama: no parameter '${name}' (have ${map.size}: ${[...map.keys()].slice(0, 4).join(', ')}, …)`);
    return t;
  };
}
