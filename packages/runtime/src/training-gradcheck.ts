/**
 * A gradient check of a compiled training step exactly as `TrainingRun` runs it: the step graph's
 * own session (same graph, same packed parameter views, same ONNX Runtime optimisation level). The
 * analytic gradient is read back from the first AdamW step — with zero moments the new first moment
 * is (1 − β1)·clip·g, and the clip factor follows from the reported `opt.gradNorm` — and compared
 * with central differences of the step's `loss` output under perturbations of the packed parameter
 * vector (or of a float batch input).
 *
 * The graphs are f32, so the differences are Richardson-extrapolated central differences
 * ((4·D(h/2) − D(h)) / 3, error O(h⁴)), which allows steps large enough that the loss's f32 rounding
 * noise (≈ 1e-7 relative) stays far below the derivative. Per tensor: the derivative along the
 * analytic gradient's own direction (it must equal ‖g‖: a wrong scale or direction shows), along a
 * random direction, and a few single entries (the largest |g| and random ones).
 */
import { Rng } from '@herd/core';
import { ADAMW_DEFAULTS, type AdamWConfig, LOSS_SCALE_INPUT, LR_INPUT, M_STATE, PARAMS_STATE, STEP_INPUT, type TrainingGraphs, V_STATE } from '@herd/graph';
import { Session, type SessionOptions } from './session.js';
import { type HostTensor, hostTensor, scalarTensor, toFloat64 } from './tensor.js';

export interface TrainingGradCheckOptions {
  /** The optimizer config the graphs were built with (β1 and clipNorm are needed to read g back). */
  readonly optimizer?: Partial<AdamWConfig>;
  /** Single entries checked per tensor: this many of the largest |g|, plus `randomEntries` random ones. Default 1 and 1. */
  readonly entries?: number;
  readonly randomEntries?: number;
  /** Which trainable tensors to check (default all); every gradient is still returned. */
  readonly only?: (name: string) => boolean;
  /** Finite-difference step h for a single entry and for a unit-norm direction. Default 1e-2. */
  readonly step?: number;
  /** Float batch inputs whose gradient is also checked against `inputGradients` (analytic values from elsewhere). */
  readonly inputGradients?: Readonly<Record<string, Float64Array>>;
  readonly seed?: number;
  readonly session?: SessionOptions;
}

/** One comparison of an analytic derivative with its finite-difference estimate. */
export interface GradComparison {
  /** Parameter or input name. */
  readonly tensor: string;
  /** 'grad-direction' (along ĝ), 'random-direction', or 'entry <i>'. */
  readonly kind: string;
  readonly analytic: number;
  readonly numeric: number;
}

export interface TrainingGradCheckResult {
  readonly loss: number;
  readonly gradNorm: number;
  /** The analytic gradient of every trainable parameter, by name (unclipped). */
  readonly gradients: Readonly<Record<string, Float64Array>>;
  readonly comparisons: readonly GradComparison[];
}

/** |a − n| / (rtol·max(|a|, |n|) + atol): ≤ 1 passes. */
export function gradError(c: GradComparison, rtol: number, atol: number): number {
  return Math.abs(c.analytic - c.numeric) / (rtol * Math.max(Math.abs(c.analytic), Math.abs(c.numeric)) + atol);
}

