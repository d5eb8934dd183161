/**
 * Shape-free colour: objects redrawn as random polygons in their own ink colours (`reshapeObjects`), used twice — in the
 * adapter recipe as colour key-word sequences about scenes of one object group, the question and reply naming "shape(s)" where
 * they named the group's shape (`MiniVisionOptions.keyWordReshape`, `reshapedQuestion`), and in the dense stage as images
 * taught without shape labels (`DenseTrainOptions.reshape`).
 *
 * Why: every colour the adapter misnames on held-out scenes is a held-out pair's (a green triangle called "blue"), named as a
 * seen pair of that shape would be — the colour is read together with the shape. The world never shows a held-out pair (that
 * is what the eval measures), so the cure cannot be more pairs; a shape the world does not have, new for every sample, can
 * only be answered from its colour.
 */
import { type Rng, HerdError } from '@herd/core';
import { type VisionConfig } from '../config.js';
import { backgroundRgb, inkPixels, paintPixel, pixelIndex } from '../data/ink.js';
import { type TiledImage } from '../data/tiling.js';
import { type SceneSpec, SCENE_CELL, gridCell } from './dense-mini.js';

type Pixels = Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>;

/** One connected blob of ink (4-neighbours) in an object's cell: its pixels, mean colour (0–1) and bounding box. */
interface InkBlob { readonly pixels: number[]; readonly rgb: [number, number, number]; readonly box: readonly [number, number, number, number] }

/** Blobs smaller than this (pixels) are edge specks of anti-aliasing, not an object: left as they are. */
const MIN_BLOB = 4;

/** The ink blobs of grid cell `cell` (`gridCell` index), largest first. */
function inkBlobs(img: TiledImage, v: Pixels, inked: Uint8Array, cell: number): InkBlob[] {
  const { width: W, height: H } = img.resized;
  const seen = new Uint8Array(W * H);
  const blobs: InkBlob[] = [];
  for (let start = 0; start < W * H; start++) {
    if (!inked[start] || seen[start] || gridCell(start % W, Math.floor(start / W), W, H) !== cell) continue;
    const pixels: number[] = [];
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const i = stack.pop()!;
      pixels.push(i);
      const [x, y] = [i % W, Math.floor(i / W)];
      for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]] as const) {
        if (nx < 0 || ny < 0 || nx >= W || ny >= H) continue;
        const j = ny * W + nx;
        if (inked[j] && !seen[j] && gridCell(nx, ny, W, H) === cell) { seen[j] = 1; stack.push(j); }
      }
    }
    if (pixels.length < MIN_BLOB) continue;
    const rgb: [number, number, number] = [0, 0, 0];
    let [x0, y0, x1, y1] = [W, H, -1, -1];
    for (const i of pixels) {
      const [x, y] = [i % W, Math.floor(i / W)];
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
      for (let ch = 0; ch < 3; ch++) rgb[ch]! += img.pixels[pixelIndex(img, v.tileSize, x, y, ch)]! * v.imageStd[ch]! + v.imageMean[ch]!;
    }
    blobs.push({ pixels, rgb: rgb.map((c) => c / pixels.length) as [number, number, number], box: [x0, y0, x1, y1] });
  }
  return blobs.sort((a, b) => b.pixels.length - a.pixels.length);
}

/**
 * A random star-shaped polygon around (0, 0) of area `area` (pixels²): 5–9 corners at sorted random angles, each at a radius
 * drawn from 0.45–1 of the largest. Its corners, [x, y] pairs.
 */
export function randomPolygon(rng: Rng, area: number): [number, number][] {
  const n = 5 + Math.floor(rng.next() * 5);
  const angles = Array.from({ length: n }, (_, k) => (2 * Math.PI * (k + 0.8 * rng.next())) / n);
  const pts = angles.map((a) => { const r = 0.45 + 0.55 * rng.next(); return [r * Math.cos(a), r * Math.sin(a)] as [number, number]; });
  const unit = Math.abs(pts.reduce((s, [x, y], k) => { const [u, w] = pts[(k + 1) % n]!; return s + x * w - u * y; }, 0)) / 2;
  const scale = Math.sqrt(area / unit);
  return pts.map(([x, y]) => [x * scale, y * scale]);
}

