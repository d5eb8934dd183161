/**
 * AdamW as graph nodes: decoupled weight decay, bias correction, and clipping by global norm. The
 * learning rate and step are graph inputs, so any schedule works without recompiling.
 */
import { type Tensor } from '../ir/tensor.js';
import * as o from '../ops.js';

export interface AdamWConfig {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Clip gradients to this global L2 norm; 0 disables. */
  readonly clipNorm: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01, clipNorm: 1.0 };

export interface AdamWSlot {
  readonly param: Tensor;
  readonly grad: Tensor;
  readonly m: Tensor;
  readonly v: Tensor;
  /** Matrices decay; gains and biases (rank < 2) conventionally do not. */
  readonly decay: boolean;
}

export interface AdamWUpdate {
  readonly params: Tensor[];
  readonly m: Tensor[];
  readonly v: Tensor[];
  /** Global gradient norm before clipping. */
  readonly gradNorm: Tensor;
}

/** Global L2 norm of a list of tensors (computed in f32). */
export function globalNorm(ts: readonly Tensor[]): Tensor {
  const sq = ts.map((t) => {
    const f = o.cast(t, 'f32');
    return o.sum(o.mul(f, f));
  });
  return o.sqrt(sq.reduce((a, b) => o.add(a, b)));
}

/** One AdamW update. `step` is the 1-based step number after this update (f32 scalar), `lr` the rate. */
export function adamw(slots: readonly AdamWSlot[], step: Tensor, lr: Tensor, cfg: AdamWConfig = ADAMW_DEFAULTS): AdamWUpdate {
  const gradNorm = globalNorm(slots.map((s) => s.grad));
  const clip = cfg.clipNorm > 0 ? o.minimum(o.div(cfg.clipNorm, o.add(gradNorm, 1e-6)), 1) : undefined;
  const bc1 = o.sub(1, o.pow(step.graph.scalar(cfg.beta1, 'f32'), step)); // 1 − β1^t
  const bc2 = o.sub(1, o.pow(step.graph.scalar(cfg.beta2, 'f32'), step));
  const out: AdamWUpdate = { params: [], m: [], v: [], gradNorm };
  for (const s of slots) {
    const dt = s.param.dtype;
    let g = s.grad;
    if (clip) g = o.mul(g, o.cast(clip, dt));
    const m = o.add(o.mul(s.m, cfg.beta1), o.mul(g, 1 - cfg.beta1));
    const v = o.add(o.mul(s.v, cfg.beta2), o.mul(o.mul(g, g), 1 - cfg.beta2));
    const mhat = o.div(m, o.cast(bc1, dt));
    const vhat = o.div(v, o.cast(bc2, dt));
    const lrT = o.cast(lr, dt);
    let p = s.param;
    if (s.decay && cfg.weightDecay > 0) p = o.sub(p, o.mul(o.mul(lrT, cfg.weightDecay), p));
    p = o.sub(p, o.mul(lrT, o.div(mhat, o.add(o.sqrt(vhat), cfg.eps))));
    out.params.push(p);
    out.m.push(m);
    out.v.push(v);
  }
  return out;
}
