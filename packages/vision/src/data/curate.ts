/**
 * The image–text curation pipeline of the Llama 3 paper (§7.1.1; SPEC "Data curation") on the
 * `@herd/data` runner: text safety → caption heuristics → language ID → image heuristics (+ pHash)
 * → [CLIP score] → near-duplicate removal (global) → n-gram resampling (global) → OCR. Per-sample
 * stages run shard-parallel (worker threads, a Redis queue, or a static `i/N` slice); the global
 * passes sit between them. Input: a dataset folder (manifest + shards) or a folder of images with
 * caption files (`a.jpg` + `a.txt`). Output: the curated dataset, the runner's stats.json and
 * drops.jsonl, and `report.json`, `report.md` and `histograms/*.svg`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, omitOptions, writeFileAtomic, type OptionRules } from '@herd/core';
import {
  runCuration,
  runsInProcess,
  splitCurateConfig,
  textSafety,
  captionQuality,
  languageId,
  CAPTION_QUALITY_RULES,
  LANGUAGE_ID_RULES,
  TEXT_SAFETY_RULES,
  type CaptionQualityOptions,
  type LanguageIdOptions,
  type CurationResult,
  curationInput,
  importMediaFolder,
  writeCurationReport,
  HistogramBuilder,
  curationReportMarkdown,
  CURATION_REPORT_FILE,
  CURATION_REPORT_MD,
  type CurationMarkdown,
  type CurationReport,
  type ScoreHistogram,
  type CurationRunMode,
  type RunStats,
  type Stage,
  type TextSafetyOptions,
} from '@herd/data';
import { MINI_CLIP_DIR, MiniClip } from '../train/clip-mini.js';
import { checkpointId } from '../train/clip-mini-store.js';
import { CopyDetector, MINI_COPY_DETECT_DIR } from '../train/copy-detect.js';
import { clipScore, clipTopFraction, miniClipBatchScorer, miniClipScorer, type ImageTextScorer } from './stages/clip-score.js';
import { IMAGE_QUALITY_RULES, imageQuality, type ImageQualityOptions } from './stages/image-quality.js';
import { IMAGE_EXTS } from './stages/meta.js';
import { NEAR_DUPLICATE_IMAGE_RULES, nearDuplicate, type NearDuplicateOptions } from './stages/near-duplicate/index.js';
import { ocr, OCR_FIELD, OCR_RULES, type OcrOptions, type OcrStage } from './stages/ocr.js';
import { RESAMPLE_RULES, resample, type NgramSummary } from './stages/resample.js';

/** What can be written in a config file: every stage's options, or false to skip the stage. */
export interface CurateStagesConfig {
  textSafety?: TextSafetyOptions | false;
  caption?: CaptionQualityOptions | false;
  language?: LanguageIdOptions | false;
  image?: ImageQualityOptions | false;
  /**
   * Near-duplicates. `copyDetect`: also link pairs by the learned copy-detection embedding (a model
   * folder, or true for the committed weights/mini-copy-detect); mode then defaults to `both` and
   * `minCosine` to the threshold stored with the model.
   */
  dedup?: (Omit<NearDuplicateOptions, 'embed' | 'embedImage' | 'quality'> & { copyDetect?: string | true }) | false;
  /**
   * The mini CLIP image–text filter (cloneable, so it runs on workers too): a model folder (default
   * the committed weights/mini-clip), a threshold (default the one stored with the model; null =
   * only record the score) and/or a keep-top-fraction. `batch`: pairs per ONNX call (default
   * CLIP_BATCH), through the runner's batch hook; the scores are the unbatched ones.
   */
  clipModel?: { dir?: string; threshold?: number | null; topFraction?: number; batch?: number } | false;
  resample?: { threshold: number; mode?: 'sqrt' | 'metaclip'; n?: 1 | 2; seed?: number } | false;
  ocr?: OcrOptions | false;
}

type On<T> = Exclude<T, false | undefined>;

