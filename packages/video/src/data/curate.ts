/**
 * The video–text curation pipeline of the Llama 3 paper (§7.1.2; SPEC "Data curation") on the
 * `@herd/data` runner: caption safety, clean-up and heuristics → language ID → clip heuristics
 * (decodable, long and large enough, not blank) → motion score → [single-frame image–text score →
 * aggregated video–text score] → OCR text-overlay filter → exact duplicates → near-duplicates
 * (re-encoded, rescaled, cropped or trimmed copies; both global). The frames are
 * decoded once per sample (16 spread over the clip) and shared by every media stage. Per-sample
 * stages run shard-parallel (worker threads, a Redis queue, or a static `i/N` slice). Input: a dataset
 * folder (manifest + shards) or a folder of clips with caption files (`a.mp4` + `a.txt`). Output: the
 * curated dataset, the runner's stats.json and drops.jsonl, `report.json`, `report.md` and
 * `histograms/*.svg`.
 */
import { fileURLToPath } from 'node:url';
import { HerdError, omitOptions, type OptionRule, type OptionRules, type OptionTable } from '@herd/core';
import {
  exactDuplicate,
  runCuration,
  runsInProcess,
  splitCurateConfig,
  type CurationResult,
  curationInput,
  importMediaFolder,
  writeCurationReport,
  curationReportMarkdown,
  CURATION_REPORT_FILE,
  CURATION_REPORT_MD,
  type CurationMarkdown,
  type CurationReport,
  type ScoreHistogram,
  type CurationRunMode,
  type RunStats,
  type Stage,
} from '@herd/data';
import { CAPTION_STAGES_RULES, captionStages, type CaptionStagesConfig } from './stages/caption.js';
import { clipFrameScore, clipVideoScore, type ClipStage } from './stages/clip-alignment.js';
import type { VideoTextEmbedder } from './stages/clip-embedder.js';
import { CLIP_FRAME_RULES, VIDEO_EXTS, type ClipFrameOptions } from './stages/frames.js';
import { CLIP_MODEL_RULES, miniClipEmbedder, resolveClipModel, type ClipModelConfig } from './stages/mini-clip.js';
import { MOTION_RULES, motion, type MotionOptions } from './stages/motion.js';
import { VIDEO_NEAR_DUPLICATE_RULES, videoNearDuplicate, type VideoNearDuplicateOptions } from './stages/near-duplicate.js';
import { OCR_OVERLAY_RULES, ocrOverlay, type OcrOverlayOptions } from './stages/ocr-overlay.js';
import { VIDEO_QUALITY_RULES, videoQuality, type VideoQualityOptions } from './stages/video-quality.js';

/** What a config file can hold: every stage's options, or false to skip the stage. */
export interface VideoCurateStagesConfig extends CaptionStagesConfig {
  /** Frame sampling shared by every media stage (count, maxSide, timeoutMs, ffmpeg, ffprobe). */
  frames?: ClipFrameOptions;
  video?: Omit<VideoQualityOptions, 'frames'> | false;
  motion?: Omit<MotionOptions, 'frames'> | false;
  ocr?: Omit<OcrOverlayOptions, 'frames'> | false;
  /**
   * The CLIP alignment stages with the mini CLIP (cloneable, so they run on workers too): a
   * checkpoint folder (default the committed packages/vision/weights/mini-clip) and thresholds
   * (default: the ones chosen for that checkpoint; null = record the score only). Off unless given.
   */
  clipModel?: ClipModelConfig | false;
  /** Same clip bytes as an earlier sample (`exact_duplicate`); false to keep them. */
  dedup?: false;
  /** The same clip re-encoded, rescaled, cropped or trimmed (`near_duplicate`, global); false to keep them. */
  nearDuplicate?: Omit<VideoNearDuplicateOptions, 'frames'> | false;
}

const withoutFrames = <T extends OptionTable & { frames: OptionRule }>(t: T): Omit<T, 'frames'> => omitOptions(t, ['frames']);

