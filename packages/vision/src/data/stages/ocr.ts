/**
 * OCR (Llama 3 paper §7.1.1: text written in the image is extracted and appended to the caption),
 * with tesseract.js and the `@tesseract.js-data/eng` model, fully offline: `langPath` points at the
 * data package's folder and the cache is off, otherwise tesseract.js tries to download (and its
 * worker dies with an uncaught "fetch failed"). Workers are pooled per stage instance and created on
 * first use; `close()` ends them. Recognised words above a confidence go to `meta.ocr = {text,
 * confidence, words}` (and optionally to the caption after a marker); images without text pass
 * through untouched.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { HerdError } from '@herd/core';
import { keep, type Sample, type SampleStage } from '@herd/data';
import { decodeImage, encodeRgb, resizeRgb, type RgbImage } from '@herd/media';
import { imageFileOf } from './meta.js';

export interface OcrOptions {
  name?: string;
  /** Tesseract workers in the pool (default 1: one per runner worker thread is usually right). */
  workers?: number;
  /** Words below this confidence (0–100) are ignored (default 70). */
  minConfidence?: number;
  /** Shorter words are ignored (default 2): tesseract reads a triangle as "A" at 95% confidence. */
  minWordLength?: number;
  /** Images are upscaled so their longer side is at least this (default 800): tesseract wants ~30 px glyphs. */
  minLongSide?: number;
  /** Also append the text to the caption as `\n[ocr] …` (default false: the field is enough). */
  appendToCaption?: boolean;
  /**
   * Text-presence gate before tesseract (`textRuns`): images with fewer ink runs than this in some
   * row window skip tesseract and pass through untouched (default 3; false: every image is read).
   */
  gate?: number | false;
  /** With the gate on, tesseract reads only the band of rows with text (`textBand`; default true). */
  cropToText?: boolean;
}

/**
 * A cheap text-presence signal: the largest number of separate "ink" runs (pixels whose luma is more
 * than 60 from the background, the median of the border) that start within one window of a row a
 * third of the image wide (at least 12 px). A row through a written word crosses its strokes again
 * and again; a row through these scenes' flat shapes crosses each shape once or twice. Measured on
 * generated images the image filter keeps (`bench/src/curate-quality.ts`, `--gate-sets`): every image
 * with a word or text overlay scored ≥ 4; 87–91 % of images without text score < 3–4.
 */
export function textRuns(img: RgbImage): number {
  let best = 0;
  for (const n of textRowRuns(img)) if (n > best) best = n;
  return best;
}

/** `textRuns` of every row: the most ink runs that start within one window of that row. */
export function textRowRuns(img: RgbImage): Int32Array {
  const { width: w, height: h, data } = img;
  const out = new Int32Array(h);
  if (w === 0 || h === 0) return out;
  const y = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) y[i] = 0.299 * (data[3 * i] as number) + 0.587 * (data[3 * i + 1] as number) + 0.114 * (data[3 * i + 2] as number);
  const border: number[] = [];
  for (let x = 0; x < w; x++) border.push(y[x] as number, y[(h - 1) * w + x] as number);
  for (let r = 0; r < h; r++) border.push(y[r * w] as number, y[r * w + w - 1] as number);
  border.sort((a, b) => a - b);
  const bg = border[border.length >> 1] as number;
  const win = Math.max(12, Math.round(w / 3));
  const starts = new Int32Array(w);
  for (let r = 0; r < h; r++) {
    let n = 0;
    let prev = false;
    for (let x = 0; x < w; x++) {
      const ink = Math.abs((y[r * w + x] as number) - bg) > 60;
      if (ink && !prev) starts[n++] = x;
      prev = ink;
    }
    let a = 0;
    let best = 0;
    for (let b = 0; b < n; b++) {
      while ((starts[b] as number) - (starts[a] as number) > win) a++;
      if (b - a + 1 > best) best = b - a + 1;
    }
    out[r] = best;
  }
  return out;
}

/**
 * The full-width band of rows holding text: from the first to the last row with at least `gate` runs,
 * widened on each side by its own height (at least 8 rows) for ascenders, descenders and lines the
 * count missed. The whole image when no row reaches `gate`.
 */
export function textBand(img: RgbImage, gate: number): RgbImage {
  const rows = textRowRuns(img);
  let first = -1;
  let last = -1;
  for (let r = 0; r < rows.length; r++) {
    if ((rows[r] as number) >= gate) {
      if (first < 0) first = r;
      last = r;
    }
  }
  if (first < 0) return img;
  const pad = Math.max(8, last - first + 1);
  const top = Math.max(0, first - pad);
  const bottom = Math.min(img.height, last + 1 + pad);
  if (top === 0 && bottom === img.height) return img;
  return { width: img.width, height: bottom - top, data: img.data.slice(top * img.width * 3, bottom * img.width * 3) };
}

export const OCR_FIELD = 'ocr';
export const OCR_CAPTION_MARKER = '[ocr]';

export interface OcrResult {
  text: string;
  /** Mean confidence of the kept words, 0–100. */
  confidence: number;
  words: { text: string; confidence: number }[];
}

type TessWorker = {
  recognize(image: Buffer, opts?: unknown, output?: unknown): Promise<{ data: { text: string; confidence: number; blocks?: unknown } }>;
  setParameters(p: Record<string, string>): Promise<unknown>;
  terminate(): Promise<unknown>;
};

/** The folder of `@tesseract.js-data/eng` that holds eng.traineddata.gz. */
export function englishDataPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int');
}

