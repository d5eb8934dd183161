import { performance } from 'node:perf_hooks';
import { HerdError, writeFileAtomic } from '@herd/core';
import { encodeShard } from '../format/encode.js';
import { readJsonLines, type IndexEntry } from '../format/index-file.js';
import type { ShardInfo } from '../format/manifest.js';
import { readShard, type ExpectedSample } from '../format/read.js';
import { JsonlWriter } from '../format/spill.js';
import { isUnreadable, jsonDepth, MAX_META_CHARS, MAX_META_DEPTH, sampleProblems, type Sample, type Unreadable } from '../sample.js';
import { reasonCode, type SampleStage, type Stage, type StageContext, type StageResult } from '../stages/stage.js';
import { READ_STAGE } from './pipeline.js';
import { emptyCounter, type StageCounter } from './stats.js';

/** Limits a shard task runs under; part of every task so that queue workers need no other settings. */
export interface TaskLimits {
  /** A stage call on one sample that takes longer drops the sample (`stage_timeout`). */
  sampleTimeoutMs: number;
  maxMetaBytes?: number;
  maxMetaDepth?: number;
}

/** One shard of one pass, as sent to a worker thread or a queue worker (JSON safe). */
export interface ShardTask {
  pass: number;
  shard: number;
  /** The input dataset's shard file this work descends from (for drop records and messages). */
  source: string;
  /** Path of the shard to read; null when the previous pass left nothing. */
  input: string | null;
  /** JSON lines of the shard's samples per the index ({key, sizes, ...}); absent: read blind. */
  expectedFile?: string;
  expectedCount?: number;
  /** JSON lines `[key, reason]`: samples dropped at read with a record (duplicate keys found by the census). */
  dropFile?: string;
  /** JSON lines `[ordinal, key, reason]`: keys a global stage dropped; skipped without a record (the decision recorded them). */
  skipFile?: string;
  stages: string[];
  prepare?: string;
  output: string;
  outputFile: string;
  donePath: string;
  limits: TaskLimits;
}

export interface DropRecord {
  key: string;
  stage: string;
  reason: string;
  /** The input dataset's shard the sample came from. */
  shard: string;
}

/**
 * What a finished shard leaves behind, written atomically after its output shard and its spill files
 * (`<done>.index.jsonl`, `.drops.jsonl`, `.features.jsonl`). Small: per-sample data lives in the spills.
 */
export interface ShardDone {
  pass: number;
  shard: number;
  source: string;
  output: ShardInfo | null;
  kept: number;
  dropped: number;
  features?: number;
  stats: Record<string, StageCounter>;
  /** Damage not tied to one sample (bad headers skipped, trailing bytes), at most 20. */
  problems: string[];
  /** Set when the shard was given up (timeout, crashed worker): every sample was dropped with this reason. */
  abandoned?: string;
  seconds: number;
}

export interface ShardSummary {
  pass: number;
  shard: number;
  read: number;
  kept: number;
  seconds: number;
}

export type SpillKind = 'index' | 'drops' | 'features';

export function spillPath(donePath: string, kind: SpillKind): string {
  return donePath.replace(/\.done\.json$/, `.${kind}.jsonl`);
}

/**
 * Guards stage calls: a call that does not settle within the limit, or during which an uncaught
 * error surfaces (a stage throwing from a timer), ends as a drop instead of a hang or a dead process.
 */
export interface StageGuard {
  run<T>(call: () => T | Promise<T>, timeoutMs: number): Promise<{ ok: true; value: T } | { ok: false; reason: string }>;
}

