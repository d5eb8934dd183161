/**
 * The speech encoder (Llama 3 paper §7.1 Speech): 80-dim log-mel frames → stack 4 consecutive frames
 * and project linearly (40 ms frames) → N Conformer blocks. Variable lengths: `valid` marks real
 * encoder frames; attention never sees padded keys and the convolutions see zeros there.
 * Legend: B batch, T input frames (T = S·stack), F mel bins, S encoder frames, D model dim.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type Params, type Tensor } from '@herd/graph';
import { ropeFrequencies } from '@herd/llama3';
import { type SpeechConfig, headDim } from '../config.js';
import { conformerBlock } from './conformer-block.js';

/** Stride-`stack` frame stacking + linear: features [B, T, F] → [B, S, D]. */
export function stackFrames(cfg: SpeechConfig, p: Params, features: Tensor): Tensor {
  const [b, t, f] = features.shape;
  if (typeof t !== 'number' || t % cfg.stack !== 0 || f !== cfg.nMels) {
    throw new HerdError('shape_mismatch', `speech encoder: features ${features.describe()} must be [B, T, ${cfg.nMels}] with T a multiple of ${cfg.stack}; pad the batch to a multiple of ${cfg.stack} frames`);
  }
  const stacked = G.reshape(features, [b!, t / cfg.stack, cfg.stack * cfg.nMels]); // [B, S, stack·F]
  return G.linear(stacked, p('encoder.pre_encode.weight'), p('encoder.pre_encode.bias'));
}

/** features [B, T, F] and valid [B, S] (bool) → encoder states [B, S, D]. */
export function conformerEncoder(cfg: SpeechConfig, p: Params, features: Tensor, valid: Tensor): Tensor {
  let h = stackFrames(cfg, p, features);
  const s = h.shape[1];
  if (valid.dtype !== 'bool' || valid.rank !== 2 || valid.shape[1] !== s) throw new HerdError('shape_mismatch', `speech encoder: valid must be bool [B, ${s}], got ${valid.describe()}`);
  const g = features.graph;
  const positions = g.constant(Int32Array.from({ length: s as number }, (_, i) => i), 'i32', [1, s as number]);
  const { cos, sin } = G.ropeTables(positions, ropeFrequencies(headDim(cfg), cfg.ropeTheta));
  const keep = G.unsqueeze(G.cast(valid, h.dtype), -1); // [B, S, 1]
  const ctx = { cos, sin, mask: G.paddingMask(valid), keep };
  for (let i = 0; i < cfg.nLayers; i++) h = conformerBlock(cfg, p, i, h, ctx);
  return h;
}
