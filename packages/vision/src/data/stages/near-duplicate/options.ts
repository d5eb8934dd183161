/**
 * The options of the image near-duplicate stage and their defaults, each with where it was chosen
 * (the validation sets and scores are in CURATION.md). The stage is `./stage.ts`; the overview is `./index.ts`.
 */
import type { OptionRules } from '@herd/core';
import type { Sample } from '@herd/data';
import type { RgbImage } from '@herd/media';
import { scoreOf } from '../meta.js';

export interface AnnParams {
  /** HNSW graph degree (usearch `connectivity`). */
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
  /** Neighbours fetched per query. */
  k: number;
  /** Ask again with 4× k while all k neighbours are exact matches (see neighboursWithTies); default off. */
  expandTies?: boolean;
  /**
   * Image dedup only: weight of the pooled colour layout (`layoutSummary`) beside the pHash in the
   * vectors the HNSW index holds (0: the hash alone). Both parts are unit length, so the index's
   * cosine is (hash cosine + w² · layout cosine) / (1 + w²): among many equal hashes (scenes that
   * differ only in colour) the ones with the same colours rank first.
   */
  layoutWeight?: number;
}

/**
 * Default `maxBlockResidual`: off. On validation sets of 1 500, 8 000 and 20 000 images 0.9 was the largest
 * value with P ≥ 98 % on all three, but on the held-out test sets it traded recall for precision without
 * meeting the target anywhere (P 97.99 % at 20 000; R 94.3 % / 94.8 % at 1 500 / 8 000; CURATION.md), so
 * the stage keeps the round-6 rule unless a caller sets it.
 */
export const MAX_BLOCK_RESIDUAL = Infinity;

/**
 * Default `maxLocalChromaDiff` and `localChromaPool`, chosen on validation sets only (seeds 2001 × 1 500,
 * 6001 × 8 000, 9001 × 20 000, generator with `cropNeighbourLooks`, exact search, star groups): the
 * setting with the largest worst margin to the target, min over the sets of min(P − 98 %, R − 95 %).
 * Round 9: layouts pooled 2 × 2, bound 0.5 (validation P / R 99.31 / 95.67, 99.35 / 95.63,
 * 98.58 / 95.88; margin 0.58). Round 8's 16 × 16 cells at 0.6 (99.30 / 95.33, 99.28 / 95.19,
 * 98.50 / 95.45; margin 0.19; best unpooled 0.7, margin 0.33) lost low-quality JPEG re-encodes whose
 * chroma bled across an object's rim. CURATION.md has the tables and the held-out scores.
 */
export const MAX_LOCAL_CHROMA_DIFF = 0.5;

/**
 * Default `cropMinThumbCorrelation`: off since round 10 (the scale-searched fine check, `cropMinFineCorrelation`,
 * replaces this fixed-scale 32 × 32 check). Round 9 had 0.98 (was 0.97), chosen among four crop ↔ whole variants on the three
 * validation sets and a 100 000-image one (seed 11001), HNSW path, by the same worst-margin rule: 0.98 gave
 * P / R 100 / 94.00, 99.67 / 94.69, 99.24 / 94.97, 97.67 / 94.16 (margin −1.00; 0.97: 99.31 / 95.67,
 * 99.35 / 95.63, 98.68 / 95.78, 96.34 / 95.10, margin −1.66): at 100k most false links were crop pairs.
 * It cost recall at every size (CURATION.md).
 */
export const CROP_MIN_THUMB_CORRELATION = 0;

/**
 * Round 10 (rule D, CURATION.md): the fine check and a looser pHash bound, chosen together on the validation
 * sets 2001 × 1 500, 6001 × 8 000, 9001 × 20 000 and 11001 × 100 000 (HNSW path) by the largest worst margin
 * min(P − 98 %, R − 95 %) among the variants scored (variant G1). With the fine check in place the whole-image pHash
 * bound could open from 22 to 28 bits (low-quality re-encodes and resizes of flat scenes move more than 22 of
 * its bits) without the look-alikes it lets in getting through.
 */
