/**
 * Images per second through the vision path at the built-in `mini` size on CPU: preprocessing
 * (tiling a 200×150 RGB image: canvas choice, Pillow-style resize, pad, normalise) and the image graph
 * (encoder + projector + every cross-attention layer's keys/values) with random weights, batch of I
 * images per run.
 *
 *   node bench/dist/vision-encode.js [--images I] [--runs N] [--threads T]
 *
 * Prints a table and writes bench/results/vision-encode.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { fusionSchedule, loadPreset } from '@herd/llama3';
import { Session, hostTensor } from '@herd/runtime';
import { type MllamaConfig, adapterParamSpecs, buildImageGraph, encoderParamSpecs, loadVisionPreset, packImages, tileImage } from '@herd/vision';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: 'Images per second through the vision path at the mini size on CPU: preprocessing (tiling a 200×150 image) and the image graph (encoder + projector + cross-attention keys/values), random weights.',
  writes: 'bench/results/vision-encode.json',
  flags: {
    images: { value: 'I', default: '8', help: 'images per run (the batch)' },
    runs: { value: 'N', default: '10', help: 'timed runs' },
    threads: { value: 'T', default: String(cpus().length), help: 'ONNX Runtime threads' },
  },
});
const nImages = cli.number('images');
const runs = cli.number('runs');
const threads = cli.number('threads');

const text = loadPreset('mini', { vocabSize: 600 });
const m: MllamaConfig = { text, vision: loadVisionPreset('mini'), crossAttentionLayers: fusionSchedule(text.nLayers, 4).map((c, k) => c + k), imageTokenId: 600, nLearnableTokens: 8 };
const weights = G.initParams([...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)], 0, { layers: m.vision.nLayers });

const rng = new Rng(1);
const img = { data: Uint8Array.from({ length: 200 * 150 * 3 }, () => Math.floor(rng.next() * 256)), width: 200, height: 150 };
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const pre: number[] = [];
for (let r = 0; r < runs; r++) {
  const t = performance.now();
  for (let i = 0; i < nImages; i++) tileImage(img, m.vision);
  pre.push(performance.now() - t);
}
const tiled = Array.from({ length: nImages }, () => tileImage(img, m.vision));
const packed = packImages(tiled, m.vision.maxTiles, m.vision.tileSize);
const session = await Session.create(buildImageGraph(m, weights, nImages), { threads }, 'vision_image_kv');
const { maxTiles: N, tileSize: S } = m.vision;
const feeds = {
  pixels: hostTensor('f32', [nImages, N, 3, S, S], packed.pixels),
  aspectRatioIds: hostTensor('i32', [nImages], packed.aspectRatioIds),
  tileMask: hostTensor('bool', [nImages, N], packed.aspectRatioMask),
};
await session.run(feeds);
const enc: number[] = [];
for (let r = 0; r < runs; r++) {
  const t = performance.now();
  await session.run(feeds);
  enc.push(performance.now() - t);
}
await session.release();

const result = {
  machine: `${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}`,
  threads,
  images: nImages,
  tilesPerImage: tiled[0]!.nTiles,
  preprocessImagesPerS: (nImages * 1000) / median(pre),
  encoderImagesPerS: (nImages * 1000) / median(enc),
  endToEndImagesPerS: (nImages * 1000) / (median(pre) + median(enc)),
};
console.table([result]);
const out = join(here, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'vision-encode.json'), JSON.stringify(result, null, 2));
