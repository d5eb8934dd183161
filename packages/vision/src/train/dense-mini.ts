/**
 * Stage 0 of the mini vision recipe as the mini herd runs it: DENSE pre-training of the image encoder on
 * the synthetic world's ground truth — the mini herd's stand-in for the paper's contrastive (CLIP)
 * pre-training of the encoder (§7.2). Not in the paper. Why it exists: the adapter needs encoder
 * features in which the scene's small objects (≈ 2 % of the canvas each) stand out; an encoder
 * trained only through the language model's loss never got there (measured: the cross-attention stays
 * uniform and injects a constant), and the mini CLIP stage collapsed at ln(batch) with 2×2 tiles.
 *
 * Every patch token of every real tile gets labels computed from the scene spec (`SceneExample.scene`)
 * and the pixels themselves: which 3×3 grid cell its centre lies in, and — when enough of its pixels
 * differ from the background ("ink") — the colour, shape and group count of the object in that cell, or
 * the written word in a corner cell. One linear head per label kind reads the encoder's output features
 * (the features the adapter's projector reads), and the loss is the sum of the heads' cross-entropies.
 * The heads are discarded; the encoder's values become the adapter stage's starting point.
 *
 * `probeEncoder` is the go/no-go measurement: linear probes (softmax regression on frozen features,
 * fitted on train-split scenes, scored on held-out scenes) for "colour / shape of the object in grid
 * cell X" and "is there a star".
 *
 * Legend: B images, N tile slots, P tokens per tile (class token first), Dv encoder output width,
 * M = B·N·P label positions, K classes of a head.
 */
import { fileURLToPath } from 'node:url';
import { HerdError, Rng } from '@herd/core';
import * as G from '@herd/graph';
import { Graph, type ParamSpec, type ParamValues } from '@herd/graph';
import { type HostTensor, Session, type SessionOptions, TrainingRun, hostTensor } from '@herd/runtime';
import { type VisionConfig, parseVisionConfig, patchesPerTile, visionOutputDim } from '../config.js';
import { type TiledImage, packImages } from '../data/tiling.js';
import { inkPixels, inkSilhouette, paintPixel, pixelIndex } from '../data/ink.js';
import { encodeImages } from '../model/encoder.js';
import { encoderParamSpecs } from '../model/params.js';
import { loadMiniParams, readMiniConfig, saveMiniModel } from './clip-mini-store.js';
import { type WordPaint, paintWords } from './word-paint.js';
import { reshapeObjects } from './reshape.js';

/** A scene of the synthetic world as its metadata records it (`@herd/datasets` `Scene`). */
export interface SceneSpec {
  readonly objects: readonly { readonly shape: string; readonly colour: string; readonly size: string; readonly position: string; readonly count: number }[];
  readonly background: string;
  readonly word: { readonly text: string; readonly corner: string } | null;
}

/** An image with its scene, what the dense stage and the probes read. */
export interface DenseScene {
  readonly image: TiledImage;
  readonly scene: SceneSpec;
  readonly split?: 'train' | 'heldout';
}

/** Grid cell (column, row) of each object position and word corner in the world's 3×3 layout (`@herd/datasets` POSITION_CELL / CORNER_CELL). */
export const SCENE_CELL: Readonly<Record<string, readonly [number, number]>> = {
  left: [0, 1], right: [2, 1], top: [1, 0], bottom: [1, 2], centre: [1, 1],
  'top left': [0, 0], 'top right': [2, 0], 'bottom left': [0, 2], 'bottom right': [2, 2],
};

/** The 3×3 grid cell (0–8, row-major) of the point (x, y) of a W × H image: the world's layout, as every label and augment here reads it. */
export function gridCell(x: number, y: number, W: number, H: number): number {
  return Math.min(2, Math.floor((3 * x) / W)) + 3 * Math.min(2, Math.floor((3 * y) / H));
}

/** The class names of the label kinds (index 0 of colour/shape/count/word is "nothing there"). */
export interface DenseVocab {
  readonly colours: readonly string[];
  readonly shapes: readonly string[];
  readonly words: readonly string[];
}

/** Sorted colours, shapes and words that occur in the scenes. */
export function denseVocab(scenes: readonly DenseScene[]): DenseVocab {
  const c = new Set<string>(), s = new Set<string>(), w = new Set<string>();
  for (const { scene } of scenes) {
    for (const o of scene.objects) {
      c.add(o.colour);
      s.add(o.shape);
    }
    if (scene.word) w.add(scene.word.text);
  }
  return { colours: [...c].sort(), shapes: [...s].sort(), words: [...w].sort() };
}

export const DENSE_HEADS = ['cell', 'colour', 'shape', 'count', 'word'] as const;
export type DenseHead = (typeof DENSE_HEADS)[number];

/** Classes per head: cell 9; colour: background, each colour, text; shape/word: none + each; count: none, 1, 2, 3+. */
export function denseClasses(v: DenseVocab): Record<DenseHead, number> {
  return { cell: 9, colour: v.colours.length + 2, shape: v.shapes.length + 1, count: 4, word: v.words.length + 1 };
}

/** A patch is "ink" (part of an object or the word) when at least this share of its pixels differs from the background. */
export const INK_SHARE = 0.15;
/** Patches with some ink but less than `INK_SHARE` are left out of the object labels (an edge: neither object nor background). */
const EDGE_SHARE = 0.03;

/**
 * Where each token of a tiled image lies: `cell` [N·P] is the 3×3 grid cell (0–8, row-major) of the
 * patch centre in the ORIGINAL image, −1 for class tokens, absent tiles and padding; `ink` [N·P] the
 * share of the patch's image pixels that are ink (`inkPixels`).
 */