/** Whether point (x, y) is inside `poly` (even-odd rule). */
function inside(poly: readonly (readonly [number, number])[], x: number, y: number): boolean {
  let hit = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!, [xj, yj] = poly[j]!;
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

/**
 * The image with each ink blob of each object's grid cell replaced by a random polygon (`randomPolygon`, rotated at random) of
 * the blob's area, centred where the blob's centre was, filled with the blob's mean colour: the blob's box (grown by 2 pixels,
 * to take the anti-aliased edge too, and kept inside the cell) is painted the background first. Pixels outside the objects'
 * cells are unchanged. Draws from `rng` per blob: the polygon's corners and one angle.
 */
export function reshapeObjects(img: TiledImage, v: Pixels, scene: SceneSpec, rng: Rng): TiledImage {
  const { width: W, height: H } = img.resized;
  const inked = inkPixels(img, v);
  const bg = backgroundRgb(img, v).map((c) => c / 255);
  const pixels = Float32Array.from(img.pixels);
  for (const o of scene.objects) {
    const cc = SCENE_CELL[o.position];
    if (!cc) throw new HerdError('invalid_argument', `reshapeObjects: object position '${o.position}' is not a grid cell of the world (${Object.keys(SCENE_CELL).join(', ')})`);
    const cell = cc[0] + 3 * cc[1];
    const blobs = inkBlobs(img, v, inked, cell);
    const inCell = (x: number, y: number) => x >= 0 && y >= 0 && x < W && y < H && gridCell(x, y, W, H) === cell;
    for (const b of blobs) {
      const [x0, y0, x1, y1] = b.box;
      for (let y = y0 - 2; y <= y1 + 2; y++) for (let x = x0 - 2; x <= x1 + 2; x++) if (inCell(x, y)) paintPixel(pixels, img, v, x, y, bg);
    }
    for (const b of blobs) {
      const cx = b.pixels.reduce((s, i) => s + (i % W), 0) / b.pixels.length + 0.5;
      const cy = b.pixels.reduce((s, i) => s + Math.floor(i / W), 0) / b.pixels.length + 0.5;
      const turn = 2 * Math.PI * rng.next();
      const poly = randomPolygon(rng, b.pixels.length).map(([x, y]) => [cx + x * Math.cos(turn) - y * Math.sin(turn), cy + x * Math.sin(turn) + y * Math.cos(turn)] as [number, number]);
      const [px0, px1] = [Math.floor(Math.min(...poly.map((p) => p[0]))), Math.ceil(Math.max(...poly.map((p) => p[0])))];
      const [py0, py1] = [Math.floor(Math.min(...poly.map((p) => p[1]))), Math.ceil(Math.max(...poly.map((p) => p[1])))];
      for (let y = py0; y <= py1; y++) for (let x = px0; x <= px1; x++) if (inCell(x, y) && inside(poly, x + 0.5, y + 0.5)) paintPixel(pixels, img, v, x, y, b.rgb);
    }
  }
  return { ...img, pixels };
}

/**
 * A colour question and its reply about a scene of one object group, its shape word made "shape" ("What colour are the
 * stars?" → "What colour are the shapes?", "The star is blue." → "The shape is blue."); a reply without it ("Blue.") stays.
 * A question that does not name the group's shape is an error naming it (the recipe asks only those).
 */
export function reshapedQuestion(q: { readonly question: string; readonly answer: string }, shape: string): { question: string; answer: string } {
  const word = new RegExp(`\\b${shape}(s?)\\b`, 'g');
  if (!new RegExp(`\\b${shape}s?\\b`).test(q.question)) throw new HerdError('invalid_argument', `reshapedQuestion: '${q.question}' does not name the shape '${shape}'`);
  return { question: q.question.replace(word, 'shape$1'), answer: q.answer.replace(word, 'shape$1') };
}
