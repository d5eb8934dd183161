/**
 * Word painting, an augmentation of the dense stage (`trainDenseEncoder`'s `wordPaint`): a training image gets its written
 * word erased and a word of the vocabulary drawn into a corner cell, the word and the corner drawn at random each time the
 * image is picked, and its labels follow the painted word. Why: with ~40 training images per word the dense stage's word
 * head learnt each training image's word from the rest of the image (round 41: the encoder's word probe reads 100 % of
 * train images, 52 % of unseen images of the same colour × shape pairs, while the raw pixels of the word's cell read
 * 92–97 %). A painted word goes with any image, so only its glyphs tell it.
 *
 * The glyphs come from the caller (`WordGlyphs`: the world's own renderer, `@herd/datasets` `renderWordCoverage`, drawn at
 * the resized image's size), so the painted word is the world's font, size and place, not a copy of its drawing code.
 */
import { HerdError, type Rng } from '@herd/core';
import { type VisionConfig } from '../config.js';
import { backgroundRgb, paintPixel, pixelIndex } from '../data/ink.js';
import { type TiledImage } from '../data/tiling.js';
import { type DenseScene, SCENE_CELL, gridCell } from './dense-mini.js';

/** The word drawn alone into an image of width × height: [height·width] coverage 0–1 of its glyphs. */
export type WordCoverage = (text: string, corner: string, width: number, height: number) => Promise<Float32Array>;

export interface WordPaint {
  /** Share of the picked training images that get a painted word (0–1). */
  readonly share: number;
  readonly coverage: WordCoverage;
  /** The word's ink colour, RGB 0–255. */
  readonly rgb: readonly [number, number, number];
}

/** The corner cells of the world's 3×3 layout, where it writes its word (a function: dense-mini.ts imports this module). */
export function wordCorners(): string[] {
  return Object.keys(SCENE_CELL).filter((k) => SCENE_CELL[k]![0] !== 1 && SCENE_CELL[k]![1] !== 1);
}

/**
 * The scene with its word (if any) erased — every pixel of its corner cell painted the background colour — and `text`
 * drawn into `corner` with `coverage` ([H·W] of the resized image) blended over what is there in colour `rgb`.
 */
export function paintWord(s: DenseScene, v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>, word: { readonly text: string; readonly corner: string }, coverage: Float32Array, rgb: readonly [number, number, number]): DenseScene {
  const img = s.image;
  const { width: W, height: H } = img.resized;
  if (coverage.length !== W * H) throw new HerdError('invalid_argument', `paintWord: coverage has ${coverage.length} values, the resized image ${W}×${H} needs ${W * H}`);
  if (!SCENE_CELL[word.corner]) throw new HerdError('invalid_argument', `paintWord: '${word.corner}' is not a corner of the world (${wordCorners().join(', ')})`);
  const pixels = Float32Array.from(img.pixels);
  const out: TiledImage = { ...img, pixels };
  const bg = backgroundRgb(img, v).map((c) => c / 255);
  if (s.scene.word) {
    const [cx, cy] = SCENE_CELL[s.scene.word.corner] ?? [-1, -1];
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (gridCell(x, y, W, H) === cx + 3 * cy) paintPixel(pixels, out, v, x, y, bg);
  }
  const ink = rgb.map((c) => c / 255);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const a = coverage[y * W + x]!;
    if (a <= 0) continue;
    const now = [0, 1, 2].map((ch) => pixels[pixelIndex(out, v.tileSize, x, y, ch)]! * v.imageStd[ch]! + v.imageMean[ch]!);
    paintPixel(pixels, out, v, x, y, now.map((c, ch) => a * ink[ch]! + (1 - a) * c));
  }
  return { ...s, image: out, scene: { ...s.scene, word: { text: word.text, corner: word.corner } } };
}

/**
 * `share` of `scenes`, chosen by `rng`, repainted with a word of `words` in a corner (both drawn by `rng`); the
 * glyphs of each (word, corner, size) rendered once.
 */
export async function paintWords(scenes: readonly DenseScene[], v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>, words: readonly string[], o: WordPaint, rng: Rng, cache: Map<string, Float32Array>): Promise<DenseScene[]> {
  if (words.length === 0) throw new HerdError('invalid_argument', 'word painting: the training scenes have no written word, so there is no vocabulary to paint');
  const corners = wordCorners();
  const out: DenseScene[] = [];
  for (const s of scenes) {
    if (!(rng.next() < o.share)) { out.push(s); continue; }
    const word = { text: rng.pick(words), corner: rng.pick(corners) };
    const { width: W, height: H } = s.image.resized;
    const key = `${word.text}|${word.corner}|${W}x${H}`;
    let coverage = cache.get(key);
    if (!coverage) cache.set(key, (coverage = await o.coverage(word.text, word.corner, W, H)));
    out.push(paintWord(s, v, word, coverage, o.rgb));
  }
  return out;
}
