export type { Sample, Unreadable } from './sample.js';
export { isUnreadable, sampleProblems, splitEntryName, jsonDepth, MAX_META_DEPTH, MAX_META_CHARS } from './sample.js';

export type { Manifest, ShardInfo } from './format/manifest.js';
export { readDataset, shardFileName, FORMAT_VERSION, MANIFEST_FILE, INDEX_FILE } from './format/manifest.js';
export type { WriteDatasetOptions } from './format/write.js';
export { ShardWriter, writeDataset } from './format/write.js';
export type { ExpectedSample, ReadShardOptions } from './format/read.js';
export { readShard, iterateDataset, parseMeta } from './format/read.js';
export type { TarEvent, TarMember, TarDamage, TarEnd, MemberType } from './format/tar.js';
export { readTar, unsafeMemberName } from './format/tar.js';
export type { IndexEntry } from './format/index-file.js';
export { readIndex, lookupSample, readSampleAt } from './format/index-file.js';

export type { Stage, SampleStage, GlobalStage, FeatureObserver, StageResult, StageContext } from './stages/stage.js';
export { keep, drop, reasonCode } from './stages/stage.js';
export type { ExactDuplicateOptions } from './stages/exact-duplicate.js';
export { exactDuplicate, mediaHash } from './stages/exact-duplicate.js';
export { metaFilter } from './stages/meta-filter.js';
export type { TextSafetyOptions } from './stages/text-safety.js';
export { textSafety, textProblem } from './stages/text-safety.js';
export type { TextHeuristicsOptions } from './stages/text-heuristics.js';
export { textHeuristics, fixCapitalisation } from './stages/text-heuristics.js';
export { Components } from './stages/components.js';
export { CURATION_FIELD, withScores, scoreOf, captionOf } from './stages/scores.js';
export { captionQuality, captionScores } from './stages/caption-quality.js';
export type { CaptionQualityOptions, CaptionScores } from './stages/caption-quality.js';
export { languageId, identifyLanguage, lidModel } from './stages/language-id.js';
export type { LanguageIdOptions, LanguageGuess } from './stages/language-id.js';
export { histogram, histogramSvg } from './report/histogram.js';
export type { Histogram } from './report/histogram.js';

export type { PipelineRef, PipelineFactory } from './runner/pipeline.js';
export { READ_STAGE } from './runner/pipeline.js';
export type { RunOptions, RunResult, QueueOptions, ShardSlice, SliceResult, MergeResult } from './runner/run.js';
export { runPipeline, runShardSlice, mergeRun, DROPS_FILE, STATS_FILE } from './runner/run.js';
export type { QueueWorkerOptions } from './runner/queue-entry.js';
export { runQueueWorker } from './runner/queue-entry.js';
export type { DropRecord } from './runner/shard-task.js';
export { RUNNER_STAGE } from './runner/shard-task.js';
export type { RunStats, StageStats } from './runner/stats.js';
export { formatStats } from './runner/stats.js';
export type { WhyDropped } from './runner/why.js';
export { whyDropped, formatWhy } from './runner/why.js';

export type { BatchPosition, BatchReaderOptions, SampleRef } from './batches/reader.js';
export { ShardBatchReader } from './batches/reader.js';
