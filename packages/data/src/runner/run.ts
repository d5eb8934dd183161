import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { HerdError, JsonlLog, ProblemList, Progress, writeFileAtomic } from '@herd/core';
import { hasIndex, readIndex, type IndexEntry } from '../format/index-file.js';
import { FORMAT_VERSION, INDEX_FILE, readDataset, shardFileName, writeManifest, type Manifest } from '../format/manifest.js';
import type { ExpectedSample } from '../format/read.js';
import { removeStaleShards } from '../format/write.js';
import { reasonCode, type GlobalStage, type Stage } from '../stages/stage.js';
import { inProcessExecutor, WorkerPool, type Executor } from './pool.js';
import { checkStages, loadPipeline, planPasses, READ_STAGE, type Pass, type PipelineRef } from './pipeline.js';
import type { DropRecord, ShardDone, ShardTask } from './shard-task.js';
import {
  acquireLock,
  checkFingerprint,
  decisionPath,
  donePath,
  listPassDirs,
  passDir,
  readJsonIfAny,
  removeTempFiles,
  runDir,
  RUN_DIR,
} from './state.js';
import { addCounter, emptyCounter, toStageStats, type RunStats, type StageCounter, type StageStats } from './stats.js';

export const DROPS_FILE = 'drops.jsonl';
export const STATS_FILE = 'stats.json';

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
  /** Output dataset name (default: the input's). */
  name?: string;
  /** Extra manifest info for the output. */
  info?: Record<string, unknown>;
  /** Where progress is drawn when it is a TTY (default stderr); null for none. */
  progress?: NodeJS.WriteStream | null;
  /** Keep the shards between passes (default: removed once the run is complete). */
  keepIntermediate?: boolean;
}

export interface RunResult {
  manifest: Manifest;
  stats: RunStats;
  /** Shard tasks run now and those skipped because an earlier (killed) run had finished them. */
  shards: { processed: number; skipped: number };
}

interface Decision {
  stage: string;
  drops: [string, string][];
  seconds: number;
}

function checkOptions(o: RunOptions): void {
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
  if (o.pipeline !== undefined && (typeof o.pipeline.module !== 'string' || o.pipeline.module === '')) problems.add('pipeline.module: expected a module path');
  problems.throwIfAny('invalid_argument', 'runPipeline: bad options');
}

async function expectedByShard(input: string, manifest: Manifest): Promise<Map<string, ExpectedSample[]> | undefined> {
  if (!(await hasIndex(input))) return undefined;
  const byShard = new Map<string, ExpectedSample[]>(manifest.shards.map((s) => [s.file, []]));
  for await (const e of readIndex(input)) byShard.get(e.shard)?.push({ key: e.key, sizes: e.sizes });
  return byShard;
}

