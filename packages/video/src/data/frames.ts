/**
 * Frames → tensors (§7.4: "up to 64 frames sampled uniformly from the whole clip, each processed by
 * the image encoder"). Frames are decoded by `@herd/media` (`sampleFrames`: one ffmpeg call, raw RGB
 * over a pipe, a timeout, no process left behind) at the centres of N equal segments of the clip,
 * then each frame is tiled exactly as the image path tiles an image (`tileImage`). A file with no
 * video stream, zero duration, an unsupported codec or a truncated body fails with media's
 * `HerdError` naming the file.
 *
 * Legend: F frames, N tile slots, T tile side.
 */
import { HerdError } from '@herd/core';
import { type MediaCallOptions, sampleFrames } from '@herd/media';
import { type MllamaConfig, type TiledImage, packImages, tileImage } from '@herd/vision';
import { MAX_FRAMES } from '../config.js';

/** A clip's sampled frames, each tiled as an image. */
export interface TiledClip {
  readonly frames: readonly TiledImage[];
  /** Index in the clip of each sampled frame. */
  readonly frameIndices: readonly number[];
  readonly width: number;
  readonly height: number;
  readonly durationS: number;
}

export async function readClipFrames(path: string, m: MllamaConfig, frames: number, o: MediaCallOptions = {}): Promise<TiledClip> {
  if (!Number.isInteger(frames) || frames < 1 || frames > MAX_FRAMES) throw new HerdError('invalid_argument', `${path}: frames must be an integer in 1..${MAX_FRAMES} (the paper samples at most 64), got ${frames}`);
  const v = await sampleFrames(path, { ...o, count: frames });
  const size = v.width * v.height * 3;
  const tiled = Array.from({ length: frames }, (_, i) => tileImage({ data: v.data.subarray(i * size, (i + 1) * size), width: v.width, height: v.height }, m.vision));
  return { frames: tiled, frameIndices: v.frameIndices, width: v.width, height: v.height, durationS: v.info.durationS };
}

/** A clip's frames as the frame graph's feeds: pixels [F, N, 3, T, T], ids [F], tile mask [F, N]. */
export function packClip(clip: TiledClip, m: MllamaConfig) {
  return packImages(clip.frames, m.vision.maxTiles, m.vision.tileSize);
}