/** What a curation config file (`herd vision curate --config`) may hold, key by key (`checkOptions`). */
export const CURATE_STAGES_RULES = {
  textSafety: [false, { options: TEXT_SAFETY_RULES }],
  caption: [false, { options: CAPTION_QUALITY_RULES }],
  language: [false, { options: LANGUAGE_ID_RULES }],
  image: [false, { options: IMAGE_QUALITY_RULES }],
  dedup: [false, { options: { ...omitOptions(NEAR_DUPLICATE_IMAGE_RULES, ['embed', 'embedImage', 'quality']), copyDetect: ['string', true] } satisfies OptionRules<On<CurateStagesConfig['dedup']>> }],
  clipModel: [false, { options: { dir: 'string', threshold: ['number', null], topFraction: 'number', batch: 'int' } satisfies OptionRules<On<CurateStagesConfig['clipModel']>> }],
  resample: [false, { options: omitOptions(RESAMPLE_RULES, ['name', 'ext', 'onDecided']) satisfies OptionRules<On<CurateStagesConfig['resample']>> }],
  ocr: [false, { options: OCR_RULES }],
} satisfies OptionRules<CurateStagesConfig>;

/** The stages' options, plus how the run is spread (the runner's `CurationRunMode`). */
export interface CurateConfig extends CurateStagesConfig, CurationRunMode {
  /** Image–text similarity (the CLIP-style model); in-process runs only (a function cannot reach workers). */
  clip?: { score: ImageTextScorer; threshold?: number; topFraction?: number; scorerId?: string };
  samplesPerShard?: number;
}

/** Image–caption pairs per mini CLIP call in `clipModel` (bench: node bench/dist/curate-clip-batch.js). */
export const CLIP_BATCH = 32;

export const REPORT_FILE = CURATION_REPORT_FILE;
export const REPORT_MD = CURATION_REPORT_MD;
const NGRAM_FILE = 'resample-ngrams.json';

/** The stages, in the paper's order. `extra` carries what cannot be cloned to workers. */
export function curationStages(config: CurateStagesConfig & { outputDir?: string }, extra: { clip?: CurateConfig['clip']; onNgrams?: (s: NgramSummary) => void } = {}): Stage[] {
  const stages: Stage[] = [];
  if (config.textSafety !== false) stages.push(textSafety(config.textSafety ?? {}));
  if (config.caption !== false) stages.push(captionQuality(config.caption ?? {}));
  if (config.language !== false) stages.push(languageId(config.language ?? {}));
  if (config.image !== false) stages.push(imageQuality(config.image ?? {}));
  if (extra.clip && config.clipModel) throw new HerdError('invalid_argument', 'curate: give either a clip scorer function or clipModel, not both');
  if (config.clipModel) {
    const { dir = MINI_CLIP_DIR, threshold, topFraction, batch = CLIP_BATCH } = config.clipModel;
    const clip = MiniClip.load(dir);
    // One model, two graphs: B pairs per ONNX call for the batch hook, one for a sample retried alone.
    const batched = new MiniClip(clip.model, batch);
    const th = threshold === undefined ? clip.model.threshold : (threshold ?? undefined);
    const stage = clipScore({
      score: miniClipScorer(clip),
      scoreBatch: miniClipBatchScorer(batched),
      batchSize: batch,
      ...(th !== undefined ? { threshold: th } : {}),
      scorerId: `mini-clip:${checkpointId(dir)}`,
    });
    stages.push(Object.assign(stage, { close: async () => { await clip.release(); await batched.release(); } }));
    if (topFraction !== undefined) stages.push(clipTopFraction({ fraction: topFraction }));
  }
  if (extra.clip) {
    const { score, threshold, topFraction, scorerId } = extra.clip;
    stages.push(clipScore({ score, ...(threshold !== undefined ? { threshold } : {}), ...(scorerId !== undefined ? { scorerId } : {}) }));
    if (topFraction !== undefined) stages.push(clipTopFraction({ fraction: topFraction }));
  }
  if (config.dedup !== false) {
    const { copyDetect, ...dedup } = config.dedup ?? {};
    if (copyDetect === undefined) stages.push(nearDuplicate(dedup));
    else {
      const dir = copyDetect === true ? MINI_COPY_DETECT_DIR : copyDetect;
      const det = CopyDetector.load(dir);
      const stage = nearDuplicate({
        mode: 'both',
        minCosine: det.minCosine,
        embeddingMinLayoutCosine: det.embeddingMinLayoutCosine,
        ...dedup,
        embedImage: async (img) => (await det.embed([img]))[0] as Float32Array,
        embedderId: `mini-copy-detect:${checkpointId(dir)}`,
      });
      stages.push(Object.assign(stage, { close: () => det.release() }));
    }
  }
  if (config.resample !== false && config.resample !== undefined) {
    const out = config.outputDir;
    let written: Promise<void> = Promise.resolve();
    stages.push(
      resample({
        ...config.resample,
        onDecided: (s) => {
          extra.onNgrams?.(s);
          // Written beside the run so the report has it whichever process decided; one partition
          // after another, in order, so the last summary (the whole set's) is the one left.
          if (out !== undefined) written = written.then(async () => { await writeFileAtomic(join(out, NGRAM_FILE), JSON.stringify(s, null, 2) + '\n'); }).catch(() => undefined);
        },
      }),
    );
  }
  if (config.ocr !== false) stages.push(ocr(config.ocr ?? {}));
  return stages;
}

