/**
 * The Conformer's Macaron feed-forward module (Gulati et al. 2020 §2.3; Llama 3 paper §7.1: two FFNs
 * of width 4096): LayerNorm → linear → swish → linear, each added with weight ½ by the block.
 * (The shared `mlp` block offers GELU and SwiGLU; the Conformer's plain swish FFN is these two linears.)
 * Legend: B batch, S encoder frames, D model dim, Fh FFN dim.
 */
import * as G from '@herd/graph';
import { type Params, type Tensor } from '@herd/graph';
import { type SpeechConfig } from '../config.js';
import { normConfig } from './params.js';

/** x [B, S, D] → [B, S, D] (the branch only). */
export function feedForward(cfg: SpeechConfig, p: Params, prefix: string, normName: string, x: Tensor): Tensor {
  const h = G.norm(p, normName, x, normConfig(cfg));
  const u = G.silu(G.linear(h, p(`${prefix}.linear1.weight`), p(`${prefix}.linear1.bias`))); // [B, S, Fh]
  return G.linear(u, p(`${prefix}.linear2.weight`), p(`${prefix}.linear2.bias`));
}