/** Races a call against its time limit and the guard's crash signal. */
export function makeGuard(crashes?: { next(): Promise<unknown> }, abort?: AbortSignal): StageGuard {
  return {
    async run(call, timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const racers: Promise<{ ok: false; reason: string } | { ok: true; value: Awaited<ReturnType<typeof call>> }>[] = [];
      racers.push(
        (async () => {
          try {
            return { ok: true as const, value: await call() };
          } catch (e) {
            return { ok: false as const, reason: `stage_error: ${oneLine((e as Error)?.message ?? String(e))}` };
          }
        })(),
      );
      racers.push(new Promise((resolve) => (timer = setTimeout(() => resolve({ ok: false, reason: `stage_timeout: no result after ${timeoutMs} ms` }), timeoutMs))));
      if (crashes) racers.push(crashes.next().then((e) => ({ ok: false as const, reason: `stage_error: uncaught ${oneLine((e as Error)?.message ?? String(e))}` })));
      let onAbort: (() => void) | undefined;
      if (abort) {
        racers.push(
          new Promise((_, reject) => {
            if (abort.aborted) reject(abortError(abort));
            onAbort = () => reject(abortError(abort));
            abort.addEventListener('abort', onAbort, { once: true });
          }),
        );
      }
      try {
        return await Promise.race(racers);
      } finally {
        clearTimeout(timer);
        // One listener per call would pile up over millions of samples.
        if (onAbort) abort?.removeEventListener('abort', onAbort);
      }
    },
  };
}

export function abortError(signal: AbortSignal): HerdError {
  return new HerdError('runtime_error', `run interrupted (${String(signal.reason ?? 'aborted')}); re-run the same command to resume`);
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > 500 ? `${flat.slice(0, 500)}…` : flat;
}

function checkResult(res: StageResult, before: Sample): StageResult {
  if (typeof res !== 'object' || res === null || typeof res.keep !== 'boolean') {
    return { keep: false, reason: 'stage_error: result is not {keep, sample} or {keep, reason}' };
  }
  if (!res.keep) {
    return typeof res.reason === 'string' && res.reason.trim() !== '' ? res : { keep: false, reason: 'stage_error: drop without a reason' };
  }
  if (typeof res.sample !== 'object' || res.sample === null) return { keep: false, reason: 'stage_error: kept without a sample' };
  if (res.sample.key !== before.key) return { keep: false, reason: `stage_error: key changed to ${JSON.stringify(res.sample.key)}` };
  // Meta the stage left as it was needs no new JSON check (the costly part at millions of samples).
  const problems = sampleProblems(res.sample, { skipMeta: res.sample.meta === before.meta });
  return problems.length === 0 ? res : { keep: false, reason: `stage_error: ${problems.join('; ')}` };
}

async function readPairs(path: string | undefined, keyAt: number, reasonAt: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (path === undefined) return out;
  for await (const row of readJsonLines<unknown[]>(path)) out.set(row[keyAt] as string, row[reasonAt] as string);
  return out;
}

function batchSizeOf(stage: SampleStage): number {
  const b = stage.batchSize ?? 1;
  if (!Number.isInteger(b) || b < 1) throw new HerdError('invalid_argument', `stage ${stage.name}: batchSize must be an integer ≥ 1, got ${b}`);
  return b;
}

async function* nothing(): AsyncGenerator<never> {}

/**
 * Runs one pass's stages over one shard and writes the output shard, the spill files and then the
 * done record, each atomically. The same function runs in-process, in worker threads and in queue
 * workers, which is why every mode gives byte-identical output.
 */
