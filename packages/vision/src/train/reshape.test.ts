/**
 * Shape-free colour questions: the objects of a world scene are redrawn as random polygons of their own area, place and
 * colour, nothing outside their cells changes; the question and reply say "shape(s)"; the recipe's sample asks that,
 * trains the colour word, and looks where the question as asked would.
 */
import { Rng } from '@herd/core';
import { generateImages } from '@herd/datasets';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { decodeImage } from '@herd/media';
import { describe, expect, it } from 'vitest';
import { inkPixels, pixelIndex } from '../data/ink.js';
import { type TiledImage, tileImage } from '../data/tiling.js';
import { loadVisionPreset } from '../presets/index.js';
import { parseVisionConfig } from '../config.js';
import { type SceneSpec, SCENE_CELL, denseBatch, denseVocab, gridCell, trainDenseEncoder } from './dense-mini.js';
import { type SceneExample, keyTokenIds, keyWordSample, lookCells, miniVisionConfig, reshapedKeyWordSample, trainMiniVision } from './mini.js';
import { randomPolygon, reshapeObjects, reshapedQuestion } from './reshape.js';

async function worldScenes(v: ReturnType<typeof loadVisionPreset>, count: number): Promise<{ image: TiledImage; scene: SceneSpec; qa: SceneExample['qa'] }[]> {
  const out = [];
  for await (const s of generateImages({ seed: 5, count, noiseRate: 0, side: [96, 96] })) {
    const bytes = s.files['png'] ?? s.files['jpg'];
    const meta = s.meta as { scene: SceneSpec; qa: SceneExample['qa'] };
    out.push({ image: tileImage(await decodeImage(bytes!), v), scene: meta.scene, qa: meta.qa });
  }
  return out;
}

const cellIndex = (name: string) => SCENE_CELL[name]![0] + 3 * SCENE_CELL[name]![1];

/** The 4-connected blobs of `mask` in `cell` with at least `min` pixels. */
function blobCount(mask: Uint8Array, W: number, H: number, cell: number, min = 4): number {
  const seen = new Uint8Array(W * H);
  let n = 0;
  for (let s = 0; s < W * H; s++) {
    if (!mask[s] || seen[s] || gridCell(s % W, Math.floor(s / W), W, H) !== cell) continue;
    let size = 0;
    const stack = [s];
    seen[s] = 1;
    while (stack.length) {
      const i = stack.pop()!;
      size++;
      const [x, y] = [i % W, Math.floor(i / W)];
      for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]] as const) {
        const j = ny * W + nx;
        if (nx >= 0 && ny >= 0 && nx < W && ny < H && mask[j] && !seen[j] && gridCell(nx, ny, W, H) === cell) { seen[j] = 1; stack.push(j); }
      }
    }
    if (size >= min) n++;
  }
  return n;
}