export const MIN_FINE_CORRELATION = 0.99;
/** Default `cropMinFineCorrelation` (compared at `FINE_CROP_SIDE`, 48 × 48): 0.98 since round 11 (was 0.985; see COLOUR_FIT). */
export const CROP_MIN_FINE_CORRELATION = 0.98;
/** Default `maxContrastLogRatio` (see MIN_FINE_CORRELATION). */
export const MAX_CONTRAST_LOG_RATIO = 0.15;
/** Default `maxHamming`: 36 since round 11 (28 in round 10, 22 before; see COLOUR_FIT and MIN_FINE_CORRELATION). */
export const MAX_HAMMING = 36;

/**
 * Default `exactLimit` (round 10; was 20 000): the exact search is quadratic in candidate pairs, and with the
 * 28-bit pHash bound its decide took 2.2 s at 1 500 samples (HNSW 2.3 s), 125 s at 8 000 (HNSW 12 s, same
 * precision, one copy fewer found of 1 600) and did not finish in 1 000 s at 20 000 (HNSW 37 s). The round-10
 * settings were chosen on the HNSW path at every size (bench/recorded/curate-dedup-fine-test-r10-2core.json).
 */
export const EXACT_LIMIT = 3_000;

/**
 * Default `colourFit` (round 11, rule E in CURATION.md): one hue rotation ≤ 15° and saturation gain within 1/1.3–1.3
 * fitted per pair before the colour checks, chosen together with `MAX_HAMMING` 36 and `CROP_MIN_FINE_CORRELATION`
 * 0.98 on the validation sets 2001 × 1 500, 6001 × 8 000, 9001 × 20 000 and 11001 × 100 000 (HNSW path) by the largest
 * worst margin min(P − 98 %, R − 95 %) over a 388-variant grid: P / R 100 / 97.00, 99.74 / 97.38, 99.56 / 96.40,
 * 98.71 / 95.68 (margin +0.68; round 10's defaults −0.99).
 */
export const COLOUR_FIT: { maxHueDeg: number; maxGain: number } | false = { maxHueDeg: 15, maxGain: 1.3 };

/** Default `localChromaPool` (see MAX_LOCAL_CHROMA_DIFF). */
export const LOCAL_CHROMA_POOL = 2;

/** The remaining defaults of the verification (rounds 5–7, CURATION.md): whole ↔ whole layout cosine and 32 × 32 thumbnail correlation, crop view ↔ whole pHash bound and layout cosine, aspect-ratio and background-chroma bounds. */
export const MIN_LAYOUT_COSINE = 0.97;
export const MIN_THUMB_CORRELATION = 0.995;
export const CROP_MAX_HAMMING = 14;
export const CROP_MIN_LAYOUT_COSINE = 0.97;
export const MAX_ASPECT_LOG_DIFF = 0.02;
export const MAX_BACKGROUND_CHROMA_DIFF = 0.08;
/**
 * Chosen on 10k random 64-bit hashes with 911 planted copies 1–8 bits away (2 threads): pair recall
 * 1.000 at 16/64/64/8 (8 s), 16/128/128/16 (15 s), 32/128/256/16 (30 s), 32/256/512/32 (49 s); the
 * middle setting leaves margin for clustered real hashes (tested against exact search in the tests).
 *
 * `layoutWeight` 4 was chosen on the validation sets with the candidate search forced to HNSW
 * (`exactLimit: 0`; seeds 2001 × 1 500, 6001 × 8 000, 9001 × 20 000; the largest worst margin
 * min(P − 98 %, R − 95 %) among 0, 1, 2, 4): P / R 99.31 / 95.67, 99.35 / 95.63, 98.68 / 95.78
 * (margin 0.63); the hash alone (0) found 90.7 / 82.4 / 78.9 % of the copies, 1: 95.7 / 93.1 / 92.5 %,
 * 2: 95.7 / 95.0 / 94.9 %. CURATION.md.
 */
export const ANN_DEFAULTS: AnnParams = { connectivity: 16, expansionAdd: 128, expansionSearch: 128, k: 16, layoutWeight: 4 };