export function patchGeometry(img: TiledImage, v: Pick<VisionConfig, 'tileSize' | 'patchSize' | 'maxTiles' | 'imageMean' | 'imageStd'>): { cell: Int8Array; ink: Float32Array } {
  const S = v.tileSize, ps = v.patchSize, g = S / ps, P = g * g + 1;
  const { width: W, height: H } = img.resized;
  const inked = inkPixels(img, v);
  const cell = new Int8Array(v.maxTiles * P).fill(-1);
  const ink = new Float32Array(v.maxTiles * P);
  for (let t = 0; t < img.nTiles; t++) {
    const [tr, tc] = [Math.floor(t / img.canvas.cols), t % img.canvas.cols];
    for (let r = 0; r < g; r++) for (let c = 0; c < g; c++) {
      const x0 = tc * S + c * ps, y0 = tr * S + r * ps;
      const [cx, cy] = [x0 + ps / 2, y0 + ps / 2];
      if (cx >= W || cy >= H) continue;
      const tok = t * P + 1 + r * g + c;
      cell[tok] = gridCell(cx, cy, W, H);
      let n = 0, k = 0;
      for (let y = y0; y < Math.min(y0 + ps, H); y++) for (let x = x0; x < Math.min(x0 + ps, W); x++) { n++; k += inked[y * W + x]!; }
      ink[tok] = k / n;
    }
  }
  return { cell, ink };
}

/**
 * The raw pixels' view of a grid cell: the ink share (`inkPixels`) of each of R×R equal areas of the
 * cell (column `cx`, row `cy` of the 3×3 layout), [R·R] row-major. A linear probe on it is the yardstick
 * for the encoder's shape probe: how well the pixels themselves tell the shape at this canvas size.
 */
export function cellInkGrid(img: TiledImage, v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>, cx: number, cy: number, R: number): Float32Array {
  const { width: W, height: H } = img.resized;
  const inked = inkPixels(img, v);
  const [xa, xb, ya, yb] = [Math.floor((cx * W) / 3), Math.floor(((cx + 1) * W) / 3), Math.floor((cy * H) / 3), Math.floor(((cy + 1) * H) / 3)];
  const sum = new Float32Array(R * R), n = new Float32Array(R * R);
  for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) {
    const k = Math.min(R - 1, Math.floor(((y - ya) * R) / (yb - ya))) * R + Math.min(R - 1, Math.floor(((x - xa) * R) / (xb - xa)));
    n[k]!++;
    sum[k]! += inked[y * W + x]!;
  }
  return sum.map((a, k) => a / Math.max(1, n[k]!));
}

/**
 * Labels [N·P] per head for one scene (−100 where a token has no label: class tokens, padding, object
 * edges; for shape / count / word also background tokens).
 */
export function denseLabels(s: DenseScene, v: VisionConfig, vocab: DenseVocab): Record<DenseHead, Int32Array> {
  const { cell, ink } = patchGeometry(s.image, v);
  const n = cell.length;
  const out = Object.fromEntries(DENSE_HEADS.map((h) => [h, new Int32Array(n).fill(-100)])) as Record<DenseHead, Int32Array>;
  const cellOf = (name: string) => { const cc = SCENE_CELL[name]; return cc ? cc[0] + 3 * cc[1] : -1; };
  const objectIn = new Map(s.scene.objects.map((o) => [cellOf(o.position), o]));
  const wordCell = s.scene.word ? cellOf(s.scene.word.corner) : -1;
  for (let i = 0; i < n; i++) {
    const c = cell[i]!;
    if (c < 0) continue;
    out.cell[i] = c;
    const share = ink[i]!;
    if (share < EDGE_SHARE) {
      // Background: only the colour head learns "nothing here". The shape, count and word heads are
      // trained on ink tokens alone, so their loss is not diluted by the ~90 % background tokens
      // (measured with background labels too: shape 30 % on TRAIN object tokens after 800 steps).
      out.colour[i] = 0;
      continue;
    }
    if (share < INK_SHARE) continue; // an edge: no object label
    const o = objectIn.get(c);
    if (o) {
      out.colour[i] = 1 + vocab.colours.indexOf(o.colour);
      out.shape[i] = 1 + vocab.shapes.indexOf(o.shape);
      out.count[i] = Math.min(3, o.count);
      out.word[i] = 0;
    } else if (c === wordCell) {
      out.colour[i] = vocab.colours.length + 1;
      out.shape[i] = 0;
      out.count[i] = 0;
      out.word[i] = 1 + vocab.words.indexOf(s.scene.word!.text);
    }
    // Ink in a cell with neither (JPEG ringing, a neighbour's overhang): no object label.
  }
  return out;
}

const headName = (h: DenseHead) => `dense_head.${h}`;

/**
 * Object-level heads: the shape and group count of each object read from the MEAN feature of its ink
 * patches — what the probes (and a cross-attention that has found the object) read. The per-patch
 * shape head alone asks every patch for the whole object's shape, which an interior patch (pure colour)
 * cannot know; measured: per-patch shape plateaus at ~30 % of train object tokens and the mean feature's
 * shape probe at 18 % held-out, while a linear probe on the raw 12×12 ink mask of the cell reads 82 %.
 * The colour head (its own weight, `objectColourWeight`) asks the same mean feature for the object's
 * colour, on the unpermuted half of a batch only: with shape taught there, colour must stay readable
 * from it apart from the shape (measured without it: the colour probe on held-out pairs 96 → 91 %).
 * It is last so that adding it left the other heads' random init unchanged.
 * The word head (its own weight, `objectWordWeight`) reads the written word from the mean feature of the
 * word's ink patches (its own pool, `pool_word` [B, M], one row per image): the per-patch word head asks
 * one 8-px patch for a whole word and reaches ~30 % of word tokens even on training scenes (round 28,
 * the shape encoder), while the adapter reads the word when the features hold it (the oracle's first
 * answer token is the written word).
 */
export const OBJECT_HEADS = ['shape', 'count', 'colour', 'word'] as const;
export type ObjectHead = (typeof OBJECT_HEADS)[number];
/** Objects per image the pooled heads read (the world draws at most 4 groups). */
export const MAX_OBJECTS = 4;
/** The pool feed each object head reads: the objects' (`pool`, MAX_OBJECTS rows per image) or the word's (`pool_word`, one row per image). */
const POOL_OF: Readonly<Record<ObjectHead, { readonly feed: 'pool' | 'pool_word'; readonly rowsPerImage: number }>> = {
  shape: { feed: 'pool', rowsPerImage: MAX_OBJECTS }, count: { feed: 'pool', rowsPerImage: MAX_OBJECTS }, colour: { feed: 'pool', rowsPerImage: MAX_OBJECTS }, word: { feed: 'pool_word', rowsPerImage: 1 },
};
const objectHeadName = (h: ObjectHead) => `dense_head.object_${h}`;

