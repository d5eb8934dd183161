import { performance } from 'node:perf_hooks';
import { HerdError, writeFileAtomic } from '@herd/core';
import { encodeShard } from '../format/encode.js';
import type { IndexEntry } from '../format/index-file.js';
import type { ShardInfo } from '../format/manifest.js';
import { readShard, type ExpectedSample } from '../format/read.js';
import { isUnreadable, sampleProblems, type Sample, type Unreadable } from '../sample.js';
import { reasonCode, type Stage, type StageContext, type StageResult } from '../stages/stage.js';
import { READ_STAGE } from './pipeline.js';
import { emptyCounter, type StageCounter } from './stats.js';

/** One shard of one pass, as sent to a worker (structured-clone safe). */
export interface ShardTask {
  pass: number;
  shard: number;
  /** The input dataset's shard file this work descends from (for drop records and messages). */
  source: string;
  /** Path of the shard to read; null when the previous pass left nothing. */
  input: string | null;
  expected?: ExpectedSample[];
  expectedCount?: number;
  /** Keys a global stage dropped; skipped without a record (the stage recorded them). */
  skipKeys: string[];
  stages: string[];
  prepare?: string;
  output: string;
  outputFile: string;
  donePath: string;
}

export interface DropRecord {
  key: string;
  stage: string;
  reason: string;
  /** The input dataset's shard the sample came from. */
  shard: string;
}

/** What a finished shard leaves behind; written atomically after its output shard. */
export interface ShardDone {
  pass: number;
  shard: number;
  source: string;
  output: ShardInfo | null;
  index: IndexEntry[];
  drops: DropRecord[];
  stats: Record<string, StageCounter>;
  features?: [string, unknown][];
  seconds: number;
}

export interface ShardSummary {
  pass: number;
  shard: number;
  read: number;
  kept: number;
  seconds: number;
}

async function* nothing(): AsyncGenerator<never> {}

function checkResult(res: StageResult, before: Sample): StageResult {
  if (typeof res !== 'object' || res === null || typeof res.keep !== 'boolean') {
    return { keep: false, reason: 'stage_error: result is not {keep, sample} or {keep, reason}' };
  }
  if (!res.keep) {
    return typeof res.reason === 'string' && res.reason.trim() !== '' ? res : { keep: false, reason: 'stage_error: drop without a reason' };
  }
  if (typeof res.sample !== 'object' || res.sample === null) return { keep: false, reason: 'stage_error: kept without a sample' };
  if (res.sample.key !== before.key) return { keep: false, reason: `stage_error: key changed to ${JSON.stringify(res.sample.key)}` };
  const problems = sampleProblems(res.sample);
  return problems.length === 0 ? res : { keep: false, reason: `stage_error: ${problems.join('; ')}` };
}

/**
 * Runs one pass's stages over one shard and writes the output shard and then the done record, both
 * atomically. The same function runs in-process and in worker threads, which is why both modes give
 * byte-identical output.
 */
export async function processShard(task: ShardTask, stagesByName: ReadonlyMap<string, Stage>, worker: number): Promise<ShardSummary> {
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

  const drops: DropRecord[] = [];
  const kept: Sample[] = [];
  const features: [string, unknown][] = [];
  const skip = new Set(task.skipKeys);
  const items: AsyncIterable<Sample | Unreadable> =
    task.input === null ? nothing() : readShard(task.input, { tolerant: true, expected: task.expected, expectedCount: task.expectedCount });

  const iterator = items[Symbol.asyncIterator]();
  for (;;) {
    const r0 = performance.now();
    const next = await iterator.next();
    read.seconds += (performance.now() - r0) / 1000;
    if (next.done) break;
    const item = next.value;
    read.in++;
    if (isUnreadable(item)) {
      const reason = `unreadable: ${item.detail}`;
      drops.push({ key: item.key, stage: READ_STAGE, reason, shard: task.source });
      read.dropped.unreadable = (read.dropped.unreadable ?? 0) + 1;
      continue;
    }
    read.kept++;
    if (skip.has(item.key)) continue;
    let sample: Sample | undefined = item;
    for (const stage of segment) {
      if (stage?.kind !== 'sample') continue; // checked above
      const counter = stats[stage.name] as StageCounter;
      counter.in++;
      const s0 = performance.now();
      let res: StageResult;
      try {
        res = checkResult(await stage.process(sample, ctx), sample);
      } catch (e) {
        res = { keep: false, reason: `stage_error: ${(e as Error)?.message ?? String(e)}` };
      }
      counter.seconds += (performance.now() - s0) / 1000;
      if (res.keep) {
        counter.kept++;
        sample = res.sample;
      } else {
        const code = reasonCode(res.reason);
        counter.dropped[code] = (counter.dropped[code] ?? 0) + 1;
        drops.push({ key: sample.key, stage: stage.name, reason: res.reason, shard: task.source });
        sample = undefined;
        break;
      }
    }
    if (sample === undefined) continue;
    if (prepare?.kind === 'global') {
      const counter = stats[prepare.name] as StageCounter;
      counter.in++;
      const s0 = performance.now();
      // A sample whose feature cannot be computed is dropped here rather than crashing the pass.
      let feature: unknown = null;
      try {
        feature = prepare.prepare ? await prepare.prepare(sample, ctx) : null;
      } catch (e) {
        counter.seconds += (performance.now() - s0) / 1000;
        const reason = `stage_error: ${(e as Error)?.message ?? String(e)}`;
        counter.dropped.stage_error = (counter.dropped.stage_error ?? 0) + 1;
        drops.push({ key: sample.key, stage: prepare.name, reason, shard: task.source });
        continue;
      }
      counter.seconds += (performance.now() - s0) / 1000;
      features.push([sample.key, feature ?? null]);
    }
    kept.push(sample);
  }

  let output: ShardInfo | null = null;
  let index: IndexEntry[] = [];
  if (kept.length > 0) {
    const encoded = await encodeShard(kept, task.outputFile);
    await writeFileAtomic(task.output, encoded.chunks);
    output = encoded.info;
    index = encoded.index;
  }
  const seconds = (performance.now() - t0) / 1000;
  const done: ShardDone = { pass: task.pass, shard: task.shard, source: task.source, output, index, drops, stats, seconds };
  if (task.prepare !== undefined) done.features = features;
  await writeFileAtomic(task.donePath, JSON.stringify(done));
  return { pass: task.pass, shard: task.shard, read: read.in, kept: kept.length, seconds };
}
