import { createHash } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { HerdError, JsonlLog, ProblemList, Progress, writeFileAtomic } from '@herd/core';
import { FORMAT_VERSION, INDEX_FILE, readDataset, shardFileName, writeManifest, type Manifest } from '../format/manifest.js';
import { concatFiles } from '../format/spill.js';
import { removeStaleShards } from '../format/write.js';
import type { Stage } from '../stages/stage.js';
import { takeCensus, duplicatesPath, expectedPath, type Census } from './census.js';
import { decideGlobal, decisionShardPath, readDecisionShard, type DecisionSummary } from './decide.js';
import { inProcessExecutor, ShardFailure, WorkerPool, type Executor } from './pool.js';
import { checkStages, loadPipeline, planPasses, READ_STAGE, type Pass, type PipelineRef } from './pipeline.js';
import { abandonShard, abortError, RUNNER_STAGE, spillPath, type DropRecord, type ShardDone, type ShardTask, type TaskLimits } from './shard-task.js';
import { acquireLock, checkFingerprint, decisionPath, donePath, passDir, readJsonIfAny, removeTempFiles, runDir, RUN_DIR } from './state.js';
import { addCounter, emptyCounter, toStageStats, type RunStats, type StageCounter, type StageStats } from './stats.js';

export const DROPS_FILE = 'drops.jsonl';
export const STATS_FILE = 'stats.json';

/** Where a run's shard tasks go instead of local threads: a BullMQ queue on Redis (see `runQueueWorker`). */
export interface QueueOptions {
  /** `redis://host:port[/db]`. */
  url: string;
  /** Queue name shared with the workers (default `herd-curate`). */
  name?: string;
  /** Tries per shard before it is given up with a reason (default 3). */
  attempts?: number;
  /**
   * How long shard tasks may wait with no worker connected to the queue before the run stops with
   * an error (default 10 min; 0 waits forever). Finished shards are kept: rerun to resume.
   */
  noWorkerTimeoutMs?: number;
  /** Called once each time the queue is found without workers while shard tasks wait (e.g. to tell the user to start some). */
  onNoWorkers?: (message: string) => void;
}

export interface RunOptions {
  /** Input dataset folder. */
  input: string;
  /** Output folder: the curated dataset plus stats.json, drops.jsonl and the run's state in _run/. */
  output: string;
  /** The stages themselves; only for in-process runs (workers: 0). */
  stages?: readonly Stage[];
  /** Where workers import the stages from; works for in-process runs too. */
  pipeline?: PipelineRef;
  /** Worker threads; 0 (default) runs every shard in this thread. */
  workers?: number;
  /** Send shard tasks to queue workers on any machine that sees the same storage (needs `pipeline`). */
  queue?: QueueOptions;
  /** Output dataset name (default: the input's). */
  name?: string;
  /** Extra manifest info for the output. */
  info?: Record<string, unknown>;
  /** Where progress is drawn when it is a TTY (default stderr); null for none. */
  progress?: NodeJS.WriteStream | null;
  /** Keep the shards between passes (default: removed once the run is complete). */
  keepIntermediate?: boolean;
  /** A stage call on one sample that takes longer drops that sample (`stage_timeout`); default 5 min. */
  sampleTimeoutMs?: number;
  /**
   * A shard not finished in this time is given up: its samples are dropped with `shard_timeout`
   * (worker threads and queue workers; in-process a synchronous hang cannot be interrupted). Default 1 h.
   */
  shardTimeoutMs?: number;
  /** Largest `.json` meta accepted at read (default 16 MiB) and deepest nesting (default 64). */
  maxMetaBytes?: number;
  maxMetaDepth?: number;
  /** Stops the run: shards in flight are abandoned (redone on resume), the lock released, the call rejects. */
  signal?: AbortSignal;
  /** Turn SIGINT/SIGTERM into `signal` for the run's duration (for command-line tools). */
  handleSignals?: boolean;
}

export interface RunResult {
  manifest: Manifest;
  stats: RunStats;
  /** Shard tasks run now and those skipped because an earlier (killed) run had finished them. */
  shards: { processed: number; skipped: number };
}

/** A static share of the shard tasks: shards with `shard % count === index` (Kubernetes indexed jobs, Slurm arrays). */
export interface ShardSlice {
  index: number;
  count: number;
}

