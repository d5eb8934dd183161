/**
 * The text curation pipeline on the `@herd/data` runner (Llama 3 paper §3.1.1; issue 13): document
 * check → text safety → document heuristics (length, word count, repeated-word spam, URLs, markup)
 * → language ID (lid.176; a sample that declares `meta.language` must be in it) → exact duplicates
 * → near duplicates (MinHash over word 5-shingles) → with `decontaminate`, held-out documents that
 * repeat a training document dropped. The text, language and duplicate stages are the
 * ones image, video and speech curation use (`@herd/data`). Per-sample stages run shard-parallel
 * (worker threads, a Redis queue, or a static `i/N` slice); the duplicate passes follow them.
 * Input: a text dataset (what `herd-datasets generate` writes per split) or a folder of documents
 * (`*.txt`, `*.md`, `*.jsonl`: `importDocumentFolder`). Output: the curated dataset (what
 * `herd text train --data` reads, per split), the runner's stats.json and drops.jsonl, and
 * `report.json`, `report.md` and `histograms/*.svg`. Every kept sample carries its scores under
 * `meta.curation.<stage>`; every dropped one is in drops.jsonl with its reason.
 */
import { fileURLToPath } from 'node:url';
import { omitOptions, type OptionRules } from '@herd/core';
import {
  CAPTION_QUALITY_RULES,
  LANGUAGE_ID_RULES,
  NEAR_DUPLICATE_TEXT_RULES,
  TEXT_SAFETY_RULES,
  captionQuality,
  curationInput,
  curationReportMarkdown,
  exactDuplicate,
  languageId,
  nearDuplicate,
  readDataset,
  runCuration,
  runsInProcess,
  splitCurateConfig,
  textSafety,
  writeCurationReport,
  type CaptionQualityOptions,
  type CurationMarkdown,
  type CurationResult,
  type CurationReport,
  type CurationRunMode,
  type LanguageIdOptions,
  type NearDuplicateOptions,
  type RunStats,
  type Stage,
  type TextSafetyOptions,
} from '@herd/data';
import { decontaminate, referenceHashes, type DecontaminateOptions } from './decontaminate.js';
import { documentCheck } from './document.js';
import { importDocumentFolder } from './import-documents.js';

/** What can be written in a config file: every stage's options, or false to skip the stage. */
export interface TextCurateStagesConfig {
  textSafety?: TextSafetyOptions | false;
  quality?: Omit<CaptionQualityOptions, 'subject'> | false;
  /** Default: any language, but a document must be in its declared `meta.language` when it has one. */
  language?: Omit<LanguageIdOptions, 'subject'> | false;
  exactDuplicate?: false;
  nearDuplicate?: NearDuplicateOptions | false;
  /** A dataset (the training split) whose exact texts a held-out split must not hold; off when absent. */
  decontaminate?: DecontaminateOptions | false;
}

/** What a text curation config file (`herd text curate --config`) may hold, key by key (`checkOptions`). */
export const TEXT_CURATE_STAGES_RULES = {
  textSafety: [false, { options: TEXT_SAFETY_RULES }],
  quality: [false, { options: omitOptions(CAPTION_QUALITY_RULES, ['subject']) }],
  language: [false, { options: omitOptions(LANGUAGE_ID_RULES, ['subject']) }],
  exactDuplicate: false,
  nearDuplicate: [false, { options: NEAR_DUPLICATE_TEXT_RULES }],
  decontaminate: [false, { options: { against: 'string' } satisfies OptionRules<DecontaminateOptions> }],
} satisfies OptionRules<TextCurateStagesConfig>;

/** The stages' options, plus how the run is spread (the runner's `CurationRunMode`). */
export interface TextCurateConfig extends TextCurateStagesConfig, CurationRunMode {
  samplesPerShard?: number;
}

/**
 * Document defaults: a document is at least two words ("Yes, please." answers are dialogues, whose
 * text holds the question too), at most ~100 000 words; a long line is `textSafety`'s (10 000
 * characters). A document may cite a few links; markup means it was not cleaned to text.
 */