/** The encoder's parameters plus one linear head per label kind (`dense_head.{kind}.weight` [K, Dv], `.bias` [K]). */
export function denseParamSpecs(v: VisionConfig, vocab: DenseVocab): ParamSpec[] {
  const K = denseClasses(vocab);
  const Dv = visionOutputDim(v);
  return [
    ...encoderParamSpecs(v),
    ...DENSE_HEADS.flatMap((h): ParamSpec[] => [
      { name: `${headName(h)}.weight`, shape: [K[h], Dv], init: 'normal' },
      { name: `${headName(h)}.bias`, shape: [K[h]], init: 'zeros' },
    ]),
    ...OBJECT_HEADS.flatMap((h): ParamSpec[] => [
      { name: `${objectHeadName(h)}.weight`, shape: [K[h], Dv], init: 'normal' },
      { name: `${objectHeadName(h)}.bias`, shape: [K[h]], init: 'zeros' },
    ]),
  ];
}

function declareDense(g: Graph, v: VisionConfig, vocab: DenseVocab, values: ParamValues, trainable: boolean): G.Params {
  return G.declareParams(g, denseParamSpecs(v, vocab), (name, shape) => {
    const val = values[name];
    if (!val) throw new HerdError('checkpoint_mismatch', `dense stage: no value for '${name}'`);
    return g.param(name, 'f32', shape as number[], { trainable, value: val.data });
  });
}

/**
 * One AdamW step: encoder → per-token features [M, Dv] → each head's cross-entropy, summed; plus the
 * object heads on the mean feature of each object's ink patches (`pool` [O, M] holds the averaging
 * weights, O = batch·MAX_OBJECTS): shape and count weighted by `objectWeight`, colour by
 * `objectColourWeight`; and the word head on the mean feature of each image's word (`pool_word` [B, M]),
 * weighted by `objectWordWeight` (a head with weight 0 is left out of the graph).
 */
export function buildDenseTraining(v: VisionConfig, vocab: DenseVocab, values: ParamValues, batch: number, optimizer: Partial<G.AdamWConfig> = {}, objectWeight = 0, objectColourWeight = 0, objectWordWeight = 0) {
  const g = new Graph();
  const p = declareDense(g, v, vocab, values, true);
  const { maxTiles: N, tileSize: S } = v;
  const M = batch * N * patchesPerTile(v);
  const feats = encodeImages(v, p, {
    pixels: g.input('pixels', 'f32', [batch, N, 3, S, S]),
    aspectRatioIds: g.input('aspectRatioIds', 'i32', [batch]),
    tileMask: g.input('tileMask', 'bool', [batch, N]),
  }); // [B, N, P, Dv]
  const flat = G.reshape(feats, [M, visionOutputDim(v)]); // [M, Dv]
  const losses = DENSE_HEADS.map((h) => G.crossEntropy(G.linear(flat, p(`${headName(h)}.weight`), p(`${headName(h)}.bias`)), g.input(`labels.${h}`, 'i32', [M])).loss);
  const weightOf: Record<ObjectHead, number> = { shape: objectWeight, count: objectWeight, colour: objectColourWeight, word: objectWordWeight };
  const pooled = new Map<string, ReturnType<typeof G.matmul>>(); // per pool feed: [rows, Dv]
  for (const h of OBJECT_HEADS) {
    if (!(weightOf[h] > 0)) continue;
    const { feed, rowsPerImage } = POOL_OF[h];
    const rows = batch * rowsPerImage;
    if (!pooled.has(feed)) pooled.set(feed, G.matmul(g.input(feed, 'f32', [rows, M]), flat));
    const ce = G.crossEntropy(G.linear(pooled.get(feed)!, p(`${objectHeadName(h)}.weight`), p(`${objectHeadName(h)}.bias`)), g.input(`labels.object_${h}`, 'i32', [rows])).loss;
    losses.push(G.mul(ce, weightOf[h]));
  }
  const loss = losses.reduce((a, b) => G.add(a, b));
  return G.buildTraining(g, { loss, optimizer, params: g.trainableParams });
}

/**
 * The image with its colour channels permuted (a permutation of [0, 1, 2]), in normalised pixel space:
 * x'_c = x_{π(c)}, so v'_c = (v_{π(c)}·std_{π(c)} + mean_{π(c)} − mean_c) / std_c (black padding stays black).
 */
export function permuteChannels(img: TiledImage, v: Pick<VisionConfig, 'tileSize' | 'maxTiles' | 'imageMean' | 'imageStd'>, perm: readonly number[]): TiledImage {
  const SS = v.tileSize * v.tileSize;
  const pixels = new Float32Array(img.pixels.length);
  for (let t = 0; t < v.maxTiles; t++) {
    for (let c = 0; c < 3; c++) {
      const from = perm[c]!;
      const [a, b] = [v.imageStd[from]! / v.imageStd[c]!, (v.imageMean[from]! - v.imageMean[c]!) / v.imageStd[c]!];
      const src = img.pixels.subarray((t * 3 + from) * SS, (t * 3 + from + 1) * SS);
      const dst = pixels.subarray((t * 3 + c) * SS, (t * 3 + c + 1) * SS);
      for (let i = 0; i < SS; i++) dst[i] = src[i]! * a + b;
    }
  }
  return { ...img, pixels };
}

