/**
 * Image–caption pairs: scenes of 1–4 shapes rendered from SVG with sharp at varied sizes and aspect
 * ratios, PNG or JPEG, with a caption from varied templates, QA pairs and the scene as ground truth.
 * Noise (duplicates, mismatched or non-English captions, blank/tiny/extreme-aspect/text-heavy and
 * truncated images) is mixed in at `noiseRate` with its label in meta.
 */
import { createHash } from 'node:crypto';
import sharp, { type Sharp } from 'sharp';
import { HerdError, type Rng } from '@herd/core';
import { describeScene, sceneQuestions } from './language.js';
import { OTHER_LANGUAGES, describeSceneIn, type Language } from './multilingual.js';
import { IMAGE_NOISE, RecentPool, checkRate, planNoise, truncateBytes, type ImageNoise } from './noise.js';
import { checkTextRendering } from './fonts.js';
import { FONT_FAMILY, escapeXml, sceneSvg, wordSvg } from './render.js';
import { sampleKey, utf8, type Sample } from './sample.js';
import { BACKGROUND_RGB, CORNER_CELL, SIZES, WORDS, itemRng, randomScene, sceneSplit, type Corner, type Scene, type Size, type Split } from './world.js';

export type ImageFormat = 'png' | 'jpeg';

export interface ImageOptions {
  readonly seed: number;
  readonly count: number;
  /** Fraction of samples that carry a noise label (default 0.2). */
  readonly noiseRate?: number;
  /** Which noise kinds to use (default all image kinds). */
  readonly noiseKinds?: readonly ImageNoise[];
  /** Fraction of samples drawn from held-out colour×shape combinations (default 0.1). */
  readonly heldoutFraction?: number;
  /** Range of the longer image side in pixels (default [96, 256]). */
  readonly side?: readonly [number, number];
  /** Force one format (default: PNG or JPEG at random). */
  readonly format?: ImageFormat;
  /** Probability of a written word (default 0.3). */
  readonly wordProbability?: number;
}

const ASPECTS = [1, 4 / 3, 3 / 4, 16 / 9, 9 / 16, 3 / 2, 2 / 3] as const;

export function randomImageSize(rng: Rng, side: readonly [number, number]): { width: number; height: number } {
  const long = side[0] + rng.int(side[1] - side[0] + 1);
  const aspect = rng.pick(ASPECTS);
  return aspect >= 1 ? { width: long, height: Math.max(8, Math.round(long / aspect)) } : { width: Math.max(8, Math.round(long * aspect)), height: long };
}

export async function encodeSvg(svg: string, format: ImageFormat, quality = 90): Promise<Uint8Array> {
  const img = sharp(Buffer.from(svg));
  const out = format === 'png' ? img.png({ compressionLevel: 6 }) : img.jpeg({ quality, chromaSubsampling: '4:4:4' });
  return new Uint8Array(await out.toBuffer());
}

export async function renderScene(scene: Scene, width: number, height: number, format: ImageFormat, quality = 90, extraSvg = ''): Promise<Uint8Array> {
  return encodeSvg(sceneSvg(scene, width, height, extraSvg), format, quality);
}

/**
 * The written word alone as the world draws it into a scene of width × height: [height·width] coverage 0–1
 * (the glyphs' alpha; the word's colour is `WORD_RGB`). What the vision encoder's dense stage paints into
 * its training images so that a word cannot be learnt from the rest of the image.
 */