const QUALITY_DEFAULTS: CaptionQualityOptions = { subject: 'document', name: 'quality', minChars: 4, minWords: 2, maxChars: 1_000_000, maxWords: 100_000, maxUrls: 4, maxMarkup: 0 };

/** The stages, in order (the cheap checks first; the duplicate passes see only documents that passed them). */
export async function textCurationStages(config: TextCurateStagesConfig = {}): Promise<Stage[]> {
  const stages: Stage[] = [documentCheck()];
  if (config.decontaminate) {
    const against = config.decontaminate.against;
    const [hashes, manifest] = await Promise.all([referenceHashes(against), readDataset(against)]);
    stages.push(decontaminate(hashes, { version: JSON.stringify([against, manifest.createdAt, manifest.totalCount]) }));
  }
  if (config.textSafety !== false) stages.push(textSafety(config.textSafety ?? {}));
  if (config.quality !== false) stages.push(captionQuality({ ...QUALITY_DEFAULTS, ...config.quality }));
  if (config.language !== false) stages.push(languageId({ keep: 'any', declaredField: 'language', ...config.language, subject: 'document' }));
  if (config.exactDuplicate !== false) stages.push(exactDuplicate({ exts: ['txt'] }));
  if (config.nearDuplicate !== false) stages.push(nearDuplicate(config.nearDuplicate ?? {}));
  return stages;
}

/** The factory worker threads and queue workers import (options: TextCurateStagesConfig; each worker reads the decontamination reference once). */
export function textCurationPipeline(options: unknown): Promise<Stage[]> {
  return textCurationStages((options ?? {}) as TextCurateStagesConfig);
}

export type TextCurateReport = CurationReport;

/** Scores recorded on the kept documents, for the histograms: [file, stage, field, title]. */
export const TEXT_HISTOGRAMS: readonly (readonly [string, string, string, string])[] = [
  ['document_words', 'quality', 'words', 'document words'],
  ['document_chars', 'quality', 'chars', 'document characters'],
  ['top_word_share', 'quality', 'topTokenShare', "share of a document's words taken by its most frequent word"],
  ['language_p', 'language', 'p', 'language-ID probability of the document'],
];

const TEXT_MARKDOWN: CurationMarkdown<object> = { heading: 'Text curation report', unit: 'documents' };

async function writeTextReport(input: string, output: string, stats: RunStats): Promise<TextCurateReport> {
  return writeCurationReport({
    input,
    output,
    stats,
    histograms: TEXT_HISTOGRAMS.map(([file, stage, field, title]) => ({ file, stage, field, title })),
    keptLabel: 'kept documents',
    extra: () => ({}),
    pending: [
      'quality classifier: no model scores documents (the paper’s fastText/RoBERTa quality classifiers); only the heuristics judge them',
      'line-level de-duplication (boilerplate lines repeated across documents) is not done; whole documents are',
      'decontamination is exact text only (with `decontaminate`): a held-out document that nearly repeats a training one is kept',
    ],
    markdown: TEXT_MARKDOWN,
  });
}

export function textReportMarkdown(r: TextCurateReport): string {
  return curationReportMarkdown(r, TEXT_MARKDOWN);
}

export type TextCurateResult = CurationResult<TextCurateReport>;

/**
 * Curates `input` (a text dataset, or a folder of documents) into `output`. Resumable: run it again
 * after a crash and finished shards are skipped (the runner's state in `output/_run`).
 */
export async function curateText(input: string, output: string, config: TextCurateConfig = {}): Promise<TextCurateResult> {
  const samplesPerShard = config.samplesPerShard;
  const datasetIn = await curationInput(input, output, 'text curate', (folder, dir) => importDocumentFolder(folder, dir, samplesPerShard !== undefined ? { samplesPerShard } : {}));
  const { mode, stageConfig } = splitCurateConfig(config);
  const stages = runsInProcess(mode) ? await textCurationStages(stageConfig) : undefined;
  const pipeline = { module: fileURLToPath(import.meta.url), export: 'textCurationPipeline', options: stageConfig };
  const { stats, ...partial } = await runCuration(datasetIn, output, pipeline, stages, mode);
  return stats ? { report: await writeTextReport(input, output, stats) } : { report: null, ...partial };
}
