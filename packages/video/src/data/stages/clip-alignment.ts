/**
 * Video–text alignment (Llama 3 paper §7.1.2: "we apply a minimum threshold on aligning scores
 * using video-text alignment models", after a single-frame image–text pass; SPEC "Data curation"),
 * in two stages that share the decoded frames and the caption embedding:
 *   1. `clipFrameScore`: the middle sampled frame against the caption — one image embedding, cheap,
 *      removes the clearly mismatched pairs first;
 *   2. `clipVideoScore`: `k` frames spread over the clip, embedded and aggregated into one clip
 *      embedding (the mean of the unit frame embeddings, re-normalised — CLIP4Clip's "meanP"), against
 *      the caption. A caption about what happens later in the clip can match the clip and not its
 *      middle frame.
 * Both scores are cosines in [−1, 1]: `meta.curation.clip_frame = {score}`,
 * `meta.curation.clip_video = {score, frames}`.
 *
 * Legend: k frames, E embedding width.
 */
import { HerdError } from '@herd/core';
import { drop, keep, type Sample, type SampleStage, captionOf, withScores } from '@herd/data';
import { clipErrorReason, clipFrames, frameAt, spreadIndices, type ClipFrameOptions } from './frames.js';
import type { VideoTextEmbedder } from './clip-embedder.js';

export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new HerdError('shape_mismatch', `cosine: embeddings of width ${a.length} and ${b.length}`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(Math.max(aa * bb, 1e-24));
}

/** The clip embedding: mean of k unit frame embeddings [k, E] → [E], re-normalised to unit length. */
export function aggregateClip(frames: readonly Float32Array[]): Float32Array {
  if (frames.length === 0) throw new HerdError('invalid_argument', 'aggregateClip: no frame embeddings');
  const out = new Float32Array(frames[0]!.length);
  for (const f of frames) for (let i = 0; i < out.length; i++) out[i]! += f[i]! / frames.length;
  let n = 0;
  for (const v of out) n += v * v;
  n = Math.sqrt(Math.max(n, 1e-24));
  for (let i = 0; i < out.length; i++) out[i]! /= n;
  return out;
}

export interface ClipAlignmentOptions {
  name?: string;
  embedder: VideoTextEmbedder;
  /** Drop below this cosine; omit to only record the score. */
  threshold?: number;
  frames?: ClipFrameOptions;
  /** Caption file extension (default `txt`). */
  ext?: string;
}

export interface ClipVideoOptions extends ClipAlignmentOptions {
  /** Frames aggregated into the clip embedding, spread over the sampled ones (default 8). */
  framesToEmbed?: number;
}

export interface ClipStage extends SampleStage {
  /** Releases the embedder's sessions. */
  close(): Promise<void>;
}

type Scored = { score: number; frames: number } | { reason: string };

function alignmentStage(name: string, code: string, o: ClipAlignmentOptions, k: number | null, score: (sample: Sample, text: string) => Promise<Scored>): ClipStage {
  if (typeof o.embedder?.embedFrames !== 'function' || typeof o.embedder?.embedText !== 'function') {
    throw new HerdError('invalid_argument', `${name}: embedder must have embedFrames(frames) and embedText(text)`);
  }
  const ext = o.ext ?? 'txt';
  const frames = o.frames ?? {};
  return {
    kind: 'sample',
    name,
    version: JSON.stringify([o.embedder.id, o.threshold ?? null, k, frames.count ?? null, frames.maxSide ?? null, ext]),
    async process(sample) {
      const caption = captionOf(sample, ext);
      if ('reason' in caption) return drop(caption.reason);
      const r = await score(sample, caption.text);
      if ('reason' in r) return drop(r.reason);
      if (!Number.isFinite(r.score)) return drop(`clip_score_failed: the model gave ${r.score}`);
      if (o.threshold !== undefined && r.score < o.threshold) return drop(`${code}: ${r.score.toFixed(4)} < ${o.threshold}`);
      return keep(withScores(sample, name, { score: Number(r.score.toFixed(6)), ...(k === null ? {} : { frames: r.frames }) }));
    },
    close: async () => {
      await o.embedder.close?.();
    },
  };
}

async function embedChosen(o: ClipAlignmentOptions, sample: Sample, text: string, pick: (n: number) => number[]): Promise<{ frames: Float32Array[]; text: Float32Array } | { reason: string }> {
  let f;
  try {
    f = await clipFrames(sample, o.frames ?? {});
  } catch (e) {
    return { reason: clipErrorReason(e) };
  }
  let t: Float32Array;
  try {
    t = await o.embedder.embedText(text);
  } catch (e) {
    if (e instanceof HerdError && e.code === 'invalid_argument') return { reason: `clip_caption_unusable: ${e.message}` };
    throw e;
  }
  return { frames: await o.embedder.embedFrames(pick(f.count).map((i) => frameAt(f, i))), text: t };
}

/** Single-frame image–text similarity: the middle sampled frame against the caption. */
export function clipFrameScore(options: ClipAlignmentOptions): ClipStage {
  return alignmentStage(options.name ?? 'clip_frame', 'low_frame_text_score', options, null, async (sample, text) => {
    const e = await embedChosen(options, sample, text, (n) => [Math.floor(n / 2)]);
    if ('reason' in e) return e;
    return { score: cosine(e.frames[0]!, e.text), frames: 1 };
  });
}

/** Video–text similarity: the aggregated clip embedding of `framesToEmbed` frames against the caption. */
export function clipVideoScore(options: ClipVideoOptions): ClipStage {
  const k = options.framesToEmbed ?? 8;
  if (!Number.isInteger(k) || k < 1) throw new HerdError('invalid_argument', `clipVideoScore: framesToEmbed must be a positive integer, got ${options.framesToEmbed}`);
  return alignmentStage(options.name ?? 'clip_video', 'low_video_text_score', options, k, async (sample, text) => {
    const e = await embedChosen(options, sample, text, (n) => spreadIndices(n, k));
    if ('reason' in e) return e;
    return { score: cosine(aggregateClip(e.frames), e.text), frames: e.frames.length };
  });
}