export interface SliceResult {
  /** Passes whose share this slice has finished; below `passes`, the merge must decide a global stage first. */
  passesDone: number;
  passes: number;
  shards: { processed: number; skipped: number };
}

const DEFAULT_SAMPLE_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_SHARD_TIMEOUT_MS = 60 * 60_000;

function checkOptions(o: RunOptions, slice?: ShardSlice): void {
  const problems = new ProblemList();
  if (typeof o.input !== 'string' || o.input === '') problems.add('input: expected a dataset folder');
  if (typeof o.output !== 'string' || o.output === '') problems.add('output: expected a folder');
  if (o.input && o.output && resolve(o.input) === resolve(o.output)) problems.add('output: must differ from input');
  const workers = o.workers ?? 0;
  if (!Number.isInteger(workers) || workers < 0) problems.add(`workers: expected an integer >= 0, got ${o.workers}`);
  if ((o.stages === undefined) === (o.pipeline === undefined)) problems.add('give exactly one of stages (in-process) or pipeline ({module, export})');
  if (workers > 0 && o.stages !== undefined) {
    problems.add('workers > 0 needs pipeline: {module, export} so that worker threads can import the stages; use workers: 0 to run given stages in-process');
  }
  if (o.queue !== undefined) {
    if (o.stages !== undefined) problems.add('queue needs pipeline: {module, export} so that queue workers can import the stages');
    if (typeof o.queue.url !== 'string' || !/^rediss?:\/\//.test(o.queue.url)) problems.add(`queue.url: expected redis://host:port, got ${JSON.stringify(o.queue.url)}`);
    if (workers > 0) problems.add('give workers or queue, not both (queue workers choose their own concurrency)');
    const wait = o.queue.noWorkerTimeoutMs;
    if (wait !== undefined && !(Number.isFinite(wait) && wait >= 0)) problems.add(`queue.noWorkerTimeoutMs: expected a number of ms ≥ 0 (0 waits forever), got ${JSON.stringify(wait)}`);
  }
  if (o.pipeline !== undefined && (typeof o.pipeline.module !== 'string' || o.pipeline.module === '')) problems.add('pipeline.module: expected a module path');
  for (const k of ['sampleTimeoutMs', 'shardTimeoutMs', 'maxMetaBytes', 'maxMetaDepth'] as const) {
    const v = o[k];
    if (v !== undefined && !(typeof v === 'number' && v > 0)) problems.add(`${k}: expected a positive number, got ${JSON.stringify(v)}`);
  }
  if (slice !== undefined && !(Number.isInteger(slice.count) && slice.count >= 1 && Number.isInteger(slice.index) && slice.index >= 0 && slice.index < slice.count)) {
    problems.add(`shard slice: expected i/N with 0 <= i < N, got ${slice.index}/${slice.count}`);
  }
  problems.throwIfAny('invalid_argument', 'runPipeline: bad options');
}

/** Everything one invocation (a full run, a slice, a merge) knows about the run. */
interface RunContext {
  input: string;
  output: string;
  manifest: Manifest;
  stages: readonly Stage[];
  passes: Pass[];
  census: Census;
  limits: TaskLimits;
  log: JsonlLog;
  /** Identifies this run's tasks in a shared queue. */
  runId: string;
}

async function openRun(options: RunOptions): Promise<RunContext> {
  const input = resolve(options.input);
  const output = resolve(options.output);
  const manifest = await readDataset(input);
  const stages = options.stages ?? (await loadPipeline(options.pipeline as PipelineRef));
  checkStages(stages, 'runPipeline');
  const passes = planPasses(stages);
  const existing = await readdir(output).catch(() => [] as string[]);
  if (existing.length > 0 && !existing.includes(RUN_DIR)) {
    throw new HerdError('invalid_argument', `output ${output} is not empty and holds no curation run (${RUN_DIR}/); choose a new or empty folder`);
  }
  await mkdir(runDir(output), { recursive: true });
  const limits: TaskLimits = { sampleTimeoutMs: options.sampleTimeoutMs ?? DEFAULT_SAMPLE_TIMEOUT_MS };
  if (options.maxMetaBytes !== undefined) limits.maxMetaBytes = options.maxMetaBytes;
  if (options.maxMetaDepth !== undefined) limits.maxMetaDepth = options.maxMetaDepth;
  const fingerprint = {
    format: FORMAT_VERSION,
    input: { name: manifest.name, createdAt: manifest.createdAt, totalCount: manifest.totalCount, shards: manifest.shards },
    stages: stages.map((s) => ({ name: s.name, kind: s.kind, version: s.version ?? null })),
    options: options.pipeline?.options ?? null,
    limits: { meta: [limits.maxMetaBytes ?? null, limits.maxMetaDepth ?? null] },
  };
  await checkFingerprint(output, fingerprint);
  const runId = createHash('sha256').update(output).update(JSON.stringify(fingerprint)).digest('hex').slice(0, 16);
  const census = await takeCensus(input, manifest, join(runDir(output), 'input'));
  return { input, output, manifest, stages, passes, census, limits, log: new JsonlLog(join(runDir(output), 'log.jsonl')), runId };
}

function taskFor(ctx: RunContext, pass: Pass, i: number, prev: ShardDone | undefined): ShardTask {
  const final = pass.index === ctx.passes.length - 1;
  const file = shardFileName(i);
  const source = ctx.manifest.shards[i]?.file as string;
  const task: ShardTask = {
    pass: pass.index,
    shard: i,
    source,
    input: pass.index === 0 ? join(ctx.input, source) : prev?.output ? join(passDir(ctx.output, pass.index - 1), prev.output.file) : null,
    stages: pass.stages.map((s) => s.name),
    output: join(final ? ctx.output : passDir(ctx.output, pass.index), file),
    outputFile: file,
    donePath: donePath(ctx.output, pass.index, i),
    limits: ctx.limits,
  };
  if (pass.prepares) task.prepare = pass.prepares.name;
  if (pass.index === 0) {
    const inputDir = join(runDir(ctx.output), 'input');
    if (ctx.census.covered[i]) task.expectedFile = expectedPath(inputDir, i);
    task.expectedCount = ctx.manifest.shards[i]?.count ?? 0;
    task.dropFile = duplicatesPath(inputDir, i);
  } else {
    task.expectedFile = spillPath(donePath(ctx.output, pass.index - 1, i), 'index');
    task.skipFile = decisionShardPath(decisionDir(ctx.output, pass.index - 1), i);
  }
  return task;
}

function decisionDir(output: string, pass: number): string {
  return join(passDir(output, pass), 'decision');
}

async function readDone(task: ShardTask): Promise<ShardDone | undefined> {
  const rec = await readJsonIfAny<ShardDone>(task.donePath);
  return rec?.pass === task.pass && rec.shard === task.shard ? rec : undefined;
}

/**
 * Runs tasks with the executor, `concurrency` at a time. A ShardFailure costs that shard (retried
 * once when the failure may not repeat, then given up with its reason); any other error stops the run
 * once the shards in flight are finished.
 */
async function runAll(ctx: RunContext, tasks: readonly ShardTask[], executor: Executor, signal: AbortSignal | undefined, onDone: (t: ShardTask) => void): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < tasks.length && !signal?.aborted) {
      const task = tasks[next++] as ShardTask;
      for (let attempt = 1; ; attempt++) {
        try {
          await executor.run(task);
          break;
        } catch (e) {
          if (signal?.aborted) return;
          if (e instanceof ShardFailure && e.retryable && attempt < 2) {
            ctx.log.write({ event: 'shard_retry', pass: task.pass, shard: task.source, error: e.message });
            continue;
          }
          if (e instanceof ShardFailure) {
            ctx.log.write({ event: 'shard_abandoned', pass: task.pass, shard: task.source, reason: e.reason });
            try {
              await abandonShard(task, e.reason);
            } catch (err) {
              failure ??= { error: err };
            }
            break;
          }
          failure ??= { error: e };
          return;
        }
      }
      if (failure === undefined) onDone(task);
    }
  };
  await Promise.all(Array.from({ length: Math.min(executor.concurrency, tasks.length) }, lane));
  if (signal?.aborted) throw abortError(signal);
  if (failure) throw failure.error;
}

