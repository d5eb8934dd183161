import { HerdError } from '@herd/core';
import { type HostTensor } from '@herd/runtime';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';

/**
 * "Model soup" (§7.5.4: the final weights average the top-K fine-tuned models): the element-wise
 * mean of the same parameters across checkpoints. Only parameters are averaged (optimizer state is
 * dropped); names and shapes must agree.
 */
export function averageWeights(models: readonly Readonly<Record<string, HostTensor>>[], weights?: readonly number[]): Record<string, HostTensor> {
  if (models.length === 0) throw new HerdError('invalid_argument', 'averageWeights: no models');
  const w = weights ?? models.map(() => 1 / models.length);
  if (w.length !== models.length) throw new HerdError('invalid_argument', `averageWeights: ${w.length} weights for ${models.length} models`);
  const first = models[0]!;
  const out: Record<string, HostTensor> = {};
  for (const [name, t0] of Object.entries(first)) {
    if (t0.dtype !== 'f32' && t0.dtype !== 'f64') throw new HerdError('dtype_mismatch', `averageWeights: '${name}' is ${t0.dtype}; average f32/f64 weights`);
    const acc = new Float64Array(t0.data.length);
    models.forEach((m, k) => {
      const t = m[name];
      if (!t) throw new HerdError('checkpoint_mismatch', `averageWeights: model ${k} lacks '${name}'`);
      if (t.shape.join() !== t0.shape.join()) throw new HerdError('checkpoint_mismatch', `averageWeights: '${name}' is [${t.shape}] in model ${k} but [${t0.shape}] in model 0`);
      const d = t.data as Float32Array;
      for (let i = 0; i < acc.length; i++) acc[i]! += w[k]! * d[i]!;
    });
    out[name] = { dtype: t0.dtype, shape: t0.shape, data: t0.dtype === 'f32' ? Float32Array.from(acc) : acc };
  }
  for (const [k, m] of models.entries()) {
    const extra = Object.keys(m).filter((n) => !(n in first));
    if (extra.length) throw new HerdError('checkpoint_mismatch', `averageWeights: model ${k} has parameters model 0 lacks: ${extra.join(', ')}`);
  }
  return out;
}

/** Averages the parameters of checkpoint files and writes the soup as a new checkpoint. */
export async function soupCheckpoints(paths: readonly string[], out: string, paramNames: readonly string[]): Promise<void> {
  const models = paths.map((p) => {
    const { tensors } = loadCheckpoint(p);
    return Object.fromEntries(paramNames.map((n) => {
      const t = tensors[n];
      if (!t) throw new HerdError('checkpoint_mismatch', `${p}: no parameter '${n}'`);
      return [n, t];
    }));
  });
  await saveCheckpoint(out, averageWeights(models), { step: 0, dataPosition: 0, rngState: [], info: { soupOf: paths } });
}
