/**
 * The speech curation pipeline on the `@herd/data` runner (SPEC "Data curation"; issue 10):
 * text safety → transcript heuristics → transcript language (lid.176, against the declared spoken
 * language) → audio decode → duration bounds → SNR estimate → speech/silence ratio (energy VAD) →
 * clipping → duplicate utterances (global, audio fingerprint). The text and language stages are the
 * ones image curation uses (`@herd/data`). Per-sample stages run shard-parallel (worker threads, a
 * Redis queue, or a static `i/N` slice); the duplicate pass follows them. Input: a dataset folder
 * (manifest + shards) or a folder of audio files with transcripts (`a.wav` + `a.txt`, optional
 * `a.json` meta). Output: the curated dataset, the runner's stats.json and drops.jsonl, and
 * `report.json`, `report.md` and `histograms/*.svg`. Every kept sample carries its scores under
 * `meta.curation.<stage>`; every dropped one is in drops.jsonl with its reason.
 */
import { fileURLToPath } from 'node:url';
import { omitOptions, type OptionRules } from '@herd/core';
import {
  CURATION_FIELD,
  captionQuality,
  languageId,
  runCuration,
  runsInProcess,
  splitCurateConfig,
  textSafety,
  CAPTION_QUALITY_RULES,
  LANGUAGE_ID_RULES,
  TEXT_SAFETY_RULES,
  type CaptionQualityOptions,
  type LanguageIdOptions,
  type CurationResult,
  curationInput,
  importMediaFolder,
  writeCurationReport,
  curationReportMarkdown,
  CURATION_REPORT_FILE,
  CURATION_REPORT_MD,
  type CurationMarkdown,
  type CurationReport,
  type CurationRunMode,
  type RunStats,
  type Stage,
  type TextSafetyOptions,
} from '@herd/data';
import { AUDIO_EXTS } from './stages/audio.js';
import { CLIPPING_RULES, clipping, type ClippingOptions } from './stages/clipping.js';
import { AUDIO_DECODE_RULES, audioDecode, type AudioDecodeOptions } from './stages/decode.js';
import { DUPLICATE_UTTERANCES_RULES, duplicateUtterances, type DuplicateUtterancesOptions } from './stages/duplicate.js';
import { DURATION_BOUNDS_RULES, durationBounds, type DurationBoundsOptions } from './stages/duration.js';
import { SNR_RULES, snrEstimate, type SnrOptions } from './stages/snr.js';
import { SPEECH_ACTIVITY_RULES, speechActivity, type SpeechActivityOptions } from './stages/vad.js';

/** What can be written in a config file: every stage's options, or false to skip the stage. */
export interface SpeechCurateStagesConfig {
  textSafety?: TextSafetyOptions | false;
  transcript?: Omit<CaptionQualityOptions, 'subject'> | false;
  /** Default: any language, but the transcript must be in the sample's declared `meta.language` when it has one. */
  language?: Omit<LanguageIdOptions, 'subject'> | false;
  audio?: AudioDecodeOptions;
  duration?: DurationBoundsOptions | false;
  snr?: SnrOptions | false;
  vad?: SpeechActivityOptions | false;
  clipping?: ClippingOptions | false;
  dedup?: Omit<DuplicateUtterancesOptions, 'quality'> | false;
}

/** What a speech curation config file (`herd speech curate --config`) may hold, key by key (`checkOptions`). */
export const SPEECH_CURATE_STAGES_RULES = {
  textSafety: [false, { options: TEXT_SAFETY_RULES }],
  transcript: [false, { options: omitOptions(CAPTION_QUALITY_RULES, ['subject']) }],
  language: [false, { options: omitOptions(LANGUAGE_ID_RULES, ['subject']) }],
  audio: { options: AUDIO_DECODE_RULES },
  duration: [false, { options: DURATION_BOUNDS_RULES }],
  snr: [false, { options: SNR_RULES }],
  vad: [false, { options: SPEECH_ACTIVITY_RULES }],
  clipping: [false, { options: CLIPPING_RULES }],
  dedup: [false, { options: omitOptions(DUPLICATE_UTTERANCES_RULES, ['quality']) }],
} satisfies OptionRules<SpeechCurateStagesConfig>;

/** The stages' options, plus how the run is spread (the runner's `CurationRunMode`). */
export interface SpeechCurateConfig extends SpeechCurateStagesConfig, CurationRunMode {
  samplesPerShard?: number;
}

export const SPEECH_REPORT_FILE = CURATION_REPORT_FILE;
export const SPEECH_REPORT_MD = CURATION_REPORT_MD;

/** Transcript defaults: a transcript may be one word ("Yes."); long ones are allowed (60 s of speech). */
const TRANSCRIPT_DEFAULTS: CaptionQualityOptions = { subject: 'transcript', name: 'transcript', minChars: 2, minWords: 1, maxChars: 2000, maxWords: 400 };

