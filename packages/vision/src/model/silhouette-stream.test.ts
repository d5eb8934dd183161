/**
 * The silhouette stream (`MllamaConfig.silhouetteLayers`, round 32) on the mllama-tiny fixture's random frozen core with a
 * fresh encoder and adapter: the layout of its layers, that its layers see no colour (an image and the same image with its
 * ink repainted give the same logits once the image layers are shut), that the training graph computes what generation
 * computes, and that a stream shut for a sequence in training (`AdapterSample.shut`) adds nothing to it and learns nothing
 * from it (the loss is the cross-entropy of generation's logits with every stream open, and with each shut).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as G from '@herd/graph';
import { TrainingRun, hostTensor } from '@herd/runtime';
import { describe, expect, it } from 'vitest';
import { type MllamaConfig, coreAttachPoints, silhouetteLayersOf, withSilhouetteStream } from '../config.js';
import { inkSilhouette, recipeSilhouettePixels } from '../data/ink.js';
import { type TiledImage, tileImage } from '../data/tiling.js';
import { visionExportModality } from '../export/export.js';
import { type AdapterSample, adapterBatch, buildAdapterTraining } from '../train/adapter.js';
import { crossLayerPrefix } from './cross-attention.js';
import { VisionGenerator } from './generate.js';
import { type VisionStream, type VisionWeights, buildImageGraph, streamOf } from './graphs.js';
import { loadHfMllama } from './load.js';
import { adapterParamSpecs, encoderParamSpecs } from './params.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'mllama-tiny');
const IMG = 600;

/** The fixture's model with a silhouette layer after each of its cross-attention layers. */
function silhouetteModel(): { m: MllamaConfig; core: ReturnType<typeof loadHfMllama>['core'] } {
  const { config, core } = loadHfMllama(FIXTURE);
  return { m: { ...config, ...withSilhouetteStream(config.crossAttentionLayers) }, core };
}

/** A 56-px white canvas with a `shape` (square or disc) of colour `rgb` in the middle. */
function drawing(m: MllamaConfig, rgb: readonly number[], shape: 'square' | 'disc'): TiledImage {
  const data = new Uint8Array(56 * 56 * 3);
  for (let y = 0; y < 56; y++) for (let x = 0; x < 56; x++) {
    const inside = shape === 'square' ? Math.abs(x - 28) < 12 && Math.abs(y - 28) < 12 : (x - 28) ** 2 + (y - 28) ** 2 < 144;
    for (let ch = 0; ch < 3; ch++) data[(y * 56 + x) * 3 + ch] = inside ? rgb[ch]! : 255;
  }
  return tileImage({ data, width: 56, height: 56 }, m.vision);
}

/** Fresh encoder + adapter values with each stream's cross-attention gates (attention and FFN) at the given value. */
function fresh(m: MllamaConfig, gates: { image: number; silhouette: number }): VisionWeights {
  const w = G.initParams([...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)], 3, { layers: 4 });
  for (const c of m.crossAttentionLayers) for (const g of ['cross_attn_attn_gate', 'cross_attn_mlp_gate']) (w[`${crossLayerPrefix(c)}.${g}`]!.data as Float32Array).fill(gates[streamOf(m, c)]);
  return w;
}

const RED = [220, 30, 30];
const GREEN = [30, 190, 60];

