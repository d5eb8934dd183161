/**
 * Scaled dot-product attention with grouped KV heads and boolean masks.
 * Legend: B batch, H query heads, K kv heads (H = K·R), T queries, S keys, D head dim.
 */
import { HerdError } from '@herd/core';
import { type Tensor } from '../ir/tensor.js';
import * as o from '../ops.js';

/** Large negative bias for masked scores: finite, so a fully masked row gives a uniform row, not NaN. */
const MASKED = -1e9;

export interface ScaledAttentionOptions {
  /** Boolean, true where a query may attend to a key; broadcastable to [B, H, T, S]. */
  mask?: Tensor;
  /** Defaults to 1/√D. */
  scale?: number;
}

/** q [B, H, T, D], k [B, K, S, D] and v [B, K, S, Dv] → [B, H, T, Dv] (Dv is usually D). */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: ScaledAttentionOptions = {}): Tensor {
  const [B, H, T, D] = q.shape;
  const Kh = k.shape[1]!;
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new HerdError('shape_mismatch', `attention: q, k, v must be rank 4: ${q.describe()}, ${k.describe()}, ${v.describe()}`);
  if (typeof H !== 'number' || typeof Kh !== 'number' || H % Kh !== 0) {
    throw new HerdError('shape_mismatch', `attention: ${H} query heads are not a multiple of ${Kh} kv heads`);
  }
  const R = H / Kh;
  const scale = options.scale ?? 1 / Math.sqrt(q.dim(3));
  // GQA without copying K/V: group the query heads [B, K, R, T, D] and broadcast K/V over R.
  const qg = R === 1 ? q : o.reshape(q, [B!, Kh, R, T!, D!]);
  const kg = R === 1 ? k : o.unsqueeze(k, 2); // [B, K, 1, S, D]
  const vg = R === 1 ? v : o.unsqueeze(v, 2);
  let scores = o.mul(o.matmul(qg, o.swapAxes(kg)), scale); // [B, K, R, T, S]
  // The softmax runs in f32 for f16 inputs: the masked bias and the exponentials need the range.
  if (scores.dtype === 'f16') scores = o.cast(scores, 'f32');
  if (options.mask) scores = o.add(scores, maskBias(options.mask, Kh, R, scores.dtype));
  const p = o.cast(o.softmax(scores, -1), q.dtype);
  const out = o.matmul(p, vg); // [B, K, R, T, Dv]
  return R === 1 ? out : o.reshape(out, [B!, H, T!, v.shape[3]!]); // values may be narrower than the heads (Dv ≠ D)
}

/**
 * The mask as an additive bias (0 where allowed, a large negative elsewhere), made once per mask and
 * layout and shared by every layer: adding it is cheaper than a select per layer, and its backward
 * pass is free (the mask needs no gradient).
 */
const biasCache = new WeakMap<Tensor, Map<string, Tensor>>();
function maskBias(mask: Tensor, K: number, R: number, dtype: Tensor['dtype']): Tensor {
  const key = `${K}:${R}:${dtype}`;
  let forMask = biasCache.get(mask);
  if (!forMask) biasCache.set(mask, (forMask = new Map()));
  let bias = forMask.get(key);
  if (!bias) {
    const m = R === 1 ? mask : groupMask(mask, K, R);
    bias = o.where(m, mask.graph.scalar(0, dtype), mask.graph.scalar(MASKED, dtype));
    forMask.set(key, bias);
  }
  return bias;
}

/** Lifts a mask broadcastable to [B, H, T, S] to [B, K, R, T, S]. */
function groupMask(mask: Tensor, K: number, R: number): Tensor {
  const m = mask.rank < 4 ? o.reshape(mask, [...new Array(4 - mask.rank).fill(1), ...mask.shape]) : mask;
  const h = m.shape[1];
  if (h === 1) return o.unsqueeze(m, 2);
  return o.reshape(m, [m.shape[0]!, K, R, m.shape[2]!, m.shape[3]!]);
}

/** Causal mask [T, T] (true on and below the diagonal), as a constant. */
export function causalMask(g: Tensor['graph'], t: number, offset = 0): Tensor {
  const s = t + offset;
  const a = new Uint8Array(t * s);
  for (let i = 0; i < t; i++) for (let j = 0; j < s; j++) a[i * s + j] = j <= i + offset ? 1 : 0;
  return g.constant(a, 'bool', [t, s]);
}

/**
 * Mask for packed sequences: causal, and never across documents. `docIds` [B, T] numbers the
 * document each token belongs to; the result is [B, 1, T, T].
 */
export function documentCausalMask(docIds: Tensor): Tensor {
  const t = docIds.dim(1);
  const same = o.equal(o.unsqueeze(docIds, 2), o.unsqueeze(docIds, 1)); // [B, T, T]
  return o.unsqueeze(o.logicalAnd(same, causalMask(docIds.graph, t)), 1);
}

/** Padding mask [B, 1, 1, S] from `valid` [B, S] (bool: true for real keys), for batches of unequal lengths. */
export function paddingMask(valid: Tensor): Tensor {
  if (valid.dtype !== 'bool' || valid.rank !== 2) throw new HerdError('shape_mismatch', `paddingMask: expected bool [B, S], got ${valid.describe()}`);
  return o.unsqueeze(o.unsqueeze(valid, 1), 1);
}
