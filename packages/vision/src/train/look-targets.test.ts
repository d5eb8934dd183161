/**
 * The look loss's targets in the recipe (`--look-weight`): which grid cell a key-word question names (`lookCells`), which image
 * tokens and reply rows the batch marks for it (`lookFeeds`), and the recipe with it on (its step log, its refusals).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { describe, expect, it } from 'vitest';
import { patchPlaces } from '../data/patch-place.js';
import { tileImage } from '../data/tiling.js';
import { type AdapterSample, lookFeeds } from './adapter.js';
import { type SceneSpec } from './dense-mini.js';
import { type SceneExample, freshMiniVision, lookCells, miniVisionConfig, parseLookTypes, trainMiniVision } from './mini.js';

const SCENE: SceneSpec = {
  objects: [
    { shape: 'triangle', colour: 'green', size: 'big', position: 'bottom', count: 2 },
    { shape: 'circle', colour: 'red', size: 'small', position: 'left', count: 1 },
  ],
  background: 'white',
  word: { text: 'cat', corner: 'top right' },
};

describe('parseLookTypes (--look-types)', () => {
  it('keeps LOOK_TYPES order and refuses an unknown or empty list, naming it', () => {
    expect(parseLookTypes('word, colour')).toEqual(['colour', 'word']);
    expect(() => parseLookTypes('colour,size')).toThrow(/--look-types "colour,size": expected comma-separated question types the look loss marks, of colour, shape, count, position, word \(not "size"\)/);
    expect(() => parseLookTypes(',')).toThrow(/--look-types ",": expected/);
  });
});

describe('lookCells: the cell of the object a key-word question names', () => {
  it('shape questions by place, colour / count / position by shape (singular or plural), the word by its corner; nothing else', () => {
    expect(lookCells(SCENE, { type: 'shape', question: 'What is near the bottom?' })).toEqual([[1, 2]]);
    expect(lookCells(SCENE, { type: 'shape', question: 'What shape is in the middle?' })).toEqual([[1, 1]]);
    expect(lookCells(SCENE, { type: 'colour', question: 'What colour are the triangles?' })).toEqual([[1, 2]]);
    expect(lookCells(SCENE, { type: 'colour', question: 'What colour is the circle?' })).toEqual([[0, 1]]);
    expect(lookCells(SCENE, { type: 'position', question: 'Where is the red circle?' })).toEqual([[0, 1]]);
    expect(lookCells(SCENE, { type: 'count', question: 'How many triangles are there?' })).toEqual([[1, 2]]);
    // Absent: nothing to look at ("There are no hexagons.").
    expect(lookCells(SCENE, { type: 'count', question: 'How many hexagons are there?' })).toEqual([]);
    expect(lookCells(SCENE, { type: 'word', question: 'What word is written?' })).toEqual([[2, 0]]);
    expect(lookCells({ ...SCENE, word: null }, { type: 'word', question: 'What word is written?' })).toEqual([]);
    for (const type of ['size', 'exists', 'total']) expect(lookCells(SCENE, { type, question: 'Is the circle big or small?' })).toEqual([]);
  });
});

describe('lookFeeds: the marked image tokens and rows of a batch', () => {
  const m = miniVisionConfig(loadLanguageCore().config);
  const image = tileImage({ data: new Uint8Array(90 * 60 * 3).fill(255), width: 90, height: 60 }, m.vision);
  const S = m.vision.maxTiles * ((m.vision.tileSize / m.vision.patchSize) ** 2 + 1);

  it('marks exactly the tokens whose patch lies in a look cell (3×3 over the image) and the rows with a target; nothing without a look', () => {
    const sample = (look?: AdapterSample['look']): AdapterSample => ({ image, tokens: [1, 2, 3, 4], targets: [-100, 7, -100, 9], ...(look ? { look } : {}) });
    const f = lookFeeds(m, [sample([[1, 2]]), sample([[0, 1], [2, 1]]), sample(), sample([])], 4);
    const tokens = f['xattn.look.tokens']!.data as Float32Array;
    const rows = f['xattn.look.rows']!.data as Float32Array;
    expect(f['xattn.look.tokens']!.shape).toEqual([4, S]);
    const cells = patchPlaces(image, m.vision, 3);
    const want = (look: readonly (readonly [number, number])[]) => Array.from({ length: S }, (_, t) => (look.some(([c, r]) => cells.col[t] === c && cells.row[t] === r) ? 1 : 0));
    expect(Array.from(tokens.subarray(0, S))).toEqual(want([[1, 2]]));
    expect(Array.from(tokens.subarray(S, 2 * S))).toEqual(want([[0, 1], [2, 1]]));
    expect(want([[1, 2]]).reduce((a: number, x) => a + x, 0)).toBeGreaterThan(0);
    expect(Array.from(tokens.subarray(2 * S)).every((x) => x === 0)).toBe(true);
    expect(Array.from(rows)).toEqual([0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe('the recipe with the look loss (lookWeight)', () => {
  it('trains with it (the step log has the answer loss apart and the attended mass), and refuses what it cannot use', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config);
    const data = new Uint8Array(56 * 56 * 3).map((_, j) => { const [x, y] = [Math.floor(j / 3) % 56, Math.floor(j / 168)]; return x >= 20 && x < 36 && y >= 20 && y < 36 ? [220, 30, 30][j % 3]! : 255; });
    const scene: SceneExample = {
      key: 's0', split: 'train', image: tileImage({ data, width: 56, height: 56 }, m.vision), caption: 'A red square.',
      qa: [{ type: 'colour', question: 'What colour is the square?', answer: 'The square is red.' }],
      scene: { objects: [{ shape: 'square', colour: 'red', size: 'big', position: 'centre', count: 1 }], background: 'white', word: null },
    };
    const dir = mkdtempSync(join(tmpdir(), 'herd-look-'));
    try {
      const base = { core, tokenizer: tok, captionSteps: 0, qaSteps: 2, batch: 2, seqLen: 32, lr: 1e-3, keyWordShare: 1, lookWeight: 0.5, init: freshMiniVision(m, 1, 0.5), scenes: [scene] };
      await trainMiniVision({ ...base, stepLogDir: dir });
      const steps = readFileSync(join(dir, 'qa.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>).filter((l) => (l as { event?: unknown }).event === 'step');
      expect(steps).toHaveLength(2);
      for (const s of steps) {
        expect(s['lookMass']).toBeGreaterThan(0);
        expect(s['lookMass']).toBeLessThan(1);
        // loss = answer loss + 0.5 · (−log mass): one marked row per sequence's target word at least, so the look part is > 0.
        expect(s['loss']! - s['lmLoss']!).toBeGreaterThan(0);
      }
      await expect(trainMiniVision({ ...base, keyWordShare: 0 })).rejects.toThrow(/the look loss trains the key-word sequences' rows: set keyWordShare above 0 too/);
      await expect(trainMiniVision({ ...base, lookWeight: -1 })).rejects.toThrow(/lookWeight must be a finite number ≥ 0, got -1/);
      // lookTypes: a type left out trains on its answer alone (no row marked: the loss is the answer loss); naming the type is the default.
      const only = async (lookTypes: readonly string[], sub: string): Promise<Record<string, number>[]> => {
        await trainMiniVision({ ...base, lookTypes, stepLogDir: join(dir, sub) });
        return readFileSync(join(dir, sub, 'qa.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>).filter((l) => (l as { event?: unknown }).event === 'step');
      };
      for (const s of await only(['shape', 'word'], 'unmarked')) expect(s['loss']).toBeCloseTo(s['lmLoss']!, 6);
      expect((await only(['colour'], 'marked')).map((s) => s['loss'])).toEqual(steps.map((s) => s['loss']));
      await expect(trainMiniVision({ ...base, lookTypes: ['colour', 'size'] })).rejects.toThrow(/lookTypes: "size" is not a question type the look loss marks \(colour, shape, count, position, word\)/);
      await expect(trainMiniVision({ ...base, lookWeight: 0, lookTypes: ['colour'] })).rejects.toThrow(/lookTypes says which sequences the look loss marks: set lookWeight above 0 too/);
      const { scene: _, ...noSpec } = scene;
      await expect(trainMiniVision({ ...base, scenes: [noSpec] })).rejects.toThrow(/the look loss needs each training scene's spec/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
