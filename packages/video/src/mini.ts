/**
 * The built-in mini video checkpoint: the trained `video` group (aggregator + video cross-attention)
 * of the mini herd, f16, with its config, eval report and model card. It sits on top of its own
 * image model (config `image.dir`: packages/video/weights/mini-image, round 20's image checkpoint kept
 * for it) and the mini core. The image
 * checkpoint it was trained on is recorded by sha256: the video layers learnt from that encoder's
 * features, so another image checkpoint loads (same shapes) but is reported as a mismatch. Also
 * recorded: a digest of only the tensors a clip's frame features come from (encoder + projector), so
 * an aggregator can be carried onto an image checkpoint whose cross-attention adapter was re-fitted
 * (a new core) while its encoder and projector stayed frozen.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, SafetensorsFile } from '@herd/core';
import { type LanguageCore, adapterCheckpointFiles, filesSha256, loadLanguageCore, openAdapterCheckpoint, readCheckpointTensors, writeAdapterCheckpoint } from '@herd/llama3';
import { type HostTensor } from '@herd/runtime';
import { MINI_VISION_FILES, type MiniVision, type VisionWeights, loadMiniVision } from '@herd/vision';
import { type VideoConfig, parseVideoConfig } from './config.js';
import { type VideoModelConfig, checkFrameImage, videoParamSpecs } from './model/graphs.js';

/** packages/video/weights/mini (the same from src/ and dist/). */
export const MINI_VIDEO_DIR = fileURLToPath(new URL('../weights/mini', import.meta.url));

/**
 * packages/video/weights/mini-image: the video model's own image checkpoint (the committed video config's `image.dir`),
 * the default image checkpoint of every video command. Not packages/vision/weights/mini: that one has place embeddings
 * since round 27, which the video line does not feed to frames (`checkFrameImage`).
 */
export const MINI_VIDEO_IMAGE_DIR = fileURLToPath(new URL('../weights/mini-image', import.meta.url));

export const MINI_VIDEO_FILES = adapterCheckpointFiles('video.safetensors');

interface StoredConfig {
  readonly format: 'herd-mini-video';
  readonly video: VideoConfig;
  /**
   * The image checkpoint's weights file it was trained on, the digest of its frame-feature tensors
   * (`frameFeaturesSha`; absent in checkpoints saved before it was recorded), and where that image
   * checkpoint lies (`dir`: relative to this checkpoint's folder, or absolute; absent before round 27).
   */
  readonly image: { readonly weightsSha256: string; readonly frameFeaturesSha256?: string; readonly dir?: string };
  /** With the video config's `look`: the digest of the frame-feature tensors of the image checkpoint the second feature input came from (`frameFeaturesSha`). */
  readonly look?: { readonly frameFeaturesSha256: string };
}

export interface MiniVideo {
  readonly dir: string;
  readonly config: VideoModelConfig;
  readonly core: LanguageCore;
  readonly vision: MiniVision;
  /** The video group (f32 after loading the f16 file). */
  readonly weights: VisionWeights;
  /** False when the image checkpoint differs from the one the video layers were trained on. */
  readonly imageMatches: boolean;
  /**
   * False when the tensors the frame features come from (image encoder + projector) differ from the
   * ones the aggregator was trained on; for a checkpoint that predates the record, the same as
   * `imageMatches` (nothing finer is known).
   */
  readonly framesMatch: boolean;
  /** With the video config's `look`: the frame-feature digest of the image checkpoint its second feature input must come from (`frameFeaturesSha`). */
  readonly lookFeaturesSha?: string;
}

/** The image checkpoint's tensors (HF Mllama names) that a clip's frame features are computed from: the encoder and the projector. */
const FRAME_FEATURE_TENSORS = /^(vision_model\.|multi_modal_projector\.)/u;

/**
 * sha256 over the frame-feature tensors of an image checkpoint (name, dtype, shape and bytes of each,
 * in name order): equal for two checkpoints whose encoder and projector are bit-identical, whatever
 * their cross-attention adapters hold.
 */
export function frameFeaturesSha(visionDir: string): string {
  const file = SafetensorsFile.open(join(visionDir, MINI_VISION_FILES.weights));
  const hash = createHash('sha256');
  for (const name of file.names().filter((n) => FRAME_FEATURE_TENSORS.test(n)).sort()) {
    const info = file.info(name);
    hash.update(`${name}\0${info.dtype}\0${info.shape.join(',')}\0`);
    hash.update(file.readBytes(name));
  }
  return hash.digest('hex');
}

/** sha256 of an image checkpoint's weights file. */
export function imageCheckpointSha(visionDir: string): string {
  return filesSha256([join(visionDir, MINI_VISION_FILES.weights)]);
}

/** The herd checkout (the same from src/ and dist/). */
const HERD_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const isUnder = (root: string, p: string): boolean => {
  const r = relative(resolve(root), resolve(p));
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
};

/**
 * How a video checkpoint at `videoDir` records the image checkpoint at `visionDir`: relative when it lies
 * under the folder holding the video checkpoint (a weights tree moved as a whole keeps working, e.g.
 * `../mini-image`) or when both lie in the herd checkout (committed weights never carry a machine's
 * path), absolute otherwise (scratch checkpoints trained on an image model anywhere on disk).
 */
