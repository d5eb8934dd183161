/**
 * The committed mini CLIP (`@herd/vision` `MiniClip`, `packages/vision/weights/mini-clip`) as the
 * video–text alignment model of the two CLIP stages, named by a cloneable config
 * (`clipModel: { dir?, frameThreshold?, videoThreshold?, framesToEmbed? }`) so worker threads and
 * queue workers build it themselves. The default thresholds were chosen on a validation split of
 * generated clips (`bench/src/video-curate-quality.ts`) for one checkpoint; another checkpoint gets
 * no default (its scores are recorded, nothing is dropped, and the report says so).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, type OptionRules } from '@herd/core';
import { MINI_CLIP_DIR, MINI_STORE_FILES, MiniClip, checkpointId } from '@herd/vision';
import { pairedClipEmbedder, type VideoTextEmbedder } from './clip-embedder.js';

export interface ClipModelConfig {
  /** Mini CLIP checkpoint folder (default: the committed packages/vision/weights/mini-clip). */
  dir?: string;
  /** Drop below this middle-frame cosine; default: the one chosen for the checkpoint (below); null = record only. */
  frameThreshold?: number | null;
  /** Drop below this aggregated clip cosine; default as above; null = record only. */
  videoThreshold?: number | null;
  /** Frames aggregated into the clip embedding (default 8). */
  framesToEmbed?: number;
}

/** What a config file may set (`checkOptions`). */
export const CLIP_MODEL_RULES = { dir: 'string', frameThreshold: ['number', null], videoThreshold: ['number', null], framesToEmbed: 'int' } satisfies OptionRules<ClipModelConfig>;

/**
 * Thresholds chosen on the validation split of `bench/src/video-curate-quality.ts --clip` (each the
 * highest cosine that loses at most 2.5 % of the validation set's good clips at its stage), for the
 * checkpoint whose weights digest is `checkpoint`. Scored on a separate split: see CURATION.md.
 */
export const MINI_CLIP_VIDEO_THRESHOLDS = {
  // `node bench/dist/video-curate-quality.js --count 300 --no-ocr --clip --clip-count 200`:
  // validation seed 1007 (140 good, 60 mismatched), bench/recorded/video-curate-quality-clip-2core.json.
  checkpoint: '9730a3dd8478ae78',
  frame: 0.117107,
  video: 0.571913,
} as const;

/** Throws a HerdError naming what is missing when `dir` is not a mini CLIP checkpoint. */
export function checkClipCheckpoint(dir: string = MINI_CLIP_DIR): void {
  const missing = [MINI_STORE_FILES.config, MINI_STORE_FILES.weights].filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    throw new HerdError(
      'io_error',
      `video curate: the CLIP alignment stages need a mini CLIP checkpoint at ${dir}, but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing. ` +
        `Point clipModel.dir (--clip-dir) at a folder written by 'node bench/dist/curate-train-clip.js', or run without the CLIP stages (no --clip / clipModel: false).`,
    );
  }
}

export interface ResolvedClipModel {
  dir: string;
  /** `mini-clip:<weights digest>`: names the model in the run fingerprint. */
  id: string;
  frameThreshold?: number;
  videoThreshold?: number;
  framesToEmbed?: number;
  /** Why a default threshold was not applied, for the report. */
  note?: string;
}

/** The checkpoint and thresholds a `ClipModelConfig` means, without loading the model (cheap: the main thread of a worker run calls it too). */
export function resolveClipModel(config: ClipModelConfig): ResolvedClipModel {
  const dir = config.dir ?? MINI_CLIP_DIR;
  checkClipCheckpoint(dir);
  const digest = checkpointId(dir);
  const known = digest === MINI_CLIP_VIDEO_THRESHOLDS.checkpoint;
  const pick = (given: number | null | undefined, chosen: number): number | undefined => (given === undefined ? (known ? chosen : undefined) : (given ?? undefined));
  const frameThreshold = pick(config.frameThreshold, MINI_CLIP_VIDEO_THRESHOLDS.frame);
  const videoThreshold = pick(config.videoThreshold, MINI_CLIP_VIDEO_THRESHOLDS.video);
  const defaulted = config.frameThreshold === undefined || config.videoThreshold === undefined;
  return {
    dir,
    id: `mini-clip:${digest}`,
    ...(frameThreshold !== undefined ? { frameThreshold } : {}),
    ...(videoThreshold !== undefined ? { videoThreshold } : {}),
    ...(config.framesToEmbed !== undefined ? { framesToEmbed: config.framesToEmbed } : {}),
    ...(!known && defaulted
      ? { note: `clip: checkpoint ${dir} (weights ${digest}) has no thresholds chosen for video; its scores were recorded but not used to drop — choose thresholds (bench/src/video-curate-quality.ts --clip) and pass clipModel.frameThreshold / videoThreshold` }
      : {}),
  };
}

/** The mini CLIP as the stages' embedder (one session, shared by both stages). */
export function miniClipEmbedder(m: ResolvedClipModel): VideoTextEmbedder {
  return pairedClipEmbedder(MiniClip.load(m.dir), m.id);
}