async function runAll(tasks: readonly ShardTask[], executor: Executor, onDone: (t: ShardTask) => void): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < tasks.length) {
      const task = tasks[next++] as ShardTask;
      try {
        await executor.run(task);
        onDone(task);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  // On a failure the other lanes finish their shard (so its done record lands) and take no more.
  await Promise.all(Array.from({ length: Math.min(executor.concurrency, tasks.length) }, lane));
  if (failure) throw failure.error;
}

async function decide(stage: GlobalStage, done: readonly ShardDone[], path: string): Promise<Decision> {
  const existing = await readJsonIfAny<Decision>(path);
  if (existing && existing.stage === stage.name) return existing;
  const features = new Map<string, unknown>();
  for (const rec of done) for (const [key, f] of rec.features ?? []) features.set(key, f);
  const t0 = performance.now();
  let result: Map<string, string>;
  try {
    result = await stage.decide(features);
  } catch (e) {
    throw new HerdError('runtime_error', `global stage "${stage.name}" failed in decide(): ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
  const seconds = (performance.now() - t0) / 1000;
  if (!(result instanceof Map)) throw new HerdError('invalid_argument', `global stage "${stage.name}": decide() must return a Map<key, reason>`);
  const problems = new ProblemList();
  for (const [key, reason] of result) {
    if (!features.has(key)) problems.add(`drops "${key}", which it was not given`);
    if (typeof reason !== 'string' || reason.trim() === '') problems.add(`drops "${key}" without a reason`);
  }
  problems.throwIfAny('invalid_argument', `global stage "${stage.name}": bad decision`);
  // Dataset order, whatever order decide() built its map in.
  const drops: [string, string][] = [];
  for (const key of features.keys()) {
    const reason = result.get(key);
    if (reason !== undefined) drops.push([key, reason]);
  }
  const decision: Decision = { stage: stage.name, drops, seconds };
  await writeFileAtomic(path, JSON.stringify(decision));
  return decision;
}

function collectStats(passes: readonly Pass[], done: readonly ShardDone[][], decisions: readonly (Decision | undefined)[]): StageStats[] {
  const read = emptyCounter();
  done.forEach((recs, p) => {
    for (const rec of recs) {
      const c = rec.stats[READ_STAGE] ?? emptyCounter();
      if (p === 0) addCounter(read, c);
      else addCounter(read, { in: 0, kept: -Object.values(c.dropped).reduce((a, b) => a + b, 0), dropped: c.dropped, seconds: c.seconds });
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
        for (const [, reason] of decision.drops) {
          const code = reasonCode(reason);
          c.dropped[code] = (c.dropped[code] ?? 0) + 1;
        }
      }
      c.kept = c.in - Object.values(c.dropped).reduce((a, b) => a + b, 0);
      rows.push(toStageStats(pass.prepares.name, 'global', c));
    }
  });
  return rows;
}

/**
 * Curates a dataset: shards are processed in parallel (worker threads when `workers` > 0), each
 * output shard and its done record are written atomically, and a re-run after a crash or kill skips
 * the shards already done. Consecutive sample stages share one pass; each global stage ends a pass
 * and its decisions are applied at the start of the next. Writes the output dataset, `stats.json`,
 * `drops.jsonl` (one line per dropped sample: key, stage, reason) and the manifest last.
 */
export async function runPipeline(options: RunOptions): Promise<RunResult> {
  checkOptions(options);
  const wall0 = performance.now();
  const input = resolve(options.input);
  const output = resolve(options.output);
  const workers = options.workers ?? 0;
  const inputManifest = await readDataset(input);
  const stages = options.stages ?? (await loadPipeline(options.pipeline as PipelineRef));
  checkStages(stages, 'runPipeline');
  const passes = planPasses(stages);

  const existing = await readdir(output).catch(() => [] as string[]);
  if (existing.length > 0 && !existing.includes(RUN_DIR)) {
    throw new HerdError('invalid_argument', `output ${output} is not empty and holds no curation run (${RUN_DIR}/); choose a new or empty folder`);
  }
  await mkdir(runDir(output), { recursive: true });
  const releaseLock = await acquireLock(output);
  let executor: Executor | undefined;
  try {
    await checkFingerprint(output, {
      format: FORMAT_VERSION,
      input: { name: inputManifest.name, createdAt: inputManifest.createdAt, totalCount: inputManifest.totalCount, shards: inputManifest.shards },
      stages: stages.map((s) => ({ name: s.name, kind: s.kind, version: s.version ?? null })),
      options: options.pipeline?.options ?? null,
    });
    await removeTempFiles([output, runDir(output), ...(await listPassDirs(output))]);
    const log = new JsonlLog(join(runDir(output), 'log.jsonl'));
    log.write({ event: 'run_start', input, output, workers, passes: passes.length, stages: stages.map((s) => s.name) });

    const expected = await expectedByShard(input, inputManifest);
    const sources = inputManifest.shards.map((s) => s.file);
    const done: ShardDone[][] = [];
    const decisions: (Decision | undefined)[] = [];
    const counts = { processed: 0, skipped: 0 };
    let prev: ShardDone[] | undefined;
    let prevDecision: Decision | undefined;

    for (const pass of passes) {
      const final = pass.index === passes.length - 1;
      const dir = final ? output : passDir(output, pass.index);
      const dropped = new Set(prevDecision?.drops.map(([k]) => k));
      const tasks: ShardTask[] = sources.map((source, i) => {
        const before = prev?.[i];
        const file = shardFileName(i);
        const task: ShardTask = {
          pass: pass.index,
          shard: i,
          source,
          input: prev === undefined ? join(input, source) : before?.output ? join(passDir(output, pass.index - 1), before.output.file) : null,
          skipKeys: before ? before.index.filter((e) => dropped.has(e.key)).map((e) => e.key) : [],
          stages: pass.stages.map((s) => s.name),
          output: join(dir, file),
          outputFile: file,
          donePath: donePath(output, pass.index, i),
        };
        if (pass.prepares) task.prepare = pass.prepares.name;
        if (before) task.expected = before.index.map((e) => ({ key: e.key, sizes: e.sizes }));
        else if (expected) task.expected = expected.get(source) ?? [];
        else task.expectedCount = inputManifest.shards[i]?.count ?? 0;
        return task;
      });

      const records: (ShardDone | undefined)[] = await Promise.all(tasks.map((t) => readJsonIfAny<ShardDone>(t.donePath)));
      const pending = tasks.filter((t, i) => records[i]?.pass !== t.pass || records[i]?.shard !== t.shard);
      counts.skipped += tasks.length - pending.length;
      const total = prev === undefined ? inputManifest.totalCount : prev.reduce((n, r) => n + (r.output?.count ?? 0), 0);
      const expectOf = (t: ShardTask): number => t.expected?.length ?? t.expectedCount ?? 0;
      let progressDone = tasks.filter((t) => !pending.includes(t)).reduce((n, t) => n + expectOf(t), 0);
      const progress = options.progress === null ? undefined : new Progress(`curate pass ${pass.index + 1}/${passes.length}`, total, options.progress);
      progress?.update(progressDone);
      if (pending.length > 0) {
        executor ??= workers > 0 ? new WorkerPool(Math.min(workers, sources.length), options.pipeline as PipelineRef, stages) : inProcessExecutor(stages);
        await runAll(pending, executor, (t) => {
          counts.processed++;
          progressDone += expectOf(t);
          progress?.update(progressDone, `shard ${t.shard + 1}/${tasks.length}`);
          log.write({ event: 'shard_done', pass: t.pass, shard: t.source });
        });
      }
      progress?.done();
      const recs: ShardDone[] = [];
      for (const t of tasks) {
        const rec = await readJsonIfAny<ShardDone>(t.donePath);
        if (!rec) throw new HerdError('io_error', `done record ${t.donePath} vanished during the run`);
        recs.push(rec);
      }
      done.push(recs);
      prevDecision = pass.prepares ? await decide(pass.prepares, recs, decisionPath(output, pass.index)) : undefined;
      decisions.push(prevDecision);
      if (prevDecision) log.write({ event: 'decision', stage: prevDecision.stage, dropped: prevDecision.drops.length });
      prev = recs;
    }

    // Assemble: index, drops, stats, then the manifest, each written whole.
    const last = done[done.length - 1] ?? [];
    const index: IndexEntry[] = last.flatMap((r) => r.index);
    await writeFileAtomic(join(output, INDEX_FILE), index.map((e) => JSON.stringify(e) + '\n').join(''));
    const drops: DropRecord[] = [];
    done.forEach((recs, p) => {
      for (const r of recs) drops.push(...r.drops);
      const decision = decisions[p];
      if (decision) {
        const sourceOf = new Map(recs.flatMap((r) => r.index.map((e) => [e.key, r.source] as const)));
        for (const [key, reason] of decision.drops) drops.push({ key, stage: decision.stage, reason, shard: sourceOf.get(key) ?? '' });
      }
    });
    await writeFileAtomic(join(output, DROPS_FILE), drops.map((d) => JSON.stringify(d) + '\n').join(''));
    const shards = last.flatMap((r) => (r.output ? [r.output] : []));
    const stats: RunStats = {
      input,
      output,
      workers,
      passes: passes.length,
      in: inputManifest.totalCount,
      out: index.length,
      wallSeconds: (performance.now() - wall0) / 1000,
      stages: collectStats(passes, done, decisions),
    };
    const readRow = stats.stages[0];
    if (readRow) stats.in = readRow.in;
    await writeFileAtomic(join(output, STATS_FILE), JSON.stringify(stats, null, 2) + '\n');
    await removeStaleShards(output, new Set(shards.map((s) => s.file)));
    const manifest: Manifest = {
      name: options.name ?? inputManifest.name,
      version: FORMAT_VERSION,
      createdAt: new Date().toISOString(),
      shards,
      totalCount: index.length,
      info: { ...options.info, curatedFrom: { name: inputManifest.name, path: input, totalCount: inputManifest.totalCount }, stages: stages.map((s) => s.name) },
    };
    await writeManifest(output, manifest);
    if (!options.keepIntermediate) {
      for (const p of passes.slice(0, -1)) {
        const names = await readdir(passDir(output, p.index)).catch(() => [] as string[]);
        for (const n of names) if (n.endsWith('.tar')) await rm(join(passDir(output, p.index), n), { force: true });
      }
    }
    log.write({ event: 'run_done', in: stats.in, out: stats.out, processed: counts.processed, skipped: counts.skipped });
    return { manifest, stats, shards: counts };
  } finally {
    await executor?.close();
    await releaseLock();
  }
}