/** Runs one pass's pending tasks (of those given), returning how many ran and were skipped. */
async function runPass(ctx: RunContext, pass: Pass, tasks: readonly ShardTask[], makeExecutor: () => Promise<Executor>, o: RunOptions, signal: AbortSignal | undefined): Promise<{ processed: number; skipped: number }> {
  const have = await Promise.all(tasks.map(readDone));
  const pending = tasks.filter((_, i) => have[i] === undefined);
  const counts = { processed: 0, skipped: tasks.length - pending.length };
  if (pending.length === 0) return counts;
  const expectOf = (t: ShardTask): number => (pass.index === 0 ? (ctx.manifest.shards[t.shard]?.count ?? 0) : 0);
  const total = tasks.reduce((n, t) => n + expectOf(t), 0);
  let progressDone = total - pending.reduce((n, t) => n + expectOf(t), 0);
  const progress = o.progress === null ? undefined : new Progress(`curate pass ${pass.index + 1}/${ctx.passes.length}`, pass.index === 0 ? total : tasks.length, o.progress);
  let shardsDone = tasks.length - pending.length;
  const executor = await makeExecutor();
  // On interruption, shards in flight on threads or the queue are abandoned rather than awaited.
  const stop = (): void => void executor.close();
  signal?.addEventListener('abort', stop, { once: true });
  try {
    await runAll(ctx, pending, executor, signal, (t) => {
      // An intermediate shard is needed only until its successor is done: free the disk now.
      if (t.pass > 0 && t.input !== null && !o.keepIntermediate) void rm(t.input, { force: true });
      counts.processed++;
      shardsDone++;
      progressDone += expectOf(t);
      progress?.update(pass.index === 0 ? progressDone : shardsDone, `shard ${shardsDone}/${tasks.length}`);
      ctx.log.write({ event: 'shard_done', pass: t.pass, shard: t.source });
    });
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  progress?.done();
  return counts;
}

/** Shard done records of a pass; those missing are listed (for a merge that comes too early). */
async function doneRecords(tasks: readonly ShardTask[]): Promise<{ recs: (ShardDone | undefined)[]; missing: string[] }> {
  const recs = await Promise.all(tasks.map(readDone));
  const missing = tasks.filter((_, i) => recs[i] === undefined).map((t) => t.source);
  return { recs, missing };
}

function collectStats(passes: readonly Pass[], done: readonly ShardDone[][], decisions: readonly (DecisionSummary | undefined)[]): StageStats[] {
  const read = emptyCounter();
  const runner = emptyCounter();
  done.forEach((recs, p) => {
    for (const rec of recs) {
      const c = rec.stats[READ_STAGE] ?? emptyCounter();
      // Later passes re-read what earlier passes kept: only their losses count.
      if (p === 0) addCounter(read, c);
      else addCounter(read, { in: 0, kept: -Object.values(c.dropped).reduce((a, b) => a + b, 0), dropped: c.dropped, seconds: c.seconds });
      const r = rec.stats[RUNNER_STAGE];
      if (r) addCounter(runner, r);
    }
  });
  const rows = [toStageStats(READ_STAGE, 'read', read)];
  passes.forEach((pass, p) => {
    const recs = done[p] ?? [];
    const sum = (name: string): StageCounter => {
      const c = emptyCounter();
      for (const rec of recs) {
        const s = rec.stats[name];
        if (s) addCounter(c, s);
      }
      return c;
    };
    for (const stage of pass.stages) rows.push(toStageStats(stage.name, 'sample', sum(stage.name)));
    if (pass.prepares) {
      const c = sum(pass.prepares.name);
      const decision = decisions[p];
      if (decision) {
        c.seconds += decision.seconds;
        for (const [code, n] of Object.entries(decision.byReason)) c.dropped[code] = (c.dropped[code] ?? 0) + n;
      }
      c.kept = c.in - Object.values(c.dropped).reduce((a, b) => a + b, 0);
      rows.push(toStageStats(pass.prepares.name, 'global', c));
    }
  });
  // Shards given up (timeouts, crashed workers): all their samples, whichever pass it happened in.
  if (Object.keys(runner.dropped).length > 0) rows.push(toStageStats(RUNNER_STAGE, 'read', { ...runner, kept: 0 }));
  return rows;
}

/** drops.jsonl in a fixed order: per pass, each shard's drops, then the pass's global decision in dataset order. */
async function* dropLines(ctx: RunContext, done: readonly ShardDone[][], decisions: readonly (DecisionSummary | undefined)[]): AsyncGenerator<Uint8Array> {
  for (let p = 0; p < done.length; p++) {
    const recs = done[p] as ShardDone[];
    yield* concatFiles(recs.map((r) => spillPath(donePath(ctx.output, p, r.shard), 'drops')));
    const decision = decisions[p];
    if (!decision) continue;
    for (const r of recs) {
      const rows = await readDecisionShard(decisionShardPath(decisionDir(ctx.output, p), r.shard));
      if (rows.length === 0) continue;
      const text = rows.map(([, key, reason]) => JSON.stringify({ key, stage: decision.stage, reason, shard: r.source } satisfies DropRecord) + '\n').join('');
      yield Buffer.from(text);
    }
  }
}

/**
 * Writes the output: index, drops, stats, then the manifest. Every file is streamed from the spill
 * files, so none is held in memory whole.
 */
async function assemble(ctx: RunContext, o: RunOptions, done: readonly ShardDone[][], decisions: readonly (DecisionSummary | undefined)[], wall0: number, workers: number): Promise<{ manifest: Manifest; stats: RunStats }> {
  const last = done[done.length - 1] ?? [];
  const lastPass = done.length - 1;
  await writeFileAtomic(join(ctx.output, INDEX_FILE), concatFiles(last.map((r) => spillPath(donePath(ctx.output, lastPass, r.shard), 'index'))));
  await writeFileAtomic(join(ctx.output, DROPS_FILE), dropLines(ctx, done, decisions));
  const shards = last.flatMap((r) => (r.output ? [r.output] : []));
  const out = shards.reduce((n, s) => n + s.count, 0);
  const stages = collectStats(ctx.passes, done, decisions);
  const problems = [...ctx.census.problems.map((p) => `input: ${p}`)];
  for (const recs of done) for (const r of recs) for (const p of r.problems) if (problems.length < 200) problems.push(`${r.source} (pass ${r.pass}): ${p}`);
  const dropped = stages.reduce((n, s) => n + s.dropped, 0);
  const stats: RunStats = {
    input: ctx.input,
    output: ctx.output,
    workers,
    passes: ctx.passes.length,
    in: stages[0]?.in ?? 0,
    promised: ctx.manifest.totalCount,
    out,
    dropped,
    wallSeconds: (performance.now() - wall0) / 1000,
    stages,
    problems,
  };
  // Every sample read is kept or dropped with a reason: a gap here is a runner bug, never data loss to hide.
  if (stats.in !== out + dropped) {
    throw new HerdError('runtime_error', `accounting error: ${stats.in} samples read, ${out} kept + ${dropped} dropped; the run state in ${runDir(ctx.output)} is inconsistent (remove it and run again)`);
  }
  await writeFileAtomic(join(ctx.output, STATS_FILE), JSON.stringify(stats, null, 2) + '\n');
  await removeStaleShards(ctx.output, new Set(shards.map((s) => s.file)));
  const manifest: Manifest = {
    name: o.name ?? ctx.manifest.name,
    version: FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    shards,
    totalCount: out,
    info: { ...o.info, curatedFrom: { name: ctx.manifest.name, path: ctx.input, totalCount: ctx.manifest.totalCount }, stages: ctx.stages.map((s) => s.name) },
  };
  await writeManifest(ctx.output, manifest);
  if (!o.keepIntermediate) {
    for (const p of ctx.passes.slice(0, -1)) {
      const names = await readdir(passDir(ctx.output, p.index)).catch(() => [] as string[]);
      for (const n of names) if (n.endsWith('.tar')) await rm(join(passDir(ctx.output, p.index), n), { force: true });
    }
  }
  return { manifest, stats };
}

/** SIGINT/SIGTERM → abort, for the duration of a run. */
function signalScope(o: RunOptions): { signal: AbortSignal | undefined; dispose(): void } {
  if (!o.handleSignals) return { signal: o.signal, dispose: () => undefined };
  const ctl = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => ctl.abort(sig);
  const onOuter = (): void => ctl.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onOuter, { once: true });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ctl.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      o.signal?.removeEventListener('abort', onOuter);
    },
  };
}

