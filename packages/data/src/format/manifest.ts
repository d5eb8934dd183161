import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HerdError, ProblemList, writeFileAtomic } from '@herd/core';

export const MANIFEST_FILE = 'manifest.json';
export const INDEX_FILE = 'index.jsonl';
/** Version of the on-disk layout; readers refuse other versions. */
export const FORMAT_VERSION = 1;

export interface ShardInfo {
  /** File name inside the dataset directory, e.g. `shard-000000.tar`. */
  file: string;
  count: number;
  bytes: number;
  sha256?: string;
}

export interface Manifest {
  name: string;
  /** Layout version (FORMAT_VERSION), not a version of the data: put that in `info`. */
  version: number;
  createdAt: string;
  shards: ShardInfo[];
  totalCount: number;
  info: Record<string, unknown>;
}

export function shardFileName(index: number): string {
  return `shard-${String(index).padStart(6, '0')}.tar`;
}

const SHARD_FILE_RE = /^[A-Za-z0-9_.-]+\.tar$/;

/** Reads and checks `<dir>/manifest.json`; every problem is reported at once. */
export async function readDataset(dir: string): Promise<Manifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new HerdError('io_error', `cannot read ${path}: ${(e as Error).message} (is ${dir} a herd dataset?)`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new HerdError('corrupt_data', `${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  return parseManifest(raw, path);
}

function parseManifest(raw: unknown, path: string): Manifest {
  const problems = new ProblemList();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HerdError('corrupt_data', `${path}: expected a JSON object`);
  }
  const m = raw as Record<string, unknown>;
  if (typeof m.name !== 'string') problems.add('name: expected a string');
  if (m.version !== FORMAT_VERSION) problems.add(`version: expected ${FORMAT_VERSION}, got ${JSON.stringify(m.version)}`);
  if (typeof m.createdAt !== 'string') problems.add('createdAt: expected a string');
  if (typeof m.info !== 'object' || m.info === null || Array.isArray(m.info)) problems.add('info: expected an object');
  if (!Array.isArray(m.shards)) {
    problems.add('shards: expected an array');
  } else {
    let sum = 0;
    m.shards.forEach((s: unknown, i: number) => {
      const shard = s as Partial<ShardInfo> | null;
      if (typeof shard !== 'object' || shard === null) return problems.add(`shards[${i}]: expected an object`);
      if (typeof shard.file !== 'string' || !SHARD_FILE_RE.test(shard.file)) problems.add(`shards[${i}].file: expected a .tar file name in the dataset folder, got ${JSON.stringify(shard.file)}`);
      if (!Number.isInteger(shard.count) || (shard.count as number) < 0) problems.add(`shards[${i}].count: expected a count`);
      else sum += shard.count as number;
      if (!Number.isInteger(shard.bytes) || (shard.bytes as number) < 0) problems.add(`shards[${i}].bytes: expected a byte size`);
      if (shard.sha256 !== undefined && (typeof shard.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(shard.sha256))) problems.add(`shards[${i}].sha256: expected 64 hex digits`);
    });
    if (m.totalCount !== sum) problems.add(`totalCount: expected the sum of shard counts (${sum}), got ${JSON.stringify(m.totalCount)}`);
  }
  problems.throwIfAny('corrupt_data', `${path} is not a valid dataset manifest`);
  return m as unknown as Manifest;
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
}