/** What a video curation config file (`herd video curate --config`) may hold, key by key (`checkOptions`). */
export const VIDEO_CURATE_STAGES_RULES = {
  ...CAPTION_STAGES_RULES,
  frames: { options: CLIP_FRAME_RULES },
  video: [false, { options: withoutFrames(VIDEO_QUALITY_RULES) }],
  motion: [false, { options: withoutFrames(MOTION_RULES) }],
  ocr: [false, { options: withoutFrames(OCR_OVERLAY_RULES) }],
  clipModel: [false, { options: CLIP_MODEL_RULES }],
  dedup: false,
  nearDuplicate: [false, { options: withoutFrames(VIDEO_NEAR_DUPLICATE_RULES) }],
} satisfies OptionRules<VideoCurateStagesConfig>;

export interface VideoClipConfig {
  embedder: VideoTextEmbedder;
  /** Drop below this single-frame (middle frame) cosine; omit to record only. */
  frameThreshold?: number;
  /** Drop below this aggregated video–text cosine; omit to record only. */
  videoThreshold?: number;
  framesToEmbed?: number;
}

/** The stages' options, plus how the run is spread (the runner's `CurationRunMode`). */
export interface VideoCurateConfig extends VideoCurateStagesConfig, CurationRunMode {
  /** The CLIP-style alignment stages with any embedder object; in-process runs only (an object cannot reach workers). Or `clipModel`. */
  clip?: VideoClipConfig;
  /** Samples per shard when a folder of clips is imported (default 100). */
  samplesPerShard?: number;
}

export const VIDEO_REPORT_FILE = CURATION_REPORT_FILE;
export const VIDEO_REPORT_MD = CURATION_REPORT_MD;

/** The stages in order; `clip` (an object with sessions) only in-process. */
export function videoCurationStages(config: VideoCurateStagesConfig, clip?: VideoClipConfig): Stage[] {
  const frames = config.frames ?? {};
  const stages: Stage[] = [...captionStages(config)];
  if (config.video !== false) stages.push(videoQuality({ ...(config.video ?? {}), frames }));
  if (config.motion !== false) stages.push(motion({ ...(config.motion ?? {}), frames }));
  if (clip && config.clipModel) throw new HerdError('invalid_argument', 'video curate: give either a clip embedder object or clipModel, not both');
  if (config.clipModel) {
    const m = resolveClipModel(config.clipModel);
    clip = { embedder: miniClipEmbedder(m), ...m };
  }
  if (clip) {
    const common = { embedder: clip.embedder, frames };
    stages.push(clipFrameScore({ ...common, ...(clip.frameThreshold !== undefined ? { threshold: clip.frameThreshold } : {}) }));
    stages.push(clipVideoScore({ ...common, ...(clip.videoThreshold !== undefined ? { threshold: clip.videoThreshold } : {}), ...(clip.framesToEmbed !== undefined ? { framesToEmbed: clip.framesToEmbed } : {}) }));
  }
  // OCR is the slowest stage: it runs on what the cheaper ones kept.
  if (config.ocr !== false) stages.push(ocrOverlay({ ...(config.ocr ?? {}), frames }));
  if (config.dedup !== false) stages.push(exactDuplicate({ exts: [...VIDEO_EXTS] }));
  if (config.nearDuplicate !== false) stages.push(videoNearDuplicate({ ...(config.nearDuplicate ?? {}), frames }));
  return stages;
}

/** The factory worker threads and queue workers import (options: VideoCurateStagesConfig). */
export function videoCurationPipeline(options: unknown): Stage[] {
  return videoCurationStages((options ?? {}) as VideoCurateStagesConfig);
}

const CAPTION_EXTS = ['txt', 'caption'];

/** Turns a folder of clips with caption files into a dataset (a clip without a caption is kept; the caption stage drops it with a reason). */
export async function importVideoFolder(folder: string, datasetDir: string, samplesPerShard = 100): Promise<number> {
  return importMediaFolder(folder, datasetDir, { exts: VIDEO_EXTS, what: 'clips', textExts: CAPTION_EXTS, keyFallback: 'clip', samplesPerShard });
}

