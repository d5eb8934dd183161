import { createReadStream } from 'node:fs';
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HerdError, writeFileAtomic } from '@herd/core';
import { readJsonLines } from '../format/index-file.js';
import { INDEX_FILE, type Manifest } from '../format/manifest.js';
import { BufferedAppender } from '../format/spill.js';
import { readTar } from '../format/tar.js';
import { splitEntryName } from '../sample.js';
import { fnv1a } from './decide.js';
import { readJsonIfAny } from './state.js';

/**
 * The census of the input, taken once before the first pass (in `_run/input/`): which shards the
 * index covers (their expected samples, one file per shard), which keys occur more than once across
 * the dataset (a shard listed twice, the same key in two shards), and what is wrong with the index.
 * Keys are grouped by hash into partition files so that memory stays flat in the dataset size.
 */
export interface Census {
  /** Per manifest entry: the index lists exactly the manifest's count of samples for it. */
  covered: boolean[];
  /** Index and manifest problems, at most 50 (the count is in `problemCount`). */
  problems: string[];
  problemCount: number;
  duplicates: number;
}

export const CENSUS_FILE = 'census.json';
const KEYS_PER_PARTITION = 500_000;

export function expectedPath(dir: string, listing: number): string {
  return join(dir, `shard-${String(listing).padStart(6, '0')}.expected.jsonl`);
}

export function duplicatesPath(dir: string, listing: number): string {
  return join(dir, `shard-${String(listing).padStart(6, '0')}.duplicates.jsonl`);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Keys of a shard in member order, from its tar headers only (for shards the index does not cover). */
async function* shardKeys(path: string): AsyncGenerator<string> {
  let last: string | undefined;
  try {
    for await (const ev of readTar(path, { readData: false })) {
      if (ev.kind !== 'member' || ev.type === 'directory' || ev.unsafe) continue;
      const key = splitEntryName(ev.name)?.key ?? ev.name;
      if (key !== last) yield key;
      last = key;
    }
  } catch {
    // A missing or unreadable shard is reported by the shard pass, sample by sample.
  }
}

export async function takeCensus(input: string, manifest: Manifest, dir: string): Promise<Census> {
  const done = await readJsonIfAny<Census>(join(dir, CENSUS_FILE));
  if (done) return done;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (p: string): void => {
    problemCount++;
    if (problems.length < 50) problems.push(p);
  };

  const listings = new Map<string, number[]>();
  manifest.shards.forEach((s, i) => {
    const list = listings.get(s.file);
    if (list) {
      problem(`manifest lists ${s.file} ${list.length + 1} times (entries ${[...list, i].join(', ')}): its samples are counted once, the repeats dropped as duplicate keys`);
      list.push(i);
    } else listings.set(s.file, [i]);
  });
  const counts = manifest.shards.map(() => 0);
  const indexPath = join(input, INDEX_FILE);
  const hasIndex = await exists(indexPath);
  const expected = new BufferedAppender();
  if (hasIndex) {
    const lines = createInterface({ input: createReadStream(indexPath, 'utf8'), crlfDelay: Infinity });
    let n = 0;
    let unknown = 0;
    try {
      for await (const line of lines) {
        n++;
        if (line.trim() === '') continue;
        let e: { key?: unknown; shard?: unknown; sizes?: unknown };
        try {
          e = JSON.parse(line) as typeof e;
        } catch (err) {
          problem(`${INDEX_FILE}:${n}: not valid JSON (${(err as Error).message}); shards it may describe are read without the index`);
          continue;
        }
        if (typeof e !== 'object' || e === null || typeof e.key !== 'string' || typeof e.shard !== 'string' || typeof e.sizes !== 'object' || e.sizes === null) {
          problem(`${INDEX_FILE}:${n}: expected {key, shard, offset, sizes, meta}`);
          continue;
        }
        const ls = listings.get(e.shard);
        if (!ls) {
          if (unknown++ === 0) problem(`${INDEX_FILE}:${n}: shard ${JSON.stringify(e.shard)} is not in the manifest (ignored; later such lines are counted, not listed)`);
          continue;
        }
        for (const l of ls) {
          counts[l] = (counts[l] as number) + 1;
          await expected.append(expectedPath(dir, l), { key: e.key, sizes: e.sizes });
        }
      }
    } catch (e) {
      throw new HerdError('io_error', `cannot read ${indexPath}: ${(e as Error).message}`, { cause: e });
    } finally {
      lines.close();
    }
    if (unknown > 1) problem(`${INDEX_FILE}: ${unknown} lines name shards that are not in the manifest`);
  }
  await expected.flush();
  const covered = manifest.shards.map((s, i) => hasIndex && counts[i] === s.count);
  for (const [i, s] of manifest.shards.entries()) {
    if (covered[i]) continue;
    await rm(expectedPath(dir, i), { force: true });
    if (hasIndex) problem(`${INDEX_FILE} lists ${counts[i]} samples of ${s.file}, the manifest ${s.count}: the shard is read without the index`);
  }

  // Duplicate keys: every key goes to a partition by hash; within a partition the first occurrence
  // in dataset order wins.
  const total = manifest.shards.reduce((n, s) => n + s.count, 0);
  const partitions = Math.max(1, Math.ceil(total / KEYS_PER_PARTITION));
  const parts = join(dir, 'keys');
  const spill = new BufferedAppender();
  for (const [i, s] of manifest.shards.entries()) {
    const keys = covered[i]
      ? (async function* () {
          for await (const e of readJsonLines<{ key: string }>(expectedPath(dir, i))) yield e.key;
        })()
      : shardKeys(join(input, s.file));
    for await (const key of keys) await spill.append(join(parts, `p${fnv1a(key) % partitions}.jsonl`), [i, key]);
  }
  await spill.flush();
  const dups = new BufferedAppender();
  let duplicates = 0;
  for (let p = 0; p < partitions; p++) {
    const path = join(parts, `p${p}.jsonl`);
    if (!(await exists(path))) continue;
    const first = new Map<string, number>();
    for await (const [i, key] of readJsonLines<[number, string]>(path)) {
      const at = first.get(key);
      if (at === undefined) first.set(key, i);
      else if (at !== i) {
        const file = manifest.shards[at]?.file as string;
        const same = file === manifest.shards[i]?.file;
        await dups.append(duplicatesPath(dir, i), [key, `duplicate_key: also in ${file}${same ? ' (the manifest lists this shard more than once)' : ''}`]);
        duplicates++;
      }
    }
  }
  await dups.flush();
  await rm(parts, { recursive: true, force: true });
  for (let i = 0; i < manifest.shards.length; i++) if (!(await exists(duplicatesPath(dir, i)))) await writeFile(duplicatesPath(dir, i), '');
  const census: Census = { covered, problems, problemCount, duplicates };
  await writeFileAtomic(join(dir, CENSUS_FILE), JSON.stringify(census));
  return census;
}
