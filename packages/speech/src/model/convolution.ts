/**
 * The Conformer convolution module (Gulati et al. 2020 §2.2, Fig. 2; Llama 3 paper §7.1: kernel 7):
 * LayerNorm → pointwise conv to 2D → GLU → depthwise conv (kernel K, same length) → norm → swish →
 * pointwise conv. Padded frames are zeroed before the depthwise convolution so that a short
 * utterance's last frames see zeros, as they would unbatched, not another utterance's padding values.
 * Legend: B batch, S encoder frames, D model dim, K kernel.
 */
import * as G from '@herd/graph';
import { type Params, type Tensor } from '@herd/graph';
import { type SpeechConfig } from '../config.js';
import { normConfig } from './params.js';

/** x [B, S, D] (un-normed); `keep` [B, S, 1] is 1 on real frames, 0 on padding. */
export function convolutionModule(cfg: SpeechConfig, p: Params, prefix: string, normName: string, x: Tensor, keep: Tensor): Tensor {
  const d = cfg.dim;
  const h = G.norm(p, normName, x, normConfig(cfg));
  const u = G.linear(h, p(`${prefix}.pointwise_conv1.weight`), p(`${prefix}.pointwise_conv1.bias`)); // [B, S, 2D]
  const glu = G.mul(G.slice(u, -1, 0, d), G.sigmoid(G.slice(u, -1, d, 2 * d))); // [B, S, D]
  const masked = G.mul(glu, keep);
  const k = cfg.convKernel;
  const chans = G.transpose(masked, [0, 2, 1]); // [B, D, S]
  const dw = G.conv(chans, p(`${prefix}.depthwise_conv.weight`), { group: d, pads: [(k - 1) / 2] }); // [B, D, S]
  const y = G.add(G.transpose(dw, [0, 2, 1]), p(`${prefix}.depthwise_conv.bias`)); // [B, S, D]
  const n = G.silu(G.norm(p, `${prefix}.norm`, y, normConfig(cfg)));
  return G.linear(n, p(`${prefix}.pointwise_conv2.weight`), p(`${prefix}.pointwise_conv2.bias`));
}
