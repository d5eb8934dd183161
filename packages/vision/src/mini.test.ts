/**
 * The committed mini vision checkpoint: it loads onto the committed frozen core, holds only encoder
 * and adapter tensors, leaves text-only prompts bit-identical to the core alone, and answers colour
 * questions about held-out scenes (unseen colour×shape combinations) better than its blind control
 * (the same model with the pixels zeroed).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '@herd/core';
import { END_OF_TEXT_ID, EOT_ID, Generator, buildDecoder, loadLlama3Tokenizer } from '@herd/llama3';
import { describe, expect, it } from 'vitest';
import { preprocessImage } from './data/tiling.js';
import { blindImage, gradeVqa } from './eval/vqa.js';
import { MINI_VISION_DIR, MINI_VISION_FILES, loadMiniVision } from './mini.js';
import { VisionGenerator } from './model/generate.js';
import { adapterParamSpecs, encoderParamSpecs } from './model/params.js';
import { imageQuestionIds } from './train/mini.js';

const SCENES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'heldout-scenes');
interface Scene { file: string; caption: string; question: string; answer: string }

describe('mini vision checkpoint', () => {
  it('holds only encoder + adapter tensors (f16) and loads onto the committed core', () => {
    const v = loadMiniVision();
    const file = SafetensorsFile.open(join(MINI_VISION_DIR, MINI_VISION_FILES.weights));
    const expected = [...encoderParamSpecs(v.config.vision), ...adapterParamSpecs(v.config)].map((s) => s.name).sort();
    expect(file.names().sort()).toEqual(expected);
    expect(new Set(file.infos().map((i) => i.dtype))).toEqual(new Set(['F16']));
    expect(v.config.imageTokenId).toBe(v.core.config.vocabSize);
  });

  it('frozen core: a text-only prompt gives the core\'s logits to the bit, with and without the adapter', async () => {
    const v = loadMiniVision();
    const tok = await loadLlama3Tokenizer();
    const prompt = Array.from(v.core.vocab!.toCompact(tok.encodeChat([{ role: 'user', content: 'What colour is the circle?' }], { addGenerationPrompt: true })));
    const gen = VisionGenerator.create(v.config, v.core.weights, v.weights);
    const plain = await Generator.create(v.core.config, buildDecoder(v.core.config, v.core.weights));
    try {
      const a = await gen.logits(prompt, []);
      const b = await plain.logits(prompt);
      expect(a.length).toBe(prompt.length);
      a.forEach((row, t) => expect(Array.from(row)).toEqual(Array.from(b[t]!)));
    } finally {
      await gen.release();
      await plain.release();
    }
  });

  // The blind control is the same checkpoint with the image's pixels zeroed: what the adapter answers
  // from the question alone (a text prior through its gates). Seeing means beating it on held-out scenes.
  // The committed checkpoint (round 42: the frozen word encoder weights/mini-word-encoder; projector, adapter and 6 place
  // bins trained on the key words of colour, shape, count, position and the written word) does: 33 vs 2 of these 40 at commit
  // (round 34's on the ink encoder without word questions: 23 vs 3; round 27's on the shape encoder: 18 vs 2); see MODEL_CARD.md.
  it('answers colour questions about held-out scenes better than its blind (zeroed-pixel) control', async () => {
    const v = loadMiniVision();
    const tok = await loadLlama3Tokenizer();
    const scenes = JSON.parse(readFileSync(join(SCENES, 'scenes.json'), 'utf8')) as Scene[];
    const stops = Array.from(v.core.vocab!.toCompact([EOT_ID, END_OF_TEXT_ID]));
    const sampling = { maxNewTokens: 12, temperature: 0, stopTokens: stops };
    const text = (ids: number[]) => tok.decode(Array.from(v.core.vocab!.toFull(ids.filter((t) => !stops.includes(t)))));
    const gen = VisionGenerator.create(v.config, v.core.weights, v.weights);
    let seeing = 0;
    let blind = 0;
    try {
      for (const s of scenes) {
        const image = await preprocessImage(join(SCENES, s.file), v.config.vision);
        const prompt = imageQuestionIds(tok, v.core, v.config, s.question);
        seeing += gradeVqa('colour', text(await gen.complete(prompt, [image], sampling)), s.answer) ? 1 : 0;
        blind += gradeVqa('colour', text(await gen.complete(prompt, [blindImage(image)], sampling)), s.answer) ? 1 : 0;
      }
    } finally {
      await gen.release();
    }
    // Measured when the checkpoint was committed: see MODEL_CARD.md.
    console.log(`colour correct on ${scenes.length} held-out scenes: with the image ${seeing}, blind control ${blind}`);
    expect(seeing).toBeGreaterThanOrEqual(blind + MIN_MARGIN);
  }, 180_000);
});

/** 6 of 40 scenes (15 points): well above the ±3 of chance variation on 40 questions. */
const MIN_MARGIN = 6;
