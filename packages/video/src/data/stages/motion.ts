/**
 * Motion filter (Llama 3 paper §7.1.2: "we also filter out videos with low motion scores"; SPEC
 * "Data curation"): the N uniformly sampled frames are averaged down to a small grey thumbnail (the
 * longer side `side` cells, block means, which also wash out compression noise), and the score is
 * the mean absolute difference between consecutive thumbnails, per cell and divided by 255 — so it
 * does not depend on the frame size and lies in [0, 1]. A cell's change counts only above a noise
 * floor (|Δ| − floor, at least 0: sensor noise and re-encoding flicker of a still shot stay at 0).
 * Static and near-static clips score (almost) zero and are dropped below `minScore`. Scores:
 * `meta.curation.motion = {score, max, pairs}`.
 *
 * Shape legend: N frames, H×W frame, h×w thumbnail (max(h, w) = side).
 */
import type { OptionRules } from '@herd/core';
import { drop, keep, type SampleStage, withScores } from '@herd/data';
import type { VideoFrames } from '@herd/media';
import { CLIP_FRAME_RULES, clipErrorReason, clipFrames, type ClipFrameOptions } from './frames.js';

export interface MotionOptions {
  name?: string;
  frames?: ClipFrameOptions;
  /** Drop clips whose mean consecutive-frame difference is below this (default 3e-4 ≈ 0.08 grey levels per cell; exactly static clips score 0). */
  minScore?: number;
  /** Longer side of the thumbnail the difference is taken on (default 32). */
  side?: number;
  /** Grey levels of change per thumbnail cell that count as no change (default 2). */
  noiseFloor?: number;
}

/** What a config file may set (`checkOptions`). */
export const MOTION_RULES = { name: 'string', frames: { options: CLIP_FRAME_RULES }, minScore: 'number', side: 'int', noiseFloor: 'number' } satisfies OptionRules<MotionOptions>;

/** Grey thumbnails [N, h, w] in 0..255 by block means (each cell averages the pixels whose centres fall in it). */
export function greyThumbnails(frames: VideoFrames, side: number): { data: Float32Array; w: number; h: number } {
  const { width: W, height: H, count: N } = frames;
  const scale = Math.min(1, side / Math.max(W, H));
  const w = Math.max(1, Math.round(W * scale));
  const h = Math.max(1, Math.round(H * scale));
  const sums = new Float32Array(N * h * w);
  const counts = new Float32Array(h * w);
  const cellX = Int32Array.from({ length: W }, (_, x) => Math.min(w - 1, Math.floor(((x + 0.5) * w) / W)));
  const cellY = Int32Array.from({ length: H }, (_, y) => Math.min(h - 1, Math.floor(((y + 0.5) * h) / H)));
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) counts[cellY[y]! * w + cellX[x]!]! += 1;
  const src = frames.data;
  for (let n = 0; n < N; n++) {
    const base = n * H * W * 3;
    const out = n * h * w;
    for (let y = 0; y < H; y++) {
      const row = out + cellY[y]! * w;
      for (let x = 0; x < W; x++) {
        const i = base + (y * W + x) * 3;
        sums[row + cellX[x]!]! += 0.299 * src[i]! + 0.587 * src[i + 1]! + 0.114 * src[i + 2]!;
      }
    }
    for (let c = 0; c < h * w; c++) sums[out + c]! /= counts[c]!;
  }
  return { data: sums, w, h };
}

/** Mean max(0, |Δ| − floor) between consecutive thumbnails per cell / 255: the mean over the N−1 pairs, and the largest pair. */
export function motionScore(frames: VideoFrames, side = 32, noiseFloor = 2): { score: number; max: number; pairs: number } {
  const { data, w, h } = greyThumbnails(frames, side);
  const cells = w * h;
  const pairs = frames.count - 1;
  let total = 0;
  let max = 0;
  for (let n = 1; n <= pairs; n++) {
    let d = 0;
    for (let c = 0; c < cells; c++) d += Math.max(0, Math.abs(data[n * cells + c]! - data[(n - 1) * cells + c]!) - noiseFloor);
    d /= cells * 255;
    total += d;
    max = Math.max(max, d);
  }
  return { score: pairs > 0 ? total / pairs : 0, max, pairs };
}

export function motion(options: MotionOptions = {}): SampleStage {
  const minScore = options.minScore ?? 3e-4;
  const side = options.side ?? 32;
  const noiseFloor = options.noiseFloor ?? 2;
  const frames = options.frames ?? {};
  const name = options.name ?? 'motion';
  return {
    kind: 'sample',
    name,
    version: JSON.stringify([minScore, side, noiseFloor, frames.count ?? null, frames.maxSide ?? null]),
    async process(sample) {
      let f;
      try {
        f = await clipFrames(sample, frames);
      } catch (e) {
        return drop(clipErrorReason(e));
      }
      const m = motionScore(f, side, noiseFloor);
      if (m.score < minScore) return drop(`static_clip: motion ${m.score.toExponential(2)} < ${minScore} (largest step ${m.max.toExponential(2)})`);
      return keep(withScores(sample, name, { score: Number(m.score.toPrecision(4)), max: Number(m.max.toPrecision(4)), pairs: m.pairs }));
    },
  };
}
