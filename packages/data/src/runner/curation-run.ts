/**
 * The one way a curation pipeline (image, speech, video) runs on the runner: in this process, on
 * worker threads, over a queue, as one static slice, or as the merge of finished slices — chosen by
 * the same options everywhere, with the same outcome shape. Each modality supplies only its stages
 * (in-process) and where workers import them from (`pipeline`), then writes its own report.
 */
import { type RunOptions, type ShardSlice, type QueueOptions, mergeRun, runPipeline, runShardSlice } from './run.js';
import { type PipelineRef } from './pipeline.js';
import { type Stage } from '../stages/stage.js';
import { type RunStats } from './stats.js';

/** How a curation run is spread: the options every `curate*` function takes beside its stages' options. */
export interface CurationRunMode {
  /** Worker threads; 0 (default) runs in this process. */
  workers?: number;
  /** Coordinate shard tasks over a Redis/BullMQ queue. */
  queue?: QueueOptions;
  /** Run only slice `index` of `count` (then merge). */
  slice?: ShardSlice;
  /** Merge the finished slices. */
  merge?: boolean;
  progress?: NodeJS.WriteStream | null;
  signal?: AbortSignal;
  handleSignals?: boolean;
}

/** What a curation run did: finished (the run's stats), one slice's share, or a merge that must wait for slices. */
export interface CurationOutcome {
  readonly stats: RunStats | null;
  /** For a slice: passes its share finished; the merge decides the rest. */
  readonly slice?: { passesDone: number; passes: number };
  /** A merge that stopped at a pass: run the slices again, then merge again. */
  readonly merge?: { pass: number; missing: string[] };
}

/** What a `curate*` function returns: its report when the run finished; null for a slice's share or a merge that must wait. */
export interface CurationResult<R> extends Omit<CurationOutcome, 'stats'> {
  report: R | null;
}

/**
 * Splits a `curate*` function's config into how the run is spread and the rest (its stages' options).
 * The folder import's `samplesPerShard` goes to neither: it shapes the imported dataset, not the
 * stages, so it must not change the run's fingerprint.
 */
export function splitCurateConfig<C extends CurationRunMode & { samplesPerShard?: number }>(config: C): { mode: CurationRunMode; stageConfig: Omit<C, keyof CurationRunMode | 'samplesPerShard'> } {
  const { workers, queue, slice, merge, progress, signal, handleSignals, samplesPerShard: _import, ...stageConfig } = config;
  return { mode: { workers, queue, slice, merge, progress, signal, handleSignals }, stageConfig };
}

/** True when the stages run in this process (so they may hold functions and models that cannot cross threads). */
export function runsInProcess(mode: CurationRunMode): boolean {
  return (mode.workers ?? 0) === 0 && mode.queue === undefined && mode.slice === undefined && !mode.merge;
}

/**
 * Runs `input` → `output` in the mode asked for: `stages` when given (in-process), else the stages
 * workers import from `pipeline`.
 */
export async function runCuration(input: string, output: string, pipeline: PipelineRef, stages: readonly Stage[] | undefined, mode: CurationRunMode): Promise<CurationOutcome> {
  const { workers = 0, queue, slice, merge, progress, signal, handleSignals } = mode;
  const options: RunOptions = {
    input,
    output,
    ...(stages ? { stages } : { pipeline }),
    ...(workers > 0 ? { workers } : {}),
    ...(queue ? { queue } : {}),
    ...(progress !== undefined ? { progress } : {}),
    ...(signal ? { signal } : {}),
    ...(handleSignals ? { handleSignals } : {}),
  };
  if (slice) {
    const r = await runShardSlice(options, slice);
    return { stats: null, slice: { passesDone: r.passesDone, passes: r.passes } };
  }
  if (merge) {
    const m = await mergeRun(options);
    return m.complete ? { stats: m.stats } : { stats: null, merge: { pass: m.pass, missing: m.missing } };
  }
  return { stats: (await runPipeline(options)).stats };
}