const PERMS = [[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] as const;

/**
 * The image with its hue turned by `angle` (radians): each pixel's RGB (0–1) rotated about the grey
 * axis (1,1,1)/√3, after swapping green and blue when `mirror` (so the turns and mirrors together give
 * every hue map a channel permutation gives, and every angle between), clipped to 0–1; in normalised
 * pixel space. Greys stay grey; angle 2π/3 without mirror is the channel permutation [2, 0, 1].
 */
export function rotateHue(img: TiledImage, v: Pick<VisionConfig, 'tileSize' | 'maxTiles' | 'imageMean' | 'imageStd'>, angle: number, mirror = false): TiledImage {
  const [c, s] = [Math.cos(angle), Math.sin(angle) / Math.sqrt(3)];
  const t = (1 - c) / 3;
  // Rodrigues' rotation about k = (1,1,1)/√3: M = cI + sin·[k]× + (1 − c)·kkᵀ.
  const M = [[c + t, t - s, t + s], [t + s, c + t, t - s], [t - s, t + s, c + t]];
  const from = mirror ? [0, 2, 1] : [0, 1, 2];
  const SS = v.tileSize * v.tileSize;
  const pixels = new Float32Array(img.pixels.length);
  const raw = [0, 0, 0];
  for (let tile = 0; tile < v.maxTiles; tile++) {
    const base = tile * 3 * SS;
    for (let i = 0; i < SS; i++) {
      for (let ch = 0; ch < 3; ch++) raw[ch] = img.pixels[base + from[ch]! * SS + i]! * v.imageStd[from[ch]!]! + v.imageMean[from[ch]!]!;
      for (let ch = 0; ch < 3; ch++) {
        const x = Math.min(1, Math.max(0, M[ch]![0]! * raw[0]! + M[ch]![1]! * raw[1]! + M[ch]![2]! * raw[2]!));
        pixels[base + ch * SS + i] = (x - v.imageMean[ch]!) / v.imageStd[ch]!;
      }
    }
  }
  return { ...img, pixels };
}

/**
 * The image with each object's ink (the `inkPixels` in the object's grid cell) painted one uniform RGB
 * colour drawn from `rng` (three uniform 0–1 draws per object, in the scene's object order); the
 * background, the word and pixels that are not ink are left as they are.
 */
export function recolourInk(img: TiledImage, v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>, scene: SceneSpec, rng: Rng): TiledImage {
  const { width: W, height: H } = img.resized;
  const inked = inkPixels(img, v);
  const colourOf = new Map<number, number[]>();
  for (const o of scene.objects) {
    const cc = SCENE_CELL[o.position];
    if (!cc) throw new HerdError('invalid_argument', `recolourInk: object position '${o.position}' is not a grid cell of the world (${Object.keys(SCENE_CELL).join(', ')})`);
    colourOf.set(cc[0] + 3 * cc[1], [rng.next(), rng.next(), rng.next()]);
  }
  const pixels = Float32Array.from(img.pixels);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    if (!inked[y * W + x]) continue;
    const rgb = colourOf.get(gridCell(x, y, W, H));
    if (rgb) paintPixel(pixels, img, v, x, y, rgb);
  }
  return { ...img, pixels };
}

/**
 * How `denseBatch` recolours the augmented half of a batch: `permute`, one of the five channel
 * permutations; `hue`, a hue turned by a uniform angle, mirrored half the time (`rotateHue`); `ink`, each
 * object's ink one uniform random RGB colour (`recolourInk`). A permutation keeps a colour in its orbit
 * (yellow → cyan / magenta, purple → olive / teal), so a held-out pair whose colour no seen colour of that
 * shape permutes into is never shown; any hue can be turned into; `ink` also breaks the tie between the
 * objects of one image (each gets its own colour) and leaves the background as it is.
 */
export const COLOUR_AUGMENTS = ['permute', 'hue', 'ink'] as const;
export type ColourAugment = (typeof COLOUR_AUGMENTS)[number];

/**
 * Which images of a batch teach shape (the per-patch and the object shape heads): `all`, or only the
 * `recoloured` half. With `recoloured` a shape is never taught in its original colour, so an original
 * colour cannot stand in for a shape (measured, round 25: with shape taught on every image the held-out
 * yellow hexagons read as circles 64 of 84 and purple circles as hexagons 36 of 62, whether the colours were
 * permuted or hue-turned: the world has yellow circles and purple hexagons but no yellow hexagon or purple circle).
 */
export const SHAPE_LABELS = ['all', 'recoloured'] as const;
export type ShapeLabels = (typeof SHAPE_LABELS)[number];

/**
 * Feeds of a batch: packed tiles and every head's labels. With `augment`, half the images get their
 * colours changed (`colourAugment`: channels permuted, or the hue turned) and no colour labels: the shape, count and word heads must then read
 * the geometry, not a colour that happens to go with a shape in the training combinations (measured
 * without it: shape 10 % on held-out combinations' object tokens, below chance).
 */
export function denseBatch(v: VisionConfig, vocab: DenseVocab, scenes: readonly DenseScene[], augment?: Rng, objects: readonly ObjectHead[] = [], recolouring: { readonly colourAugment?: ColourAugment; readonly shapeLabels?: ShapeLabels; readonly reshaped?: readonly boolean[] } = {}): Record<string, HostTensor> {
  const { colourAugment = 'permute', shapeLabels = 'all', reshaped = [] } = recolouring;
  const B = scenes.length;
  // A reshaped image (`reshapeObjects`: its objects redrawn as random polygons) keeps its colours, to teach colour apart from shape.
  const permuted = scenes.map((_, i) => (augment ? augment.next() < 0.5 : false) && !reshaped[i]);
  const recolour = (s: DenseScene): TiledImage =>
    colourAugment === 'hue' ? rotateHue(s.image, v, 2 * Math.PI * augment!.next(), augment!.next() < 0.5)
      : colourAugment === 'ink' ? recolourInk(s.image, v, s.scene, augment!)
        : permuteChannels(s.image, v, augment!.pick(PERMS));
  const images = scenes.map((s, i) => (permuted[i] ? recolour(s) : s.image));
  const packed = packImages(images, v.maxTiles, v.tileSize);
  const labels = scenes.map((s, i) => {
    const l = denseLabels(s, v, vocab);
    if (permuted[i]) l.colour.fill(-100);
    return l;
  });
  const M = B * v.maxTiles * patchesPerTile(v);
  const feeds: Record<string, HostTensor> = {
    pixels: hostTensor('f32', [B, v.maxTiles, 3, v.tileSize, v.tileSize], packed.pixels),
    aspectRatioIds: hostTensor('i32', [B], packed.aspectRatioIds),
    tileMask: hostTensor('bool', [B, v.maxTiles], packed.aspectRatioMask),
  };
  // With shape taught on the recoloured images only, the images in their own colours lose their shape labels
  // (after the object heads' pooling has found each object's tokens by them).
  const noShape = (i: number) => (shapeLabels === 'recoloured' && !permuted[i]) || reshaped[i] === true;
  for (const h of DENSE_HEADS) {
    const all = new Int32Array(M);
    labels.forEach((l, i) => all.set(h === 'shape' && noShape(i) ? new Int32Array(l[h].length).fill(-100) : l[h], (i * M) / B));
    feeds[`labels.${h}`] = hostTensor('i32', [M], all);
  }
  const pools = new Set(objects.map((h) => POOL_OF[h].feed));
  if (pools.has('pool_word')) Object.assign(feeds, wordFeeds(labels, M));
  if (pools.has('pool')) {
    const all = objectFeeds(scenes, labels, M);
    const shape = all['labels.object_shape']!.data as Int32Array;
    for (let i = 0; i < B; i++) if (noShape(i)) shape.fill(-100, i * MAX_OBJECTS, (i + 1) * MAX_OBJECTS);
    feeds['pool'] = all['pool']!;
    for (const h of objects) if (POOL_OF[h].feed === 'pool') feeds[`labels.object_${h}`] = all[`labels.object_${h}`]!;
  }
  return feeds;
}

