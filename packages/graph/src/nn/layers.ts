/**
 * Composite layers built from primitives. They need no VJP rules of their own; ONNX Runtime's graph
 * optimizer recognises the standard patterns (e.g. LayerNorm, SimplifiedLayerNorm, Gelu) and fuses them.
 */
import { HerdError } from '@herd/core';
import { type Tensor } from '../ir/tensor.js';
import * as o from '../ops.js';

/**
 * x [..., in] · wᵀ (+ b [out]) for a weight stored [out, in] — the PyTorch/Hugging Face layout, so
 * checkpoints load by name with no re-layout. The one linear layer of herd.
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const y = o.matmul(x, o.transpose(w, [1, 0]));
  return b ? o.add(y, b) : y;
}

export const silu = (x: Tensor): Tensor => o.mul(x, o.sigmoid(x));

/** Exact GELU: x·Φ(x). */
export const gelu = (x: Tensor): Tensor => o.mul(o.mul(x, 0.5), o.add(o.erf(o.mul(x, Math.SQRT1_2)), 1));

/** Statistics of reduced-precision activations are taken in f32 (as Meta and HF do), then cast back. */
function statsDtype(x: Tensor): Tensor {
  return x.dtype === 'f16' ? o.cast(x, 'f32') : x;
}

/** RMSNorm over the last axis: x / √(mean(x²) + eps) · g. */
export function rmsNorm(x: Tensor, g: Tensor, eps: number): Tensor {
  const xf = statsDtype(x);
  const ms = o.mean(o.mul(xf, xf), -1, true);
  return o.mul(o.cast(o.div(xf, o.sqrt(o.add(ms, eps))), x.dtype), g);
}

/** LayerNorm over the last axis. */
export function layerNorm(x: Tensor, g: Tensor, b: Tensor | undefined, eps: number): Tensor {
  const xf = statsDtype(x);
  const mu = o.mean(xf, -1, true);
  const d = o.sub(xf, mu);
  const v = o.mean(o.mul(d, d), -1, true);
  const y = o.mul(o.cast(o.div(d, o.sqrt(o.add(v, eps))), x.dtype), g);
  return b ? o.add(y, b) : y;
}

/** log-softmax through ReduceLogSumExp (LogSoftmax falls back to CPU on WebGPU). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return o.sub(x, o.logSumExp(x, axis, true));
}

export interface CrossEntropyResult {
  /** Mean loss over the targets that are not ignored (0 when all are). */
  loss: Tensor;
  /** Number of targets counted, as a float scalar. */
  count: Tensor;
  /** Per-position loss [...] (0 at ignored positions). */
  perToken: Tensor;
}

/**
 * Cross-entropy of logits [..., V] against integer targets [...]; targets equal to `ignoreIndex`
 * contribute nothing and are not counted. With `weights` [...] (f32, ≥ 0, the shape of `targets`)
 * the loss is the weighted mean Σ w·ce / max(Σ w, 1) over the counted targets (`perToken` then holds
 * w·ce); weights all 1 give the unweighted loss. `count` stays the number of targets.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex = -100, weights?: Tensor): CrossEntropyResult {
  if (targets.rank !== logits.rank - 1) {
    throw new HerdError('shape_mismatch', `crossEntropy: targets ${targets.describe()} must have the shape of logits ${logits.describe()} without the class axis`);
  }
  if (weights && weights.shape.join() !== targets.shape.join()) {
    throw new HerdError('shape_mismatch', `crossEntropy: weights ${weights.describe()} must have the shape of targets ${targets.describe()}`);
  }
  logits = statsDtype(logits); // the loss is always computed in f32 or f64
  const valid = o.logicalNot(o.equal(targets, ignoreIndex));
  const safe = o.where(valid, targets, 0);
  const lse = o.logSumExp(logits, -1); // [...]
  const picked = o.squeeze(o.gatherElements(logits, o.unsqueeze(safe, -1), -1), -1); // [...]
  const mask = o.cast(valid, logits.dtype);
  if (weights) {
    const w = o.mul(o.cast(weights, logits.dtype), mask);
    const perToken = o.mul(o.sub(lse, picked), w);
    return { loss: o.div(o.sum(perToken), o.maximum(o.sum(w), 1)), count: o.sum(mask), perToken };
  }
  const perToken = o.mul(o.sub(lse, picked), mask);
  const count = o.sum(mask);
  const loss = o.div(o.sum(perToken), o.maximum(count, 1));
  return { loss, count, perToken };
}

/**
 * Dropout whose mask is a deterministic function of a `seed` input (a float scalar) and each
 * element's position: different seeds give independent masks, the same seed repeats exactly, and no
 * random op is needed (those fall back to CPU on WebGPU).
 */
export function dropout(x: Tensor, p: number, seed: Tensor): Tensor {
  if (p <= 0) return x;
  if (p >= 1) throw new HerdError('invalid_argument', `dropout: p must be < 1, got ${p}`);
  const n = x.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : NaN), 1);
  if (!Number.isFinite(n)) throw new HerdError('shape_mismatch', `dropout needs a static shape, got ${x.describe()}`);
  const iota = new Float32Array(n);
  for (let i = 0; i < n; i++) iota[i] = (i % 65521) * 0.7548776662 + Math.floor(i / 65521) * 0.5698402909;
  const pos = x.graph.constant(iota, 'f32', x.shape as number[]);
  // A sine hash: fract(sin(a)·43758.5453) is uniform enough for masks and cheap on every device.
  const h = o.mul(o.sin(o.add(o.mul(pos, 12.9898), o.mul(o.cast(seed, 'f32'), 78.233))), 43758.5453);
  const u = o.sub(h, floorish(h));
  const keep = o.cast(o.greater(u, p), x.dtype);
  return o.mul(x, o.mul(keep, 1 / (1 - p)));
}

/** floor(h) for |h| < 2^24 without a Floor primitive: h − fmod(h, 1) adjusted for negatives. */
function floorish(h: Tensor): Tensor {
  // Cast to i32 truncates toward zero; subtract 1 where that rounded a negative number up.
  const t = o.cast(o.cast(h, 'i32'), 'f32');
  return o.sub(t, o.cast(o.greater(t, h), 'f32'));
}
