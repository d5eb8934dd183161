import type { Sample } from '../sample.js';

/** A per-sample verdict: keep the (possibly changed) sample, or drop it with a short reason. */
export type StageResult = { keep: true; sample: Sample } | { keep: false; reason: string };

/** Where a stage is running; for logs and messages, never for decisions (stages are deterministic). */
export interface StageContext {
  /** Input shard file of this pass. */
  shard: string;
  pass: number;
  /** 0 in-process, 1..n in worker threads. */
  worker: number;
}

/**
 * A stage that judges one sample at a time. Reasons are snake_case words, optionally followed by
 * `: detail` (`low_clip_score: 0.12 < 0.25`); statistics group drops by the part before the colon.
 * It must not change the sample's key.
 */
export interface SampleStage {
  readonly kind: 'sample';
  readonly name: string;
  /** Changes the run fingerprint when bumped, so a resumed run cannot mix old and new behaviour. */
  readonly version?: string;
  process(sample: Sample, ctx: StageContext): Promise<StageResult> | StageResult;
  /**
   * Optional batch hook: judges up to `batchSize` samples in one call (a model that scores B inputs
   * per call), one result per sample in the given order, each exactly what `process` would return.
   * The runner then hands the stage the samples that reach it in groups of at most `batchSize`;
   * results and drop records are written in dataset order, so a batched run's output is the
   * unbatched one's. A batch call that throws, hangs past `batchSize` × the per-sample limit or
   * returns the wrong number of results is retried one sample at a time through `process`, so a
   * sample that breaks the batch costs only itself.
   */
  processBatch?(samples: readonly Sample[], ctx: StageContext): Promise<StageResult[]> | StageResult[];
  /** Samples per `processBatch` call (≥ 1; the runner reads ahead this many samples). */
  readonly batchSize?: number;
}

/**
 * A stage that needs to see every sample before it decides (deduplication, resampling). `prepare`
 * runs in the shard pass and returns a small JSON-serialisable feature per sample (a hash, an
 * embedding); `decide` then runs once over all features, in dataset order, and returns the keys to
 * drop with their reasons. A global stage splits the pipeline into passes.
 */
export interface GlobalStage<F = unknown, O = unknown> {
  readonly kind: 'global';
  readonly name: string;
  readonly version?: string;
  prepare?(sample: Sample, ctx: StageContext): Promise<F> | F;
  /** `observed`: what `observe()`'s observer finished with (undefined when the stage has none). */
  decide(features: ReadonlyMap<string, F>, observed?: O): Promise<Map<string, string>> | Map<string, string>;
  /**
   * A streaming first look at every (key, feature), in dataset order, before any `decide` call: for
   * global state that is much smaller than the features (n-gram counts, compact hash arrays), so
   * that a partitioned stage whose decisions need dataset-wide statistics still sees its features
   * one partition at a time. A fresh observer per decision (a resumed run starts a new one).
   * `ctx.scratchDir`: a folder inside the run for the observer's temporary files; the runner empties
   * it before a decision starts (so a killed run's leftovers go when it is resumed) and after it ends.
   */
  observe?(ctx?: ObserverContext): FeatureObserver<F, O>;
  /**
   * False when `decide` needs only the keys of its slice (the observer kept what it needs): the
   * runner then spills and loads keys alone, and `decide` gets null features. Default true.
   */
  readonly decideNeedsFeatures?: boolean;
  /** Features per `decide` call when partitioned (default the runner's FEATURES_PER_PARTITION). */
  readonly featuresPerPartition?: number;
  /**
   * Flat memory for large datasets: when given, samples can only affect each other within a group
   * (e.g. equal hashes, one cluster), so the runner splits the features on disk by group and calls
   * `decide` once per slice of groups instead of once on everything. Null: never dropped.
   */
  partitionBy?(feature: F): string | null;
}

export interface ObserverContext {
  /** An empty folder of the run for temporary files; removed by the runner when the decision ends. */
  scratchDir: string;
}

/** Sees every feature once, in dataset order; `finish` hands its summary to every `decide` call. */
export interface FeatureObserver<F, O> {
  add(key: string, feature: F): void | Promise<void>;
  finish(): O | Promise<O>;
}

export type Stage = SampleStage | GlobalStage;

/** The part of a reason before its detail: `low_clip_score: 0.12 < 0.25` → `low_clip_score`. */
export function reasonCode(reason: string): string {
  const colon = reason.indexOf(':');
  return (colon < 0 ? reason : reason.slice(0, colon)).trim();
}

export function keep(sample: Sample): StageResult {
  return { keep: true, sample };
}

export function drop(reason: string): StageResult {
  return { keep: false, reason };
}
