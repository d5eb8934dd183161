/**
 * Word painting (the dense stage's augmentation against a word learnt from the rest of the image): the painted word is the
 * world's own drawing at the image's size, the old word is gone, the labels follow the painted word, nothing else changes.
 */
import { Rng } from '@herd/core';
import { type Corner, type Scene, WORD_RGB, generateImages, renderScene, renderWordCoverage } from '@herd/datasets';
import { decodeImage } from '@herd/media';
import { describe, expect, it } from 'vitest';
import { parseVisionConfig } from '../config.js';
import { inkPixels } from '../data/ink.js';
import { tileImage } from '../data/tiling.js';
import { loadVisionPreset } from '../presets/index.js';
import { type DenseScene, type SceneSpec, SCENE_CELL, denseLabels, denseVocab, gridCell as cellOf, trainDenseEncoder } from './dense-mini.js';
import { paintWord, paintWords, wordCorners } from './word-paint.js';

const coverage = (text: string, corner: string, w: number, h: number) => renderWordCoverage(text, corner as Corner, w, h);

async function worldScenes(v: ReturnType<typeof loadVisionPreset>, count: number): Promise<DenseScene[]> {
  const out: DenseScene[] = [];
  for await (const s of generateImages({ seed: 5, count, noiseRate: 0, side: [96, 96] })) {
    const bytes = s.files['png'] ?? s.files['jpg'];
    out.push({ image: tileImage(await decodeImage(bytes!), v), scene: (s.meta as { scene: SceneSpec }).scene });
  }
  return out;
}

const cellIndex = (name: string) => SCENE_CELL[name]![0] + 3 * SCENE_CELL[name]![1];

