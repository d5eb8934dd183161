/**
 * `--checkpoint DIR`: a folder the page can switch to beside the default model. What the folder
 * holds decides what it replaces in the default composition (the other parts stay):
 * - herd's vision checkpoint (`vision.safetensors` + `config.json`) → the image encoder + adapter that
 *   answer images (the video part keeps its own image layers: clips are answered as before);
 * - herd's speech checkpoint (`speech.safetensors`) → the speech encoder + adapter;
 * - herd's video checkpoint (`video.safetensors`) → the aggregator + video cross-attention;
 * - a Hugging Face Mllama folder (`config.json` with model_type "mllama") → vision (its own core);
 * - a Hugging Face Llama folder (`config.json` + weights) → the language core, alone: herd's adapters
 *   are bound to the core they were trained on.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { HerdError, readJsonFile } from '@herd/core';
import { MINI_SPEECH_FILES } from '@herd/speech';
import { MINI_VIDEO_FILES } from '@herd/video';
import { MINI_VISION_FILES } from '@herd/vision';
import { type LoadEngineOptions } from './engine.js';

export type CheckpointKind = 'vision' | 'speech' | 'video' | 'core';

/** The engine options of the default composition with `dir` put in the place its contents say. */
export function checkpointEngineOptions(dir: string, base: LoadEngineOptions): { kind: CheckpointKind; options: LoadEngineOptions } {
  const d = resolve(dir);
  if (!existsSync(d) || !statSync(d).isDirectory()) throw new HerdError('io_error', `--checkpoint ${dir}: no such folder`);
  const has = (f: string): boolean => existsSync(join(d, f));
  if (has(MINI_VISION_FILES.weights)) return { kind: 'vision', options: { ...base, visionDir: d } };
  if (has(MINI_SPEECH_FILES.weights)) return { kind: 'speech', options: { ...base, speechDir: d } };
  if (has(MINI_VIDEO_FILES.weights)) return { kind: 'video', options: { ...base, videoDir: d } };
  if (has('config.json')) {
    const cfg = readJsonFile(join(d, 'config.json'), { what: `--checkpoint ${dir} config` }) as { model_type?: unknown };
    if (cfg.model_type === 'mllama') {
      // A Hugging Face Mllama folder brings its own core; herd's speech/video are not attached to it.
      return { kind: 'vision', options: { device: base.device, ...(base.modelDir !== undefined ? { modelDir: base.modelDir } : {}), visionDir: d } };
    }
    return { kind: 'core', options: { device: base.device, modelDir: d } };
  }
  throw new HerdError(
    'invalid_argument',
    `--checkpoint ${dir}: not a checkpoint folder: expected herd's ${MINI_VISION_FILES.weights}, ${MINI_SPEECH_FILES.weights} or ${MINI_VIDEO_FILES.weights} (with config.json), or a Hugging Face Llama / Mllama folder (config.json + weights)`,
  );
}

/** A checkpoint's id on the page and in requests: its folder name, made safe and unique. */
export function checkpointId(dir: string, taken: ReadonlySet<string>): string {
  const stem = basename(resolve(dir)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 24) || 'checkpoint';
  let id = /^[a-z0-9]/.test(stem) ? stem : `c-${stem}`;
  for (let i = 2; taken.has(id); i++) id = `${stem.slice(0, 20)}-${i}`;
  return id;
}