/** The factory worker threads and queue workers import (options: CurateStagesConfig + outputDir). */
export function curationPipeline(options: unknown): Stage[] {
  return curationStages((options ?? {}) as CurateStagesConfig & { outputDir?: string });
}

const CAPTION_EXTS = ['txt', 'caption'];

/** Turns a folder of images with caption files into a dataset (images without a caption are kept; the caption stage drops them with a reason). */
export async function importImageFolder(folder: string, datasetDir: string, samplesPerShard = 1000): Promise<number> {
  return importMediaFolder(folder, datasetDir, { exts: IMAGE_EXTS, what: 'images', textExts: CAPTION_EXTS, keyFallback: 'image', samplesPerShard, storedExt: (e) => e.replace('jpeg', 'jpg') });
}

export interface CurateReport extends CurationReport {
  ngrams: NgramSummary | null;
  ocr: { withText: number; meanConfidence: number | null };
}

/** Scores recorded on the kept samples, for the histograms. */
const HISTOGRAMS: ScoreHistogram[] = [
  { file: 'caption_words', stage: 'caption_quality', field: 'words', title: 'caption words' },
  { file: 'caption_top_token_share', stage: 'caption_quality', field: 'topTokenShare', title: 'share of the most repeated caption word' },
  { file: 'language_p', stage: 'language', field: 'p', title: 'language-ID probability of English' },
  { file: 'image_std', stage: 'image_quality', field: 'std', title: 'grey-level standard deviation' },
  { file: 'image_aspect', stage: 'image_quality', field: 'aspect', title: 'aspect ratio (long / short side)' },
  { file: 'image_short_side', stage: 'image_quality', field: 'short', title: 'shorter image side (px)', value: (s) => Math.min(Number(s['width']), Number(s['height'])) },
  { file: 'clip_score', stage: 'clip', field: 'score', title: 'image–text similarity' },
];

