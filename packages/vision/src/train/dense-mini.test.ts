/**
 * The dense encoder stage (the mini herd's stand-in for CLIP pre-training): per-patch labels from the
 * scene spec and the pixels, a training run whose loss falls, and the linear probes that measure
 * whether objects stand out in the features.
 */
import { Rng } from '@herd/core';
import { generateImages } from '@herd/datasets';
import { decodeImage } from '@herd/media';
import { describe, expect, it } from 'vitest';
import { parseVisionConfig, patchesPerTile } from '../config.js';
import { tileImage } from '../data/tiling.js';
import { encoderParamSpecs } from '../model/params.js';
import { loadVisionPreset } from '../presets/index.js';
import { inkPixels, inkSilhouette } from '../data/ink.js';
import { type DenseScene, MAX_OBJECTS, type SceneSpec, cellInkGrid, denseBatch, permuteChannels, recolourInk, rotateHue, denseHeadAccuracy, objectFeeds, wordFeeds, denseLabels, denseVocab, linearProbe, patchGeometry, probeEncoder, trainDenseEncoder } from './dense-mini.js';

describe('dense labels', () => {
  it('label each patch by its grid cell, and by the colour / shape / count of the object in that cell where the patch is ink', () => {
    const v = loadVisionPreset('mini'); // 48-px tiles, patch 8, 2×2 tiles: a 96-px image fills 4 tiles of 6×6 patches
    const W = 96;
    const data = new Uint8Array(W * W * 3);
    for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) data.set(x >= 36 && x < 60 && y >= 36 && y < 60 ? [220, 30, 30] : [250, 244, 228], (y * W + x) * 3);
    const image = tileImage({ width: W, height: W, data }, v);
    expect(image.nTiles).toBe(4);
    const scene: SceneSpec = { objects: [{ shape: 'square', colour: 'red', size: 'big', position: 'centre', count: 1 }, { shape: 'star', colour: 'blue', size: 'small', position: 'left', count: 2 }], background: 'cream', word: null };
    const vocab = denseVocab([{ image, scene }]);
    expect(vocab).toEqual({ colours: ['blue', 'red'], shapes: ['square', 'star'], words: [] });
    const P = patchesPerTile(v); // 37: class token + 36 patches
    const l = denseLabels({ image, scene }, v, vocab);
    const tok = (tile: number, r: number, c: number) => tile * P + 1 + r * 6 + c;
    // Canvas pixels 40..48 × 40..48 (tile 0, patch row 5, col 5): all red, in the centre cell.
    const red = tok(0, 5, 5);
    expect([l.cell[red], l.colour[red], l.shape[red], l.count[red], l.word[red]]).toEqual([4, 2, 1, 1, 0]);
    // Tile 3 (bottom right), patch (0, 0) = pixels 48..56: red too, same cell.
    expect([l.cell[tok(3, 0, 0)], l.colour[tok(3, 0, 0)]]).toEqual([4, 2]);
    // The top-left patch is background in cell 0; the blue stars of the spec are not drawn, so the left cell's patches are background.
    expect([l.cell[tok(0, 0, 0)], l.colour[tok(0, 0, 0)], l.shape[tok(0, 0, 0)], l.count[tok(0, 0, 0)]]).toEqual([0, 0, -100, -100]);
    expect([l.cell[tok(2, 0, 0)], l.colour[tok(2, 0, 0)]]).toEqual([3, 0]);
    // Class tokens carry no label.
    for (let t = 0; t < 4; t++) expect(l.cell[t * P]).toBe(-100);
    // Ink share of a patch half covered (columns 32..40, the square starts at 36): 0.5.
    expect(patchGeometry(image, v).ink[tok(0, 5, 4)]).toBeCloseTo(0.5, 5);
    // The object heads' feeds: object 0's pool row averages exactly its labelled ink tokens; the undrawn
    // stars (no ink) and the empty slots have no label and an all-zero row.
    const M = 4 * P;
    const f = objectFeeds([{ image, scene }], [l], M);
    const pool = f['pool']!.data as Float32Array;
    expect(f['pool']!.shape).toEqual([MAX_OBJECTS, M]);
    const inked = Array.from({ length: M }, (_, t) => t).filter((t) => l.cell[t] === 4 && l.shape[t]! > 0);
    expect(inked).toContain(red);
    for (let t = 0; t < M; t++) expect(pool[t]).toBeCloseTo(inked.includes(t) ? 1 / inked.length : 0, 7);
    expect(pool.subarray(M).every((w) => w === 0)).toBe(true);
    expect(Array.from(f['labels.object_shape']!.data as Int32Array)).toEqual([1, -100, -100, -100]);
    expect(Array.from(f['labels.object_count']!.data as Int32Array)).toEqual([1, -100, -100, -100]);
    // The object colour head's label is the per-patch colour class (red = 2) …
    expect(Array.from(f['labels.object_colour']!.data as Int32Array)).toEqual([2, -100, -100, -100]);
    // … and none on a channel-permuted image, whose per-patch colour labels denseBatch blanks.
    const blanked = { ...l, colour: new Int32Array(l.colour.length).fill(-100) };
    const fp = objectFeeds([{ image, scene }], [blanked], M);
    expect(Array.from(fp['labels.object_colour']!.data as Int32Array)).toEqual([-100, -100, -100, -100]);
    expect(Array.from(fp['labels.object_shape']!.data as Int32Array)).toEqual([1, -100, -100, -100]);
    // denseBatch feeds only the object heads it is asked for (an unused feed would not match the graph's inputs).
    const batch = denseBatch(v, vocab, [{ image, scene }], undefined, ['colour']);
    expect(Object.keys(batch).filter((k) => k === 'pool' || k.startsWith('labels.object_')).sort()).toEqual(['labels.object_colour', 'pool']);
    expect(Object.keys(denseBatch(v, vocab, [{ image, scene }])).some((k) => k === 'pool' || k.startsWith('labels.object_'))).toBe(false);
    // The raw pixels' view of the centre cell (canvas 32..64 each way) in 8×8 areas of 4 px: the square
    // (36..60) fills areas 1..6 of rows 1..6 and nothing else; with patch 4 (mini-patch4) the same pixels
    // give the same ink per area as each 4-px patch's ink share.
    const grid = cellInkGrid(image, v, 1, 1, 8);
    for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) expect(grid[r * 8 + c]).toBe(r >= 1 && r <= 6 && c >= 1 && c <= 6 ? 1 : 0);
    const p4 = loadVisionPreset('mini-patch4');
    const g4 = patchGeometry(tileImage({ width: W, height: W, data }, p4), p4);
    expect(g4.ink[1 + 9 * 12 + 9]).toBe(1); // tile 0, patch (9, 9) = pixels 36..40: inside the square
    expect(g4.ink[1 + 8 * 12 + 8]).toBe(0); // pixels 32..36: outside
  });

  it('the word head pools exactly the word\'s labelled ink tokens of each image and labels it by the word; no word, no label', () => {
    const v = loadVisionPreset('mini');
    const W = 96;
    const data = new Uint8Array(W * W * 3);
    // A dark 20×8 block in the top-right cell (x 70..90, y 8..16) stands for the written word.
    for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) data.set(x >= 70 && x < 90 && y >= 8 && y < 16 ? [40, 40, 40] : [250, 244, 228], (y * W + x) * 3);
    const image = tileImage({ width: W, height: W, data }, v);
    const withWord: SceneSpec = { objects: [], background: 'cream', word: { text: 'dog', corner: 'top right' } };
    const noWord: SceneSpec = { objects: [], background: 'cream', word: null };
    const vocab = { colours: ['red'], shapes: ['square'], words: ['cat', 'dog'] };
    const P = patchesPerTile(v), M = 2 * 4 * P;
    const labels = [denseLabels({ image, scene: withWord }, v, vocab), denseLabels({ image, scene: noWord }, v, vocab)];
    const wordToks = Array.from({ length: 4 * P }, (_, t) => t).filter((t) => labels[0]!.word[t]! > 0);
    // Canvas columns 70..90 of tile 1 (48..96) are patch columns 2..5 (only those with ≥ 15 % ink), row 1 (8..16).
    expect(wordToks.length).toBeGreaterThanOrEqual(2);
    for (const t of wordToks) expect([labels[0]!.cell[t], labels[0]!.word[t]]).toEqual([2, 2]); // top-right cell; 'dog' = 1 + 1
    const f = wordFeeds(labels, M);
    expect(f['pool_word']!.shape).toEqual([2, M]);
    const pool = f['pool_word']!.data as Float32Array;
    for (let t = 0; t < M; t++) expect(pool[t]).toBeCloseTo(wordToks.includes(t) ? 1 / wordToks.length : 0, 7);
    expect(pool.subarray(M).every((w) => w === 0)).toBe(true); // the second image has no word
    expect(Array.from(f['labels.object_word']!.data as Int32Array)).toEqual([2, -100]);
    // denseBatch feeds the word pool only when the word head is asked for, and the object pool only for the other heads.
    const batch = denseBatch(v, vocab, [{ image, scene: withWord }], undefined, ['word']);
    expect(Object.keys(batch).filter((k) => k.startsWith('pool') || k.startsWith('labels.object_')).sort()).toEqual(['labels.object_word', 'pool_word']);
  });

  it('padding outside the resized image has no label; the cell follows the original image, not the canvas', () => {
    const v = loadVisionPreset('mini');
    const data = new Uint8Array(96 * 48 * 3).fill(240); // 96 wide × 48 high: one row of 2 tiles
    const image = tileImage({ width: 96, height: 48, data }, v);
    const { cell } = patchGeometry(image, v);
    const P = patchesPerTile(v);
    expect(image.nTiles).toBe(2);
    expect(cell[1]).toBe(0); // top-left patch: cell (0, 0)
    expect(cell[1 + 5 * 6 + 5]).toBe(7); // patch (5, 5) of tile 0: centre x 44 of 96 → column 1, y 44 of 48 → row 2
    expect(cell[2 * P + 1]).toBe(-1); // tile slot 2 is absent
  });
});