export async function processShard(task: ShardTask, stagesByName: ReadonlyMap<string, Stage>, worker: number, guard: StageGuard = makeGuard()): Promise<ShardSummary> {
  const t0 = performance.now();
  const ctx: StageContext = { shard: task.source, pass: task.pass, worker };
  const segment = task.stages.map((name) => stagesByName.get(name));
  const prepare = task.prepare === undefined ? undefined : stagesByName.get(task.prepare);
  const unknown = [...task.stages.filter((_, i) => segment[i]?.kind !== 'sample'), ...(task.prepare !== undefined && prepare?.kind !== 'global' ? [task.prepare] : [])];
  if (unknown.length > 0) {
    throw new HerdError('invalid_argument', `pass ${task.pass}: stages ${unknown.join(', ')} are not in the loaded pipeline (known: ${[...stagesByName.keys()].join(', ')})`);
  }
  const stats: Record<string, StageCounter> = { [READ_STAGE]: emptyCounter() };
  for (const name of task.stages) stats[name] = emptyCounter();
  if (task.prepare !== undefined) stats[task.prepare] = emptyCounter();
  const read = stats[READ_STAGE] as StageCounter;

  const expected: ExpectedSample[] | undefined = task.expectedFile === undefined ? undefined : [];
  if (expected && task.expectedFile) for await (const e of readJsonLines<ExpectedSample>(task.expectedFile)) expected.push({ key: e.key, sizes: e.sizes });
  const expectedKeys = expected ? new Set(expected.map((e) => e.key)) : undefined;
  const dropAtRead = await readPairs(task.dropFile, 0, 1);
  const skip = await readPairs(task.skipFile, 1, 2);

  const drops = new JsonlWriter(spillPath(task.donePath, 'drops'));
  const features = task.prepare === undefined ? undefined : new JsonlWriter(spillPath(task.donePath, 'features'));
  const problems: string[] = [];
  let problemCount = 0;
  const onProblem = (detail: string): void => {
    problemCount++;
    if (problems.length < 20) problems.push(detail);
  };
  const kept: Sample[] = [];
  const metaJson: string[] = [];
  const keysInShard = new Set<string>();
  let dropped = 0;
  const dropRead = async (key: string, reason: string): Promise<void> => {
    await flush(); // keeps drop records in dataset order when samples wait for a batch
    const code = reasonCode(reason);
    read.dropped[code] = (read.dropped[code] ?? 0) + 1;
    dropped++;
    await drops.write({ key, stage: READ_STAGE, reason, shard: task.source } satisfies DropRecord);
  };
  const items: AsyncIterable<Sample | Unreadable> =
    task.input === null
      ? nothing()
      : readShard(task.input, { tolerant: true, expected, expectedCount: task.expectedCount, onProblem, maxMetaBytes: task.limits.maxMetaBytes, maxMetaDepth: task.limits.maxMetaDepth });

  // A batched stage gets full batches: each sample runs the stages before the first batched one
  // as it arrives, then waits with the others that reached it; records are written in dataset order.
  const firstBatched = ((i) => (i < 0 ? segment.length : i))(segment.findIndex((st) => st?.kind === 'sample' && st.processBatch !== undefined));
  const chunkSize = Math.max(1, ...segment.map((st) => (st?.kind === 'sample' && st.processBatch ? batchSizeOf(st) : 1)));
  interface Pending {
    key: string;
    sample: Sample | undefined;
    drop?: { stage: string; reason: string };
  }
  let pending: Pending[] = [];
  let waiting = 0; // pending samples still alive
  const admit = async (sample: Sample): Promise<void> => {
    const entry: Pending = { key: sample.key, sample };
    await advance([entry], 0, firstBatched);
    pending.push(entry);
    if (entry.sample !== undefined) waiting++;
    if (waiting >= chunkSize || pending.length >= 4 * chunkSize) await flush();
  };
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const chunk = pending;
    pending = [];
    waiting = 0;
    await advance(chunk, firstBatched, segment.length);
    for (const e of chunk) {
      if (e.drop !== undefined) {
        dropped++;
        await drops.write({ key: e.key, stage: e.drop.stage, reason: e.drop.reason, shard: task.source } satisfies DropRecord);
      } else await finish(e.sample as Sample);
    }
  };
  /** Runs stages [from, to) of the pass over the entries still alive. */
  const advance = async (entries: Pending[], from: number, to: number): Promise<void> => {
    for (const stage of segment.slice(from, to)) {
      if (stage?.kind !== 'sample') continue; // checked above
      const alive = entries.filter((e) => e.sample !== undefined);
      if (alive.length === 0) return;
      const counter = stats[stage.name] as StageCounter;
      counter.in += alive.length;
      const s0 = performance.now();
      const results = await judge(stage, alive.map((e) => e.sample as Sample));
      counter.seconds += (performance.now() - s0) / 1000;
      alive.forEach((e, j) => {
        const res = results[j] as StageResult;
        if (res.keep) {
          counter.kept++;
          e.sample = res.sample;
        } else {
          const code = reasonCode(res.reason);
          counter.dropped[code] = (counter.dropped[code] ?? 0) + 1;
          e.drop = { stage: stage.name, reason: res.reason };
          e.sample = undefined;
        }
      });
    }
  };
  /** One stage's verdicts on samples, through its batch hook when it has one. */
  const judge = async (stage: SampleStage, samples: readonly Sample[]): Promise<StageResult[]> => {
    const limit = task.limits.sampleTimeoutMs;
    if (stage.processBatch) {
      const results: StageResult[] = [];
      const size = batchSizeOf(stage);
      for (let at = 0; at < samples.length; at += size) {
        const group = samples.slice(at, at + size);
        const out = await guard.run(() => stage.processBatch!(group, ctx), limit * group.length);
        if (out.ok && Array.isArray(out.value) && out.value.length === group.length) results.push(...out.value.map((r, j) => checkResult(r, group[j] as Sample)));
        else results.push(...(await oneByOne(stage, group)));
      }
      return results;
    }
    return oneByOne(stage, samples);
  };
  const oneByOne = async (stage: SampleStage, samples: readonly Sample[]): Promise<StageResult[]> => {
    const results: StageResult[] = [];
    for (const current of samples) {
      const out = await guard.run(() => stage.process(current, ctx), task.limits.sampleTimeoutMs);
      results.push(out.ok ? checkResult(out.value, current) : { keep: false, reason: out.reason });
    }
    return results;
  };
  /** A sample every stage kept: its meta checked once, its feature prepared, then into the output. */
  const finish = async (sample: Sample): Promise<void> => {
    // Serialised once, here: a meta a stage made unstorable costs this sample, not the shard's encoding.
    let json: string | undefined;
    let problem: string | undefined;
    try {
      json = JSON.stringify(sample.meta);
    } catch (e) {
      problem = `meta cannot be stored as JSON: ${oneLine((e as Error).message)}`;
    }
    if (json !== undefined && json.length > MAX_META_CHARS) problem = `meta JSON is ${json.length} characters (limit ${MAX_META_CHARS})`;
    else if (json !== undefined && jsonDepth(json) > MAX_META_DEPTH) problem = `meta JSON is nested ${jsonDepth(json)} levels deep (limit ${MAX_META_DEPTH})`;
    if (problem !== undefined || json === undefined) {
      const runner = (stats[RUNNER_STAGE] ??= emptyCounter());
      runner.in++;
      runner.dropped.invalid_sample = (runner.dropped.invalid_sample ?? 0) + 1;
      dropped++;
      await drops.write({ key: sample.key, stage: RUNNER_STAGE, reason: `invalid_sample: ${problem}`, shard: task.source } satisfies DropRecord);
      return;
    }
    if (prepare?.kind === 'global' && features) {
      const counter = stats[prepare.name] as StageCounter;
      counter.in++;
      const s0 = performance.now();
      const current: Sample = sample;
      // A sample whose feature cannot be computed is dropped here rather than ending the pass.
      const out = await guard.run(() => (prepare.prepare ? prepare.prepare(current, ctx) : null), task.limits.sampleTimeoutMs);
      counter.seconds += (performance.now() - s0) / 1000;
      let line: string | undefined;
      let reason = out.ok ? '' : out.reason;
      if (out.ok) {
        try {
          line = JSON.stringify([current.key, out.value ?? null]);
        } catch (e) {
          reason = `stage_error: feature is not JSON-serialisable: ${oneLine((e as Error).message)}`;
        }
      }
      if (line === undefined) {
        const code = reasonCode(reason);
        counter.dropped[code] = (counter.dropped[code] ?? 0) + 1;
        dropped++;
        await drops.write({ key: current.key, stage: prepare.name, reason, shard: task.source } satisfies DropRecord);
        return;
      }
      await features.writeRaw(line);
    }
    kept.push(sample);
    metaJson.push(json);
  };

  try {
    const iterator = items[Symbol.asyncIterator]();
    for (;;) {
      const r0 = performance.now();
      const next = await iterator.next();
      read.seconds += (performance.now() - r0) / 1000;
      if (next.done) break;
      const item = next.value;
      read.in++;
      // The boundary: everything a stage sees has a valid, unique key and storable contents.
      if (isUnreadable(item)) {
        await dropRead(item.key, `unreadable: ${item.detail}`);
        continue;
      }
      const dup = dropAtRead.get(item.key);
      if (dup !== undefined) {
        await dropRead(item.key, dup);
        continue;
      }
      if (keysInShard.has(item.key)) {
        await dropRead(item.key, `duplicate_key: appears twice in ${task.source}`);
        continue;
      }
      keysInShard.add(item.key);
      if (expectedKeys && !expectedKeys.has(item.key)) {
        await dropRead(item.key, `unindexed: in ${task.source} but not in the index`);
        continue;
      }
      // The reader parsed the meta within the size and depth limits: only names need checking here.
      const invalid = sampleProblems(item, { skipMeta: true });
      if (invalid.length > 0) {
        await dropRead(item.key, `invalid_sample: ${invalid.join('; ')}`);
        continue;
      }
      read.kept++;
      if (skip.has(item.key)) continue;
      await admit(item);
    }
    await flush();

    let output: ShardInfo | null = null;
    const index = new JsonlWriter(spillPath(task.donePath, 'index'));
    if (kept.length > 0) {
      const encoded = await encodeShard(kept, task.outputFile, metaJson);
      await writeFileAtomic(task.output, encoded.chunks);
      output = encoded.info;
      for (const e of encoded.index) await index.write(e satisfies IndexEntry);
    }
    await index.close();
    await drops.close();
    await features?.close();
    if (problemCount > problems.length) problems.push(`… and ${problemCount - problems.length} more`);
    const seconds = (performance.now() - t0) / 1000;
    const done: ShardDone = { pass: task.pass, shard: task.shard, source: task.source, output, kept: kept.length, dropped, stats, problems, seconds };
    if (features) done.features = features.count;
    await writeFileAtomic(task.donePath, JSON.stringify(done));
    return { pass: task.pass, shard: task.shard, read: read.in, kept: kept.length, seconds };
  } catch (e) {
    await drops.abort();
    await features?.abort();
    throw e;
  }
}

