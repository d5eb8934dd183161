/**
 * Adapter training through the core's shared LM recipe, on the fixture's (random, frozen) core with
 * a fresh encoder and adapter: the loss on a token that names the image's colour must halve and the
 * colour word must win among the four for held-out images, the
 * trained set must be exactly the encoder and adapter, and a text-only prompt must give the frozen
 * core's logits unchanged after training.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Generator, buildDecoder } from '@herd/llama3';
import { TrainingRun, hostTensor } from '@herd/runtime';
import { describe, expect, it } from 'vitest';
import { patchesPerTile, visionOutputDim } from '../config.js';
import { type TiledImage, packFeatures, tileImage } from '../data/tiling.js';
import { blindImage } from '../eval/vqa.js';
import { VisionGenerator } from '../model/generate.js';
import { loadHfMllama } from '../model/load.js';
import { adapterParamSpecs, encoderParamSpecs } from '../model/params.js';
import { type AdapterSample, adapterBatch, buildAdapterTraining } from './adapter.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'mllama-tiny');
const IMG = 600;
const COLOURS: [number, number, number][] = [[220, 30, 30], [30, 200, 40], [40, 60, 230], [230, 210, 40]];

type Params = Record<string, { shape: number[]; data: Float32Array }>;

/** 40 steps at lr 1e-2 on batches of the four colours (one sample each, seeded): the losses and the trained values. */
async function trainColours(graphs: ReturnType<typeof buildAdapterTraining>, fresh: Params, sample: (c: number, rng: Rng) => AdapterSample, m: Parameters<typeof adapterBatch>[0]): Promise<{ losses: number[]; trained: Params }> {
  const run = await TrainingRun.create(graphs, Object.fromEntries(Object.entries(fresh).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])));
  const rng = new Rng(4);
  const losses: number[] = [];
  try {
    for (let s = 0; s < 40; s++) losses.push((await run.trainStep(adapterBatch(m, [0, 1, 2, 3].map((c) => sample(c, rng)), 3), 1e-2)).loss);
    const out = await run.readParams();
    return { losses, trained: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { shape: [...v.shape], data: v.data as Float32Array }])) };
  } finally {
    await run.release();
  }
}

describe('adapter training (frozen core)', () => {
  it('learns to name the image colour; core untouched; text-only logits identical after training', async () => {
    const { config: m, core } = loadHfMllama(FIXTURE);
    const fresh = G.initParams([...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)], 3, { layers: 4 });
    const image = (c: number, rng: Rng): TiledImage => {
      const data = new Uint8Array(56 * 56 * 3);
      for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.max(0, COLOURS[c]![i % 3]! + Math.round((rng.next() - 0.5) * 60)));
      return tileImage({ data, width: 56, height: 56 }, m.vision);
    };
    const sample = (c: number, rng: Rng) => ({ image: image(c, rng), tokens: [1, IMG, 30], targets: [-100, -100, 40 + c] });
    const graphs = buildAdapterTraining(m, core, fresh, 4, 3, { weightDecay: 0 });
    const { losses, trained } = await trainColours(graphs, fresh, (c, rng) => sample(c, rng), m);
    // Only the encoder and adapter were trained: no core parameter is in the trained set.
    expect(Object.keys(trained).sort()).toEqual(Object.keys(fresh).sort());
    const tail = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
    expect(tail).toBeLessThan(0.5 * losses[0]!);
    const gen = VisionGenerator.create(m, core, trained);
    try {
      const held = new Rng(77);
      for (let c = 0; c < 4; c++) {
        const rows = await gen.logits([1, IMG, 30], [image(c, held)]);
        // Among the four colour words (the random frozen core limits how far their logits can move
        // against the other 596 ids, so the full-vocabulary loss plateaus near 2.8 here).
        const words = Array.from(rows[2]!.subarray(40, 44));
        expect(words.indexOf(Math.max(...words))).toBe(c);
      }
      // Frozen means frozen: a text-only prompt gives the core's own logits, to the bit.
      const text = [1, 40, 41, 42, 43];
      const plain = await Generator.create(m.text, buildDecoder(m.text, core));
      try {
        const a = await gen.logits(text, []);
        const b = await plain.logits(text);
        a.forEach((row, t) => expect(Array.from(row)).toEqual(Array.from(b[t]!)));
      } finally {
        await plain.release();
      }
    } finally {
      await gen.release();
    }
  });

  it('given encoder features (the oracle): the encoder is skipped, projector + adapter learn the colour from the features alone', async () => {
    const { config: m, core } = loadHfMllama(FIXTURE);
    const fresh = G.initParams([...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)], 3, { layers: 4 });
    const per = m.vision.maxTiles * patchesPerTile(m.vision) * visionOutputDim(m.vision);
    const codeRng = new Rng(9);
    const codes = COLOURS.map(() => Float32Array.from({ length: per }, () => codeRng.normal()));
    // Every image has the SAME grey pixels: only the given features tell the colours apart (code + noise).
    const grey = tileImage({ data: new Uint8Array(56 * 56 * 3).fill(128), width: 56, height: 56 }, m.vision);
    const image = (c: number, rng: Rng): TiledImage => ({ ...grey, features: codes[c]!.map((x) => x + 0.3 * rng.normal()) });
    const sample = (c: number, rng: Rng) => ({ image: image(c, rng), tokens: [1, IMG, 30], targets: [-100, -100, 40 + c] });
    const graphs = buildAdapterTraining(m, core, fresh, 4, 3, { weightDecay: 0 }, 'features');
    const { losses, trained } = await trainColours(graphs, fresh, (c, rng) => sample(c, rng), m);
    // No encoder parameter is in the graph: the trained set is exactly the projector + adapter.
    expect(Object.keys(trained).sort()).toEqual(adapterParamSpecs(m).map((s) => s.name).sort());
    expect(losses.slice(-5).reduce((a, b) => a + b, 0) / 5).toBeLessThan(0.5 * losses[0]!);
    const gen = VisionGenerator.create(m, core, { ...fresh, ...trained });
    try {
      const held = new Rng(77);
      const best = async (img: TiledImage) => { const words = Array.from((await gen.logits([1, IMG, 30], [img]))[2]!.subarray(40, 44)); return words.indexOf(Math.max(...words)); };
      for (let c = 0; c < 4; c++) expect(await best(image(c, held))).toBe(c);
      // The blind control zeroes the given features too: every colour then gets the same answer.
      const blind = await Promise.all([0, 1, 2, 3].map((c) => best(blindImage(image(c, held)))));
      expect(new Set(blind).size).toBe(1);
    } finally {
      await gen.release();
    }
  });

  it('packFeatures: all images carry features or none; a wrong length is refused', () => {
    const { config: m } = loadHfMllama(FIXTURE);
    const per = m.vision.maxTiles * patchesPerTile(m.vision) * visionOutputDim(m.vision);
    const plain = tileImage({ data: new Uint8Array(56 * 56 * 3).fill(128), width: 56, height: 56 }, m.vision);
    const given = { ...plain, features: new Float32Array(per).fill(1) };
    expect(packFeatures([plain, plain], per)).toBeUndefined();
    expect(Array.from(packFeatures([given, given], per)!.subarray(per - 1, per + 1))).toEqual([1, 1]);
    expect(() => packFeatures([given, plain], per)).toThrow(/1 of 2 images carry given encoder features/);
    expect(() => packFeatures([{ ...plain, features: new Float32Array(3) }], per)).toThrow(/image 0 has 3 feature values, expected/);
  });
});