describe('word painting', () => {
  it('the corners are the four corner cells of the world', () => {
    expect(wordCorners().sort()).toEqual(['bottom left', 'bottom right', 'top left', 'top right']);
  });

  it('erases the old word, draws the new one as the world draws it, labels it, and leaves every other pixel as it was', async () => {
    const v = loadVisionPreset('mini');
    const scene = (await worldScenes(v, 24)).find((s) => s.scene.word !== null)!;
    const old = scene.scene.word!;
    const corner = wordCorners().find((c) => c !== old.corner)!;
    const text = old.text === 'frog' ? 'moon' : 'frog';
    const { width: W, height: H } = scene.image.resized;
    const painted = paintWord(scene, v, { text, corner }, await coverage(text, corner, W, H), WORD_RGB);
    expect(painted.scene.word).toEqual({ text, corner });
    expect(painted.scene.objects).toBe(scene.scene.objects);
    const [oldCell, newCell] = [cellIndex(old.corner), cellIndex(corner)];
    const before = inkPixels(scene.image, v), after = inkPixels(painted.image, v);
    let oldInk = 0, same = 0, inCell = 0;
    // The world's own drawing of the scene with the new word, at this size (what a scene with that word looks like).
    const world = tileImage(await decodeImage(await renderScene({ ...scene.scene, word: { text, corner } } as Scene, W, H, 'png')), v);
    const worldInk = inkPixels(world, v);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const c = cellOf(x, y, W, H), i = y * W + x;
      if (c === oldCell) oldInk += after[i]!;
      if (c === newCell) { inCell++; same += after[i] === worldInk[i] ? 1 : 0; }
      if (c !== oldCell && c !== newCell) for (let ch = 0; ch < 3; ch++) {
        const at = ((Math.floor(y / v.tileSize) * scene.image.canvas.cols + Math.floor(x / v.tileSize)) * 3 + ch) * v.tileSize * v.tileSize + (y % v.tileSize) * v.tileSize + (x % v.tileSize);
        expect(painted.image.pixels[at]).toBe(scene.image.pixels[at]);
      }
    }
    expect(before.some((k, i) => k === 1 && cellOf(i % W, Math.floor(i / W), W, H) === oldCell)).toBe(true); // the old word had ink …
    expect(oldInk).toBe(0); // … and has none now
    expect(same / inCell).toBeGreaterThan(0.97); // the painted word's ink is the world's drawing's
    // The labels follow: word tokens only in the new corner, with the new word's class.
    const vocab = { ...denseVocab([scene]), words: [old.text, text].sort() };
    const l = denseLabels(painted, v, vocab);
    const wordToks = Array.from(l.word.keys()).filter((t) => l.word[t]! > 0);
    expect(wordToks.length).toBeGreaterThan(0);
    for (const t of wordToks) expect([l.cell[t], l.word[t]]).toEqual([newCell, 1 + vocab.words.indexOf(text)]);
  });

  it('refuses coverage of another size and a corner the world does not have, naming them', async () => {
    const v = loadVisionPreset('mini');
    const [scene] = await worldScenes(v, 1);
    const { width: W, height: H } = scene!.image.resized;
    expect(() => paintWord(scene!, v, { text: 'cat', corner: 'top left' }, new Float32Array(10), WORD_RGB)).toThrow(`coverage has 10 values, the resized image ${W}×${H} needs ${W * H}`);
    expect(() => paintWord(scene!, v, { text: 'cat', corner: 'middle' }, new Float32Array(W * H), WORD_RGB)).toThrow(/'middle' is not a corner of the world \(top left, top right, bottom left, bottom right\)/);
    await expect(renderWordCoverage('cat', 'middle' as Corner, 10, 10)).rejects.toThrow(/'middle' is not a corner of the world/);
  });

  it('paints the given share of the scenes, each glyph size rendered once', async () => {
    const v = loadVisionPreset('mini');
    const scenes = await worldScenes(v, 12);
    let calls = 0;
    const counting = async (t: string, c: string, w: number, h: number) => { calls++; return coverage(t, c, w, h); };
    const none = await paintWords(scenes, v, ['cat'], { share: 0, coverage: counting, rgb: WORD_RGB }, new Rng(1), new Map());
    expect(none.every((s, i) => s === scenes[i])).toBe(true);
    expect(calls).toBe(0);
    const cache = new Map<string, Float32Array>();
    const all = await paintWords([...scenes, ...scenes], v, ['cat'], { share: 1, coverage: counting, rgb: WORD_RGB }, new Rng(1), cache);
    expect(all.every((s) => s.scene.word?.text === 'cat')).toBe(true);
    expect(calls).toBe(cache.size); // one render per (word, corner, size), however often it is painted
    expect(cache.size).toBeLessThanOrEqual(4 * new Set(scenes.map((s) => `${s.image.resized.width}x${s.image.resized.height}`)).size);
    await expect(paintWords(scenes, v, [], { share: 1, coverage: counting, rgb: WORD_RGB }, new Rng(1), cache)).rejects.toThrow(/no written word/);
  });

  it('trainDenseEncoder paints on its own random stream, and refuses painting without words or a share outside 0–1', async () => {
    const v = parseVisionConfig({ tileSize: 48, patchSize: 8, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 4 });
    const scenes = await worldScenes(v, 12);
    const wordPaint = (share: number) => ({ share, coverage, rgb: WORD_RGB });
    const base = await trainDenseEncoder(v, scenes, { steps: 2, batch: 4, lr: 1e-2, seed: 1, objectWordWeight: 1 });
    const zero = await trainDenseEncoder(v, scenes, { steps: 2, batch: 4, lr: 1e-2, seed: 1, objectWordWeight: 1, wordPaint: wordPaint(0) });
    const painted = await trainDenseEncoder(v, scenes, { steps: 2, batch: 4, lr: 1e-2, seed: 1, objectWordWeight: 1, wordPaint: wordPaint(1) });
    expect(zero.losses).toEqual(base.losses); // the batches are the same scenes …
    expect(painted.losses[0]).not.toBe(base.losses[0]); // … painted, they are other images
    await expect(trainDenseEncoder(v, scenes, { steps: 1, batch: 2, lr: 1e-2, seed: 1, wordPaint: wordPaint(1.5) })).rejects.toThrow(/wordPaint.share must be in 0–1, got 1.5/);
    const wordless = scenes.map((s) => ({ ...s, scene: { ...s.scene, word: null } }));
    await expect(trainDenseEncoder(v, wordless, { steps: 1, batch: 2, lr: 1e-2, seed: 1, wordPaint: wordPaint(0.5) })).rejects.toThrow(/word painting needs scenes with a written word/);
  }, 120_000);
});