describe('reshaping the objects', () => {
  it('a random polygon has the asked area and 5–9 corners', () => {
    const rng = new Rng(7);
    for (let k = 0; k < 20; k++) {
      const p = randomPolygon(rng, 150);
      expect(p.length).toBeGreaterThanOrEqual(5);
      expect(p.length).toBeLessThanOrEqual(9);
      const area = Math.abs(p.reduce((s, [x, y], i) => { const [u, w] = p[(i + 1) % p.length]!; return s + x * w - u * y; }, 0)) / 2;
      expect(area).toBeCloseTo(150, 6);
    }
  });

  it('redraws each object as a polygon of its place, size, number and colour; nothing outside the objects\' cells changes', async () => {
    const v = loadVisionPreset('mini');
    const scenes = await worldScenes(v, 40);
    const picked = [scenes.find((s) => s.scene.objects.length === 1 && s.scene.objects[0]!.count === 1)!, scenes.find((s) => s.scene.objects.some((o) => o.count >= 2))!];
    for (const s of picked) {
      const { width: W, height: H } = s.image.resized;
      const out = reshapeObjects(s.image, v, s.scene, new Rng(11));
      const [before, after] = [inkPixels(s.image, v), inkPixels(out, v)];
      const cells = new Set(s.scene.objects.map((o) => cellIndex(o.position)));
      for (const o of s.scene.objects) {
        const cell = cellIndex(o.position);
        let [n0, n1, both] = [0, 0, 0];
        const [rgb0, rgb1] = [[0, 0, 0], [0, 0, 0]];
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
          if (gridCell(x, y, W, H) !== cell) continue;
          const i = y * W + x;
          n0 += before[i]!; n1 += after[i]!; both += before[i]! & after[i]!;
          for (let ch = 0; ch < 3; ch++) {
            if (before[i]) rgb0[ch]! += s.image.pixels[pixelIndex(s.image, v.tileSize, x, y, ch)]!;
            if (after[i]) rgb1[ch]! += out.pixels[pixelIndex(out, v.tileSize, x, y, ch)]!;
          }
        }
        // About the same amount of ink (the area is kept; the world's anti-aliased edge is not) …
        expect(n1 / n0).toBeGreaterThan(0.75);
        expect(n1 / n0).toBeLessThan(1.25);
        // … in the object's colour (mean normalised pixel within 0.1: about 2.5 of 255) …
        for (let ch = 0; ch < 3; ch++) expect(Math.abs(rgb1[ch]! / n1 - rgb0[ch]! / n0)).toBeLessThan(0.1);
        // … as many separate shapes as the object's count, and not the object's own outline.
        expect(blobCount(after, W, H, cell)).toBe(o.count);
        expect(both / (n0 + n1 - both)).toBeLessThan(0.9);
      }
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        if (cells.has(gridCell(x, y, W, H))) continue;
        for (let ch = 0; ch < 3; ch++) expect(out.pixels[pixelIndex(out, v.tileSize, x, y, ch)]).toBe(s.image.pixels[pixelIndex(s.image, v.tileSize, x, y, ch)]);
      }
      // The same draws give the same polygons; other draws other ones.
      expect(reshapeObjects(s.image, v, s.scene, new Rng(11)).pixels).toEqual(out.pixels);
      expect(inkPixels(reshapeObjects(s.image, v, s.scene, new Rng(12)), v)).not.toEqual(after);
    }
  });

  it('an object at a place that is not a grid cell is an error naming it', async () => {
    const v = loadVisionPreset('mini');
    const [s] = await worldScenes(v, 1);
    const bad = { ...s!.scene, objects: [{ ...s!.scene.objects[0]!, position: 'upstairs' }] };
    expect(() => reshapeObjects(s!.image, v, bad, new Rng(1))).toThrow(/object position 'upstairs' is not a grid cell/);
  });

  it('the question and reply say "shape(s)" for the shape; a question that does not name it is an error', () => {
    expect(reshapedQuestion({ question: 'What colour are the stars?', answer: 'The stars are blue.' }, 'star')).toEqual({ question: 'What colour are the shapes?', answer: 'The shapes are blue.' });
    expect(reshapedQuestion({ question: 'What is the colour of the star?', answer: 'Blue.' }, 'star')).toEqual({ question: 'What is the colour of the shape?', answer: 'Blue.' });
    expect(() => reshapedQuestion({ question: 'What colour is the circle?', answer: 'Red.' }, 'star')).toThrow(/does not name the shape 'star'/);
  });
});

describe('reshaped colour samples in the recipe', () => {
  it('asks about "the shape", trains the colour word alone, looks at the object\'s cell, and shows the reshaped image', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config);
    const keys = keyTokenIds(tok, core);
    const s = (await worldScenes(m.vision, 40)).find((x) => x.scene.objects.length === 1 && x.qa.some((q) => q.type === 'colour'))!;
    const example: SceneExample = { key: 'w', split: 'train', image: s.image, caption: '', qa: s.qa, scene: s.scene };
    const q = s.qa.find((x) => x.type === 'colour')!;
    const out = reshapedKeyWordSample(tok, core, m, example, q, keys, 64, new Rng(4), { look: true });
    const text = tok.decode(Array.from(core.vocab!.toFull(out.tokens.filter((t) => t >= 0 && t < core.config.vocabSize))));
    expect(text).toContain(reshapedQuestion(q, s.scene.objects[0]!.shape).question);
    expect(text).not.toContain(s.scene.objects[0]!.shape);
    const trained = out.targets.filter((t) => t !== -100).map((t) => tok.decode(Array.from(core.vocab!.toFull([t]))).trim());
    expect(trained.map((w) => w.toLowerCase())).toEqual([s.scene.objects[0]!.colour]);
    expect(out.look).toEqual(lookCells(s.scene, q));
    expect(out.look!.length).toBe(1);
    expect(out.image.pixels).toEqual(reshapeObjects(s.image, m.vision, s.scene, new Rng(4)).pixels);
    // The same question as a plain key-word sample trains the same colour word on the world's image.
    const plain = keyWordSample(tok, core, m, example, q, keys, 64, { look: true });
    expect(plain.targets.filter((t) => t !== -100).length).toBe(1);
    expect(plain.image).toBe(s.image);
  });

  it('refuses a question of another type, a scene of several groups, and the option without key-word sequences or outside 0–1', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config);
    const keys = keyTokenIds(tok, core);
    const scenes = await worldScenes(m.vision, 40);
    const one = scenes.find((x) => x.scene.objects.length === 1)!;
    const several = scenes.find((x) => x.scene.objects.length >= 2 && x.qa.some((q) => q.type === 'colour'))!;
    const ex = (x: typeof one): SceneExample => ({ key: 'w', split: 'train', image: x.image, caption: '', qa: x.qa, scene: x.scene });
    expect(() => reshapedKeyWordSample(tok, core, m, ex(one), one.qa.find((q) => q.type === 'count')!, keys, 64, new Rng(1))).toThrow(/only a colour question about a scene of one object group is reshaped; got a count question/);
    expect(() => reshapedKeyWordSample(tok, core, m, ex(several), several.qa.find((q) => q.type === 'colour')!, keys, 64, new Rng(1))).toThrow(/got a colour question about a scene of \d groups/);
    await expect(trainMiniVision({ core, tokenizer: tok, scenes: [ex(one)], captionSteps: 0, qaSteps: 1, keyWordReshape: 0.5 })).rejects.toThrow(/keyWordReshape reshapes key-word sequences: set keyWordShare above 0 too/);
    await expect(trainMiniVision({ core, tokenizer: tok, scenes: [ex(one)], captionSteps: 0, qaSteps: 1, keyWordShare: 0.5, keyWordReshape: 1.5 })).rejects.toThrow(/keyWordReshape must be a share from 0 to 1, got 1.5/);
  });
});

