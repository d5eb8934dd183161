/**
 * Clip heuristics, the video half of the quality filter (Llama 3 paper §7.1.2 applies image-style
 * filtering to videos; SPEC "Data curation"): the clip must decode (a truncated file, one without a
 * video stream, with zero duration or an unknown codec is dropped with the media layer's reason),
 * last long enough, be large enough, and show something (a blank clip — every sampled frame one flat
 * colour, judged per colour channel — is dropped). The first stage to touch the media: it decodes the frames every later stage
 * shares. Scores: `meta.curation.video_quality = {durationS, fps, width, height, frames, std}`.
 */
import type { OptionRules } from '@herd/core';
import { drop, keep, type SampleStage, withScores } from '@herd/data';
import { CLIP_FRAME_RULES, clipErrorReason, clipFrames, frameAt, type ClipFrameOptions } from './frames.js';

export interface VideoQualityOptions {
  name?: string;
  /** Frame decoding shared with the later stages (same options → one decode). */
  frames?: ClipFrameOptions;
  /** Shortest clip kept, seconds (default 0.5). */
  minDurationS?: number;
  /** Longest clip kept, seconds (default 600). */
  maxDurationS?: number;
  /** Smallest shorter side kept, display pixels (default 16). */
  minSide?: number;
  /** Largest long/short side ratio (default 4). */
  maxAspect?: number;
  /** A clip whose every sampled frame has every colour channel's standard deviation below this is blank (default 3). */
  minStd?: number;
}

/** What a config file may set (`checkOptions`). */
export const VIDEO_QUALITY_RULES = { name: 'string', frames: { options: CLIP_FRAME_RULES }, minDurationS: 'number', maxDurationS: 'number', minSide: 'int', maxAspect: 'number', minStd: 'number' } satisfies OptionRules<VideoQualityOptions>;

/**
 * The largest of the R, G, B standard deviations of a frame (on up to ~16k pixels). Not the grey
 * level's: a yellow shape on a light-blue background has almost the background's luminance, and
 * would pass for blank in grey.
 */
export function colourStd(frame: { data: Uint8Array; width: number; height: number }): number {
  const n = frame.width * frame.height;
  const step = Math.max(1, Math.floor(n / 16384));
  let best = 0;
  for (let c = 0; c < 3; c++) {
    let s = 0;
    let s2 = 0;
    let m = 0;
    for (let i = 0; i < n; i += step) {
      const v = frame.data[3 * i + c]!;
      s += v;
      s2 += v * v;
      m++;
    }
    const mean = s / m;
    best = Math.max(best, Math.sqrt(Math.max(0, s2 / m - mean * mean)));
  }
  return best;
}

export function videoQuality(options: VideoQualityOptions = {}): SampleStage {
  const o = {
    minDurationS: options.minDurationS ?? 0.5,
    maxDurationS: options.maxDurationS ?? 600,
    minSide: options.minSide ?? 16,
    maxAspect: options.maxAspect ?? 4,
    minStd: options.minStd ?? 3,
  };
  const name = options.name ?? 'video_quality';
  const frames = options.frames ?? {};
  return {
    kind: 'sample',
    name,
    version: JSON.stringify([o, frames.count ?? null, frames.maxSide ?? null]),
    async process(sample) {
      let f;
      try {
        f = await clipFrames(sample, frames);
      } catch (e) {
        return drop(clipErrorReason(e));
      }
      const { info } = f;
      const short = Math.min(info.width, info.height);
      const aspect = Math.max(info.width, info.height) / short;
      if (info.durationS < o.minDurationS) return drop(`clip_too_short: ${info.durationS.toFixed(2)} s < ${o.minDurationS} s`);
      if (info.durationS > o.maxDurationS) return drop(`clip_too_long: ${info.durationS.toFixed(1)} s > ${o.maxDurationS} s`);
      if (short < o.minSide) return drop(`clip_too_small: ${info.width}×${info.height}, shorter side ${short} < ${o.minSide}`);
      if (aspect > o.maxAspect) return drop(`extreme_aspect: ${aspect.toFixed(2)} > ${o.maxAspect} (${info.width}×${info.height})`);
      let std = 0;
      for (let i = 0; i < f.count; i++) std = Math.max(std, colourStd(frameAt(f, i)));
      if (std < o.minStd) return drop(`blank_clip: colour std ${std.toFixed(2)} < ${o.minStd} in all ${f.count} sampled frames`);
      return keep(
        withScores(sample, name, {
          durationS: Number(info.durationS.toFixed(3)),
          fps: Number(info.fps.toFixed(3)),
          width: info.width,
          height: info.height,
          frames: info.frames ?? null,
          codec: info.codec,
          std: Number(std.toFixed(2)),
        }),
      );
    },
  };
}