export async function checkTrainingGradients(graphs: TrainingGraphs, params: Readonly<Record<string, HostTensor>>, batch: Readonly<Record<string, HostTensor>>, o: TrainingGradCheckOptions = {}): Promise<TrainingGradCheckResult> {
  const cfg = { ...ADAMW_DEFAULTS, ...o.optimizer };
  const h = o.step ?? 1e-2;
  const nEntries = o.entries ?? 1;
  const nRandom = o.randomEntries ?? 1;
  const rng = new Rng(o.seed ?? 1);
  const { layout } = graphs;
  const flat = new Float32Array(layout.size);
  for (const e of layout.entries) flat.set(params[e.name]!.data as Float32Array, e.offset);
  const session = await Session.create(graphs.step, o.session ?? {}, 'gradcheck-train-step');
  const feeds = (p: Float32Array, b: Readonly<Record<string, HostTensor>>) => ({
    ...b,
    [PARAMS_STATE]: hostTensor('f32', [layout.size], p),
    [M_STATE]: hostTensor('f32', [layout.size]),
    [V_STATE]: hostTensor('f32', [layout.size]),
    [STEP_INPUT]: scalarTensor(1),
    [LR_INPUT]: scalarTensor(0),
    ...(graphs.lossScaling ? { [LOSS_SCALE_INPUT]: scalarTensor(1) } : {}),
  });
  try {
    const out = await session.run(feeds(flat, batch), ['loss', 'opt.gradNorm', `new.${M_STATE}`]);
    const loss = toFloat64(out['loss']!)[0]!;
    const gradNorm = toFloat64(out['opt.gradNorm']!)[0]!;
    const clip = cfg.clipNorm > 0 ? Math.min(cfg.clipNorm / (gradNorm + 1e-6), 1) : 1;
    const m = toFloat64(out[`new.${M_STATE}`]!);
    const g = m.map((x) => x / ((1 - cfg.beta1) * clip));
    const gradients = Object.fromEntries(layout.entries.map((e) => [e.name, g.slice(e.offset, e.offset + e.length)]));

    const lossAt = async (p: Float32Array, b: Readonly<Record<string, HostTensor>>) => toFloat64((await session.run(feeds(p, b), ['loss']))['loss']!)[0]!;
    // Richardson-extrapolated central difference of t ↦ L(x + t·d) at 0.
    const derivative = async (base: Float32Array, offset: number, d: Float64Array, evalAt: (x: Float32Array) => Promise<number>) => {
      const D = async (s: number) => {
        const x = Float32Array.from(base);
        for (let i = 0; i < d.length; i++) x[offset + i] = base[offset + i]! + s * d[i]!;
        const lp = await evalAt(x);
        for (let i = 0; i < d.length; i++) x[offset + i] = base[offset + i]! - s * d[i]!;
        const lm = await evalAt(x);
        return (lp - lm) / (2 * s);
      };
      return (4 * (await D(h / 2)) - (await D(h))) / 3;
    };
    const comparisons: GradComparison[] = [];
    const checkTensor = async (name: string, a: Float64Array, base: Float32Array, offset: number, evalAt: (x: Float32Array) => Promise<number>) => {
      const norm = Math.sqrt(a.reduce((s, x) => s + x * x, 0));
      if (norm > 0) comparisons.push({ tensor: name, kind: 'grad-direction', analytic: norm, numeric: await derivative(base, offset, a.map((x) => x / norm), evalAt) });
      const r = Float64Array.from(a, () => rng.normal());
      const rn = Math.sqrt(r.reduce((s, x) => s + x * x, 0));
      r.forEach((x, i) => (r[i] = x / rn));
      comparisons.push({ tensor: name, kind: 'random-direction', analytic: a.reduce((s, x, i) => s + x * r[i]!, 0), numeric: await derivative(base, offset, r, evalAt) });
      const order = Array.from(a.keys()).sort((i, j) => Math.abs(a[j]!) - Math.abs(a[i]!));
      const picked = new Set(order.slice(0, nEntries));
      for (let k = 0; k < nRandom && picked.size < a.length; k++) picked.add(rng.int(a.length));
      for (const i of picked) {
        const d = new Float64Array(a.length);
        d[i] = 1;
        comparisons.push({ tensor: name, kind: `entry ${i}`, analytic: a[i]!, numeric: await derivative(base, offset, d, evalAt) });
      }
    };
    for (const e of layout.entries) if (!o.only || o.only(e.name)) await checkTensor(e.name, gradients[e.name]!, flat, e.offset, (x) => lossAt(x, batch));
    for (const [name, a] of Object.entries(o.inputGradients ?? {})) {
      const input = batch[name]!;
      const base = Float32Array.from(input.data as Float32Array);
      await checkTensor(`input ${name}`, a, base, 0, (x) => lossAt(flat, { ...batch, [name]: hostTensor('f32', input.shape, x) }));
    }
    return { loss, gradNorm, gradients, comparisons };
  } finally {
    await session.release();
  }
}