describe('reshaped images in the dense stage', () => {
  it('a reshaped image teaches colour, place and number but no shape, and is never colour-augmented', async () => {
    const v = loadVisionPreset('mini');
    const scenes = (await worldScenes(v, 12)).map((s) => ({ image: s.image, scene: s.scene }));
    const vocab = denseVocab(scenes);
    const two = [scenes[0]!, scenes[0]!];
    const shown = [{ ...two[0]!, image: reshapeObjects(two[0]!.image, v, two[0]!.scene, new Rng(2)) }, two[1]!];
    // An augment stream whose first draw would recolour the first image (and drop its colour labels).
    let seed = 0;
    while (new Rng(seed).next() >= 0.5) seed++;
    const feeds = denseBatch(v, vocab, shown, new Rng(seed), ['shape', 'colour'], { colourAugment: 'ink', reshaped: [true, false] });
    const per = (feeds['labels.shape']!.data as Int32Array).length / 2;
    const rows = (name: string, i: number) => Array.from((feeds[name]!.data as Int32Array).slice(i * per, (i + 1) * per));
    expect(rows('labels.shape', 0).every((y) => y === -100)).toBe(true);
    expect(rows('labels.colour', 0).some((y) => y > 0)).toBe(true); // its colours are labelled (not recoloured) …
    expect(rows('labels.count', 0).some((y) => y > 0)).toBe(true); // … and its numbers
    expect(rows('labels.shape', 1).some((y) => y > 0)).toBe(true); // the other image keeps its shapes
    const objects = (name: string) => Array.from(feeds[name]!.data as Int32Array);
    const n = objects('labels.object_shape').length / 2;
    expect(objects('labels.object_shape').slice(0, n).every((y) => y === -100)).toBe(true);
    expect(objects('labels.object_colour').slice(0, n).some((y) => y > 0)).toBe(true);
  });

  it('trainDenseEncoder reshapes on its own random stream and refuses a share outside 0–1', async () => {
    const v = parseVisionConfig({ tileSize: 48, patchSize: 8, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 4 });
    const scenes = (await worldScenes(v, 12)).map((s) => ({ image: s.image, scene: s.scene }));
    const base = await trainDenseEncoder(v, scenes, { steps: 2, batch: 4, lr: 1e-2, seed: 1, objectWeight: 1 });
    const zero = await trainDenseEncoder(v, scenes, { steps: 2, batch: 4, lr: 1e-2, seed: 1, objectWeight: 1, reshape: 0 });
    const all = await trainDenseEncoder(v, scenes, { steps: 2, batch: 4, lr: 1e-2, seed: 1, objectWeight: 1, reshape: 1 });
    expect(zero.losses).toEqual(base.losses);
    expect(all.losses[0]).not.toBe(base.losses[0]);
    await expect(trainDenseEncoder(v, scenes, { steps: 1, batch: 2, lr: 1e-2, seed: 1, reshape: 1.5 })).rejects.toThrow(/reshape must be a share in 0–1, got 1.5/);
  }, 120_000);
});
