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
import { HerdError, type OptionRules } from '@herd/core';
import { keep, type Sample, type SampleStage } from '@herd/data';
import { decodeImage, encodeRgb, resizeRgb, type RgbImage } from '@herd/media';
import { cropRgb } from '../resize.js';
import { imageFileOf } from './meta.js';

const cropBox = (img: RgbImage, b: { x0: number; y0: number; x1: number; y1: number }): RgbImage => cropRgb(img, b.x0, b.y0, b.x1 - b.x0 + 1, b.y1 - b.y0 + 1);

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
  /**
   * With the gate on, tesseract reads each line of text alone (`textLines`; default true): cropped,
   * scaled to `lineHeight` and read as one line (page segmentation mode 7). False: the whole image.
   */
  cropToText?: boolean;
  /** Each line is scaled so its text rows are this many pixels tall (default 28; 1–8× only). */
  lineHeight?: number;
}

/** What a config file may set (`checkOptions`). */
export const OCR_RULES = { name: 'string', workers: 'int', minConfidence: 'number', minWordLength: 'int', minLongSide: 'int', appendToCaption: 'boolean', gate: ['number', false], cropToText: 'boolean', lineHeight: 'int' } satisfies OptionRules<OcrOptions>;

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

/** One row's ink runs (`[start, end]` pairs, inclusive) and the window of them `textRuns` counts. */
interface RowRuns {
  runs: Int32Array;
  count: number;
  /** Index of the first and last run of the row's best window (`last < first` when the row has none). */
  first: number;
  last: number;
}

/** Every row's ink runs and its best window: the most runs that start within a third of the width. */
function rowRuns(img: RgbImage): RowRuns[] {
  const { width: w, height: h, data } = img;
  if (w === 0 || h === 0) return [];
  const y = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) y[i] = 0.299 * (data[3 * i] as number) + 0.587 * (data[3 * i + 1] as number) + 0.114 * (data[3 * i + 2] as number);
  const border: number[] = [];
  for (let x = 0; x < w; x++) border.push(y[x] as number, y[(h - 1) * w + x] as number);
  for (let r = 0; r < h; r++) border.push(y[r * w] as number, y[r * w + w - 1] as number);
  border.sort((a, b) => a - b);
  const bg = border[border.length >> 1] as number;
  const win = Math.max(12, Math.round(w / 3));
  const out: RowRuns[] = [];
  const buf = new Int32Array(w + 1);
  for (let r = 0; r < h; r++) {
    let n = 0;
    let start = -1;
    for (let x = 0; x <= w; x++) {
      const ink = x < w && Math.abs((y[r * w + x] as number) - bg) > 60;
      if (ink && start < 0) start = x;
      else if (!ink && start >= 0) {
        buf[2 * n] = start;
        buf[2 * n + 1] = x - 1;
        n++;
        start = -1;
      }
    }
    let a = 0;
    let best = 0;
    let first = 0;
    let last = -1;
    for (let b = 0; b < n; b++) {
      while ((buf[2 * b] as number) - (buf[2 * a] as number) > win) a++;
      if (b - a + 1 > best) {
        best = b - a + 1;
        first = a;
        last = b;
      }
    }
    out.push({ runs: buf.slice(0, 2 * n), count: best, first, last });
  }
  return out;
}

/** `textRuns` of every row: the most ink runs that start within one window of that row. */
export function textRowRuns(img: RgbImage): Int32Array {
  return Int32Array.from(rowRuns(img), (r) => r.count);
}

/** A box around one line of text, in pixels (inclusive), and the number of rows that reached the gate. */
export interface TextLine {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** Rows from the line's first to its last row with at least `gate` runs: about its x-height. */
  rows: number;
}

/**
 * The lines of text in an image. Rows with at least `gate` runs are grouped into lines (gaps of up to
 * 2 rows joined); in each such row the best window's runs are extended left and right over gaps no
 * wider than the line's height (the space between words is about half of it, the gap to a shape in
 * the next cell is wider), and the union over the line's rows is its box, widened on every side by
 * 0.6 of its height (at least 4 px) for ascenders, descenders and rows the count missed.
 */
