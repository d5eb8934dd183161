/**
 * Learned place embeddings (`MllamaConfig.placeBins`): off leaves every graph byte-identical and the
 * committed checkpoint's image keys/values unchanged; zero tables are the model without them to the bit;
 * a table row reaches exactly the tokens of its bin; and on given features that hold no place at all
 * (the same code wherever the object is) only a model with them can tell left from right.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { TrainingRun, hostTensor } from '@herd/runtime';
import { describe, expect, it } from 'vitest';
import { type MllamaConfig, patchesPerTile, placeBinsOf, visionOutputDim } from '../config.js';
import { patchPlaces, recipePlaceInputs } from '../data/patch-place.js';
import { type TiledImage, tileImage } from '../data/tiling.js';
import { blindImage } from '../eval/vqa.js';
import { visionExportModality } from '../export/export.js';
import { loadMiniVision } from '../mini.js';
import { adapterBatch, buildAdapterTraining } from '../train/adapter.js';
import { VisionGenerator } from './generate.js';
import { buildImageGraph, buildVisionDecoder } from './graphs.js';
import { loadHfMllama } from './load.js';
import { PLACE_COL, PLACE_ROW, adapterParamSpecs, encoderParamSpecs, placeParamSpecs } from './params.js';
import { packPlaces } from './place.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'mllama-tiny');
const IMG = 600;
type Values = Record<string, { shape: number[]; data: Float32Array }>;

function noiseImage(m: MllamaConfig, w: number, h: number, seed: number): TiledImage {
  const rng = new Rng(seed);
  return tileImage({ data: Uint8Array.from({ length: w * h * 3 }, () => rng.int(256)), width: w, height: h }, m.vision);
}

const tables = (m: MllamaConfig, fill: (name: string, bin: number, d: number) => number): Values =>
  Object.fromEntries(placeParamSpecs(m).map((s) => [s.name, { shape: [...s.shape], data: Float32Array.from({ length: s.shape[0]! * s.shape[1]! }, (_, i) => fill(s.name, Math.floor(i / s.shape[1]!), i % s.shape[1]!)) }]));

async function imageKv(m: MllamaConfig, core: Parameters<typeof VisionGenerator.create>[1], w: Parameters<typeof VisionGenerator.create>[2], images: TiledImage[]) {
  const gen = VisionGenerator.create(m, core, w);
  try {
    return (await gen.encode(images)).kv;
  } finally {
    await gen.release();
  }
}

describe('place embeddings (placeBins)', () => {
  it('off (absent or 0): no tables, no inputs, the image graph and decoder byte-identical; a bad count is refused', () => {
    const { config: m, vision } = loadHfMllama(FIXTURE);
    expect(m.placeBins).toBeUndefined();
    expect(placeParamSpecs(m)).toEqual([]);
    expect(packPlaces(m, [noiseImage(m, 56, 56, 1)])).toEqual({});
    const off = { ...m, placeBins: 0 };
    for (const source of ['pixels', 'features'] as const) expect(Buffer.from(buildImageGraph(off, vision, 1, source).bytes).equals(Buffer.from(buildImageGraph(m, vision, 1, source).bytes))).toBe(true);
    const { core } = loadHfMllama(FIXTURE);
    expect(Buffer.from(buildVisionDecoder(off, core, vision, 64).bytes).equals(Buffer.from(buildVisionDecoder(m, core, vision, 64).bytes))).toBe(true);
    for (const bad of [-1, 65, 2.5]) expect(() => placeBinsOf({ placeBins: bad })).toThrow(/placeBins must be a whole number from 0 \(none\) to 64/);
    // On: two [G, D] tables and two inputs of the image graph; the decoder does not hold them.
    const on = { ...m, placeBins: 4 };
    expect(placeParamSpecs(on).map((s) => [s.name, s.shape])).toEqual([[PLACE_ROW, [4, m.text.dim]], [PLACE_COL, [4, m.text.dim]]]);
    const g = buildImageGraph(on, { ...vision, ...tables(on, () => 0) }, 2);
    expect(g.inputs.filter((i) => i.name.startsWith('place')).map((i) => [i.name, i.dtype, i.shape])).toEqual([['placeRow', 'i32', [2, m.vision.maxTiles, patchesPerTile(m.vision)]], ['placeCol', 'i32', [2, m.vision.maxTiles, patchesPerTile(m.vision)]]]);
    expect(Buffer.from(buildVisionDecoder(on, core, { ...vision, ...tables(on, () => 0) }, 64).bytes).equals(Buffer.from(buildVisionDecoder(m, core, vision, 64).bytes))).toBe(true);
  });

  it('zero tables give the keys/values of the model without them to the bit; a row of bin r reaches exactly the tokens in row bin r', async () => {
    const { config: m, core, vision } = loadHfMllama(FIXTURE);
    const on = { ...m, placeBins: 3 };
    const images = [noiseImage(m, 90, 50, 2)]; // a wide image: 2 tiles of 4 slots, padding patches at the bottom
    const plain = await imageKv(m, core, vision, images);
    const zero = await imageKv(on, core, { ...vision, ...tables(on, () => 0) }, images);
    for (const k of Object.keys(plain)) expect(Array.from(zero[k]!.data as Float32Array)).toEqual(Array.from(plain[k]!.data as Float32Array));
    // Only row bin 1 of the row table is non-zero: the keys of exactly the tokens whose patch is in row bin 1 change.
    const one = await imageKv(on, core, { ...vision, ...tables(on, (name, bin, d) => (name === PLACE_ROW && bin === 1 ? Math.sin(d + 1) : 0)) }, images);
    const { row } = patchPlaces(images[0]!, m.vision, 3);
    const [, K, S, Dh] = plain['xattn.k.0']!.shape as number[];
    expect(S).toBe(row.length);
    const a = plain['xattn.k.0']!.data as Float32Array, b = one['xattn.k.0']!.data as Float32Array;
    const changed = Array.from({ length: S! }, (_, t) => { let diff = false; for (let h = 0; h < K!; h++) for (let d = 0; d < Dh!; d++) if (a[(h * S! + t) * Dh! + d] !== b[(h * S! + t) * Dh! + d]) diff = true; return diff; });
    expect(row.filter((r) => r === 1).length).toBeGreaterThan(0);
    expect(changed).toEqual(Array.from(row, (r) => r === 1));
  });

  it('the blind control (blindImage) is image-free with place embeddings too: its tokens get no place rows, pixels or given features', async () => {
    const { config: m, core, vision } = loadHfMllama(FIXTURE);
    const on = { ...m, placeBins: 3 };
    const rnd = tables(on, (name, bin, d) => Math.sin(5 * bin + d + (name === PLACE_ROW ? 0 : 2)));
    const P = patchesPerTile(m.vision), Dv = visionOutputDim(m.vision);
    const pix = noiseImage(m, 90, 50, 5);
    const feat: TiledImage = { ...pix, features: Float32Array.from({ length: m.vision.maxTiles * P * Dv }, (_, i) => Math.cos(i)) };
    for (const image of [pix, feat]) {
      const blind = blindImage(image);
      const packed = packPlaces(on, [image, blind]);
      const row = packed['placeRow']!.data as Int32Array, col = packed['placeCol']!.data as Int32Array, n = m.vision.maxTiles * P;
      expect(Array.from(row.subarray(0, n)).some((r) => r >= 0)).toBe(true); // the image itself has places
      expect(Array.from(row.subarray(n)).every((r) => r === -1) && Array.from(col.subarray(n)).every((c) => c === -1)).toBe(true);
      // The blind image's keys/values with (non-zero) place tables are those of the model without place embeddings to the bit,
      const withTables = await imageKv(on, core, { ...vision, ...rnd }, [blind]);
      const without = await imageKv(m, core, vision, [blind]);
      for (const k of Object.keys(without)) expect(Array.from(withTables[k]!.data as Float32Array)).toEqual(Array.from(without[k]!.data as Float32Array));
      // while the image's own keys do get the tables (the check above is not vacuous).
      const seen = await imageKv(on, core, { ...vision, ...rnd }, [image]);
      const plain = await imageKv(m, core, vision, [image]);
      expect(Array.from(seen['xattn.k.0']!.data as Float32Array)).not.toEqual(Array.from(plain['xattn.k.0']!.data as Float32Array));
    }
  });

  it('given features with no place in them (the same code wherever the object is): left vs right is learnt only with place embeddings', async () => {
    const { config: m, core } = loadHfMllama(FIXTURE);
    const P = patchesPerTile(m.vision), Dv = visionOutputDim(m.vision), g = Math.sqrt(P - 1);
    const code = Float32Array.from({ length: Dv }, (_, d) => Math.cos(3 * d));
    const grey = tileImage({ data: new Uint8Array(56 * 56 * 3).fill(128), width: 56, height: 56 }, m.vision); // one tile, g×g patches
    // Side c (0 left, 1 right): the code on one random patch of that half, zero elsewhere.
    const image = (c: number, rng: Rng): TiledImage => {
      const f = new Float32Array(m.vision.maxTiles * P * Dv);
      const [r, col] = [rng.int(g), c * (g / 2) + rng.int(g / 2)];
      f.set(code, (1 + r * g + col) * Dv);
      return { ...grey, features: f };
    };
    const run = async (mm: MllamaConfig): Promise<number[]> => {
      const fresh = G.initParams([...encoderParamSpecs(mm.vision), ...adapterParamSpecs(mm)], 3, { layers: 4 });
      const values = { ...fresh, ...tables(mm, (_, bin, d) => 0.1 * Math.sin(7 * bin + d)) };
      const graphs = buildAdapterTraining(mm, core, values, 4, 3, { weightDecay: 0 }, 'features');
      const tr = await TrainingRun.create(graphs, Object.fromEntries(Object.entries(values).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])));
      const rng = new Rng(4);
      const losses: number[] = [];
      try {
        for (let s = 0; s < 80; s++) losses.push((await tr.trainStep(adapterBatch(mm, [0, 1, 0, 1].map((c) => ({ image: image(c, rng), tokens: [1, IMG, 30], targets: [-100, -100, 40 + c] })), 3), 1e-2)).loss);
      } finally {
        await tr.release();
      }
      return losses;
    };
    const tail = (l: number[]) => l.slice(-5).reduce((a, b) => a + b, 0) / 5;
    // Without places the two sides' key/value sets are the same up to order, so the model answers both alike: on this random
    // frozen core its loss stops at the side-blind plateau (measured 3.81 from step ~20 on). With a 2×2 place grid the side
    // is in the tokens and the loss falls well below that plateau (measured 2.99 by step ~60).
    const without = await run(m);
    const withPlaces = await run({ ...m, placeBins: 2 });
    expect(Math.abs(tail(without) - without[40]!)).toBeLessThan(0.02); // a plateau
    expect(tail(withPlaces)).toBeLessThan(tail(without) - 0.4);
  });

  it('export: the image graph takes the place inputs and holds the tables, the decoder\'s weights do not; the recipe says how to make the inputs', () => {
    const { config: m, vision } = loadHfMllama(FIXTURE);
    const on = { ...m, placeBins: 4 };
    const x = visionExportModality(on, { ...vision, ...tables(on, () => 0.5) });
    const enc = x.graphs['encoder']!;
    expect(enc.inputs.map((i) => i.name)).toEqual(expect.arrayContaining(['pixels', 'placeRow', 'placeCol']));
    expect(Object.keys(x.weights ?? {}).filter((n) => n.startsWith('vision_place.'))).toEqual([]);
    const pre = (x.recipe as { preprocess: { placeBins?: number; text: string[] } }).preprocess;
    expect(pre.placeBins).toBe(4);
    expect(pre.text.at(-1)).toMatch(/^Place inputs \(placeBins = 4\): placeRow \/ placeCol/);
    const off = (visionExportModality(m, vision).recipe as { preprocess: Record<string, unknown> }).preprocess;
    expect(off).not.toHaveProperty('placeBins');
    expect(visionExportModality(m, vision).graphs['encoder']!.inputs.map((i) => i.name)).not.toContain('placeRow');
  });

  it('recipePlaceInputs: from the export\'s recipe alone, the same place inputs as packPlaces (what the chat\'s runner and page feed); none without place bins', () => {
    const { config: m, vision } = loadHfMllama(FIXTURE);
    const on = { ...m, placeBins: 4 };
    const recipe = visionExportModality(on, { ...vision, ...tables(on, () => 0.5) }).recipe as Parameters<typeof recipePlaceInputs>[1];
    for (const [w, h] of [[90, 50], [40, 130], [56, 56]] as const) {
      const im = noiseImage(on, w, h, 3);
      const fromRecipe = recipePlaceInputs(im, recipe)!;
      const packed = packPlaces(on, [im]);
      expect(fromRecipe.dims).toEqual(packed['placeRow']!.shape);
      expect(Array.from(fromRecipe.placeRow)).toEqual(Array.from(packed['placeRow']!.data as Int32Array));
      expect(Array.from(fromRecipe.placeCol)).toEqual(Array.from(packed['placeCol']!.data as Int32Array));
      expect(fromRecipe.placeRow.some((x) => x > 0)).toBe(true); // not all −1 / 0
    }
    expect(recipePlaceInputs(noiseImage(m, 90, 50, 3), visionExportModality(m, vision).recipe as Parameters<typeof recipePlaceInputs>[1])).toBeUndefined();
  });

  it('the committed checkpoint (round 27: 6 place bins) loads its place tables; without them, a config lacking the field builds the image graph of placeBins 0', () => {
    const v = loadMiniVision();
    expect(v.config.placeBins).toBe(6);
    expect(Object.keys(v.weights).filter((n) => n.startsWith('vision_place.')).sort()).toEqual(placeParamSpecs(v.config).map((s) => s.name).sort());
    const weights = Object.fromEntries(Object.entries(v.weights).filter(([n]) => !n.startsWith('vision_place.')));
    const { placeBins: _, ...without } = v.config;
    expect(Buffer.from(buildImageGraph(without, weights, 1).bytes).equals(Buffer.from(buildImageGraph({ ...v.config, placeBins: 0 }, weights, 1).bytes))).toBe(true);
    expect(Buffer.from(buildImageGraph(v.config, v.weights, 1).bytes).equals(Buffer.from(buildImageGraph(without, weights, 1).bytes))).toBe(false);
  });
});
