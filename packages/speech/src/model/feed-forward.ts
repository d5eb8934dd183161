/**
 * The Conformer's Macaron feed-forward module (Gulati et al. 2020 §2.3; Llama 3 paper §7.1: two FFNs
 * of width 4096): LayerNorm → linear → swish → linear, each added with weight ½ by the block.
 * The shared `mlp` block, kind 'silu', with NeMo's names (linear1/linear2).
 * Legend: B batch, S encoder frames, D model dim, Fh FFN dim.
 */
import * as G from '@herd/graph';
import { type Params, type Tensor } from '@herd/graph';
import { type SpeechConfig } from '../config.js';
import { ffnConfig, normConfig } from './params.js';

/** x [B, S, D] → [B, S, D] (the branch only). */
export function feedForward(cfg: SpeechConfig, p: Params, prefix: string, normName: string, x: Tensor): Tensor {
  const h = G.norm(p, normName, x, normConfig(cfg));
  return G.mlp(p, prefix, h, ffnConfig(cfg)); // linear1 [B, S, Fh] → swish → linear2
}