describe('linearProbe', () => {
  it('fits a linearly separable problem and stays at chance on noise', () => {
    const rng = new Rng(3);
    const make = (n: number, signal: number) => {
      const x: Float32Array[] = [], y: number[] = [];
      for (let i = 0; i < n; i++) { const k = i % 3; y.push(k); x.push(Float32Array.from({ length: 6 }, (_, d) => (d === k ? signal : 0) + rng.normal())); }
      return { x, y };
    };
    expect(linearProbe(make(150, 4), make(60, 4), 3).test).toBeGreaterThan(0.9);
    expect(linearProbe(make(150, 0), make(300, 0), 3).test).toBeLessThan(0.5);
  });
});

describe('trainDenseEncoder', () => {
  it('on a tiny set of world scenes: the loss falls, the heads beat chance on unseen scenes, and the colour probe beats chance', async () => {
    const v = parseVisionConfig({ tileSize: 48, patchSize: 8, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 4 });
    const scenes: DenseScene[] = [];
    for await (const s of generateImages({ seed: 5, count: 48, noiseRate: 0, side: [96, 96] })) {
      const bytes = s.files['png'] ?? s.files['jpg'];
      const meta = s.meta as { scene: SceneSpec };
      scenes.push({ image: tileImage(await decodeImage(bytes!), v), scene: meta.scene });
    }
    const [train, test] = [scenes.slice(0, 36), scenes.slice(36)];
    const r = await trainDenseEncoder(v, train, { steps: 100, batch: 8, lr: 1e-2, seed: 1 });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(r.losses.slice(-5))).toBeLessThan(0.7 * r.losses[0]!);
    expect(Object.keys(r.encoder).sort()).toEqual(encoderParamSpecs(v).map((s) => s.name).sort());
    const acc = await denseHeadAccuracy(v, r.vocab, r.encoder, r.heads, test);
    // Measured (seed 1): grid cell 37 % of unseen scenes' tokens (chance 1/9), object colour 48 % (chance 1/8).
    expect(acc.cell.acc).toBeGreaterThan(1 / 9 + 0.15);
    expect(acc.colour.objectAcc).toBeGreaterThan(1 / 8 + 0.15);
    const probe = await probeEncoder(v, r.encoder, train, test);
    expect(probe.probes.colour.n).toBeGreaterThan(8);
    expect(probe.probes.colour.test).toBeGreaterThan(probe.probes.colour.chance + 0.3); // measured 85 % vs 30 %
    // The colour probe by pair covers every test object once: the test scenes' pairs no train object has, then 'seen pairs'.
    const trainPairs = new Set(train.flatMap((s) => s.scene.objects.map((o) => `${o.colour} ${o.shape}`)));
    const testPairs = test.flatMap((s) => s.scene.objects.map((o) => `${o.colour} ${o.shape}`));
    const expected = new Map<string, number>();
    for (const p of testPairs) { const k = trainPairs.has(p) ? 'seen pairs' : p; expected.set(k, (expected.get(k) ?? 0) + 1); }
    expect(Object.fromEntries(Object.entries(probe.colourByPair).map(([k, r]) => [k, r.n]))).toEqual(Object.fromEntries(expected));
    const right = Object.values(probe.colourByPair).reduce((a, r) => a + r.test * r.n, 0);
    expect(right / probe.probes.colour.n).toBeCloseTo(probe.probes.colour.test, 6);
    // The shape probe split the same way: the same groups, and its rights add up to the shape probe.
    expect(Object.fromEntries(Object.entries(probe.shapeByPair).map(([k, r]) => [k, r.n]))).toEqual(Object.fromEntries(expected));
    const shapeRight = Object.values(probe.shapeByPair).reduce((a, r) => a + r.test * r.n, 0);
    expect(shapeRight / probe.probes.shape.n).toBeCloseTo(probe.probes.shape.test, 6);
    expect(probe.probes.shapePermuted.n).toBe(probe.probes.shape.n);
  }, 120_000);

  it('trains the object colour head on its own weight, and refuses a negative one', async () => {
    const v = parseVisionConfig({ tileSize: 48, patchSize: 8, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 4 });
    const scenes: DenseScene[] = [];
    for await (const s of generateImages({ seed: 5, count: 12, noiseRate: 0, side: [96, 96] })) {
      const bytes = s.files['png'] ?? s.files['jpg'];
      scenes.push({ image: tileImage(await decodeImage(bytes!), v), scene: (s.meta as { scene: SceneSpec }).scene });
    }
    await expect(trainDenseEncoder(v, scenes, { steps: 1, batch: 2, lr: 1e-2, seed: 1, objectColourWeight: -1 })).rejects.toThrow(/objectColourWeight must be ≥ 0, got -1/);
    const base = await trainDenseEncoder(v, scenes, { steps: 3, batch: 4, lr: 1e-2, seed: 1 });
    const colour = await trainDenseEncoder(v, scenes, { steps: 3, batch: 4, lr: 1e-2, seed: 1, objectColourWeight: 1 });
    // Same batches, same init: the first step's loss differs exactly by the added colour head's term.
    expect(colour.losses[0]!).toBeGreaterThan(base.losses[0]!);
    expect(Array.from(colour.heads['dense_head.object_colour.weight']!.data as Float32Array)).not.toEqual(Array.from(base.heads['dense_head.object_colour.weight']!.data as Float32Array));
    expect(Array.from(base.heads['dense_head.object_shape.weight']!.data as Float32Array)).toEqual(Array.from(colour.heads['dense_head.object_shape.weight']!.data as Float32Array));
  }, 120_000);

  it('trains the object word head on its own weight, probes the word, and refuses a negative weight', async () => {
    const v = parseVisionConfig({ tileSize: 48, patchSize: 8, dim: 16, nLayers: 1, nGlobalLayers: 1, nHeads: 2, ffnDim: 32, intermediateLayers: [0], maxTiles: 4 });
    const scenes: DenseScene[] = [];
    for await (const s of generateImages({ seed: 5, count: 24, noiseRate: 0, side: [96, 96] })) {
      const bytes = s.files['png'] ?? s.files['jpg'];
      scenes.push({ image: tileImage(await decodeImage(bytes!), v), scene: (s.meta as { scene: SceneSpec }).scene });
    }
    expect(scenes.filter((s) => s.scene.word).length).toBeGreaterThan(2);
    await expect(trainDenseEncoder(v, scenes, { steps: 1, batch: 2, lr: 1e-2, seed: 1, objectWordWeight: -1 })).rejects.toThrow(/objectWordWeight must be ≥ 0, got -1/);
    const base = await trainDenseEncoder(v, scenes, { steps: 3, batch: 8, lr: 1e-2, seed: 1 });
    const word = await trainDenseEncoder(v, scenes, { steps: 3, batch: 8, lr: 1e-2, seed: 1, objectWordWeight: 1 });
    // Same batches, same init (the word head's parameters come last): the first step's loss adds the word term.
    expect(word.losses[0]!).toBeGreaterThan(base.losses[0]!);
    expect(Array.from(word.heads['dense_head.object_word.weight']!.data as Float32Array)).not.toEqual(Array.from(base.heads['dense_head.object_word.weight']!.data as Float32Array));
    // The word probe reads only scenes with a word.
    const probe = await probeEncoder(v, word.encoder, scenes.slice(0, 16), scenes.slice(16));
    expect(probe.probes.word.n).toBe(scenes.slice(16).filter((s) => s.scene.word && denseLabels(s, v, denseVocab(scenes)).word.some((y) => y > 0)).length);
  }, 120_000);

  it('turns the hue about the grey axis: 120° is a channel permutation, a mirror swaps green and blue, greys stay; the hue augment blanks colour labels as the permutation does; shape taught on the recoloured images only', async () => {
    const v = loadVisionPreset('mini');
    const W = 96;
    const data = new Uint8Array(W * W * 3);
    // Background grey, a red square, a yellow square: every value in 0–255, so a 120° turn clips nothing.
    for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) data.set(x >= 36 && x < 60 && y >= 36 && y < 60 ? [220, 30, 30] : x < 24 && y < 24 ? [230, 220, 20] : [128, 128, 128], (y * W + x) * 3);
    const image = tileImage({ width: W, height: W, data }, v);
    const near = (a: Float32Array, b: Float32Array) => a.every((x, i) => Math.abs(x - b[i]!) < 1e-4);
    expect(near(rotateHue(image, v, 0).pixels, image.pixels)).toBe(true);
    expect(near(rotateHue(image, v, (2 * Math.PI) / 3).pixels, permuteChannels(image, v, [2, 0, 1]).pixels)).toBe(true);
    expect(near(rotateHue(image, v, (4 * Math.PI) / 3).pixels, permuteChannels(image, v, [1, 2, 0]).pixels)).toBe(true);
    expect(near(rotateHue(image, v, 0, true).pixels, permuteChannels(image, v, [0, 2, 1]).pixels)).toBe(true);
    // 60° is no permutation: red (220, 30, 30) turns to a dark yellow, (⅔·220 − ⅓·30 + ⅔·30, the same, −⅓·220 + ⅔·60 clipped to 0); the grey background stays grey.
    const turned = rotateHue(image, v, Math.PI / 3);
    const S = v.tileSize, SS = S * S, P = (row: number, col: number, ch: number) => turned.pixels[ch * SS + row * S + col]! * v.imageStd[ch]! + v.imageMean[ch]!;
    expect([P(40, 40, 0), P(40, 40, 1), P(40, 40, 2)].map((x) => Math.round(x * 255))).toEqual([157, 157, 0]);
    expect([P(30, 30, 0), P(30, 30, 1), P(30, 30, 2)].map((x) => Math.round(x * 255))).toEqual([128, 128, 128]);
    // In a batch, half the images are recoloured either way and lose their colour labels; the other labels and which images are the same.
    const scene: SceneSpec = { objects: [{ shape: 'square', colour: 'red', size: 'big', position: 'centre', count: 1 }], background: 'grey', word: null };
    const vocab = denseVocab([{ image, scene }]);
    const scenes = Array.from({ length: 8 }, () => ({ image, scene }));
    const [perm, hue] = [denseBatch(v, vocab, scenes, new Rng(3), [], { colourAugment: 'permute' }), denseBatch(v, vocab, scenes, new Rng(3), [], { colourAugment: 'hue' })];
    const colourOf = (b: typeof perm) => Array.from(b['labels.colour']!.data as Int32Array);
    expect(colourOf(hue)).toEqual(colourOf(perm));
    expect(colourOf(hue).some((c) => c === -100) && colourOf(hue).some((c) => c > 0)).toBe(true);
    expect(Array.from(hue['labels.shape']!.data as Int32Array)).toEqual(Array.from(perm['labels.shape']!.data as Int32Array));
    expect(near(hue['pixels']!.data as Float32Array, perm['pixels']!.data as Float32Array)).toBe(false);
    await expect(trainDenseEncoder(v, [{ image, scene }], { steps: 1, batch: 1, lr: 1e-2, seed: 1, colourAugment: 'rgb' as 'hue' })).rejects.toThrow(/colourAugment must be permute or hue or ink, got 'rgb'/);
    // With shape taught on the recoloured images only, the others keep every label but shape (per patch and per object);
    // the recoloured ones keep their shape labels and lose colour as before. Same draws, so the same images are recoloured.
    const objs = ['shape', 'count', 'colour'] as const;
    const [every, only] = [denseBatch(v, vocab, scenes, new Rng(3), objs, { colourAugment: 'hue' }), denseBatch(v, vocab, scenes, new Rng(3), objs, { colourAugment: 'hue', shapeLabels: 'recoloured' })];
    expect(near(only['pixels']!.data as Float32Array, every['pixels']!.data as Float32Array)).toBe(true);
    const per = (b: typeof every, k: string) => Array.from(b[k]!.data as Int32Array);
    const M = per(every, 'labels.shape').length / scenes.length;
    const recoloured = scenes.map((_, i) => per(every, 'labels.colour').slice(i * M, (i + 1) * M).every((c) => c === -100));
    expect(recoloured.some((r) => r) && recoloured.some((r) => !r)).toBe(true);
    scenes.forEach((_, i) => {
      const [a, b] = [per(every, 'labels.shape').slice(i * M, (i + 1) * M), per(only, 'labels.shape').slice(i * M, (i + 1) * M)];
      expect(a.some((x) => x > 0)).toBe(true);
      expect(b).toEqual(recoloured[i] ? a : a.map(() => -100));
      expect(per(only, 'labels.object_shape')[i * MAX_OBJECTS]).toBe(recoloured[i] ? per(every, 'labels.object_shape')[i * MAX_OBJECTS] : -100);
    });
    for (const k of ['labels.cell', 'labels.colour', 'labels.count', 'labels.object_count', 'labels.object_colour']) expect(per(only, k)).toEqual(per(every, k));
    expect(Array.from(only['pool']!.data as Float32Array)).toEqual(Array.from(every['pool']!.data as Float32Array));
    await expect(trainDenseEncoder(v, [{ image, scene }], { steps: 1, batch: 1, lr: 1e-2, seed: 1, shapeLabels: 'some' as 'all' })).rejects.toThrow(/shapeLabels must be all or recoloured, got 'some'/);
    await expect(trainDenseEncoder(v, [{ image, scene }], { steps: 1, batch: 1, lr: 1e-2, seed: 1, shapeLabels: 'recoloured', augment: false })).rejects.toThrow(/needs the colour augmentation/);
  });

  it('ink recolouring paints each object\'s ink pixels one uniform colour of its own, leaves every other pixel, and drops colour labels but keeps shape', async () => {
    const v = loadVisionPreset('mini');
    const W = 96;
    const data = new Uint8Array(W * W * 3);
    // Grey background, a red square in the centre cell, a yellow square in the top-left cell.
    for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) data.set(x >= 36 && x < 60 && y >= 36 && y < 60 ? [220, 30, 30] : x < 24 && y < 24 ? [230, 220, 20] : [128, 128, 128], (y * W + x) * 3);
    const image = tileImage({ width: W, height: W, data }, v);
    const scene: SceneSpec = { objects: [{ shape: 'square', colour: 'red', size: 'big', position: 'centre', count: 1 }, { shape: 'square', colour: 'yellow', size: 'big', position: 'top left', count: 1 }], background: 'grey', word: null };
    const painted = recolourInk(image, v, scene, new Rng(5));
    const S = v.tileSize, SS = S * S;
    const at = (img: typeof image, x: number, y: number) => [0, 1, 2].map((ch) => img.pixels[(Math.floor(y / S) * img.canvas.cols + Math.floor(x / S)) * 3 * SS + ch * SS + (y % S) * S + (x % S)]!);
    const ink = inkPixels(image, v);
    const colours = new Map<number, string>();
    let inkCount = 0;
    for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) {
      const [before, after] = [at(image, x, y), at(painted, x, y)];
      if (!ink[y * W + x]) { expect(after).toEqual(before); continue; }
      inkCount++;
      const cell = Math.floor((3 * x) / W) + 3 * Math.floor((3 * y) / W);
      const key = after.map((c) => c.toFixed(5)).join(',');
      expect(colours.get(cell) ?? key).toBe(key);
      colours.set(cell, key);
    }
    expect(inkCount).toBe(24 * 24 + 24 * 24);
    expect([...colours.keys()].sort()).toEqual([0, 4]);
    expect(colours.get(0)).not.toBe(colours.get(4));
    // The same draws give the same colours; other draws, others.
    expect(Array.from(recolourInk(image, v, scene, new Rng(5)).pixels)).toEqual(Array.from(painted.pixels));
    expect(Array.from(recolourInk(image, v, scene, new Rng(6)).pixels)).not.toEqual(Array.from(painted.pixels));
    // In a batch: the recoloured images lose every colour label (per patch and per object) and keep their shape labels.
    const vocab = denseVocab([{ image, scene }]);
    const scenes = Array.from({ length: 8 }, () => ({ image, scene }));
    const objs = ['shape', 'count', 'colour'] as const;
    const [plain, inked] = [denseBatch(v, vocab, scenes, undefined, objs), denseBatch(v, vocab, scenes, new Rng(3), objs, { colourAugment: 'ink' })];
    const per = (b: typeof plain, k: string) => Array.from(b[k]!.data as Int32Array);
    const M = per(plain, 'labels.shape').length / scenes.length;
    const recoloured = scenes.map((_, i) => per(inked, 'labels.colour').slice(i * M, (i + 1) * M).every((c) => c === -100));
    expect(recoloured.some((r) => r) && recoloured.some((r) => !r)).toBe(true);
    expect(per(inked, 'labels.shape')).toEqual(per(plain, 'labels.shape'));
    expect(per(inked, 'labels.object_shape')).toEqual(per(plain, 'labels.object_shape'));
    scenes.forEach((_, i) => {
      const objColour = per(inked, 'labels.object_colour').slice(i * MAX_OBJECTS, i * MAX_OBJECTS + 2);
      expect(objColour).toEqual(recoloured[i] ? [-100, -100] : per(plain, 'labels.object_colour').slice(i * MAX_OBJECTS, i * MAX_OBJECTS + 2));
      if (!recoloured[i]) expect(per(inked, 'labels.colour').slice(i * M, (i + 1) * M)).toEqual(per(plain, 'labels.colour').slice(i * M, (i + 1) * M));
    });
    await expect(trainDenseEncoder(v, [{ image, scene }], { steps: 1, batch: 1, lr: 1e-2, seed: 1, colourAugment: 'paint' as 'ink' })).rejects.toThrow(/colourAugment must be permute or hue or ink, got 'paint'/);
    expect(() => recolourInk(image, v, { ...scene, objects: [{ ...scene.objects[0]!, position: 'middle' }] }, new Rng(1))).toThrow(/recolourInk: object position 'middle' is not a grid cell/);
  });

  it('the silhouette view: ink pixels black, every other pixel of the image white, whatever their colours; the tiling kept', () => {
    const v = loadVisionPreset('mini');
    const W = 96;
    const draw = (square: number[], corner: number[], bg: number[]) => {
      const data = new Uint8Array(W * W * 3);
      for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) data.set(x >= 36 && x < 60 && y >= 36 && y < 60 ? square : x < 24 && y < 24 ? corner : bg, (y * W + x) * 3);
      return tileImage({ width: W, height: W, data }, v);
    };
    const image = draw([220, 30, 30], [230, 220, 20], [128, 128, 128]);
    const view = inkSilhouette(image, v);
    expect([view.nTiles, view.aspectRatioId, view.canvas, view.resized]).toEqual([image.nTiles, image.aspectRatioId, image.canvas, image.resized]);
    const S = v.tileSize, SS = S * S;
    const at = (x: number, y: number) => [0, 1, 2].map((ch) => view.pixels[(Math.floor(y / S) * view.canvas.cols + Math.floor(x / S)) * 3 * SS + ch * SS + (y % S) * S + (x % S)]! * v.imageStd[ch]! + v.imageMean[ch]!);
    const ink = inkPixels(image, v);
    let black = 0;
    for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) {
      const want = ink[y * W + x] ? 0 : 1;
      at(x, y).forEach((c) => expect(c).toBeCloseTo(want, 5));
      black += 1 - want;
    }
    expect(black).toBe(24 * 24 + 24 * 24);
    // Other colours, same shapes: the same view.
    expect(Array.from(inkSilhouette(draw([30, 80, 220], [20, 160, 40], [250, 244, 228]), v).pixels)).toEqual(Array.from(view.pixels));
  });
});
