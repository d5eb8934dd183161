/**
 * The committed mini video checkpoint: only video-group tensors (f16); it was trained on the committed
 * image checkpoint (recorded sha256 matches) and loads onto it and the core; a text-only prompt gives the core's logits bit for bit with the video layers
 * attached (the frozen core is untouched); and its recorded eval has the three rows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '@herd/core';
import { Generator, buildDecoder, loadLlama3Tokenizer } from '@herd/llama3';
import { MINI_VIDEO_DIR, MINI_VIDEO_FILES, loadMiniVideo } from './mini.js';
import { VideoGenerator } from './model/generate.js';
import { videoParamSpecs } from './model/graphs.js';
import { type VideoExample } from './data/features.js';
import { recipeSequences, trainMiniVideo } from './train/mini.js';

describe('mini video checkpoint', () => {
  it('holds only the video group (f16) and loads onto the committed image model and core', () => {
    const v = loadMiniVideo();
    // Trained on the committed image checkpoint (its sha256 recorded in config.json): no mismatch warning at load.
    expect(v.imageMatches).toBe(true);
    const file = SafetensorsFile.open(join(MINI_VIDEO_DIR, MINI_VIDEO_FILES.weights));
    expect(file.names().sort()).toEqual(videoParamSpecs(v.config).map((s) => s.name).sort());
    expect(file.names().every((n) => n.startsWith('video.'))).toBe(true);
    expect(new Set(file.infos().map((i) => i.dtype))).toEqual(new Set(['F16']));
    const report = JSON.parse(readFileSync(join(MINI_VIDEO_DIR, MINI_VIDEO_FILES.eval), 'utf8')) as { accuracy: Record<string, unknown> };
    expect(Object.keys(report.accuracy).sort()).toEqual(['core', 'image', 'video']);
  });

  it('a text-only prompt gives the core\'s logits to the bit with the video and image layers attached', async () => {
    const v = loadMiniVideo();
    const tok = await loadLlama3Tokenizer();
    const prompt = Array.from(v.core.vocab!.toCompact(tok.encodeChat([{ role: 'user', content: 'Which way does the red circle move?' }], { addGenerationPrompt: true })));
    const gen = VideoGenerator.create(v.config, v.config.video.finetune, v.core.weights, v.vision.weights, v.weights);
    const plain = await Generator.create(v.core.config, buildDecoder(v.core.config, v.core.weights));
    try {
      const a = await gen.logits(prompt, null);
      const b = await plain.logits(prompt);
      a.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(b[i]!)));
    } finally {
      await gen.release();
      await plain.release();
    }
  });

  it('the QA mix: qaRepeat repeats a type\'s questions (0 leaves it out), other types once; a bad entry is refused', async () => {
    const v = loadMiniVideo();
    const tokenizer = await loadLlama3Tokenizer();
    const clip = { features: new Uint16Array(0), frameMask: new Uint8Array(0), kv: {} };
    const example: VideoExample = {
      key: 'clip-a', split: 'train', caption: 'A red circle moves to the left.', static: false, frames: 8, clip,
      objects: [{ shape: 'circle', colour: 'red', size: 'big', start: 'right', motion: { kind: 'move', direction: 'left', speed: 'fast' } }],
    };
    const o = { core: v.core, tokenizer, image: v.config.image };
    const once = recipeSequences(o, [example], 40).qa; // direction, moving, which, count
    expect(once).toHaveLength(4);
    const mixed = recipeSequences(o, [example], 40, { direction: 3, count: 0 }).qa;
    expect(mixed).toHaveLength(5);
    expect(mixed.filter((q) => JSON.stringify(q) === JSON.stringify(once[0]))).toHaveLength(3);
    expect(mixed).not.toContainEqual(once[3]);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, qaRepeat: { direction: -1 } })).rejects.toThrow(/qaRepeat direction=-1: types are direction, moving, which, event, count/);
  });
});