/**
 * Drives the passes. `run`: every task, then the global decision, pass after pass. `slice`: only the
 * owned tasks, and only as far as the global decisions already made allow (a slice never decides:
 * that is the merge's job, so that it happens once). `merge`: no tasks; decides where a pass is
 * complete. Returns the done records of every pass when all are complete, else where it stopped.
 */
async function drive(
  ctx: RunContext,
  o: RunOptions,
  mode: 'run' | 'slice' | 'merge',
  owned: (shard: number) => boolean,
  makeExecutor: (() => Promise<Executor>) | undefined,
  signal: AbortSignal | undefined,
): Promise<{ done: ShardDone[][]; decisions: (DecisionSummary | undefined)[]; counts: { processed: number; skipped: number }; stoppedAt?: { pass: number; missing: string[] } }> {
  const done: ShardDone[][] = [];
  const decisions: (DecisionSummary | undefined)[] = [];
  const counts = { processed: 0, skipped: 0 };
  let prev: (ShardDone | undefined)[] | undefined;
  for (const pass of ctx.passes) {
    const tasks = ctx.manifest.shards.map((_, i) => taskFor(ctx, pass, i, prev?.[i]));
    if (makeExecutor) {
      const c = await runPass(ctx, pass, tasks.filter((t) => owned(t.shard)), makeExecutor, o, signal);
      counts.processed += c.processed;
      counts.skipped += c.skipped;
    }
    const { recs, missing } = await doneRecords(tasks);
    if (mode === 'slice') {
      const mine = tasks.filter((t) => owned(t.shard) && recs[t.shard] === undefined).map((t) => t.source);
      if (mine.length > 0) return { done, decisions, counts, stoppedAt: { pass: pass.index, missing: mine } };
    } else if (missing.length > 0) return { done, decisions, counts, stoppedAt: { pass: pass.index, missing } };
    done.push(recs as ShardDone[]);
    let decision: DecisionSummary | undefined;
    if (pass.prepares) {
      if (mode === 'slice') {
        decision = await readJsonIfAny<DecisionSummary>(decisionPath(ctx.output, pass.index));
        if (decision?.stage !== pass.prepares.name) return { done, decisions, counts, stoppedAt: { pass: pass.index + 1, missing: [] } };
      } else {
        const complete = recs as ShardDone[];
        const features = complete.map((r) => spillPath(donePath(ctx.output, pass.index, r.shard), 'features'));
        const total = complete.reduce((n, r) => n + (r.features ?? 0), 0);
        decision = await decideGlobal(pass.prepares, features, decisionDir(ctx.output, pass.index), decisionPath(ctx.output, pass.index), total);
        ctx.log.write({ event: 'decision', stage: decision.stage, dropped: decision.dropped, partitions: decision.partitions });
      }
    }
    decisions.push(decision);
    prev = recs;
  }
  return { done, decisions, counts };
}