export function recordedImageDir(videoDir: string, visionDir: string): string {
  const relativeFits = isUnder(dirname(resolve(videoDir)), visionDir) || (isUnder(HERD_ROOT, videoDir) && isUnder(HERD_ROOT, visionDir));
  return relativeFits ? relative(resolve(videoDir), resolve(visionDir)).split(sep).join('/') : resolve(visionDir);
}

/**
 * The image checkpoint a video checkpoint reads frames through: its recorded `image.dir` (resolved
 * against the checkpoint folder), checked to be there and to be the one it was trained on (same
 * weights sha256); for a checkpoint that records no dir (before round 27), `fallback` (the image
 * checkpoint given, by default the video model's own, `MINI_VIDEO_IMAGE_DIR`).
 */
export function videoImageDir(dir: string = MINI_VIDEO_DIR, fallback: string = MINI_VIDEO_IMAGE_DIR): string {
  const ckpt = openAdapterCheckpoint<StoredConfig>(dir, MINI_VIDEO_FILES, 'herd-mini-video', 'video', "train one with 'herd video train'");
  return checkedImageDir(dir, ckpt.stored, fallback);
}

function checkedImageDir(dir: string, stored: StoredConfig, fallback: string = MINI_VIDEO_IMAGE_DIR): string {
  const rec = stored.image?.dir;
  if (rec === undefined) return fallback;
  const imageDir = resolve(dir, rec);
  const what = `video checkpoint ${dir}: its image checkpoint ${imageDir} (config.json image.dir "${rec}")`;
  if (!existsSync(join(imageDir, MINI_VISION_FILES.weights))) throw new HerdError('io_error', `${what} is missing: no ${MINI_VISION_FILES.weights} there; restore that folder or give the image checkpoint explicitly`);
  const sha = imageCheckpointSha(imageDir);
  if (sha !== stored.image.weightsSha256) throw new HerdError('checkpoint_mismatch', `${what} is not the one it was trained on: its weights sha256 is ${sha}, the video checkpoint records ${stored.image.weightsSha256}`);
  return imageDir;
}

/** `lookVisionDir`: the image checkpoint of the second feature input (needed with the video config's `look`). */
export async function saveMiniVideo(dir: string, m: VideoModelConfig, weights: Readonly<Record<string, HostTensor>>, visionDir: string, extra: { eval?: unknown; card?: string } = {}, lookVisionDir?: string): Promise<void> {
  if (m.video.look && lookVisionDir === undefined) throw new HerdError('invalid_argument', 'saveMiniVideo: the video config has a look input: give the image checkpoint its features came from');
  const cfg: StoredConfig = { format: 'herd-mini-video', video: m.video, image: { weightsSha256: imageCheckpointSha(visionDir), frameFeaturesSha256: frameFeaturesSha(visionDir), dir: recordedImageDir(dir, visionDir) }, ...(m.video.look ? { look: { frameFeaturesSha256: frameFeaturesSha(lookVisionDir!) } } : {}) };
  await writeAdapterCheckpoint(dir, MINI_VIDEO_FILES, videoParamSpecs(m).map((s) => s.name), weights, cfg, extra, 'saveMiniVideo');
}

/** The checkpoint's video config, checked; a bad one is refused naming the config file. */
function storedVideoConfig(dir: string, stored: StoredConfig): VideoConfig {
  try {
    return parseVideoConfig(stored.video);
  } catch (e) {
    if (!(e instanceof HerdError)) throw e;
    throw new HerdError(e.code, `video checkpoint ${join(dir, MINI_VIDEO_FILES.config)}: ${e.message}`);
  }
}

/**
 * Loads the video checkpoint and its core on an image model: by default its own (`videoImageDir`);
 * an `imageDir` given puts it on that one instead (loads when the shapes fit, `imageMatches` says
 * whether it is the one it was trained on).
 */
export function loadMiniVideo(dir: string = MINI_VIDEO_DIR, imageDir?: string, core: LanguageCore = loadLanguageCore()): MiniVideo {
  // The core is checked by the image checkpoint the video layers sit on.
  const ckpt = openAdapterCheckpoint<StoredConfig>(dir, MINI_VIDEO_FILES, 'herd-mini-video', 'video', "train one with 'herd video train'");
  const visionDir = imageDir ?? checkedImageDir(dir, ckpt.stored);
  const vision = loadMiniVision(visionDir, core);
  checkFrameImage(vision.config, `video checkpoint ${dir}: its image checkpoint ${visionDir}`);
  const m: VideoModelConfig = { image: vision.config, video: storedVideoConfig(dir, ckpt.stored) };
  const weights: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  readCheckpointTensors(ckpt.weights, videoParamSpecs(m), ckpt.problems, weights);
  ckpt.problems.throwIfAny('checkpoint_mismatch', `video checkpoint ${join(dir, MINI_VIDEO_FILES.weights)} on the image model at ${visionDir}`);
  const imageMatches = ckpt.stored.image?.weightsSha256 === imageCheckpointSha(visionDir);
  const framesSha = ckpt.stored.image?.frameFeaturesSha256;
  return { dir, config: m, core, vision, weights, imageMatches, framesMatch: framesSha === undefined ? imageMatches : framesSha === frameFeaturesSha(visionDir), ...(ckpt.stored.look ? { lookFeaturesSha: ckpt.stored.look.frameFeaturesSha256 } : {}) };
}