describe('silhouette stream', () => {
  it('lays a silhouette layer after each cross-attention layer at the same core layer, with its own projector; refuses a bad list', () => {
    const { config } = loadHfMllama(FIXTURE);
    expect(config.crossAttentionLayers).toEqual([3, 8]);
    const s = withSilhouetteStream(config.crossAttentionLayers);
    expect(s).toEqual({ crossAttentionLayers: [3, 4, 9, 10], silhouetteLayers: [4, 10] });
    expect(coreAttachPoints(s.crossAttentionLayers)).toEqual([3, 3, 7, 7]);
    expect(withSilhouetteStream([1, 4])).toEqual({ crossAttentionLayers: [1, 2, 5, 6], silhouetteLayers: [2, 6] });
    const m = { ...config, ...s };
    expect([3, 4, 9, 10].map((c) => streamOf(m, c))).toEqual(['image', 'silhouette', 'image', 'silhouette']);
    const names = adapterParamSpecs(m).map((p) => p.name);
    expect(names.filter((n) => n.includes('projector'))).toEqual(['multi_modal_projector.weight', 'multi_modal_projector.bias', 'silhouette_projector.weight', 'silhouette_projector.bias']);
    // Without the field the model is the one before: no silhouette projector.
    expect(adapterParamSpecs(config).some((p) => p.name.startsWith('silhouette_projector'))).toBe(false);
    expect(silhouetteLayersOf(config)).toEqual([]);
    expect(() => silhouetteLayersOf({ ...config, silhouetteLayers: [5] })).toThrow(/silhouetteLayers must be distinct cross-attention layers \(crossAttentionLayers \[3,8\]\), got \[5\]/);
    expect(() => silhouetteLayersOf({ ...config, silhouetteLayers: [8, 8] })).toThrow(/got \[8,8\]/);
    expect(() => silhouetteLayersOf({ ...config, silhouetteLayers: 8 as unknown as number[] })).toThrow(/must be a list of cross-attention layers, got 8/);
  });

  it('its layers see no colour: with the image layers shut, a red and a green square give the same logits; a disc does not', async () => {
    const { m, core } = silhouetteModel();
    const prompt = [1, IMG, 30, 31];
    const [redSquare, greenSquare, redDisc] = [drawing(m, RED, 'square'), drawing(m, GREEN, 'square'), drawing(m, RED, 'disc')];
    // The two squares' silhouettes are the same pixels: what the stream reads.
    expect(Array.from(inkSilhouette(redSquare, m.vision).pixels)).toEqual(Array.from(inkSilhouette(greenSquare, m.vision).pixels));
    const last = async (w: VisionWeights, img: TiledImage) => {
      const gen = VisionGenerator.create(m, core, w);
      try {
        return Array.from((await gen.logits(prompt, [img])).at(-1)!);
      } finally {
        await gen.release();
      }
    };
    const silhouetteOnly = fresh(m, { image: 0, silhouette: 0.5 });
    expect(await last(silhouetteOnly, greenSquare)).toEqual(await last(silhouetteOnly, redSquare));
    expect(await last(silhouetteOnly, redDisc)).not.toEqual(await last(silhouetteOnly, redSquare));
    // Control: with the image layers open the colour reaches the logits.
    const both = fresh(m, { image: 0.5, silhouette: 0.5 });
    expect(await last(both, greenSquare)).not.toEqual(await last(both, redSquare));
  }, 120_000);

  it('the training graph computes what generation does, and a stream shut for a sequence adds nothing to it and learns nothing from it (its loss is generation\'s with that stream\'s gates at 0)', async () => {
    const { m, core } = silhouetteModel();
    const start = fresh(m, { image: 0.5, silhouette: 0.5 });
    const images = [drawing(m, RED, 'square'), drawing(m, GREEN, 'disc')];
    const step = async (shut: AdapterSample['shut']) => {
      const run = await TrainingRun.create(buildAdapterTraining(m, core, start, 2, 3, { weightDecay: 0 }), Object.fromEntries(Object.entries(start).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])));
      try {
        const samples = images.map((image, i) => ({ image, tokens: [1, IMG, 30], targets: [-100, -100, 40 + i], ...(shut ? { shut } : {}) }));
        const { loss } = await run.trainStep(adapterBatch(m, samples, 3), 1e-2);
        return { loss, after: await run.readParams() };
      } finally {
        await run.release();
      }
    };
    // The mean cross-entropy of the two targets under generation, with `closed`'s gates at 0.
    const generated = async (closed: VisionStream | undefined) => {
      const w = closed ? { ...start, ...Object.fromEntries(m.crossAttentionLayers.filter((c) => streamOf(m, c) === closed).flatMap((c) => ['cross_attn_attn_gate', 'cross_attn_mlp_gate'].map((g) => [`${crossLayerPrefix(c)}.${g}`, hostTensor('f32', [1], [0])]))) } : start;
      const gen = VisionGenerator.create(m, core, w);
      try {
        const ce = await Promise.all(images.map(async (img, i) => {
          const row = Array.from((await gen.logits([1, IMG, 30], [img]))[2]!);
          const top = Math.max(...row);
          return Math.log(row.reduce((a, x) => a + Math.exp(x - top), 0)) + top - row[40 + i]!;
        }));
        return (ce[0]! + ce[1]!) / 2;
      } finally {
        await gen.release();
      }
    };
    const moved = (after: Awaited<ReturnType<typeof step>>['after'], prefix: string) =>
      Object.keys(start).filter((k) => k.startsWith(prefix)).some((k) => Array.from(after[k]!.data as Float32Array).some((x, i) => x !== (start[k]!.data as Float32Array)[i]));
    const [image, silhouette] = m.crossAttentionLayers.slice(0, 2).map((c) => `${crossLayerPrefix(c)}.`); // the first image layer and its silhouette layer
    const streams = (after: Awaited<ReturnType<typeof step>>['after']) => [moved(after, image!), moved(after, silhouette!), moved(after, 'multi_modal_projector'), moved(after, 'silhouette_projector')];
    const open = await step(undefined);
    const imageShut = await step(['image']);
    const silhouetteShut = await step(['silhouette']);
    expect(Math.abs(open.loss - (await generated(undefined)))).toBeLessThan(1e-4);
    expect(Math.abs(imageShut.loss - (await generated('image')))).toBeLessThan(1e-4);
    expect(Math.abs(silhouetteShut.loss - (await generated('silhouette')))).toBeLessThan(1e-4);
    expect(imageShut.loss).not.toBe(open.loss);
    expect(streams(open.after)).toEqual([true, true, true, true]);
    expect(streams(imageShut.after)).toEqual([false, true, false, true]);
    expect(streams(silhouetteShut.after)).toEqual([true, false, true, false]);
    // The encoder serves both views: it moves either way.
    expect(moved(imageShut.after, 'vision_model.') && moved(silhouetteShut.after, 'vision_model.')).toBe(true);
  }, 180_000);

  it('given encoder features are refused; the export feeds the silhouette: its recipe says so, its encoder takes silhouettePixels, made as inkSilhouette makes them', () => {
    const { m } = silhouetteModel();
    const w = fresh(m, { image: 0.5, silhouette: 0.5 });
    expect(() => buildImageGraph(m, w, 1, 'features')).toThrow(/silhouette stream \(silhouetteLayers\) reads pixels/);
    const exported = visionExportModality(m, w);
    const recipe = exported.recipe as { preprocess: { silhouette?: boolean; text: string[] } & Pick<MllamaConfig['vision'], 'tileSize' | 'imageMean' | 'imageStd'> };
    expect(recipe.preprocess.silhouette).toBe(true);
    expect(recipe.preprocess.text.some((t) => t.startsWith('Silhouette (silhouette = true; the checkpoint\'s silhouette stream, its cross-attention layers [1,3] by adapter layer'))).toBe(true);
    expect(exported.graphs['encoder']!.inputs.map((i) => i.name)).toContain('silhouettePixels');
    const image = drawing(m, RED, 'disc');
    expect(recipeSilhouettePixels(image, recipe)).toEqual(inkSilhouette(image, m.vision).pixels);
    // Without the stream: no silhouette in the recipe, no such input, nothing to feed.
    const { config } = loadHfMllama(FIXTURE);
    const plain = visionExportModality(config, fresh(config, { image: 0.5, silhouette: 0.5 }));
    expect((plain.recipe as { preprocess: object }).preprocess).not.toHaveProperty('silhouette');
    expect(plain.graphs['encoder']!.inputs.map((i) => i.name)).not.toContain('silhouettePixels');
    expect(recipeSilhouettePixels(image, plain.recipe as typeof recipe)).toBeUndefined();
  });
});