async function makeExecutorFor(ctx: RunContext, o: RunOptions, signal: AbortSignal | undefined, cleanup: (() => Promise<void>)[]): Promise<Executor> {
  const workers = o.workers ?? 0;
  let executor: Executor;
  if (o.queue) {
    const { QueueExecutor } = await import('./queue.js');
    executor = await QueueExecutor.open(o.queue, ctx.runId, o.pipeline as PipelineRef, ctx.stages, o.shardTimeoutMs ?? DEFAULT_SHARD_TIMEOUT_MS);
  } else if (workers > 0) {
    executor = new WorkerPool(Math.min(workers, ctx.manifest.shards.length || 1), o.pipeline as PipelineRef, ctx.stages, o.shardTimeoutMs ?? DEFAULT_SHARD_TIMEOUT_MS);
  } else {
    executor = inProcessExecutor(ctx.stages, signal);
  }
  cleanup.push(() => executor.close());
  return executor;
}

/**
 * Curates a dataset: shards are processed in parallel (worker threads, or queue workers on many
 * machines), each output shard and its done record are written atomically, and a re-run after a
 * crash, kill or Ctrl-C skips the shards already done. Consecutive sample stages share one pass;
 * each global stage ends a pass and its decisions are applied at the start of the next. Every
 * sample the input promises ends kept or in `drops.jsonl` with a reason; the manifest comes last.
 */
