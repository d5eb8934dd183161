import { Rng } from '@herd/core';
import { type DType, Graph, type Tensor, grad, mul, sum, toOnnx } from '@herd/graph';
import { Session } from './session.js';
import { type HostTensor, hostTensor, toFloat64 } from './tensor.js';

export interface GradCheckInput {
  readonly name: string;
  readonly shape: readonly number[];
  /** Inputs that need no gradient (indices, masks) carry fixed values. */
  readonly value?: HostTensor;
  /** Value range for random float inputs (default [-1, 1]). */
  readonly range?: readonly [number, number];
}

export interface GradCheckResult {
  /** Largest |analytic − numeric| / max(1, |numeric|) over all checked elements. */
  readonly maxError: number;
  readonly worst: { readonly input: string; readonly index: number; readonly analytic: number; readonly numeric: number };
  readonly checked: number;
}

/**
 * Checks the VJPs used by `build` against central differences. The scalar checked is
 * Σ f(x)·r for a fixed random r, so every output element contributes. Runs in `dtype` (f64 by
 * default) on the ORT CPU provider.
 */
export async function checkGradients(
  inputs: readonly GradCheckInput[],
  build: (xs: Record<string, Tensor>, g: Graph) => Tensor,
  options: { dtype?: DType; eps?: number; seed?: number } = {},
): Promise<GradCheckResult> {
  const dtype = options.dtype ?? 'f64';
  const eps = options.eps ?? (dtype === 'f64' ? 1e-6 : 1e-2);
  const rng = new Rng(options.seed ?? 1);
  const g = new Graph();
  const xs: Record<string, Tensor> = {};
  const values: Record<string, HostTensor> = {};
  for (const i of inputs) {
    if (i.value) {
      xs[i.name] = g.input(i.name, i.value.dtype, i.shape);
      values[i.name] = i.value;
    } else {
      xs[i.name] = g.input(i.name, dtype, i.shape);
      const [lo, hi] = i.range ?? [-1, 1];
      const n = i.shape.reduce((a, b) => a * b, 1);
      values[i.name] = hostTensor(dtype, i.shape, Array.from({ length: n }, () => lo + (hi - lo) * rng.next()));
    }
  }
  const y = build(xs, g);
  const n = y.shape.reduce<number>((a, b) => a * (b as number), 1);
  const r = g.constant(
    y.dtype === 'f64' ? Float64Array.from({ length: n }, () => rng.normal()) : Float32Array.from({ length: n }, () => rng.normal()),
    y.dtype,
    y.shape as number[],
  );
  const loss = sum(mul(y, r));
  const wrt = inputs.filter((i) => !i.value).map((i) => xs[i.name]!);
  const grads = grad(loss, wrt);
  const model = toOnnx(g, { outputs: { loss, ...Object.fromEntries(wrt.map((t, k) => [`grad.${t.name}`, grads[k]!])) } });
  // Basic optimization only: fusions (e.g. QuickGelu) may lack f64 kernels and would hide what is checked.
  const opts = { device: 'cpu', graphOptimization: 'basic' } as const;
  const session = await Session.create(model, opts, 'gradcheck');
  const lossOnly = await Session.create(toOnnx(g, { outputs: { loss } }), opts, 'gradcheck-loss');
  try {
    const analytic = await session.run(values);
    let worst = { input: '', index: -1, analytic: 0, numeric: 0 };
    let maxError = 0;
    let checked = 0;
    for (const t of wrt) {
      const name = t.name!;
      const base = values[name]!;
      const a = toFloat64(analytic[`grad.${name}`]!);
      const data = base.data as Float64Array | Float32Array;
      for (let k = 0; k < data.length; k++) {
        const orig = data[k]!;
        data[k] = orig + eps;
        const lp = toFloat64((await lossOnly.run(values))['loss']!)[0]!;
        data[k] = orig - eps;
        const lm = toFloat64((await lossOnly.run(values))['loss']!)[0]!;
        data[k] = orig;
        const numeric = (lp - lm) / (2 * eps);
        const err = Math.abs(a[k]! - numeric) / Math.max(1, Math.abs(numeric));
        checked++;
        if (err > maxError || Number.isNaN(err)) {
          maxError = Number.isNaN(err) ? Infinity : err;
          worst = { input: name, index: k, analytic: a[k]!, numeric };
        }
      }
    }
    return { maxError, worst, checked };
  } finally {
    await session.release();
    await lossOnly.release();
  }
}
