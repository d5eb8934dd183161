/**
 * Can the mini image encoder see shape, and is the canvas or the patch grid what limits it? On the
 * synthetic world's scene images tiled for a vision preset:
 *   - geometry: how many canvas pixels a single shape spans, how many patches of its cell are ink
 *     (≥ `INK_SHARE`), and how many objects get no shape-labelled token in the dense stage;
 *   - the raw pixels' shape probe: a linear probe (`linearProbe`) on the ink share of R×R areas of the
 *     object's grid cell (`cellInkGrid`), fitted on 1,200 train-split scenes and scored on the held-out
 *     scenes (unseen colour × shape combinations) — the yardstick for the encoder's probe;
 *   - the raw pixels' word probe: the same on the ink of the written word's corner cell (scenes with a word);
 *   - with --encoder: the encoder card's probes (`probeEncoder`: colour / shape of the object in cell X
 *     from the mean feature of its ink patches, "is there a star") on the same scenes.
 *
 *   - with --silhouette: the same probes on the scenes' silhouettes (`inkSilhouette`), fitted and scored on them.
 *
 *   node bench/dist/vision-shape-probe.js --data DIR [--preset mini] [--encoder DIR [--silhouette]] [--threads T]
 *
 * Prints the numbers and writes bench/results/vision-shape-probe-<preset>.json. Asserts nothing.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, writeFileAtomicSync } from '@herd/core';
import { setDefaultThreads } from '@herd/runtime';
import { INK_SHARE, SCENE_CELL, cellInkGrid, inkSilhouette, denseLabels, denseVocab, inkPixels, linearProbe, patchGeometry, probeEncoder } from '@herd/vision';
import { benchArgs } from './bench-args.js';
import { loadVisionBenchScenes } from './vision-scenes.js';

const cli = benchArgs({
  about: 'Can the mini image encoder see shape? Object size in canvas pixels and patches, the raw pixels\' linear shape and written-word probes, and (with --encoder) the encoder card\'s probes, on held-out scenes.',
  writes: 'bench/results/vision-shape-probe-<preset>.json',
  flags: {
    data: { value: 'DIR', required: true, help: 'an images dataset of the synthetic world (e.g. out/vision/images, made by herd vision train)' },
    preset: { value: 'NAME', default: 'mini', help: 'the vision preset whose tiling (tile size, patch size, tiles) the scenes get' },
    encoder: { value: 'DIR', help: 'a pre-trained encoder (saveMiniEncoder layout) with that preset: also run its probes' },
    silhouette: { help: "with --encoder: also run its probes on the scenes' silhouettes (`inkSilhouette`: ink black, all else white), fitted and scored on silhouettes: shape without colour" },
    threads: { value: 'T', default: '1', help: 'ONNX Runtime threads' },
  },
});
setDefaultThreads(cli.number('threads'));
const preset = cli.flag('preset');
const encoderDir = cli.flag('encoder');
if (cli.has('silhouette') && encoderDir === undefined) throw new HerdError('invalid_argument', '--silhouette runs the --encoder probes on silhouettes: give --encoder too');
const { vision: v, encoder: enc, all: withScene, trainSplit, heldout: held } = await loadVisionBenchScenes({ data: cli.flag('data'), preset, ...(encoderDir !== undefined ? { encoderDir } : {}), encoderFlag: 'encoder' });
const train = trainSplit.slice(0, 1200);
if (train.length === 0 || held.length === 0) throw new HerdError('invalid_argument', `--data ${cli.flag('data')}: needs train-split and held-out scenes with their scene spec (got ${train.length} / ${held.length})`);
console.log(`${preset}: tile ${v.tileSize} px, patch ${v.patchSize}, up to ${v.maxTiles} tiles; ${train.length} train / ${held.length} held-out scenes`);

// Geometry, on the held-out scenes.
const vocab = denseVocab(withScene);
const extent: number[] = [], inkPatches: number[] = [];
let groups = 0, unlabelled = 0;
for (const s of held) {
  const { width: W, height: H } = s.image.resized;
  const ink = inkPixels(s.image, v);
  const geo = patchGeometry(s.image, v);
  const shape = denseLabels(s, v, vocab).shape;
  for (const o of s.scene.objects) {
    const [cx, cy] = SCENE_CELL[o.position]!;
    const cell = cx + 3 * cy;
    groups++;
    let labelled = 0, patches = 0;
    geo.cell.forEach((c, t) => { if (c === cell) { if (geo.ink[t]! >= INK_SHARE) patches++; if (shape[t]! > 0) labelled++; } });
    inkPatches.push(patches);
    if (labelled === 0) unlabelled++;
    if (o.count !== 1) continue;
    let [x0, x1, y0, y1] = [Infinity, -1, Infinity, -1];
    for (let y = Math.floor((cy * H) / 3); y < Math.floor(((cy + 1) * H) / 3); y++) for (let x = Math.floor((cx * W) / 3); x < Math.floor(((cx + 1) * W) / 3); x++) {
      if (!ink[y * W + x]) continue;
      [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x), Math.min(y0, y), Math.max(y1, y)];
    }
    if (x1 >= 0) extent.push(Math.max(x1 - x0 + 1, y1 - y0 + 1));
  }
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!;
const spread = (xs: number[]) => ({ p10: pct(xs, 0.1), median: pct(xs, 0.5), p90: pct(xs, 0.9) });
const geometry = { singleShapeExtentPx: spread(extent), inkPatchesPerGroup: spread(inkPatches), groups, groupsWithoutShapeLabel: unlabelled };
console.log(`single shape's extent (canvas px) p10/median/p90: ${Object.values(geometry.singleShapeExtentPx).join(' / ')}; ink patches per group: ${Object.values(geometry.inkPatchesPerGroup).join(' / ')}; groups with no shape-labelled token: ${unlabelled} of ${groups}`);

// The raw pixels' shape probe.
const SHAPES = vocab.shapes;
const rawItems = (scenes: typeof held, R: number) => {
  const x: Float32Array[] = [], y: number[] = [];
  for (const s of scenes) for (const o of s.scene.objects) {
    const [cx, cy] = SCENE_CELL[o.position]!;
    x.push(cellInkGrid(s.image, v, cx, cy, R));
    y.push(SHAPES.indexOf(o.shape));
  }
  return { x, y };
};
const raw: Record<string, { train: number; test: number }> = {};
for (const R of [8, 12, 16]) {
  const { train: fitted, test } = linearProbe(rawItems(train, R), rawItems(held, R), SHAPES.length);
  raw[`${R}x${R}`] = { train: fitted, test };
  console.log(`raw pixels, cell ink in ${R}×${R} areas: shape ${(100 * raw[`${R}x${R}`]!.test).toFixed(1)} % held-out (train ${(100 * raw[`${R}x${R}`]!.train).toFixed(1)} %)`);
}

// The raw pixels' word probe (round 41): the same linear probe on the ink of the written word's corner cell, scenes with a
// word — the yardstick for the encoder's word probe (is the word legible at this canvas size, or lost in the encoder?).
const WORDS = vocab.words;
const wordItems = (scenes: typeof held, R: number) => {
  const x: Float32Array[] = [], y: number[] = [];
  for (const s of scenes) {
    if (!s.scene.word) continue;
    const [cx, cy] = SCENE_CELL[s.scene.word.corner]!;
    x.push(cellInkGrid(s.image, v, cx, cy, R));
    y.push(WORDS.indexOf(s.scene.word.text));
  }
  return { x, y };
};
const rawWord: Record<string, { train: number; test: number; n: number }> = {};
const wordScenes = { train: train.filter((s) => s.scene.word).length, held: held.filter((s) => s.scene.word).length };
if (wordScenes.train === 0 || wordScenes.held === 0) console.log(`raw pixels' word probe: skipped (scenes with a written word: ${wordScenes.train} train, ${wordScenes.held} held-out)`);
else for (const R of [8, 16, 32]) {
  const testItems = wordItems(held, R);
  const { train: fitted, test } = linearProbe(wordItems(train, R), testItems, WORDS.length);
  rawWord[`${R}x${R}`] = { train: fitted, test, n: testItems.y.length };
  console.log(`raw pixels, word-cell ink in ${R}×${R} areas: word ${(100 * test).toFixed(1)} % held-out (train ${(100 * fitted).toFixed(1)} %; n ${testItems.y.length}, ${WORDS.length} words)`);
}

let encoderProbes: unknown;
let silhouetteProbes: unknown;
if (enc) {
  const runProbes = async (label: string, tr: typeof train, te: typeof held) => {
    const r = await probeEncoder(v, enc.encoder, tr, te);
    for (const [k, p] of Object.entries(r.probes)) console.log(`${label} ${k}: ${(100 * p.test).toFixed(1)} % held-out (train ${(100 * p.train).toFixed(1)} %; chance ${(100 * p.chance).toFixed(1)} %, n ${p.n})`);
    console.log(`${label} colour by held-out pair: ${Object.entries(r.colourByPair).map(([pair, c]) => `${pair} ${(100 * c.test).toFixed(1)} % (n ${c.n})`).join(', ')}`);
    console.log(`${label} shape by held-out pair: ${Object.entries(r.shapeByPair).map(([pair, c]) => `${pair} ${(100 * c.test).toFixed(1)} % (n ${c.n})`).join(', ')}`);
    return r;
  };
  encoderProbes = await runProbes('encoder probe', train, held);
  if (cli.has('silhouette')) {
    const view = (scenes: typeof held) => scenes.map((s) => ({ ...s, image: inkSilhouette(s.image, v) }));
    silhouetteProbes = await runProbes('encoder probe on silhouettes', view(train), view(held));
  }
}
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
mkdirSync(out, { recursive: true });
const file = join(out, `vision-shape-probe-${preset}.json`);
writeFileAtomicSync(file, `${JSON.stringify({ when: new Date().toISOString(), preset, vision: v, data: cli.flag('data'), encoder: encoderDir ?? null, geometry, raw, rawWord, encoderProbes, ...(silhouetteProbes !== undefined ? { silhouetteProbes } : {}) }, null, 2)}\n`);
console.log(`wrote ${file}`);