const IMAGE_MARKDOWN: CurationMarkdown<Pick<CurateReport, 'ngrams' | 'ocr'>> = {
  heading: 'Curation report',
  sections: (r) => {
    const n = r.ngrams;
    if (!n) return [];
    const lines = ['', '## Resampling: n-gram head and tail', '', `${n.pairsBefore} pairs before, ${n.pairsAfter} after; ${n.distinct} distinct 1/2-grams.`, ''];
    lines.push(`Top 1% of n-grams hold ${(100 * n.top1pctShareBefore).toFixed(1)}% of occurrences before, ${(100 * n.top1pctShareAfter).toFixed(1)}% after; the ${n.tailDistinct} n-grams rarer than T keep ${n.tailOccurrencesAfter} of ${n.tailOccurrencesBefore} occurrences.`, '');
    lines.push('| rank | before | after |', '|---|---|---|');
    for (let i = 0; i < Math.max(n.headBefore.length, n.headAfter.length); i++) {
      const b = n.headBefore[i];
      const a = n.headAfter[i];
      lines.push(`| ${i + 1} | ${b ? `${b[0]} (${b[1]})` : ''} | ${a ? `${a[0]} (${a[1]})` : ''} |`);
    }
    return lines;
  },
};

async function writeReport(input: string, output: string, stats: RunStats, ngrams: NgramSummary | null, clipUsed: boolean): Promise<CurateReport> {
  const ocrConf = new HistogramBuilder();
  let ocrSum = 0;
  return writeCurationReport({
    input,
    output,
    stats,
    histograms: HISTOGRAMS,
    visit: (s) => {
      const o = s.meta[OCR_FIELD] as { confidence?: number } | undefined;
      if (o && typeof o.confidence === 'number' && Number.isFinite(o.confidence)) {
        ocrConf.add(o.confidence);
        ocrSum += o.confidence;
      }
    },
    extraHistograms: () => [['ocr_confidence', 'OCR mean word confidence', ocrConf]],
    extra: () => ({ ngrams, ocr: { withText: ocrConf.n, meanConfidence: ocrConf.n ? ocrSum / ocrConf.n : null } }),
    pending: clipUsed ? [] : ['clip: the image–text filter is off (no clip scorer or clipModel; `herd vision curate` uses the mini CLIP unless --no-clip); mismatched captions are not removed'],
    markdown: IMAGE_MARKDOWN,
  });
}

export function reportMarkdown(r: CurateReport): string {
  return curationReportMarkdown(r, IMAGE_MARKDOWN);
}

export type CurateResult = CurationResult<CurateReport>;

/**
 * Curates `input` (a dataset folder, or a folder of images + captions) into `output`. Resumable: run
 * it again after a crash and finished shards are skipped (the runner's state in `output/_run`).
 */
export async function curateImages(input: string, output: string, config: CurateConfig = {}): Promise<CurateResult> {
  const datasetIn = await curationInput(input, output, 'curate', (folder, dir) => importImageFolder(folder, dir, config.samplesPerShard));
  const { mode, stageConfig: { clip, ...stageConfig } } = splitCurateConfig(config);
  if (clip && !runsInProcess(mode)) {
    throw new HerdError('invalid_argument', 'curate: a clip scorer is a function and cannot reach worker threads, queue workers or other machines; run in-process (workers: 0) or omit clip');
  }
  let ngrams: NgramSummary | null = null;
  const pipelineOptions = { ...stageConfig, outputDir: output };
  const stages = runsInProcess(mode) ? curationStages(pipelineOptions, { ...(clip ? { clip } : {}), onNgrams: (s) => (ngrams = s) }) : undefined;
  const pipeline = { module: fileURLToPath(import.meta.url), export: 'curationPipeline', options: pipelineOptions };
  try {
    const { stats, ...partial } = await runCuration(datasetIn, output, pipeline, stages, mode);
    if (!stats) return { report: null, ...partial };
    if (ngrams === null) ngrams = JSON.parse(await readFile(join(output, NGRAM_FILE), 'utf8').catch(() => 'null')) as NgramSummary | null;
    return { report: await writeReport(input, output, stats, ngrams, clip !== undefined || Boolean(stageConfig.clipModel)) };
  } finally {
    for (const s of stages ?? []) if ('close' in s && typeof s.close === 'function') await (s as OcrStage).close();
  }
}
