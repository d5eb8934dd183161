/**
 * Rotary position embeddings in the Hugging Face layout (rotate-half: the two halves of each head
 * are the real and imaginary parts), which is how HF Llama checkpoints store q/k weights.
 * Angles are computed in the graph from integer positions, so no [maxSeqLen, D] table is stored.
 * The inverse frequencies are the model's (Llama 3's scaled ones come from @herd/llama3's config).
 */
import { type Tensor } from '../ir/tensor.js';
import * as G from '../ops.js';

/** cos and sin [B, 1, T, Dh] for positions [B, T] and inverse frequencies [Dh/2]. */
export function ropeTables(positions: Tensor, invFreq: Float32Array): { cos: Tensor; sin: Tensor } {
  const g = positions.graph;
  const half = invFreq.length;
  const freq = g.constant(Float32Array.from([...invFreq, ...invFreq]), 'f32', [2 * half]); // [Dh]
  const pos = G.unsqueeze(G.cast(positions, 'f32'), -1); // [B, T, 1]
  const angles = G.unsqueeze(G.mul(pos, freq), 1); // [B, 1, T, Dh]
  return { cos: G.cos(angles), sin: G.sin(angles) };
}

/** x·cos + rotate_half(x)·sin, with rotate_half(x) = [−x₂, x₁]; x [B, H, T, Dh]. */
export function applyRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const dh = x.dim(-1);
  const x1 = G.slice(x, -1, 0, dh / 2);
  const x2 = G.slice(x, -1, dh / 2, dh);
  const rotated = G.concat([G.neg(x2), x1], -1);
  const c = x.dtype === cos.dtype ? cos : G.cast(cos, x.dtype);
  const s = x.dtype === sin.dtype ? sin : G.cast(sin, x.dtype);
  return G.add(G.mul(x, c), G.mul(rotated, s));
}
