/**
 * Text-overlay filter (Llama 3 paper §7.1.2: "we remove videos with excessive overlay text", using
 * OCR; SPEC "Data curation"): `k` of the sampled frames go through tesseract (vision's offline OCR
 * worker pool), the words it reads with enough confidence are boxed, and a frame "carries text" when
 * its boxes cover at least `minArea` of the frame. A clip is dropped when at least `maxTextFrames` of
 * its OCR'd frames carry text: subtitles, captions burned in, slides. Scores:
 * `meta.curation.ocr_overlay = {framesWithText, framesRead, area, text}` (area = mean covered
 * fraction over the frames read).
 */
import { keep, drop, type SampleStage } from '@herd/data';
import { encodeRgb, resizeRgb } from '@herd/media';
import { OcrPool } from '@herd/vision';
import { withScores } from '@herd/data';
import { clipErrorReason, clipFrames, frameAt, spreadIndices, type ClipFrameOptions } from './frames.js';

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
  /** Tesseract workers in the pool (default 1). */
  workers?: number;
}

export interface OcrOverlayStage extends SampleStage {
  /** Ends the pooled tesseract workers. */
  close(): Promise<void>;
}

type Word = { text: string; confidence: number; bbox: { x0: number; y0: number; x1: number; y1: number } };
type Blocks = { paragraphs: { lines: { words: Word[] }[] }[] }[];

/** Words read with their boxes, and the fraction of the (upscaled) frame the boxes cover. */
export async function textCoverage(pool: OcrPool, frame: { data: Uint8Array; width: number; height: number }, o: { minConfidence: number; minWordLength: number; minLongSide: number }): Promise<{ area: number; words: string[] }> {
  const scale = Math.max(1, o.minLongSide / Math.max(frame.width, frame.height));
  const big = scale > 1 ? await resizeRgb(frame, Math.round(frame.width * scale), Math.round(frame.height * scale)) : frame;
  const png = Buffer.from(await encodeRgb(big, 'png'));
  const r = await pool.run((w) => w.recognize(png, {}, { blocks: true }));
  const words: string[] = [];
  let covered = 0;
  for (const b of (r.data.blocks ?? []) as Blocks) for (const p of b.paragraphs) for (const l of p.lines) for (const wd of l.words) {
    const t = wd.text.trim();
    // As in vision's OCR stage: a "word" with hardly a letter or digit is a speck or a shape edge.
    if ([...t.replace(/[^\p{L}\p{N}]/gu, '')].length < o.minWordLength || wd.confidence < o.minConfidence) continue;
    words.push(t);
    covered += Math.max(0, wd.bbox.x1 - wd.bbox.x0) * Math.max(0, wd.bbox.y1 - wd.bbox.y0);
  }
  return { area: Math.min(1, covered / (big.width * big.height)), words };
}

export function ocrOverlay(options: OcrOverlayOptions = {}): OcrOverlayStage {
  const o = {
    framesToRead: options.framesToRead ?? 4,
    minArea: options.minArea ?? 0.005,
    maxTextFrames: options.maxTextFrames ?? 0.5,
    minConfidence: options.minConfidence ?? 30,
    minWordLength: options.minWordLength ?? 3,
    minLongSide: options.minLongSide ?? 800,
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
        const c = await textCoverage(pool, frameAt(f, i), o);
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