/**
 * The word head's feeds: `pool_word` [B, M] averages each image's word tokens (the per-patch word labels
 * above 0: ink in the word's corner cell), `labels.object_word` [B] the word's class (1 + its index in
 * the vocabulary), −100 for an image with no word or a word with no ink token.
 */
export function wordFeeds(labels: readonly Record<DenseHead, Int32Array>[], M: number): Record<string, HostTensor> {
  const B = labels.length, per = M / B;
  const pool = new Float32Array(B * M);
  const word = new Int32Array(B).fill(-100);
  labels.forEach((l, i) => {
    const toks: number[] = [];
    l.word.forEach((y, t) => { if (y > 0) toks.push(t); });
    if (toks.length === 0) return;
    for (const t of toks) pool[i * M + i * per + t] = 1 / toks.length;
    word[i] = l.word[toks[0]!]!;
  });
  return { pool_word: hostTensor('f32', [B, M], pool), 'labels.object_word': hostTensor('i32', [B], word) };
}

/**
 * The object heads' feeds: `pool` [O, M] averages each object's labelled ink tokens (those of its cell
 * with a shape label), `labels.object_shape` / `labels.object_count` / `labels.object_colour` [O] (the per-patch heads' classes;
 * −100 for empty slots and for objects with no ink token, e.g. lost in the resize; colour also −100 on a
 * channel-permuted image, whose per-patch colour labels `denseBatch` has blanked).
 */
export function objectFeeds(scenes: readonly DenseScene[], labels: readonly Record<DenseHead, Int32Array>[], M: number): Record<string, HostTensor> {
  const B = scenes.length, per = M / B, O = B * MAX_OBJECTS;
  const pool = new Float32Array(O * M);
  const shape = new Int32Array(O).fill(-100), count = new Int32Array(O).fill(-100), colour = new Int32Array(O).fill(-100);
  scenes.forEach((s, i) => {
    const l = labels[i]!;
    s.scene.objects.slice(0, MAX_OBJECTS).forEach((o, j) => {
      const cc = SCENE_CELL[o.position];
      if (!cc) throw new HerdError('invalid_argument', `dense stage: object position '${o.position}' is not a grid cell of the world (${Object.keys(SCENE_CELL).join(', ')})`);
      const cell = cc[0] + 3 * cc[1];
      const toks: number[] = [];
      for (let t = 0; t < per; t++) if (l.cell[t] === cell && l.shape[t]! > 0) toks.push(t);
      if (toks.length === 0) return;
      const row = (i * MAX_OBJECTS + j) * M + i * per;
      for (const t of toks) pool[row + t] = 1 / toks.length;
      shape[i * MAX_OBJECTS + j] = l.shape[toks[0]!]!;
      count[i * MAX_OBJECTS + j] = Math.min(3, o.count);
      colour[i * MAX_OBJECTS + j] = l.colour[toks[0]!]!;
    });
  });
  return { pool: hostTensor('f32', [O, M], pool), 'labels.object_shape': hostTensor('i32', [O], shape), 'labels.object_count': hostTensor('i32', [O], count), 'labels.object_colour': hostTensor('i32', [O], colour) };
}

export interface DenseTrainOptions {
  readonly steps: number;
  readonly batch: number;
  /** Peak learning rate (linear warm-up over 5 % of the steps, cosine to 10 %). */
  readonly lr: number;
  readonly seed: number;
  /** Colour augmentation of half of each batch (`denseBatch`; default true). */
  readonly augment?: boolean;
  /** Which: `permute` (the channel permutations, default), `hue` (`rotateHue` by a uniform angle) or `ink` (`recolourInk`). */
  readonly colourAugment?: ColourAugment;
  /** Which images teach shape: `all` (default) or only the recoloured half (`SHAPE_LABELS`; needs `augment`). */
  readonly shapeLabels?: ShapeLabels;
  /** Starting encoder values (default fresh from `seed`). */
  readonly init?: ParamValues;
  /** Weight of the object heads' loss (shape / count from each object's mean ink feature; default 0 = off). */
  readonly objectWeight?: number;
  /** Weight of the object colour head's loss (colour from each object's mean ink feature, unpermuted images; default 0 = off). */
  readonly objectColourWeight?: number;
  /** Weight of the object word head's loss (the written word from the mean feature of its ink patches; default 0 = off). */
  readonly objectWordWeight?: number;
  /** Word painting (`paintWords`): a share of the picked images get a random word of the vocabulary in a random corner (default off). */
  readonly wordPaint?: WordPaint;
  /**
   * Share (0–1) of the picked images whose objects are redrawn as random polygons in their own colours (`reshapeObjects`), with
   * no shape labels and no colour augment: colour (and place, number) taught where no shape can stand in for it (default 0: off).
   */
  readonly reshape?: number;
  readonly session?: SessionOptions;
  readonly onStep?: (step: number, loss: number) => void;
}

/**
 * Trains the encoder (and the throw-away heads) on the dense labels of the scenes; returns the
 * encoder's values (`vision_model.*`) and the loss of every step. Batches are random scenes drawn by `seed`.
 */
