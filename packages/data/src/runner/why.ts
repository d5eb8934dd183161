import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { HerdError } from '@herd/core';
import { readJsonLines, type IndexEntry } from '../format/index-file.js';
import { INDEX_FILE } from '../format/manifest.js';
import { DROPS_FILE } from './run.js';
import type { DropRecord } from './shard-task.js';

export type WhyDropped =
  | { status: 'dropped'; key: string; stage: string; reason: string; shard: string }
  | { status: 'kept'; key: string; shard: string }
  | { status: 'unseen'; key: string };

/**
 * Answers "why was sample X dropped?" from a finished run's output folder: the stage and reason, or
 * that it was kept (and in which output shard), or that the run never saw such a key.
 */
export async function whyDropped(outputDir: string, key: string): Promise<WhyDropped> {
  const dropsPath = join(outputDir, DROPS_FILE);
  try {
    await access(dropsPath);
  } catch (e) {
    throw new HerdError('io_error', `${dropsPath} not found: ${outputDir} is not the output of a finished curation run (re-run it to finish)`, { cause: e });
  }
  let dropped: DropRecord | undefined;
  for await (const d of readJsonLines<DropRecord>(dropsPath)) {
    if (d.key !== key) continue;
    // A repeat dropped as a duplicate key says nothing about the sample that kept the key.
    if (!d.reason.startsWith('duplicate_key:')) return { status: 'dropped', key, stage: d.stage, reason: d.reason, shard: d.shard };
    dropped ??= d;
  }
  for await (const e of readJsonLines<IndexEntry>(join(outputDir, INDEX_FILE))) {
    if (e.key === key) return { status: 'kept', key, shard: e.shard };
  }
  if (dropped) return { status: 'dropped', key, stage: dropped.stage, reason: dropped.reason, shard: dropped.shard };
  return { status: 'unseen', key };
}

export function formatWhy(why: WhyDropped): string {
  switch (why.status) {
    case 'dropped':
      return `${why.key}: dropped by ${why.stage} (${why.reason}), from ${why.shard}`;
    case 'kept':
      return `${why.key}: kept, in ${why.shard}`;
    case 'unseen':
      return `${why.key}: not in this run's input`;
  }
}