export interface NearDuplicateOptions {
  name?: string;
  /** `hash` (default): verified pHash pairs. `embedding`: cosine ≥ minCosine. `both`: either. */
  mode?: 'hash' | 'embedding' | 'both';
  /** Largest Hamming distance between whole-image pHashes (default `MAX_HAMMING`, 36 of 64 bits; verified below). */
  maxHamming?: number;
  /** Smallest colour-layout cosine a whole-image pair must also have (default 0.97; 0 turns the check off). */
  minLayoutCosine?: number;
  /** Smallest 32×32 grey-thumbnail correlation of a whole-image pair (default 0.995; 0 turns it off). */
  minThumbCorrelation?: number;
  /**
   * Largest distance between the two images' background chroma (`backgroundChroma`, Cb/Y and Cr/Y
   * of the border colour; default 0.08; Infinity turns it off). Checked in memory before the spill
   * file is read. The world's neutral and tinted backgrounds are ≥ 0.12 apart; colour jitter moves
   * a tinted one by ≤ 0.05.
   */
  maxBackgroundChromaDiff?: number;
  /**
   * Largest local mismatch of the two grey thumbnails (`thumbBlockResidual`: the worst 4×4-pixel tile's
   * RMS residual after a brightness/contrast fit, over the thumbnail's standard deviation), for whole
   * and crop pairs alike (default `MAX_BLOCK_RESIDUAL`: off; 0.9 is the value chosen on validation sets). Two scenes that differ in
   * one small shape correlate ≥ 0.995 as a whole but not in the tiles of that shape.
   */
  maxBlockResidual?: number;
  /**
   * Largest one-cell chroma change of a whole ↔ whole pair's colour layouts (`layoutChromaDiff`;
   * default `MAX_LOCAL_CHROMA_DIFF`; Infinity turns it off): two scenes that differ only in one small
   * object's colour pass the layout cosine (a sum over all cells) but not this.
   */
  maxLocalChromaDiff?: number;
  /**
   * Cells of the colour layouts pooled `localChromaPool` × `localChromaPool` before the local chroma
   * check (default `LOCAL_CHROMA_POOL`; 1: the layout's 16 × 16 cells): robust to the chroma a
   * low-quality JPEG moves across an object's rim (`layoutChromaDiff`).
   */
  localChromaPool?: number;
  /** Centre-crop scales each image is also hashed at, for cropped copies (default [0.93, 0.89, 0.85]; [] turns crops off). */
  cropScales?: readonly number[];
  /**
   * Crop ↔ whole pairs: largest Hamming distance (default 14), smallest layout cosine (0.97) and 32 × 32 thumbnail
   * correlation at the fixed crop scale (`CROP_MIN_THUMB_CORRELATION`, off since round 10).
   */
  cropMaxHamming?: number;
  cropMinLayoutCosine?: number;
  cropMinThumbCorrelation?: number;
  /**
   * Crop ↔ whole pairs: the local chroma check (`maxLocalChromaDiff`, same pooling) between the crop's
   * layout and the whole image's (default Infinity: off).
   */
  cropMaxLocalChromaDiff?: number;
  /**
   * Smallest correlation of a whole ↔ whole pair's 64 × 64 grey thumbnails (`fineThumb`, `fineMatch`;
   * default `MIN_FINE_CORRELATION`; 0 turns it off): small one-object scenes that differ in the shape
   * or one size step pass the 32 × 32 check and fail this one.
   */
  minFineCorrelation?: number;
  /**
   * Smallest correlation of a crop ↔ whole pair's fine thumbnails, the whole one cropped at the best
   * centre scale of `FINE_CROP_SCALES` (default `CROP_MIN_FINE_CORRELATION`; 0 turns it off).
   */
  cropMinFineCorrelation?: number;
  /** Side both thumbnails are sampled to for the crop ↔ whole fine check (default `FINE_CROP_SIDE`, 48). */
  fineCropSide?: number;
  /**
   * Largest |log| ratio of the two fine thumbnails' standard deviations (contrast), both pair kinds
   * (default `MAX_CONTRAST_LOG_RATIO`; Infinity turns it off).
   */
  maxContrastLogRatio?: number;
  /**
   * Per-pair colour normalisation before the colour checks (`fitLayoutColour`): one hue rotation (≤ `maxHueDeg`)
   * and saturation gain (within 1/`maxGain`…`maxGain`) fitted from the first image's colour layout to the
   * second's, then the layout cosine, the local chroma check and the background chroma compare the fitted layout
   * (default `COLOUR_FIT`; false turns it off: the raw layouts, as before round 11).
   */
  colourFit?: { maxHueDeg: number; maxGain: number } | false;
  /** Largest |log(aspect a / aspect b)| (default 0.02: copies keep their shape; crops and resizes here do). */
  maxAspectLogDiff?: number;
  /** Smallest cosine similarity between duplicates in embedding mode (default 0.9). */
  minCosine?: number;
  /**
   * Mode `both`: an embedding pair must also keep its aspect ratio (copies here keep it: crops are
   * proportional) and reach this colour-layout cosine (default 0: off; crops move the layout).
   */
  embeddingMinLayoutCosine?: number;
  /** Copy-detection embedding of a sample (embedding mode), e.g. the project's image encoder. */
  embed?: (sample: Sample) => Promise<Float32Array | number[]> | Float32Array | number[];
  /** Copy-detection embedding of a decoded image (embedding or both mode; the stage decodes once for both signals). */
  embedImage?: (img: RgbImage) => Promise<Float32Array | number[]> | Float32Array | number[];
  /** Names the embedding model in the run fingerprint (a new model must not mix with old decisions). */
  embedderId?: string;
  /** Quality score of a sample (default: recorded CLIP score, else pixel count, else 0). */
  quality?: (sample: Sample) => number;
  /** Up to this many samples are compared exactly (all pairs of about the same aspect; default `EXACT_LIMIT`, 3 000), usearch HNSW above. */
  exactLimit?: number;
  ann?: Partial<AnnParams>;
  /** Where the verification data is spilled (default the OS temp folder). */
  spillDir?: string;
  /**
   * How verified pairs become groups (default `star`). `components`: union-find connected components,
   * which chain (A ~ B ~ C merges A and C however different they are; with many similar images the
   * false links grow with n² and chains merge unrelated scenes). `star`: each group is a centre and its
   * direct links (`starGroups`), so every dropped sample was verified against its group's centre.
   */
  grouping?: 'star' | 'components';
  /** Keys per decide() call (default the runner's; decide needs only the keys: the observer saw the features). */
  featuresPerPartition?: number;
}

