import { mkdir, rm, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { HerdError, ProblemList, writeFileAtomic } from '@herd/core';
import { readJsonLines } from '../format/index-file.js';
import { BufferedAppender } from '../format/spill.js';
import { reasonCode, type GlobalStage } from '../stages/stage.js';
import { readJsonIfAny } from './state.js';

/** What a global stage decided, in brief; the drops themselves are in per-shard files beside it. */
export interface DecisionSummary {
  stage: string;
  dropped: number;
  byReason: Record<string, number>;
  seconds: number;
  partitions: number;
}

/** Features per partition when a stage can be partitioned (a stage may set its own): bounds the memory of one decide() call. */
export const FEATURES_PER_PARTITION = 250_000;

/** 32-bit FNV-1a: a stable spread of group names over partition files. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function decisionShardPath(dir: string, shard: number): string {
  return join(dir, `shard-${String(shard).padStart(6, '0')}.jsonl`);
}

/**
 * Runs a global stage's decide() over the features the shard pass spilled (`features[i]` is shard
 * i's file, lines `[key, feature]`), and writes each shard's drops as lines `[ordinal, key, reason]`
 * to `<dir>/shard-*.jsonl` (ordinal: the sample's position among that shard's features), then the
 * summary to `summaryPath`. A stage with `partitionBy` is decided one partition at a time.
 */
export async function decideGlobal(stage: GlobalStage, features: readonly string[], dir: string, summaryPath: string, totalFeatures: number): Promise<DecisionSummary> {
  const existing = await readJsonIfAny<DecisionSummary>(summaryPath);
  if (existing && existing.stage === stage.name) return existing;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // The observer's temporary files live inside the run (the folder above was just emptied, so a
  // killed decision's spill files are gone) and are removed however this decision ends.
  const scratchDir = join(dir, 'scratch');
  await mkdir(scratchDir, { recursive: true });
  let summary: DecisionSummary;
  try {
    summary = await decideWith(stage, features, dir, totalFeatures, scratchDir);
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }
  // Last: a summary on disk means the decision is complete (and its scratch already gone).
  await writeFileAtomic(summaryPath, JSON.stringify(summary));
  return summary;
}

async function decideWith(stage: GlobalStage, features: readonly string[], dir: string, totalFeatures: number, scratchDir: string): Promise<DecisionSummary> {
  const t0 = performance.now();
  const out = new BufferedAppender();
  const byReason: Record<string, number> = {};
  let dropped = 0;
  const observer = stage.observe?.({ scratchDir });
  // A stage that decides from its observer's summary gets keys only: the features stay on disk.
  const keysOnly = observer !== undefined && stage.decideNeedsFeatures === false;
  let observed: unknown;
  const decideOn = async (slice: Map<string, unknown>, where: Map<string, [number, number]>, label: string): Promise<void> => {
    let result: Map<string, string>;
    try {
      result = await stage.decide(slice, observed);
    } catch (e) {
      throw new HerdError('runtime_error', `global stage "${stage.name}" failed in decide()${label}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    if (!(result instanceof Map)) throw new HerdError('invalid_argument', `global stage "${stage.name}": decide() must return a Map<key, reason>`);
    const problems = new ProblemList();
    for (const [key, reason] of result) {
      if (!slice.has(key)) problems.add(`drops "${key}", which it was not given`);
      if (typeof reason !== 'string' || reason.trim() === '') problems.add(`drops "${key}" without a reason`);
      if (problems.size >= 20) break;
    }
    problems.throwIfAny('invalid_argument', `global stage "${stage.name}": bad decision${label}`);
    // Dataset order, whatever order decide() built its map in.
    for (const key of slice.keys()) {
      const reason = result.get(key);
      if (reason === undefined) continue;
      const [shard, ordinal] = where.get(key) as [number, number];
      await out.append(decisionShardPath(dir, shard), [ordinal, key, reason]);
      const code = reasonCode(reason);
      byReason[code] = (byReason[code] ?? 0) + 1;
      dropped++;
    }
  };

  let partitions = 1;
  if (stage.partitionBy) {
    partitions = Math.max(1, Math.ceil(totalFeatures / (stage.featuresPerPartition ?? FEATURES_PER_PARTITION)));
    const parts = join(dir, 'partitions');
    const spill = new BufferedAppender();
    const partPaths = Array.from({ length: partitions }, (_, p) => join(parts, `p${p}.jsonl`));
    for (let s = 0; s < features.length; s++) {
      let ordinal = 0;
      for await (const [key, f] of readJsonLines<[string, unknown]>(features[s] as string)) {
        if (observer) await observer.add(key, f);
        const group = stage.partitionBy(f);
        if (group !== null && group !== undefined) await spill.append(partPaths[fnv1a(String(group)) % partitions] as string, [s, ordinal, key, keysOnly ? null : f]);
        ordinal++;
      }
    }
    await spill.flush();
    if (observer) observed = await observer.finish();
    for (let p = 0; p < partitions; p++) {
      const path = join(parts, `p${p}.jsonl`);
      if (!(await exists(path))) continue;
      const slice = new Map<string, unknown>();
      const where = new Map<string, [number, number]>();
      for await (const [s, o, key, f] of readJsonLines<[number, number, string, unknown]>(path)) {
        slice.set(key, f);
        where.set(key, [s, o]);
      }
      await decideOn(slice, where, ` (partition ${p + 1}/${partitions})`);
    }
    await rm(parts, { recursive: true, force: true });
  } else {
    const all = new Map<string, unknown>();
    const where = new Map<string, [number, number]>();
    for (let s = 0; s < features.length; s++) {
      let ordinal = 0;
      for await (const [key, f] of readJsonLines<[string, unknown]>(features[s] as string)) {
        if (observer) await observer.add(key, f);
        all.set(key, keysOnly ? null : f);
        where.set(key, [s, ordinal++]);
      }
    }
    if (observer) observed = await observer.finish();
    await decideOn(all, where, '');
  }
  await out.flush();
  // Every shard gets a decision file, empty when nothing of it was dropped: a missing one is damage.
  for (let s = 0; s < features.length; s++) {
    const path = decisionShardPath(dir, s);
    if (!(await exists(path))) await writeFile(path, '');
  }
  return { stage: stage.name, dropped, byReason, seconds: (performance.now() - t0) / 1000, partitions };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** One shard's decision drops in dataset order. */
export async function readDecisionShard(path: string): Promise<[number, string, string][]> {
  const rows: [number, string, string][] = [];
  for await (const row of readJsonLines<[number, string, string]>(path)) rows.push(row);
  return rows.sort((a, b) => a[0] - b[0]);
}