export type VideoCurateReport = CurationReport;

/** Scores recorded on kept samples → histograms. */
const HISTOGRAMS: ScoreHistogram[] = [
  { file: 'caption_words', stage: 'caption_quality', field: 'words', title: 'caption words' },
  { file: 'language_p', stage: 'language', field: 'p', title: 'language-ID probability of English' },
  { file: 'duration', stage: 'video_quality', field: 'durationS', title: 'clip duration (s)' },
  { file: 'short_side', stage: 'video_quality', field: 'short', title: 'shorter frame side (px)', value: (s) => Math.min(Number(s['width']), Number(s['height'])) },
  { file: 'frame_std', stage: 'video_quality', field: 'std', title: 'largest colour-channel std of the sampled frames' },
  { file: 'motion', stage: 'motion', field: 'score', title: 'motion score (mean frame difference, fraction of full scale)' },
  { file: 'clip_frame', stage: 'clip_frame', field: 'score', title: 'middle frame–caption cosine' },
  { file: 'clip_video', stage: 'clip_video', field: 'score', title: 'clip–caption cosine (aggregated frames)' },
  { file: 'ocr_area', stage: 'ocr_overlay', field: 'area', title: 'mean fraction of a frame covered by text' },
];

const VIDEO_MARKDOWN: CurationMarkdown<object> = { heading: 'Video curation report', unit: 'clips', digits: 2 };

async function writeReport(input: string, output: string, stats: RunStats, pending: string[]): Promise<VideoCurateReport> {
  return writeCurationReport({
    input,
    output,
    stats,
    histograms: HISTOGRAMS,
    keptLabel: 'kept clips',
    listedTitle: (h) => `${h.title} (${h.stage})`,
    extra: () => ({}),
    pending,
    markdown: VIDEO_MARKDOWN,
  });
}

export function videoReportMarkdown(r: VideoCurateReport): string {
  return curationReportMarkdown(r, VIDEO_MARKDOWN);
}

export type VideoCurateResult = CurationResult<VideoCurateReport>;

/**
 * Curates `input` (a dataset folder, or a folder of clips + captions) into `output`. Resumable: run it
 * again after a crash and finished shards are skipped (the runner's state in `output/_run`).
 */
export async function curateVideos(input: string, output: string, config: VideoCurateConfig = {}): Promise<VideoCurateResult> {
  const datasetIn = await curationInput(input, output, 'video curate', (folder, dir) => importVideoFolder(folder, dir, config.samplesPerShard));
  const { mode, stageConfig: { clip, ...stageConfig } } = splitCurateConfig(config);
  // Checked here, before any worker starts: a missing checkpoint is one clear error, not one per shard.
  const clipModel = stageConfig.clipModel ? resolveClipModel(stageConfig.clipModel) : undefined;
  const pending = clipModel?.note !== undefined ? [clipModel.note] : clip || clipModel ? [] : ['clip: the CLIP alignment stages are off (clipModel / --clip); mismatched captions are not removed'];
  if (clip && !runsInProcess(mode)) {
    throw new HerdError('invalid_argument', 'video curate: a clip embedder is a model object and cannot reach worker threads, queue workers or other machines; run in-process (workers: 0) or omit clip');
  }
  const stages = runsInProcess(mode) ? videoCurationStages(stageConfig, clip) : undefined;
  const pipeline = { module: fileURLToPath(import.meta.url), export: 'videoCurationPipeline', options: stageConfig };
  try {
    const { stats, ...partial } = await runCuration(datasetIn, output, pipeline, stages, mode);
    return stats ? { report: await writeReport(input, output, stats, pending) } : { report: null, ...partial };
  } finally {
    // OCR workers and model sessions of the in-process stages (the clip stages share one embedder).
    const closed = new Set<unknown>();
    for (const s of stages ?? []) {
      if (!('close' in s) || closed.has(s)) continue;
      closed.add(s);
      await (s as ClipStage).close();
    }
  }
}