export async function runPipeline(options: RunOptions): Promise<RunResult> {
  checkOptions(options);
  const wall0 = performance.now();
  const scope = signalScope(options);
  const cleanup: (() => Promise<void>)[] = [];
  let release: (() => Promise<void>) | undefined;
  try {
    const ctx = await openRun(options);
    release = await acquireLock(ctx.output);
    await removeTempFiles([ctx.output]);
    const workers = options.queue ? 0 : (options.workers ?? 0);
    ctx.log.write({ event: 'run_start', input: ctx.input, output: ctx.output, workers, queue: options.queue?.url ?? null, passes: ctx.passes.length, stages: ctx.stages.map((s) => s.name) });
    let executor: Promise<Executor> | undefined;
    const make = (): Promise<Executor> => (executor ??= makeExecutorFor(ctx, options, scope.signal, cleanup));
    const r = await drive(ctx, options, 'run', () => true, make, scope.signal);
    if (r.stoppedAt) throw new HerdError('runtime_error', `pass ${r.stoppedAt.pass}: shards ${r.stoppedAt.missing.slice(0, 5).join(', ')} have no done record after the pass ran`);
    const { manifest, stats } = await assemble(ctx, options, r.done, r.decisions, wall0, workers);
    ctx.log.write({ event: 'run_done', in: stats.in, out: stats.out, processed: r.counts.processed, skipped: r.counts.skipped });
    return { manifest, stats, shards: r.counts };
  } finally {
    for (const c of cleanup) await c().catch(() => undefined);
    await release?.();
    scope.dispose();
  }
}

