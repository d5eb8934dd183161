/**
 * Text-overlay filter (Llama 3 paper §7.1.2: "we remove videos with excessive overlay text", using
 * OCR; SPEC "Data curation"): `k` of the sampled frames go through tesseract (vision's offline OCR
 * worker pool), the words it reads with enough confidence are boxed, and a frame "carries text" when
 * its boxes cover at least `minArea` of the frame. Each frame's bottom and top bands are read on
 * their own before the whole frame (`textCoverage`): on small frames tesseract missed half of the
 * burned-in subtitle lines when given the whole frame, and reads most of them from the band. A clip is dropped when at least `maxTextFrames` of
 * its OCR'd frames carry text: subtitles, captions burned in, slides. Scores:
 * `meta.curation.ocr_overlay = {framesWithText, framesRead, area, text}` (area = mean covered
 * fraction over the frames read).
 */
import type { OptionRules } from '@herd/core';
import { keep, drop, type SampleStage } from '@herd/data';
import { encodeRgb, resizeRgb } from '@herd/media';
import { OcrPool } from '@herd/vision';
import { withScores } from '@herd/data';
import { CLIP_FRAME_RULES, clipErrorReason, clipFrames, frameAt, spreadIndices, type ClipFrameOptions } from './frames.js';

export interface OcrOverlayOptions {
  name?: string;
  frames?: ClipFrameOptions;
  /** Frames read per clip, spread over the sampled ones (default 4). */
  framesToRead?: number;
  /** A frame carries text when its word boxes cover at least this fraction of it (default 0.005). */
  minArea?: number;
  /** Drop when at least this fraction of the frames read carry text (default 0.5). */
  maxTextFrames?: number;
  /** Words below this tesseract confidence (0–100) are ignored (default 30: the question is where text is, not what it says). */
  minConfidence?: number;
  /** Words with fewer letters/digits are ignored (default 3): shape edges read as "EK", "wr". */
  minWordLength?: number;
  /** Frames are upscaled so their longer side is at least this (default 800): tesseract wants ~30 px glyphs. */
  minLongSide?: number;
  /** Bottom and top bands read alone first, as a fraction of the frame height (default 0.25; 0 = whole frame only). */
  band?: number;
  /** Tesseract workers in the pool (default 1). */
  workers?: number;
}

/** What a config file may set (`checkOptions`). */
export const OCR_OVERLAY_RULES = {
  name: 'string',
  frames: { options: CLIP_FRAME_RULES },
  framesToRead: 'int',
  minArea: 'number',
  maxTextFrames: 'number',
  minConfidence: 'number',
  minWordLength: 'int',
  minLongSide: 'int',
  band: 'number',
  workers: 'int',
} satisfies OptionRules<OcrOverlayOptions>;

export interface OcrOverlayStage extends SampleStage {
  /** Ends the pooled tesseract workers. */
  close(): Promise<void>;
}

type Word = { text: string; confidence: number; bbox: { x0: number; y0: number; x1: number; y1: number } };
type Blocks = { paragraphs: { lines: { words: Word[] }[] }[] }[];
type Rgb = { data: Uint8Array; width: number; height: number };

export interface TextCoverageOptions {
  minConfidence: number;
  minWordLength: number;
  minLongSide: number;
  /** Height of the bottom and top bands read on their own before the whole frame, as a fraction of the frame (0 = whole frame only). */
  band: number;
  /** Stop reading a frame's regions once this much of it is covered (the stage's minArea). */
  enough: number;
}

/** Rows y0..y1 of a frame, with `pad` rows and columns of mid grey around it: tesseract misreads text touching the image edge. */
function cropPadded(frame: Rgb, y0: number, y1: number, pad: number): Rgb {
  const width = frame.width + 2 * pad;
  const height = y1 - y0 + 2 * pad;
  const data = new Uint8Array(width * height * 3).fill(128);
  const row = frame.width * 3;
  for (let y = y0; y < y1; y++) data.set(frame.data.subarray(y * row, (y + 1) * row), ((y - y0 + pad) * width + pad) * 3);
  return { data, width, height };
}

/**
 * Words tesseract reads in one region (rows y0..y1) and the frame area (in original pixels) their
 * boxes cover. The region is upscaled so the frame's longer side reaches `minLongSide`.
 */
