import { HerdError } from '@herd/core';
import { isFloat } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';
import { add, cast } from '../ops.js';
import { NON_DIFFERENTIABLE, VJP } from './vjp.js';

/**
 * Reverse-mode autodiff: gradients of a scalar `loss` with respect to `wrt`. Only the part of the
 * graph between `wrt` and `loss` is differentiated, so frozen weights cost nothing. A tensor in
 * `wrt` that the loss does not depend on gets a zero gradient.
 */
export function grad(loss: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] {
  if (loss.rank !== 0 && !seed) throw new HerdError('shape_mismatch', `grad: loss must be a scalar, got ${loss.describe()} (pass a seed cotangent otherwise)`);
  const g = loss.graph;
  const wrtIds = new Set(wrt.map((t) => t.id));

  // Forward sweep: which tensors depend on a `wrt` tensor through differentiable ops.
  const needs = new Uint8Array(g.tensors.length);
  for (const t of g.tensors) {
    if (t.id > loss.id) break;
    if (wrtIds.has(t.id)) needs[t.id] = 1;
    else if (!NON_DIFFERENTIABLE.has(t.op) && isFloat(t.dtype) && t.inputs.some((i) => needs[i.id])) needs[t.id] = 1;
  }

  const cot = new Map<number, Tensor>();
  cot.set(loss.id, seed ?? g.scalar(1, loss.dtype));
  // Backward sweep in reverse creation order (a reverse topological order). Nodes created by the
  // VJPs get larger ids, so the sweep never visits them.
  for (let id = loss.id; id >= 0; id--) {
    const y = g.tensors[id]!;
    const gy = cot.get(id);
    if (!gy || !needs[id] || y.inputs.length === 0) continue;
    const rule = VJP[y.op];
    if (!rule) throw new HerdError('unsupported_op', `grad: no VJP for op '${y.op}' (${y.describe()})`);
    const gin = rule(y, gy);
    y.inputs.forEach((x, i) => {
      const gx = gin[i];
      if (!gx || !needs[x.id]) return;
      const gxc = gx.dtype === x.dtype ? gx : cast(gx, x.dtype);
      const prev = cot.get(x.id);
      cot.set(x.id, prev ? add(prev, gxc) : gxc);
    });
    if (!wrtIds.has(id)) cot.delete(id);
  }
  return wrt.map((t) => cot.get(t.id) ?? g.fill(0, t.dtype, t.shape as number[]));
}