export function defaultQuality(sample: Sample): number {
  const clip = scoreOf(sample, 'clip', 'score');
  if (typeof clip === 'number') return clip;
  const w = scoreOf(sample, 'image_quality', 'width');
  const h = scoreOf(sample, 'image_quality', 'height');
  return typeof w === 'number' && typeof h === 'number' ? w * h : 0;
}

/** What a config file may set (`checkOptions`; the embedders and the quality order are code only). */
export const NEAR_DUPLICATE_IMAGE_RULES = {
  name: 'string',
  mode: { oneOf: ['hash', 'embedding', 'both'] },
  maxHamming: 'int',
  minLayoutCosine: 'number',
  minThumbCorrelation: 'number',
  maxBackgroundChromaDiff: 'number',
  maxBlockResidual: 'number',
  maxLocalChromaDiff: 'number',
  localChromaPool: 'int',
  cropScales: 'number[]',
  cropMaxHamming: 'int',
  cropMinLayoutCosine: 'number',
  cropMinThumbCorrelation: 'number',
  cropMaxLocalChromaDiff: 'number',
  minFineCorrelation: 'number',
  cropMinFineCorrelation: 'number',
  fineCropSide: 'int',
  maxContrastLogRatio: 'number',
  maxAspectLogDiff: 'number',
  colourFit: [false, { options: { maxHueDeg: 'number', maxGain: 'number' } }],
  minCosine: 'number',
  embeddingMinLayoutCosine: 'number',
  embed: 'function',
  embedImage: 'function',
  embedderId: 'string',
  quality: 'function',
  exactLimit: 'int',
  ann: { options: { connectivity: 'int', expansionAdd: 'int', expansionSearch: 'int', k: 'int', expandTies: 'boolean', layoutWeight: 'number' } satisfies OptionRules<AnnParams> },
  spillDir: 'string',
  grouping: { oneOf: ['star', 'components'] },
  featuresPerPartition: 'int',
} satisfies OptionRules<NearDuplicateOptions>;
