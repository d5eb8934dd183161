/**
 * The temporal aggregator (§7.4): a perceiver resampler that merges each group of `k` consecutive
 * frames into one effective frame of L latent tokens. Learned latents cross-attend to the image
 * features of the group's frames (and to themselves, as Flamingo's resampler does), then a GELU FFN;
 * pre-LayerNorm residual layers; a final LayerNorm. A learned time embedding of the frame's place in
 * the clip is added to every token of that frame: without it the aggregator could not tell the order
 * of frames inside a group, and the video layers (whose keys carry no position) could not tell the
 * order of the effective frames — direction of motion is exactly that order. Padding tiles are
 * masked out of the keys.
 *
 * Built from the shared blocks (`G.multiHeadAttention`, `G.mlp`, `G.norm`).
 *
 * Legend: B clips, F frames, k frames per group, E = F/k effective frames, S image tokens per frame
 * (tiles × tokens per tile), L latents, D width (the core's), H heads.
 */
import * as G from '@herd/graph';
import { type AttentionConfig, type MlpConfig, type NormConfig, type ParamSpec, type Params, type Tensor } from '@herd/graph';
import { type ClipSampling, type ResamplerConfig } from '../config.js';

export const RESAMPLER_PREFIX = 'video.resampler';

const attnConfig = (r: ResamplerConfig, dim: number): AttentionConfig => ({ dim, nHeads: r.heads });
const ffnConfig = (r: ResamplerConfig, dim: number): MlpConfig => ({ kind: 'gelu', dim, hidden: r.ffnDim });
const lnConfig = (r: ResamplerConfig): NormConfig => ({ kind: 'layer', eps: r.normEps });

export function resamplerParamSpecs(r: ResamplerConfig, dim: number): ParamSpec[] {
  const pre = RESAMPLER_PREFIX;
  const specs: ParamSpec[] = [
    { name: `${pre}.latents`, shape: [r.latents, dim], init: 'normal' },
    { name: `${pre}.time_embedding`, shape: [r.maxFrames, dim], init: 'normal' },
  ];
  for (let l = 0; l < r.layers; l++) {
    const lp = `${pre}.layers.${l}`;
    specs.push(
      ...G.normParamSpecs(`${lp}.frames_norm`, dim, lnConfig(r)),
      ...G.normParamSpecs(`${lp}.latents_norm`, dim, lnConfig(r)),
      ...G.attentionParamSpecs(`${lp}.attn`, attnConfig(r, dim)),
      ...G.normParamSpecs(`${lp}.mlp_norm`, dim, lnConfig(r)),
      ...G.mlpParamSpecs(`${lp}.mlp`, ffnConfig(r, dim)),
    );
  }
  specs.push(...G.normParamSpecs(`${pre}.norm`, dim, lnConfig(r)));
  return specs;
}

/**
 * frames [B, F, S, D] (projected image features), frameMask [B, S] bool (true for tokens of real
 * tiles; every frame of a clip has the same tiling) → video tokens [B, E·L, D], effective frames in
 * order, each frame's L latents together.
 */
export function perceiverResampler(r: ResamplerConfig, clip: ClipSampling, p: Params, frames: Tensor, frameMask: Tensor): Tensor {
  const [B, F, S, D] = frames.shape as number[];
  const k = clip.groupFrames;
  const E = F! / k;
  const L = r.latents;
  const pre = RESAMPLER_PREFIX;
  // Time embedding of each frame's place in the clip, added to all its tokens.
  const time = G.reshape(G.slice(p(`${pre}.time_embedding`), 0, 0, F!), [1, F!, 1, D!]); // [1, F, 1, D]
  const x = G.reshape(G.add(frames, time), [B! * E, k * S!, D!]); // [B·E, k·S, D]: group e = frames ek..ek+k−1
  // Keys: the group's frame tokens (padding tiles masked) then the latents (always visible).
  const frameKeys = G.reshape(G.expand(G.reshape(G.cast(frameMask, 'f32'), [B!, 1, 1, S!]), [B!, E, k, S!]), [B! * E, 1, 1, k * S!]);
  const mask = G.logicalNot(G.less(G.pad(frameKeys, [[0, 0], [0, 0], [0, 0], [0, L]], 1), 0.5)); // [B·E, 1, 1, k·S + L]
  let lat = G.expand(G.reshape(p(`${pre}.latents`), [1, L, D!]), [B! * E, L, D!]); // [B·E, L, D]
  for (let l = 0; l < r.layers; l++) {
    const lp = `${pre}.layers.${l}`;
    const ln = G.norm(p, `${lp}.latents_norm`, lat, lnConfig(r));
    const kv = G.concat([G.norm(p, `${lp}.frames_norm`, x, lnConfig(r)), ln], 1); // [B·E, k·S + L, D]
    lat = G.add(lat, G.multiHeadAttention(p, `${lp}.attn`, ln, { ...attnConfig(r, D!), kv, mask }).out);
    lat = G.add(lat, G.mlp(p, `${lp}.mlp`, G.norm(p, `${lp}.mlp_norm`, lat, lnConfig(r)), ffnConfig(r, D!)));
  }
  return G.reshape(G.norm(p, `${pre}.norm`, lat, lnConfig(r)), [B!, E * L, D!]); // [B, E·L, D]
}
