/**
 * Collapse measurement of the temporal aggregator: how much its output (the video tokens the video
 * cross-attention reads) differs between clips. An aggregator that ignores its frames gives the same
 * tokens for every clip (pairwise cosine 1, relative difference ~0) — what the first mini checkpoint
 * did (cosine 1.0000) — and then the video layers can only learn answer priors.
 *
 * Legend: V video tokens, D core width.
 */
import { HerdError } from '@herd/core';
import { Session, type SessionOptions } from '@herd/runtime';
import { type VisionWeights } from '@herd/vision';
import { type ClipSampling } from '../config.js';
import { type ClipFeatures, videoTokensFeeds } from '../data/features.js';
import { type VideoModelConfig, buildVideoTokensGraph } from '../model/graphs.js';

export interface TokenSpread {
  /** Clips compared (every pair of them). */
  readonly clips: number;
  /** Cosine of two clips' flattened [V·D] tokens: mean, min and max over the pairs. */
  readonly cosine: { readonly mean: number; readonly min: number; readonly max: number };
  /** Mean over the pairs of ‖a − b‖ / ((‖a‖ + ‖b‖) / 2). */
  readonly relativeDifference: number;
}

/** Pairwise spread of the aggregator's tokens over `clips` (≥ 2). */
export async function videoTokenSpread(m: VideoModelConfig, clip: ClipSampling, video: VisionWeights, clips: readonly ClipFeatures[], options: SessionOptions = {}): Promise<TokenSpread> {
  if (clips.length < 2) throw new HerdError('invalid_argument', `videoTokenSpread: needs at least 2 clips to compare, got ${clips.length}`);
  const session = await Session.create(buildVideoTokensGraph(m, clip, video), options, 'video_tokens');
  const tokens: Float32Array[] = [];
  try {
    for (const x of clips) {
      tokens.push(Float32Array.from((await session.run(videoTokensFeeds(m, x, clip.frames)))['video.tokens']!.data as Float32Array));
    }
  } finally {
    await session.release();
  }
  const norm = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
  const norms = tokens.map(norm);
  let sum = 0, min = Infinity, max = -Infinity, rel = 0, pairs = 0;
  for (let i = 0; i < tokens.length; i++) {
    for (let j = i + 1; j < tokens.length; j++) {
      const a = tokens[i]!, b = tokens[j]!;
      let dot = 0, d2 = 0;
      for (let k = 0; k < a.length; k++) {
        dot += a[k]! * b[k]!;
        d2 += (a[k]! - b[k]!) ** 2;
      }
      const c = dot / Math.max(1e-30, norms[i]! * norms[j]!);
      sum += c;
      min = Math.min(min, c);
      max = Math.max(max, c);
      rel += Math.sqrt(d2) / Math.max(1e-30, (norms[i]! + norms[j]!) / 2);
      pairs++;
    }
  }
  return { clips: clips.length, cosine: { mean: sum / pairs, min, max }, relativeDifference: rel / pairs };
}