/** The stages, in order (cheap text checks first, the audio decoded once and shared by the rest). */
export function speechCurationStages(config: SpeechCurateStagesConfig = {}): Stage[] {
  const stages: Stage[] = [];
  if (config.textSafety !== false) stages.push(textSafety(config.textSafety ?? {}));
  if (config.transcript !== false) stages.push(captionQuality({ ...TRANSCRIPT_DEFAULTS, ...config.transcript }));
  if (config.language !== false) stages.push(languageId({ keep: 'any', declaredField: 'language', ...config.language, subject: 'transcript' }));
  stages.push(audioDecode(config.audio ?? {}));
  if (config.duration !== false) stages.push(durationBounds(config.duration ?? {}));
  if (config.snr !== false) stages.push(snrEstimate(config.snr ?? {}));
  if (config.vad !== false) stages.push(speechActivity(config.vad ?? {}));
  if (config.clipping !== false) stages.push(clipping(config.clipping ?? {}));
  if (config.dedup !== false) stages.push(duplicateUtterances(config.dedup ?? {}));
  return stages;
}

/** The factory worker threads and queue workers import (options: SpeechCurateStagesConfig). */
export function speechCurationPipeline(options: unknown): Stage[] {
  return speechCurationStages((options ?? {}) as SpeechCurateStagesConfig);
}

const TRANSCRIPT_EXTS = ['txt', 'lab', 'transcript'];

/**
 * Turns a folder of audio files with transcripts into a dataset: `a.wav` + `a.txt` (or `.lab`,
 * `.transcript`), and `a.json` merged into the meta (e.g. `{"language": "fr"}`). Audio without a
 * transcript is kept here; the transcript stage drops it with a reason. An unreadable `.json` is
 * recorded in the meta as `metaError` rather than stopping the import.
 */
export async function importSpeechFolder(folder: string, datasetDir: string, samplesPerShard = 1000): Promise<number> {
  return importMediaFolder(folder, datasetDir, { exts: AUDIO_EXTS, what: 'audio files', textExts: TRANSCRIPT_EXTS, keyFallback: 'utterance', samplesPerShard, metaJson: true });
}

export interface SpeechCurateReport extends CurationReport {
  /** Kept audio in hours, from the duration scores. */
  keptHours: number;
}

/** Scores recorded on the kept samples, for the histograms: [file, stage, field, title]. */
export const SPEECH_HISTOGRAMS: readonly (readonly [string, string, string, string])[] = [
  ['duration_seconds', 'duration', 'seconds', 'utterance duration (s)'],
  ['snr_db', 'snr', 'snrDb', 'SNR estimate (dB, peak frames vs pauses)'],
  ['speech_ratio', 'vad', 'speechRatio', 'share of frames with speech (energy VAD)'],
  ['clipped_fraction', 'clipping', 'clippedFraction', 'share of samples in flat runs at the peak'],
  ['peak', 'clipping', 'peak', 'peak sample magnitude (full scale 1)'],
  ['transcript_words', 'transcript', 'words', 'transcript words'],
  ['language_p', 'language', 'p', 'language-ID probability of the transcript'],
];

const SPEECH_MARKDOWN: CurationMarkdown<{ keptHours: number }> = {
  heading: 'Speech curation report',
  summary: (r) => `${r.in} utterances in, ${r.out} out (${r.keptHours.toFixed(2)} h kept), ${r.wallSeconds.toFixed(1)} s (${r.samplesPerSecond.toFixed(1)} samples/s).`,
};

async function writeSpeechReport(input: string, output: string, stats: RunStats): Promise<SpeechCurateReport> {
  let keptSeconds = 0;
  return writeCurationReport({
    input,
    output,
    stats,
    histograms: SPEECH_HISTOGRAMS.map(([file, stage, field, title]) => ({ file, stage, field, title })),
    visit: (s) => {
      const c = (s.meta[CURATION_FIELD] ?? {}) as Record<string, Record<string, unknown>>;
      const d = c['duration']?.['seconds'] ?? c['audio']?.['durationS'];
      if (typeof d === 'number') keptSeconds += d;
    },
    extra: () => ({ keptHours: keptSeconds / 3600 }),
    pending: ['transcript–audio agreement: not checked (curation does not run the speech checkpoint\'s transcripts yet), so a transcript of other words in the right language (mismatched) is not caught'],
    markdown: SPEECH_MARKDOWN,
  });
}

export function speechReportMarkdown(r: SpeechCurateReport): string {
  return curationReportMarkdown(r, SPEECH_MARKDOWN);
}

export type SpeechCurateResult = CurationResult<SpeechCurateReport>;

/**
 * Curates `input` (a dataset folder, or a folder of audio + transcripts) into `output`. Resumable:
 * run it again after a crash and finished shards are skipped (the runner's state in `output/_run`).
 */
export async function curateSpeech(input: string, output: string, config: SpeechCurateConfig = {}): Promise<SpeechCurateResult> {
  const datasetIn = await curationInput(input, output, 'speech curate', (folder, dir) => importSpeechFolder(folder, dir, config.samplesPerShard));
  const { mode, stageConfig } = splitCurateConfig(config);
  const stages = runsInProcess(mode) ? speechCurationStages(stageConfig) : undefined;
  const pipeline = { module: fileURLToPath(import.meta.url), export: 'speechCurationPipeline', options: stageConfig };
  const { stats, ...partial } = await runCuration(datasetIn, output, pipeline, stages, mode);
  return stats ? { report: await writeSpeechReport(input, output, stats) } : { report: null, ...partial };
}