export async function trainDenseEncoder(v: VisionConfig, scenes: readonly DenseScene[], o: DenseTrainOptions): Promise<{ encoder: ParamValues; heads: ParamValues; vocab: DenseVocab; losses: number[] }> {
  if (scenes.length === 0) throw new HerdError('invalid_argument', 'trainDenseEncoder: no scenes given');
  const vocab = denseVocab(scenes);
  const init = G.initParams(denseParamSpecs(v, vocab), o.seed, { layers: v.nLayers });
  for (const [k, val] of Object.entries(o.init ?? {})) if (k in init) init[k] = { dtype: 'f32', shape: [...val.shape], data: Float32Array.from(val.data as Float32Array) };
  const objectWeight = o.objectWeight ?? 0, objectColourWeight = o.objectColourWeight ?? 0, objectWordWeight = o.objectWordWeight ?? 0;
  for (const [name, w] of [['objectWeight', objectWeight], ['objectColourWeight', objectColourWeight], ['objectWordWeight', objectWordWeight]] as const) {
    if (!(w >= 0)) throw new HerdError('invalid_argument', `trainDenseEncoder: ${name} must be ≥ 0, got ${w}`);
  }
  const colourAugment = o.colourAugment ?? 'permute';
  if (!COLOUR_AUGMENTS.includes(colourAugment)) throw new HerdError('invalid_argument', `trainDenseEncoder: colourAugment must be ${COLOUR_AUGMENTS.join(' or ')}, got '${colourAugment}'`);
  const shapeLabels = o.shapeLabels ?? 'all';
  if (!SHAPE_LABELS.includes(shapeLabels)) throw new HerdError('invalid_argument', `trainDenseEncoder: shapeLabels must be ${SHAPE_LABELS.join(' or ')}, got '${shapeLabels}'`);
  if (shapeLabels === 'recoloured' && o.augment === false) throw new HerdError('invalid_argument', "trainDenseEncoder: shapeLabels 'recoloured' needs the colour augmentation (augment is false: no image would teach shape)");
  const wordPaint = o.wordPaint;
  if (wordPaint && !(wordPaint.share >= 0 && wordPaint.share <= 1)) throw new HerdError('invalid_argument', `trainDenseEncoder: wordPaint.share must be in 0–1, got ${wordPaint.share}`);
  if (wordPaint && wordPaint.share > 0 && vocab.words.length === 0) throw new HerdError('invalid_argument', 'trainDenseEncoder: word painting needs scenes with a written word (none of the training scenes has one)');
  const reshape = o.reshape ?? 0;
  if (!(reshape >= 0 && reshape <= 1)) throw new HerdError('invalid_argument', `trainDenseEncoder: reshape must be a share in 0–1, got ${reshape}`);
  const objectHeads = OBJECT_HEADS.filter((h) => (h === 'colour' ? objectColourWeight : h === 'word' ? objectWordWeight : objectWeight) > 0);
  const run = await TrainingRun.create(buildDenseTraining(v, vocab, init, o.batch, {}, objectWeight, objectColourWeight, objectWordWeight), Object.fromEntries(Object.entries(init).map(([k, t]) => [k, hostTensor('f32', t.shape, t.data)])), o.session ?? {});
  try {
    const rng = new Rng(o.seed * 7_919 + 17);
    // Its own stream, so that a run without painting draws the same batches as before it existed.
    const paintRng = new Rng(o.seed * 7_919 + 29);
    const reshapeRng = new Rng(o.seed * 7_919 + 31);
    const glyphs = new Map<string, Float32Array>();
    const losses: number[] = [];
    const warm = Math.max(1, Math.round(0.05 * o.steps));
    for (let s = 0; s < o.steps; s++) {
      const lr = s < warm ? (o.lr * (s + 1)) / warm : o.lr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (s - warm)) / Math.max(1, o.steps - warm))));
      const picked = Array.from({ length: o.batch }, () => rng.pick(scenes));
      const painted = wordPaint && wordPaint.share > 0 ? await paintWords(picked, v, vocab.words, wordPaint, paintRng, glyphs) : picked;
      const reshaped = painted.map(() => reshape > 0 && reshapeRng.next() < reshape);
      const shown = reshape > 0 ? painted.map((sc, i) => (reshaped[i] ? { ...sc, image: reshapeObjects(sc.image, v, sc.scene, reshapeRng) } : sc)) : painted;
      const batch = denseBatch(v, vocab, shown, o.augment === false ? undefined : rng, objectHeads, { colourAugment, shapeLabels, reshaped });
      const loss = (await run.trainStep(batch, lr)).loss;
      losses.push(loss);
      o.onStep?.(s, loss);
    }
    const out = await run.readParams();
    const encoder: ParamValues = {};
    const heads: ParamValues = {};
    for (const spec of denseParamSpecs(v, vocab)) (spec.name.startsWith('dense_head.') ? heads : encoder)[spec.name] = { dtype: 'f32', shape: [...spec.shape], data: Float32Array.from(out[spec.name]!.data as Float32Array) };
    return { encoder, heads, vocab, losses };
  } finally {
    await run.release();
  }
}

/** Encoder output features of each image, [N·P·Dv] (f32), `batch` images per run. */
export async function encoderFeatures(v: VisionConfig, encoder: ParamValues, images: readonly TiledImage[], batch = 16, session: SessionOptions = {}): Promise<Float32Array[]> {
  const g = new Graph();
  const p = G.declareParams(g, encoderParamSpecs(v), (name, shape) => {
    const val = encoder[name];
    if (!val) throw new HerdError('checkpoint_mismatch', `encoderFeatures: no value for '${name}'`);
    return g.param(name, 'f32', shape as number[], { trainable: false, value: val.data });
  });
  const { maxTiles: N, tileSize: S } = v;
  const feats = encodeImages(v, p, { pixels: g.input('pixels', 'f32', [batch, N, 3, S, S]), aspectRatioIds: g.input('aspectRatioIds', 'i32', [batch]), tileMask: g.input('tileMask', 'bool', [batch, N]) });
  const sess = await Session.create(G.toOnnx(g, { outputs: { feats }, name: 'encoder_features' }), session, 'encoder_features');
  try {
    const out: Float32Array[] = [];
    for (let at = 0; at < images.length; at += batch) {
      const n = Math.min(batch, images.length - at);
      const chunk = Array.from({ length: batch }, (_, i) => images[at + Math.min(i, n - 1)]!);
      const packed = packImages(chunk, N, S);
      const r = await sess.run({ pixels: hostTensor('f32', [batch, N, 3, S, S], packed.pixels), aspectRatioIds: hostTensor('i32', [batch], packed.aspectRatioIds), tileMask: hostTensor('bool', [batch, N], packed.aspectRatioMask) });
      const d = r['feats']!.data as Float32Array;
      const per = d.length / batch;
      for (let i = 0; i < n; i++) out.push(d.slice(i * per, (i + 1) * per));
    }
    return out;
  } finally {
    await sess.release();
  }
}