export function textLines(img: RgbImage, gate: number): TextLine[] {
  const rows = rowRuns(img);
  const groups: [number, number][] = [];
  for (let r = 0; r < rows.length; r++) {
    if ((rows[r] as RowRuns).count < gate) continue;
    const g = groups[groups.length - 1];
    if (g !== undefined && r - g[1] <= 2) g[1] = r;
    else groups.push([r, r]);
  }
  const lines: TextLine[] = [];
  for (const [r0, r1] of groups) {
    const gap = Math.max(3, r1 - r0 + 1);
    let x0 = img.width;
    let x1 = -1;
    for (let r = r0; r <= r1; r++) {
      const { runs, count, first, last } = rows[r] as RowRuns;
      if (count < gate || last < first) continue;
      let a = first;
      let b = last;
      while (a > 0 && (runs[2 * a] as number) - (runs[2 * a - 1] as number) <= gap) a--;
      while (2 * b + 2 < runs.length && (runs[2 * b + 2] as number) - (runs[2 * b + 1] as number) <= gap) b++;
      x0 = Math.min(x0, runs[2 * a] as number);
      x1 = Math.max(x1, runs[2 * b + 1] as number);
    }
    if (x1 < 0) continue;
    const pad = Math.max(4, Math.round(0.6 * (r1 - r0 + 1)));
    lines.push({ x0: Math.max(0, x0 - pad), y0: Math.max(0, r0 - pad), x1: Math.min(img.width - 1, x1 + pad), y1: Math.min(img.height - 1, r1 + pad), rows: r1 - r0 + 1 });
  }
  return lines;
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

/** More lines than this (a page of text) are read together as one block, not one call each. */
export const MAX_OCR_LINES = 4;

/**
 * How tesseract reads an image: a block upscaled to a long side (page segmentation mode 6, tesseract's
 * own default, as before line crops), or one line scaled to a height (mode 7).
 */
type ReadAs = { kind: 'block'; minLongSide: number } | { kind: 'line'; rows: number; lineHeight: number };

type WordFilter = { minConfidence: number; minWordLength: number };

async function readWords(pool: OcrPool, img: RgbImage, as: ReadAs, o: WordFilter): Promise<{ text: string; confidence: number }[]> {
  const scale = as.kind === 'block' ? Math.max(1, as.minLongSide / Math.max(img.width, img.height)) : Math.min(8, Math.max(1, as.lineHeight / as.rows));
  const big = scale > 1 ? await resizeRgb(img, Math.round(img.width * scale), Math.round(img.height * scale)) : img;
  const png = Buffer.from(await encodeRgb(big, 'png'));
  const data = await pool.run(async (w) => {
    // Set on every call: a pooled worker keeps the mode of its previous read.
    await w.setParameters({ tessedit_pageseg_mode: as.kind === 'block' ? '6' : '7' });
    return w.recognize(png, {}, { text: true, blocks: true });
  });
  const words: { text: string; confidence: number }[] = [];
  const blocks = (data.data.blocks ?? []) as { paragraphs: { lines: { words: { text: string; confidence: number }[] }[] }[] }[];
  for (const b of blocks) for (const p of b.paragraphs) for (const l of p.lines) for (const wd of l.words) {
    const t = wd.text.trim();
    // A "word" without a letter or digit is a speck of noise read as punctuation.
    if ([...t].length >= o.minWordLength && /[\p{L}\p{N}]/u.test(t) && wd.confidence >= o.minConfidence) words.push({ text: t, confidence: Number(wd.confidence.toFixed(1)) });
  }
  return words;
}

function result(words: { text: string; confidence: number }[]): OcrResult {
  const confidence = words.length === 0 ? 0 : words.reduce((s, w) => s + w.confidence, 0) / words.length;
  return { text: words.map((w) => w.text).join(' '), confidence: Number(confidence.toFixed(1)), words };
}

/** Tesseract's words in a whole image, read as a block (decoded through @herd/media: limits, damage refused). */
export async function recognise(pool: OcrPool, image: Uint8Array | RgbImage, o: WordFilter & { minLongSide: number }): Promise<OcrResult> {
  const img = image instanceof Uint8Array ? await decodeImage(image) : image;
  return result(await readWords(pool, img, { kind: 'block', minLongSide: o.minLongSide }, o));
}

/**
 * Tesseract's words in the lines of text `textLines` finds, each read alone as one line; more than
 * `MAX_OCR_LINES` lines are read together as one block (their bounding box).
 */
export async function recogniseLines(pool: OcrPool, img: RgbImage, o: WordFilter & { gate: number; lineHeight: number; minLongSide: number }): Promise<OcrResult> {
  const lines = textLines(img, o.gate);
  if (lines.length === 0) return result([]);
  if (lines.length > MAX_OCR_LINES) {
    const box = { x0: Math.min(...lines.map((l) => l.x0)), y0: Math.min(...lines.map((l) => l.y0)), x1: Math.max(...lines.map((l) => l.x1)), y1: Math.max(...lines.map((l) => l.y1)) };
    return result(await readWords(pool, cropBox(img, box), { kind: 'block', minLongSide: o.minLongSide }, o));
  }
  const words: { text: string; confidence: number }[] = [];
  for (const line of lines) words.push(...(await readWords(pool, cropBox(img, line), { kind: 'line', rows: line.rows, lineHeight: o.lineHeight }, o)));
  return result(words);
}

export interface OcrStage extends SampleStage {
  /** Ends the pooled tesseract workers. */
  close(): Promise<void>;
}

export function ocr(options: OcrOptions = {}): OcrStage {
  const o = { workers: options.workers ?? 1, minConfidence: options.minConfidence ?? 70, minWordLength: options.minWordLength ?? 2, minLongSide: options.minLongSide ?? 800, appendToCaption: options.appendToCaption ?? false, gate: options.gate ?? 3, cropToText: options.cropToText ?? true, lineHeight: options.lineHeight ?? 28 };
  if (o.gate !== false && !(Number.isInteger(o.gate) && o.gate >= 0)) throw new HerdError('invalid_argument', `ocr: gate must be a non-negative integer or false, got ${JSON.stringify(options.gate)}`);
  if (!(o.lineHeight > 0)) throw new HerdError('invalid_argument', `ocr: lineHeight must be a positive number of pixels, got ${JSON.stringify(options.lineHeight)}`);
  const pool = new OcrPool(o.workers);
  const encoder = new TextEncoder();
  return {
    kind: 'sample',
    name: options.name ?? 'ocr',
    version: JSON.stringify(['eng-4.0.0_best_int', o.minConfidence, o.minWordLength, o.minLongSide, o.appendToCaption, ...(o.gate === false ? [] : [`gate ${o.gate}`, ...(o.cropToText ? [`lines ${o.lineHeight}`] : [])])]),
    async process(sample: Sample) {
      const file = imageFileOf(sample);
      if (file === undefined) return keep(sample);
      const img = await decodeImage(file.bytes, { name: `${sample.key}.${file.ext}` });
      if (o.gate !== false && textRuns(img) < o.gate) return keep(sample);
      const r = o.gate !== false && o.cropToText ? await recogniseLines(pool, img, { ...o, gate: o.gate }) : await recognise(pool, img, o);
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
