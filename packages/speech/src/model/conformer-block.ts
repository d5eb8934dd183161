/**
 * One Conformer block (Gulati et al. 2020 §2, Eq. 1): the Macaron sandwich
 *   x̃ = x + ½ FFN(x);  x′ = x̃ + MHSA(x̃);  x″ = x′ + Conv(x′);  y = LayerNorm(x″ + ½ FFN(x″)).
 * Legend: B batch, S encoder frames, D model dim.
 */
import * as G from '@herd/graph';
import { type Params, type Tensor } from '@herd/graph';
import { type SpeechConfig } from '../config.js';
import { convolutionModule } from './convolution.js';
import { feedForward } from './feed-forward.js';
import { normConfig } from './params.js';
import { type AttentionContext, rotarySelfAttention } from './rotary-attention.js';

export interface BlockContext extends AttentionContext {
  /** [B, S, 1] float: 1 on real frames, 0 on padding. */
  readonly keep: Tensor;
}

export function conformerBlock(cfg: SpeechConfig, p: Params, i: number, x: Tensor, ctx: BlockContext): Tensor {
  const pre = `encoder.layers.${i}`;
  let h = G.add(x, G.mul(feedForward(cfg, p, `${pre}.feed_forward1`, `${pre}.norm_feed_forward1`, x), 0.5));
  const normed = G.norm(p, `${pre}.norm_self_att`, h, normConfig(cfg));
  h = G.add(h, rotarySelfAttention(cfg, p, `${pre}.self_attn`, normed, ctx));
  h = G.add(h, convolutionModule(cfg, p, `${pre}.conv`, `${pre}.norm_conv`, h, ctx.keep));
  h = G.add(h, G.mul(feedForward(cfg, p, `${pre}.feed_forward2`, `${pre}.norm_feed_forward2`, h), 0.5));
  return G.norm(p, `${pre}.norm_out`, h, normConfig(cfg));
}