/**
 * Softmax regression fitted by full-batch Adam on standardised features (train), scored on test:
 * the accuracy of the best LINEAR read-out of the features, what a probe measures.
 */
export function linearProbe(train: { x: Float32Array[]; y: number[] }, test: { x: Float32Array[]; y: number[] }, classes: number, o: { epochs?: number; lr?: number; l2?: number } = {}): { train: number; test: number; predictions: number[] } {
  const D = train.x[0]!.length;
  const mu = new Float64Array(D), sd = new Float64Array(D);
  for (const x of train.x) for (let d = 0; d < D; d++) mu[d]! += x[d]! / train.x.length;
  for (const x of train.x) for (let d = 0; d < D; d++) sd[d]! += (x[d]! - mu[d]!) ** 2 / train.x.length;
  for (let d = 0; d < D; d++) sd[d] = Math.sqrt(sd[d]!) + 1e-6;
  const norm = (xs: Float32Array[]) => xs.map((x) => Float64Array.from(x, (val, d) => (val - mu[d]!) / sd[d]!));
  const X = norm(train.x), Xt = norm(test.x);
  const W = new Float64Array(classes * (D + 1)); // row k: D weights then the bias
  const m = new Float64Array(W.length), v2 = new Float64Array(W.length);
  const lr = o.lr ?? 0.05, l2 = o.l2 ?? 1e-3, epochs = o.epochs ?? 200;
  const logits = (x: Float64Array) => Array.from({ length: classes }, (_, k) => { let s = W[k * (D + 1) + D]!; for (let d = 0; d < D; d++) s += W[k * (D + 1) + d]! * x[d]!; return s; });
  for (let e = 1; e <= epochs; e++) {
    const grad = new Float64Array(W.length);
    X.forEach((x, i) => {
      const z = logits(x);
      const mx = Math.max(...z);
      const ex = z.map((a) => Math.exp(a - mx));
      const sum = ex.reduce((a, b) => a + b, 0);
      for (let k = 0; k < classes; k++) {
        const gk = (ex[k]! / sum - (k === train.y[i] ? 1 : 0)) / X.length;
        for (let d = 0; d < D; d++) grad[k * (D + 1) + d]! += gk * x[d]!;
        grad[k * (D + 1) + D]! += gk;
      }
    });
    for (let j = 0; j < W.length; j++) {
      const gj = grad[j]! + l2 * W[j]!;
      m[j] = 0.9 * m[j]! + 0.1 * gj;
      v2[j] = 0.999 * v2[j]! + 0.001 * gj * gj;
      W[j]! -= (lr * (m[j]! / (1 - 0.9 ** e))) / (Math.sqrt(v2[j]! / (1 - 0.999 ** e)) + 1e-8);
    }
  }
  const argmax = (x: Float64Array) => { const z = logits(x); return z.indexOf(Math.max(...z)); };
  const acc = (xs: Float64Array[], ys: number[]) => xs.reduce((n, x, i) => n + (argmax(x) === ys[i] ? 1 : 0), 0) / Math.max(1, xs.length);
  return { train: acc(X, train.y), test: acc(Xt, test.y), predictions: Xt.map(argmax) };
}

export interface ProbeReport {
  /**
   * Held-out accuracy of each probe, its train accuracy, the number of held-out items and the majority-class rate on them.
   * `shapePermuted`: the shape probe fitted on the same train scenes with their colour channels permuted
   * (one of `denseBatch`'s permutations per scene, seeded), scored on the unpermuted held-out objects — a
   * shape read that does not lean on which colours a shape had in training.
   */
  readonly probes: Readonly<Record<'colour' | 'shape' | 'star' | 'shapePermuted' | 'word', { readonly test: number; readonly train: number; readonly n: number; readonly chance: number }>>;
  /**
   * The colour probe by colour × shape pair of the held-out objects: each pair that no train object has
   * (`colour shape`: accuracy, n), and `seen pairs` for the held-out scenes' other objects.
   */
  readonly colourByPair: Readonly<Record<string, { readonly test: number; readonly n: number }>>;
  /** The shape probe split the same way: each held-out pair that no train object has, and `seen pairs`. */
  readonly shapeByPair: Readonly<Record<string, { readonly test: number; readonly n: number }>>;
}

/**
 * Linear probes of an encoder's features: "colour of the object in grid cell X" and "shape of the object
 * in grid cell X" read the mean feature of that cell's ink patches (the object's, found from the pixels,
 * as an attention that has found the object would read them); "is there a star" reads the mean of every
 * ink patch of the image; "which word is written" reads the mean feature of the word's ink patches (the
 * tokens `denseLabels` gives a word class), on the scenes with a word. Fitted on `train`, scored
 * on `test` (held-out colour × shape combinations).
 */