export async function renderWordCoverage(text: string, corner: Corner, width: number, height: number): Promise<Float32Array> {
  if (!(corner in CORNER_CELL)) throw new HerdError('invalid_argument', `renderWordCoverage: '${corner}' is not a corner of the world (${Object.keys(CORNER_CELL).join(', ')})`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${wordSvg(text, CORNER_CELL[corner], width, height)}</svg>`;
  const { data, info } = await sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = data[i * info.channels + 3]! / 255;
  return out;
}

/** Many lines of words over the scene: the "text-heavy" frames that OCR-based filters drop. */
export function textOverlaySvg(rng: Rng, width: number, height: number): string {
  const lines = 6 + rng.int(5);
  const size = height / (lines + 1);
  let out = '';
  for (let i = 0; i < lines; i++) {
    const words = Array.from({ length: 3 + rng.int(5) }, () => rng.pick(WORDS)).join(' ');
    out += `<text x="${(width * 0.03).toFixed(1)}" y="${((i + 1) * size).toFixed(1)}" font-family="${FONT_FAMILY}" font-size="${(size * 0.8).toFixed(1)}" fill="rgb(10,10,10)">${escapeXml(words)}</text>`;
  }
  return out;
}

/**
 * What a scene looks like up to the generator's own near-duplicate edits (`nearDuplicate` below):
 * the objects in a canonical order (the drawing does not depend on their order), the written word,
 * the background with white and grey as one — a copy's brightness jitter (×0.9–1.1) turns white
 * (255) into grey (232), and dark shapes look the same either way, so no pixel test can tell "the
 * grey scene" from "a darkened copy of the white one" — and the aspect ratio class (resizes and
 * crops keep it). Two samples with one look are copies of each other whatever their labels say.
 */
export function sceneLook(scene: Scene, width: number, height: number): string {
  const objects = [...scene.objects].sort((a, b) => a.position.localeCompare(b.position)).map((o) => [o.position, o.shape, o.colour, o.size, o.count]);
  const background = scene.background === 'grey' ? 'white' : scene.background;
  return JSON.stringify([objects, scene.word, background, Math.log(width / height).toFixed(1)]);
}

/**
 * The looks a centre crop of this scene shares with other scenes: a scene whose only object group
 * sits in the centre cell, drawn one size up or down (small ↔ medium ↔ big). The generator's crop
 * edit keeps 85–93 % of each side, which enlarges a centred object by 8–18 %: a medium star cropped
 * looks like the big star scene (and a small circle like the medium one) to every signal the
 * near-duplicate check has (pHash within 8 bits, layout cosine 0.99, thumbnail correlation 0.98:
 * packages/vision/CURATION.md), so the world must not hold both as "different" scenes. Objects in
 * the arms move outwards under a crop, which a size change does not do, so only the centre counts.
 */
export function cropNeighbourLooks(scene: Scene, width: number, height: number): string[] {
  const [only] = scene.objects;
  if (scene.objects.length !== 1 || only === undefined || only.position !== 'centre') return [];
  const i = SIZES.indexOf(only.size);
  return [SIZES[i - 1], SIZES[i + 1]].filter((s): s is Size => s !== undefined).map((size) => sceneLook({ ...scene, objects: [{ ...only, size }] }, width, height));
}

/** The looks drawn so far, as MD5 digests (a 100k-image set keeps ~10 MB). */
export class LookSet {
  private readonly seen = new Set<string>();
  get size(): number {
    return this.seen.size;
  }
  private static digest(look: string): string {
    return createHash('md5').update(look).digest('base64');
  }
  has(look: string): boolean {
    return this.seen.has(LookSet.digest(look));
  }
  /** Adds a look; false when it was there already. */
  add(look: string): boolean {
    const d = LookSet.digest(look);
    if (this.seen.has(d)) return false;
    this.seen.add(d);
    return true;
  }
}

/**
 * The scene and size of a sample that is not a labelled copy, drawn again until its look
 * (`sceneLook`) is new to `looks` and no scene drawn before is one a centre crop of it looks like
 * (`cropNeighbourLooks`): two such scenes render as copies of each other, and the labels would call
 * them different.
 */
export function drawScene(
  rng: Rng,
  key: string,
  split: Split,
  noise: ImageNoise | null,
  opts: Pick<ImageOptions, 'wordProbability' | 'count'>,
  side: readonly [number, number],
  looks: LookSet,
): { scene: Scene; width: number; height: number } {
  for (let tries = 0; ; tries++) {
    const scene = randomScene(rng, { split, wordProbability: opts.wordProbability ?? 0.3 });
    let { width, height } = randomImageSize(rng, side);
    if (noise === 'tiny') {
      width = 6 + rng.int(11);
      height = 6 + rng.int(11);
    } else if (noise === 'extreme_aspect') {
      const long = Math.max(side[1], 200);
      const short = Math.max(8, Math.round(long / (8 + rng.int(8))));
      [width, height] = rng.next() < 0.5 ? [long, short] : [short, long];
    }
    if (!cropNeighbourLooks(scene, width, height).some((l) => looks.has(l)) && looks.add(sceneLook(scene, width, height))) return { scene, width, height };
    if (tries >= 1000) throw new HerdError('invalid_argument', `image ${key}: 1000 draws gave no scene unlike the ${looks.size} before it; the world has too few distinct looks for ${opts.count} images with these options`);
  }
}

interface Clean {
  readonly key: string;
  readonly bytes: Uint8Array;
  readonly ext: 'png' | 'jpg';
  readonly caption: string;
  readonly meta: Record<string, unknown>;
}

async function nearDuplicate(rng: Rng, src: Clean): Promise<{ bytes: Uint8Array; transform: string; width: number; height: number }> {
  const img = sharp(Buffer.from(src.bytes));
  const { width = 1, height = 1 } = await img.metadata();
  const kind = rng.pick(['resize', 'reencode', 'crop', 'colour_jitter'] as const);
  let out: Sharp;
  let w = width;
  let h = height;
  switch (kind) {
    case 'resize': {
      const s = 0.5 + 0.4 * rng.next();
      w = Math.max(8, Math.round(width * s));
      h = Math.max(8, Math.round(height * s));
      out = img.resize(w, h, { fit: 'fill' });
      break;
    }
    case 'reencode':
      out = img;
      break;
    case 'crop': {
      const s = 0.85 + 0.08 * rng.next();
      w = Math.max(8, Math.round(width * s));
      h = Math.max(8, Math.round(height * s));
      out = img.extract({ left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h });
      break;
    }
    case 'colour_jitter':
      out = img.modulate({ brightness: 0.9 + 0.2 * rng.next(), saturation: 0.8 + 0.4 * rng.next(), hue: Math.round(-12 + 24 * rng.next()) });
      break;
  }
  // Re-encoding always happens: a near duplicate never shares bytes with its source.
  const quality = kind === 'reencode' ? 40 + rng.int(30) : 85;
  const bytes = src.ext === 'png' && kind !== 'reencode' ? await out.png({ compressionLevel: 9 }).toBuffer() : await out.jpeg({ quality }).toBuffer();
  return { bytes: new Uint8Array(bytes), transform: kind, width: w, height: h };
}

/**
 * Image samples `img-<index>`: files `png` or `jpg` plus `txt` (the caption); meta holds the scene,
 * QA pairs, size, format, split, language and `noise` (null when clean).
 */
export async function* generateImages(opts: ImageOptions): AsyncGenerator<Sample> {
  if (!Number.isInteger(opts.count) || opts.count < 0) throw new HerdError('invalid_argument', `image count must be a non-negative integer, got ${opts.count}`);
  const noiseRate = opts.noiseRate ?? 0.2;
  checkRate(noiseRate);
  const side = opts.side ?? [96, 256];
  if (opts.count > 0) await checkTextRendering();
  const plan = planNoise(itemRng(opts.seed, 'images/plan', 0), opts.count, noiseRate, opts.noiseKinds ?? IMAGE_NOISE);
  const pool = new RecentPool<Clean>();
  const looks = new LookSet();
  for (let i = 0; i < opts.count; i++) {
    const rng = itemRng(opts.seed, 'images', i);
    const key = sampleKey('img', i);
    const noise = plan[i] ?? null;

    if (noise === 'exact_duplicate' || noise === 'near_duplicate') {
      const src = pool.pick(rng)!; // index 0 is always clean, so the pool is never empty here
      const base = { ...src.meta, noise, duplicateOf: src.key };
      if (noise === 'exact_duplicate') {
        yield { key, files: { [src.ext]: src.bytes, txt: utf8(src.caption) }, meta: base };
      } else {
        const nd = await nearDuplicate(rng, src);
        const ext = src.ext === 'png' && nd.transform !== 'reencode' ? 'png' : 'jpg';
        yield {
          key,
          files: { [ext]: nd.bytes, txt: utf8(src.caption) },
          meta: { ...base, transform: nd.transform, width: nd.width, height: nd.height, format: ext === 'png' ? 'png' : 'jpeg' },
        };
      }
      continue;
    }

    const split: Split = rng.next() < (opts.heldoutFraction ?? 0.1) ? 'heldout' : 'train';
    const { scene, width, height } = drawScene(rng, key, split, noise, opts, side, looks);
    const format: ImageFormat = opts.format ?? (rng.next() < 0.5 ? 'png' : 'jpeg');
    const quality = 80 + rng.int(16);
    let caption = describeScene(rng, scene);
    let language: Language = 'en';
    const meta: Record<string, unknown> = {};

    let bytes: Uint8Array;
    if (noise === 'blank') {
      const bg = BACKGROUND_RGB[scene.background];
      const img = sharp({ create: { width, height, channels: 3, background: { r: bg[0], g: bg[1], b: bg[2] } } });
      bytes = new Uint8Array(await (format === 'png' ? img.png() : img.jpeg({ quality })).toBuffer());
    } else {
      const extra = noise === 'text_heavy' ? textOverlaySvg(rng, width, height) : '';
      bytes = await renderScene(scene, width, height, format, quality, extra);
    }
    if (noise === 'mismatched_caption') {
      // The caption describes another scene, made independently.
      const other = randomScene(rng, { split: 'train' });
      caption = describeScene(rng, other);
      meta.captionScene = other;
    } else if (noise === 'non_english_caption') {
      language = rng.pick(OTHER_LANGUAGES);
      caption = describeSceneIn(rng, scene, language);
    } else if (noise === 'truncated') {
      bytes = truncateBytes(rng, bytes);
    }

    const ext = format === 'png' ? 'png' : 'jpg';
    Object.assign(meta, {
      modality: 'image',
      split: sceneSplit(scene),
      noise,
      language,
      width,
      height,
      format,
      scene,
      qa: sceneQuestions(rng, scene),
    });
    const sample: Sample = { key, files: { [ext]: bytes, txt: utf8(caption) }, meta };
    if (noise === null) pool.add({ key, bytes, ext, caption, meta });
    yield sample;
  }
}