/**
 * One static share of a run (`--shard i/N`): processes the shards with `shard % N === i` for every
 * pass it can, and stops where a pass needs a global decision that `mergeRun` has not made yet. Many
 * slices run at once on the same output (no lock); each writes only its own shards.
 */
export async function runShardSlice(options: RunOptions, slice: ShardSlice): Promise<SliceResult> {
  checkOptions(options, slice);
  const scope = signalScope(options);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const ctx = await openRun(options);
    let executor: Promise<Executor> | undefined;
    const make = (): Promise<Executor> => (executor ??= makeExecutorFor(ctx, { ...options, queue: undefined }, scope.signal, cleanup));
    const r = await drive(ctx, options, 'slice', (shard) => shard % slice.count === slice.index, make, scope.signal);
    ctx.log.write({ event: 'slice_done', slice: `${slice.index}/${slice.count}`, processed: r.counts.processed, stoppedAt: r.stoppedAt?.pass ?? null });
    return { passesDone: r.stoppedAt ? r.stoppedAt.pass : ctx.passes.length, passes: ctx.passes.length, shards: r.counts };
  } finally {
    for (const c of cleanup) await c().catch(() => undefined);
    scope.dispose();
  }
}

/** What a merge found: the finished run, or the pass whose shards are still missing. */
export type MergeResult = ({ complete: true } & RunResult) | { complete: false; pass: number; missing: string[] };

/**
 * The merge step of a static split: makes the global decisions of every pass whose shards are all
 * done and, once the last pass is done, writes the index, drops, stats and manifest. Run the slices
 * again after a merge that stopped at a pass (multi-pass pipelines need one merge per global stage).
 */
export async function mergeRun(options: RunOptions): Promise<MergeResult> {
  checkOptions(options);
  const wall0 = performance.now();
  let release: (() => Promise<void>) | undefined;
  try {
    const ctx = await openRun(options);
    release = await acquireLock(ctx.output);
    const r = await drive(ctx, options, 'merge', () => false, undefined, undefined);
    if (r.stoppedAt) return { complete: false, pass: r.stoppedAt.pass, missing: r.stoppedAt.missing };
    await removeTempFiles([ctx.output]);
    const { manifest, stats } = await assemble(ctx, options, r.done, r.decisions, wall0, 0);
    ctx.log.write({ event: 'merge_done', in: stats.in, out: stats.out });
    return { complete: true, manifest, stats, shards: r.counts };
  } finally {
    await release?.();
  }
}