export async function probeEncoder(v: VisionConfig, encoder: ParamValues, train: readonly DenseScene[], test: readonly DenseScene[], session: SessionOptions = {}): Promise<ProbeReport> {
  const Dv = visionOutputDim(v);
  type Items = Record<'colour' | 'shape' | 'star' | 'word', { x: Float32Array[]; y: string[] }> & { pair: string[] };
  // `images` replaces the scenes' pixels (the permuted copies); the ink geometry stays the scene's own.
  const items = async (scenes: readonly DenseScene[], images: readonly TiledImage[] = scenes.map((s) => s.image)): Promise<Items> => {
    const feats = await encoderFeatures(v, encoder, images, 16, session);
    const out: Items = { colour: { x: [], y: [] }, shape: { x: [], y: [] }, star: { x: [], y: [] }, word: { x: [], y: [] }, pair: [] };
    const vocab = denseVocab(scenes);
    scenes.forEach((s, i) => {
      const { cell, ink } = patchGeometry(s.image, v);
      const f = feats[i]!;
      const meanOf = (keep: (c: number, t: number) => boolean) => {
        const acc = new Float32Array(Dv);
        let n = 0;
        cell.forEach((c, t) => { if (c >= 0 && keep(c, t)) { n++; for (let d = 0; d < Dv; d++) acc[d]! += f[t * Dv + d]!; } });
        return acc.map((a) => a / Math.max(1, n));
      };
      for (const o of s.scene.objects) {
        const [cx, cy] = SCENE_CELL[o.position]!;
        const x = meanOf((c, t) => c === cx + 3 * cy && ink[t]! >= INK_SHARE);
        out.colour.x.push(x); out.colour.y.push(o.colour);
        out.shape.x.push(x); out.shape.y.push(o.shape);
        out.pair.push(`${o.colour} ${o.shape}`);
      }
      out.star.x.push(meanOf((_, t) => ink[t]! >= INK_SHARE));
      out.star.y.push(s.scene.objects.some((o) => o.shape === 'star') ? 'yes' : 'no');
      if (s.scene.word) {
        const wordTok = denseLabels(s, v, vocab).word;
        if (wordTok.some((y) => y > 0)) { out.word.x.push(meanOf((_, t) => wordTok[t]! > 0)); out.word.y.push(s.scene.word.text); }
      }
    });
    return out;
  };
  const rng = new Rng(1);
  const [a, b] = [await items(train), await items(test)];
  const permuted = await items(train, train.map((s) => permuteChannels(s.image, v, rng.pick(PERMS))));
  const probes = {} as Record<'colour' | 'shape' | 'star' | 'shapePermuted' | 'word', { test: number; train: number; n: number; chance: number }>;
  const correct: Partial<Record<'colour' | 'shape', boolean[]>> = {};
  for (const [k, kind, fit] of [['colour', 'colour', a], ['shape', 'shape', a], ['star', 'star', a], ['shapePermuted', 'shape', permuted], ['word', 'word', a]] as const) {
    const names = [...new Set(fit[kind].y)].sort();
    const id = (ys: string[]) => ys.map((y) => names.indexOf(y));
    const r = linearProbe({ x: fit[kind].x, y: id(fit[kind].y) }, { x: b[kind].x, y: id(b[kind].y) }, names.length);
    if (k === 'colour' || k === 'shape') correct[k] = r.predictions.map((p, i) => p === names.indexOf(b[kind].y[i]!));
    const freq = new Map<string, number>();
    for (const y of b[kind].y) freq.set(y, (freq.get(y) ?? 0) + 1);
    probes[k] = { test: r.test, train: r.train, n: b[kind].y.length, chance: Math.max(0, ...freq.values()) / Math.max(1, b[kind].y.length) };
  }
  const trainPairs = new Set(a.pair);
  const byPair = (right: readonly boolean[]) => {
    const m = new Map<string, { right: number; n: number }>();
    b.pair.forEach((pair, i) => {
      const key = trainPairs.has(pair) ? 'seen pairs' : pair;
      const r = m.get(key) ?? { right: 0, n: 0 };
      r.n++; r.right += right[i] ? 1 : 0;
      m.set(key, r);
    });
    return Object.fromEntries([...m.entries()].sort(([x], [y]) => (x === 'seen pairs' ? 1 : y === 'seen pairs' ? -1 : x.localeCompare(y))).map(([k, r]) => [k, { test: r.right / r.n, n: r.n }]));
  };
  return { probes, colourByPair: byPair(correct.colour!), shapeByPair: byPair(correct.shape!) };
}

/** Accuracy of each trained head on the labelled tokens of `scenes` (what the dense loss optimises, on unseen scenes). */
export async function denseHeadAccuracy(v: VisionConfig, vocab: DenseVocab, encoder: ParamValues, heads: ParamValues, scenes: readonly DenseScene[], session: SessionOptions = {}): Promise<Record<DenseHead, { acc: number; n: number; objectAcc: number; objectN: number }>> {
  const Dv = visionOutputDim(v);
  const feats = await encoderFeatures(v, encoder, scenes.map((s) => s.image), 16, session);
  const K = denseClasses(vocab);
  const out = Object.fromEntries(DENSE_HEADS.map((h) => [h, { acc: 0, n: 0, objectAcc: 0, objectN: 0 }])) as Record<DenseHead, { acc: number; n: number; objectAcc: number; objectN: number }>;
  scenes.forEach((s, i) => {
    const labels = denseLabels(s, v, vocab);
    const f = feats[i]!;
    for (const h of DENSE_HEADS) {
      const W = heads[`${headName(h)}.weight`]!.data as Float32Array, b = heads[`${headName(h)}.bias`]!.data as Float32Array;
      labels[h].forEach((y, t) => {
        if (y < 0) return;
        let best = -Infinity, arg = 0;
        for (let k = 0; k < K[h]; k++) { let z = b[k]!; for (let d = 0; d < Dv; d++) z += W[k * Dv + d]! * f[t * Dv + d]!; if (z > best) { best = z; arg = k; } }
        const r = out[h];
        r.n++; r.acc += arg === y ? 1 : 0;
        if (h !== 'cell' && y > 0) { r.objectN++; r.objectAcc += arg === y ? 1 : 0; }
      });
    }
  });
  for (const r of Object.values(out)) { r.acc /= Math.max(1, r.n); r.objectAcc /= Math.max(1, r.objectN); }
  return out;
}

/** packages/vision/weights/mini-encoder (the same from src/ and dist/): the dense-pretrained mini image encoder. */
export const MINI_ENCODER_DIR = fileURLToPath(new URL('../../weights/mini-encoder', import.meta.url));

interface StoredEncoder {
  readonly format: 'herd-mini-encoder';
  readonly vision: VisionConfig;
  /** The label classes its (discarded) heads were trained on. */
  readonly vocab: DenseVocab;
}

/** Writes a pre-trained image encoder (`vision_model.*`, f16) with its config, eval and card. */
export async function saveMiniEncoder(dir: string, v: VisionConfig, encoder: ParamValues, vocab: DenseVocab, extra: { eval?: unknown; card?: string } = {}): Promise<void> {
  const stored: StoredEncoder = { format: 'herd-mini-encoder', vision: v, vocab };
  await saveMiniModel(dir, encoderParamSpecs(v), encoder, stored, extra);
}

/** Loads a pre-trained image encoder written by `saveMiniEncoder` (f32 values by parameter name). */
export function loadMiniEncoder(dir: string = MINI_ENCODER_DIR): { vision: VisionConfig; encoder: ParamValues; vocab: DenseVocab } {
  const stored = readMiniConfig<StoredEncoder>(dir, 'herd-mini-encoder', 'herd vision train --dense-steps N');
  const vision = parseVisionConfig(stored.vision);
  return { vision, encoder: loadMiniParams(dir, encoderParamSpecs(vision)), vocab: stored.vocab };
}