/** A fixed-size pool of tesseract workers; requests wait for a free one. */
export class OcrPool {
  private readonly idle: TessWorker[] = [];
  private readonly waiting: ((w: TessWorker) => void)[] = [];
  private created = 0;
  private closed = false;
  constructor(private readonly size: number) {}

  private async create(): Promise<TessWorker> {
    const { createWorker } = (await import('tesseract.js')) as unknown as { createWorker(lang: string, oem: number, opts: Record<string, unknown>): Promise<TessWorker> };
    try {
      const w = await createWorker('eng', 1, { langPath: englishDataPath(), cacheMethod: 'none', gzip: true, errorHandler: () => undefined });
      // Decoded pixels carry no DPI; without one tesseract warns and guesses.
      await w.setParameters({ user_defined_dpi: '300' });
      return w;
    } catch (e) {
      throw new HerdError('tool_missing', `cannot start a tesseract.js worker with the offline English model at ${englishDataPath()}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
  }

  async run<T>(fn: (w: TessWorker) => Promise<T>): Promise<T> {
    if (this.closed) throw new HerdError('invalid_argument', 'OCR pool is closed');
    let w = this.idle.pop();
    if (w === undefined && this.created < this.size) {
      this.created++;
      try {
        w = await this.create();
      } catch (e) {
        this.created--;
        throw e;
      }
    }
    w ??= await new Promise<TessWorker>((resolve) => this.waiting.push(resolve));
    try {
      return await fn(w);
    } finally {
      const next = this.waiting.shift();
      if (next) next(w);
      else this.idle.push(w);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = this.idle.splice(0);
    await Promise.all(all.map((w) => w.terminate()));
  }
}

/** Upscaled PNG for tesseract. */
async function prepareForOcr(img: RgbImage, minLongSide: number): Promise<Buffer> {
  const scale = Math.max(1, minLongSide / Math.max(img.width, img.height));
  const big = scale > 1 ? await resizeRgb(img, Math.round(img.width * scale), Math.round(img.height * scale)) : img;
  return Buffer.from(await encodeRgb(big, 'png'));
}

/** Tesseract's words in an image (decoded through @herd/media: limits, damage refused). */
export async function recognise(pool: OcrPool, image: Uint8Array | RgbImage, o: { minConfidence: number; minWordLength: number; minLongSide: number }): Promise<OcrResult> {
  const png = await prepareForOcr(image instanceof Uint8Array ? await decodeImage(image) : image, o.minLongSide);
  const data = await pool.run((w) => w.recognize(png, {}, { text: true, blocks: true }));
  const words: { text: string; confidence: number }[] = [];
  const blocks = (data.data.blocks ?? []) as { paragraphs: { lines: { words: { text: string; confidence: number }[] }[] }[] }[];
  for (const b of blocks) for (const p of b.paragraphs) for (const l of p.lines) for (const wd of l.words) {
    const t = wd.text.trim();
    // A "word" without a letter or digit is a speck of noise read as punctuation.
    if ([...t].length >= o.minWordLength && /[\p{L}\p{N}]/u.test(t) && wd.confidence >= o.minConfidence) words.push({ text: t, confidence: Number(wd.confidence.toFixed(1)) });
  }
  const confidence = words.length === 0 ? 0 : words.reduce((s, w) => s + w.confidence, 0) / words.length;
  return { text: words.map((w) => w.text).join(' '), confidence: Number(confidence.toFixed(1)), words };
}

export interface OcrStage extends SampleStage {
  /** Ends the pooled tesseract workers. */
  close(): Promise<void>;
}

export function ocr(options: OcrOptions = {}): OcrStage {
  const o = { workers: options.workers ?? 1, minConfidence: options.minConfidence ?? 70, minWordLength: options.minWordLength ?? 2, minLongSide: options.minLongSide ?? 800, appendToCaption: options.appendToCaption ?? false, gate: options.gate ?? 3, cropToText: options.cropToText ?? true };
  if (o.gate !== false && !(Number.isInteger(o.gate) && o.gate >= 0)) throw new HerdError('invalid_argument', `ocr: gate must be a non-negative integer or false, got ${JSON.stringify(options.gate)}`);
  const pool = new OcrPool(o.workers);
  const encoder = new TextEncoder();
  return {
    kind: 'sample',
    name: options.name ?? 'ocr',
    version: JSON.stringify(['eng-4.0.0_best_int', o.minConfidence, o.minWordLength, o.minLongSide, o.appendToCaption, ...(o.gate === false ? [] : [`gate ${o.gate}`, ...(o.cropToText ? ['band'] : [])])]),
    async process(sample: Sample) {
      const file = imageFileOf(sample);
      if (file === undefined) return keep(sample);
      const img = await decodeImage(file.bytes, { name: `${sample.key}.${file.ext}` });
      if (o.gate !== false && textRuns(img) < o.gate) return keep(sample);
      const r = await recognise(pool, o.gate !== false && o.cropToText ? textBand(img, o.gate) : img, o);
      if (r.words.length === 0) return keep(sample);
      const files = { ...sample.files };
      if (o.appendToCaption && files['txt'] !== undefined) {
        files['txt'] = encoder.encode(`${new TextDecoder().decode(files['txt'])}\n${OCR_CAPTION_MARKER} ${r.text}`);
      }
      return keep({ ...sample, files, meta: { ...sample.meta, [OCR_FIELD]: r } });
    },
    close: () => pool.close(),
  };
}