/**
 * Gives a shard up: every sample it should hold is dropped with `reason` (stage `runner`), so that
 * a shard whose stages hang or crash their worker costs that shard, never the run. The samples are
 * named from the index when there is one, otherwise by reading the shard's member names.
 */
export async function abandonShard(task: ShardTask, reason: string): Promise<void> {
  const drops = new JsonlWriter(spillPath(task.donePath, 'drops'));
  const stats: Record<string, StageCounter> = { [READ_STAGE]: emptyCounter(), [RUNNER_STAGE]: emptyCounter() };
  const runner = stats[RUNNER_STAGE] as StageCounter;
  const skip = await readPairs(task.skipFile, 1, 2);
  const keys: string[] = [];
  if (task.expectedFile !== undefined) for await (const e of readJsonLines<ExpectedSample>(task.expectedFile)) keys.push(e.key);
  else if (task.input !== null) {
    for await (const item of readShard(task.input, { tolerant: true, expectedCount: task.expectedCount, onProblem: () => undefined })) keys.push(item.key);
  }
  const code = reasonCode(reason);
  for (const key of keys) {
    if (skip.has(key)) continue;
    runner.in++;
    runner.dropped[code] = (runner.dropped[code] ?? 0) + 1;
    await drops.write({ key, stage: RUNNER_STAGE, reason, shard: task.source } satisfies DropRecord);
  }
  (stats[READ_STAGE] as StageCounter).in = keys.length;
  (stats[READ_STAGE] as StageCounter).kept = keys.length;
  await new JsonlWriter(spillPath(task.donePath, 'index')).close();
  await drops.close();
  if (task.prepare !== undefined) await new JsonlWriter(spillPath(task.donePath, 'features')).close();
  const done: ShardDone = { pass: task.pass, shard: task.shard, source: task.source, output: null, kept: 0, dropped: runner.in, stats, problems: [], abandoned: reason, seconds: 0 };
  if (task.prepare !== undefined) done.features = 0;
  await writeFileAtomic(task.donePath, JSON.stringify(done));
}

/** Stage name of drops the runner itself makes when it gives a shard up. */
export const RUNNER_STAGE = 'runner';
