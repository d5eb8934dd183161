/**
 * The built-in mini video checkpoint: the trained `video` group (aggregator + video cross-attention)
 * of the mini herd, f16, with its config, eval report and model card. It sits on top of the mini
 * image model (packages/vision/weights/mini) and the mini core, neither copied here. The image
 * checkpoint it was trained on is recorded by sha256: the video layers learnt from that encoder's
 * features, so another image checkpoint loads (same shapes) but is reported as a mismatch.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, ProblemList, SafetensorsFile, castFloat, hostTensor, readJsonFile, writeFileAtomic, writeSafetensors } from '@herd/core';
import { type LanguageCore, loadLanguageCore } from '@herd/llama3';
import { type HostTensor } from '@herd/runtime';
import { MINI_VISION_DIR, MINI_VISION_FILES, type MiniVision, type VisionWeights, loadMiniVision } from '@herd/vision';
import { type VideoConfig, parseVideoConfig } from './config.js';
import { type VideoModelConfig, videoParamSpecs } from './model/graphs.js';

/** packages/video/weights/mini (the same from src/ and dist/). */
export const MINI_VIDEO_DIR = fileURLToPath(new URL('../weights/mini', import.meta.url));

export const MINI_VIDEO_FILES = { weights: 'video.safetensors', config: 'config.json', eval: 'eval.json', card: 'MODEL_CARD.md' } as const;

interface StoredConfig {
  readonly format: 'herd-mini-video';
  readonly video: VideoConfig;
  /** The image checkpoint's weights file it was trained on. */
  readonly image: { readonly weightsSha256: string };
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
}

/** sha256 of an image checkpoint's weights file. */
export function imageCheckpointSha(visionDir: string): string {
  return createHash('sha256').update(readFileSync(join(visionDir, MINI_VISION_FILES.weights))).digest('hex');
}

export async function saveMiniVideo(dir: string, m: VideoModelConfig, weights: Readonly<Record<string, HostTensor>>, visionDir: string, extra: { eval?: unknown; card?: string } = {}): Promise<void> {
  const tensors = Object.fromEntries(videoParamSpecs(m).map((s) => {
    const t = weights[s.name];
    if (!t) throw new HerdError('invalid_argument', `saveMiniVideo: no value for ${s.name}`);
    return [s.name, castFloat(hostTensor('f32', t.shape, t.data as Float32Array), 'f16')];
  }));
  await writeSafetensors(join(dir, MINI_VIDEO_FILES.weights), tensors, { format: 'pt' });
  const cfg: StoredConfig = { format: 'herd-mini-video', video: m.video, image: { weightsSha256: imageCheckpointSha(visionDir) } };
  await writeFileAtomic(join(dir, MINI_VIDEO_FILES.config), JSON.stringify(cfg, null, 2) + '\n');
  if (extra.eval !== undefined) await writeFileAtomic(join(dir, MINI_VIDEO_FILES.eval), JSON.stringify(extra.eval, null, 2) + '\n');
  if (extra.card !== undefined) await writeFileAtomic(join(dir, MINI_VIDEO_FILES.card), extra.card);
}

/** Loads the video checkpoint on the image model at `visionDir` (default: the committed mini one) and its core. */
export function loadMiniVideo(dir: string = MINI_VIDEO_DIR, visionDir: string = MINI_VISION_DIR, core: LanguageCore = loadLanguageCore()): MiniVideo {
  const cfgPath = join(dir, MINI_VIDEO_FILES.config);
  if (!existsSync(cfgPath)) throw new HerdError('io_error', `no video checkpoint at ${dir}: expected ${MINI_VIDEO_FILES.config} + ${MINI_VIDEO_FILES.weights} (train one with 'herd video train')`);
  const stored = readJsonFile(cfgPath, { what: 'video config' }) as StoredConfig;
  if (stored.format !== 'herd-mini-video') throw new HerdError('checkpoint_mismatch', `${cfgPath}: format ${JSON.stringify(stored.format)}, expected "herd-mini-video"`);
  const vision = loadMiniVision(visionDir, core);
  const m: VideoModelConfig = { image: vision.config, video: parseVideoConfig(stored.video) };
  const file = SafetensorsFile.open(join(dir, MINI_VIDEO_FILES.weights));
  const problems = new ProblemList();
  const weights: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const spec of videoParamSpecs(m)) {
    if (!file.has(spec.name)) {
      problems.add(`missing tensor ${spec.name}`);
      continue;
    }
    const shape = file.info(spec.name).shape;
    if (shape.join(',') !== spec.shape.join(',')) problems.add(`tensor ${spec.name}: shape [${shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
    else weights[spec.name] = { shape, data: file.readFloat32(spec.name) };
  }
  problems.throwIfAny('checkpoint_mismatch', `video checkpoint ${join(dir, MINI_VIDEO_FILES.weights)} on the image model at ${visionDir}`);
  return { dir, config: m, core, vision, weights, imageMatches: stored.image?.weightsSha256 === imageCheckpointSha(visionDir) };
}