async function readRegion(pool: OcrPool, frame: Rgb, y0: number, y1: number, o: TextCoverageOptions): Promise<{ covered: number; words: string[] }> {
  const scale = Math.max(1, o.minLongSide / Math.max(frame.width, frame.height));
  const pad = Math.max(2, Math.round(0.05 * frame.height));
  const region = cropPadded(frame, y0, y1, pad);
  const big = scale > 1 ? await resizeRgb(region, Math.round(region.width * scale), Math.round(region.height * scale)) : region;
  const png = Buffer.from(await encodeRgb(big, 'png'));
  const r = await pool.run((w) => w.recognize(png, {}, { blocks: true }));
  const words: string[] = [];
  let covered = 0;
  for (const b of (r.data.blocks ?? []) as Blocks) for (const p of b.paragraphs) for (const l of p.lines) for (const wd of l.words) {
    const t = wd.text.trim();
    // As in vision's OCR stage: a "word" with hardly a letter or digit is a speck or a shape edge.
    if ([...t.replace(/[^\p{L}\p{N}]/gu, '')].length < o.minWordLength || wd.confidence < o.minConfidence) continue;
    words.push(t);
    covered += (Math.max(0, wd.bbox.x1 - wd.bbox.x0) * Math.max(0, wd.bbox.y1 - wd.bbox.y0)) / (scale * scale);
  }
  return { covered, words };
}

/**
 * Words read in a frame and the fraction of it their boxes cover. Overlay text (subtitles, lower
 * thirds, tickers, channel names) sits in the bottom or top band of a frame; tesseract's page
 * layout on the whole frame often misses a small line there (it treats the line as part of a picture
 * region, or drops glyphs touching the edge), and reads it when given the band alone. So the bottom
 * band, then the top band, then the whole frame are read, stopping once `enough` is covered.
 */
export async function textCoverage(pool: OcrPool, frame: Rgb, o: TextCoverageOptions): Promise<{ area: number; words: string[] }> {
  const h = frame.height;
  const bandRows = Math.round(o.band * h);
  const regions: [number, number][] = bandRows >= 4 && o.band < 0.5 ? [[h - bandRows, h], [0, bandRows], [0, h]] : [[0, h]];
  const words: string[] = [];
  let covered = 0;
  for (const [y0, y1] of regions) {
    const r = await readRegion(pool, frame, y0, y1, o);
    words.push(...r.words);
    covered += r.covered;
    if (covered / (frame.width * h) >= o.enough) break;
  }
  return { area: Math.min(1, covered / (frame.width * h)), words };
}

export function ocrOverlay(options: OcrOverlayOptions = {}): OcrOverlayStage {
  const o = {
    framesToRead: options.framesToRead ?? 4,
    minArea: options.minArea ?? 0.005,
    maxTextFrames: options.maxTextFrames ?? 0.5,
    minConfidence: options.minConfidence ?? 30,
    minWordLength: options.minWordLength ?? 3,
    minLongSide: options.minLongSide ?? 800,
    band: options.band ?? 0.25,
  };
  const frames = options.frames ?? {};
  const pool = new OcrPool(options.workers ?? 1);
  const name = options.name ?? 'ocr_overlay';
  return {
    kind: 'sample',
    name,
    version: JSON.stringify(['eng-4.0.0_best_int', o, frames.count ?? null, frames.maxSide ?? null]),
    async process(sample) {
      let f;
      try {
        f = await clipFrames(sample, frames);
      } catch (e) {
        return drop(clipErrorReason(e));
      }
      const picked = spreadIndices(f.count, o.framesToRead);
      let withText = 0;
      let area = 0;
      const text: string[] = [];
      for (const i of picked) {
        const c = await textCoverage(pool, frameAt(f, i), { ...o, enough: o.minArea });
        area += c.area;
        if (c.area >= o.minArea) withText++;
        if (c.words.length > 0 && text.length < 32) text.push(c.words.join(' '));
      }
      area /= picked.length;
      const share = withText / picked.length;
      if (withText > 0 && share >= o.maxTextFrames) {
        return drop(`text_overlay: ${withText}/${picked.length} frames read carry text (mean area ${(100 * area).toFixed(1)}%): ${JSON.stringify(text[0] ?? '').slice(0, 80)}`);
      }
      return keep(withScores(sample, name, { framesWithText: withText, framesRead: picked.length, area: Number(area.toFixed(5)), text: [...new Set(text)].join(' | ').slice(0, 500) }));
    },
    close: () => pool.close(),
  };
}
