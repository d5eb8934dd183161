import { createReadStream } from 'node:fs';
import { basename, join } from 'node:path';
import { extract } from 'tar-stream';
import { HerdError } from '@herd/core';
import { isUnreadable, splitEntryName, type Sample, type Unreadable } from '../sample.js';
import { readDataset } from './manifest.js';

/** What the index says a sample holds; lets a reader notice samples lost to truncation. */
export interface ExpectedSample {
  key: string;
  sizes: Record<string, number>;
}

export interface ReadShardOptions {
  /** Yield an Unreadable marker for what cannot be read instead of throwing. */
  tolerant?: boolean;
  /** The shard's samples per the index: missing or incomplete ones become markers. */
  expected?: readonly ExpectedSample[];
  /** The shard's sample count per the manifest, used when `expected` is not given. */
  expectedCount?: number;
  /** Byte offset to start at (a sample's first header, from the index). */
  start?: number;
  /** Stop after the first sample. */
  onlyFirst?: boolean;
}

/**
 * Streams the samples of one tar shard. Strict by default: a corrupt or truncated shard throws a
 * `corrupt_data` HerdError naming the file and sample. With `tolerant: true` it yields an
 * Unreadable marker for each sample it cannot read and goes on where the tar allows.
 */
export function readShard(path: string, options?: ReadShardOptions & { tolerant?: false }): AsyncIterable<Sample>;
export function readShard(path: string, options: ReadShardOptions & { tolerant: true }): AsyncIterable<Sample | Unreadable>;
export function readShard(path: string, options?: ReadShardOptions): AsyncIterable<Sample | Unreadable>;
export function readShard(path: string, options: ReadShardOptions = {}): AsyncIterable<Sample | Unreadable> {
  return options.tolerant ? readItems(path, options) : strict(path, readItems(path, options));
}

async function* strict(path: string, items: AsyncIterable<Sample | Unreadable>): AsyncGenerator<Sample> {
  for await (const item of items) {
    if (isUnreadable(item)) throw new HerdError('corrupt_data', `${path}: sample "${item.key}": ${item.detail}`);
    yield item;
  }
}

interface Partial {
  key: string;
  files: Record<string, Uint8Array>;
  meta?: Uint8Array;
  problem?: string;
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of stream) {
    parts.push(part);
    size += part.byteLength;
  }
  // One owned copy: Buffer.concat would hand out views of Node's shared pool for small files.
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function sameSizes(files: Record<string, Uint8Array>, meta: Uint8Array | undefined, expected: ExpectedSample): string | undefined {
  const got: Record<string, number> = {};
  if (meta) got.json = meta.byteLength;
  for (const [ext, data] of Object.entries(files)) got[ext] = data.byteLength;
  const want = expected.sizes;
  const exts = new Set([...Object.keys(got), ...Object.keys(want)]);
  for (const ext of [...exts].sort()) {
    if (got[ext] !== want[ext]) {
      return `entry .${ext} is ${got[ext] === undefined ? 'missing' : `${got[ext]} bytes`}, index says ${want[ext] === undefined ? 'none' : `${want[ext]} bytes`}`;
    }
  }
  return undefined;
}

async function* readItems(path: string, o: ReadShardOptions): AsyncGenerator<Sample | Unreadable> {
  const shard = basename(path);
  const expected = o.expected ? new Map(o.expected.map((e) => [e.key, e])) : undefined;
  const seen = new Set<string>();
  const marker = (key: string, detail: string): Unreadable => ({ kind: 'unreadable', key, shard, detail });

  const finish = (p: Partial): Sample | Unreadable => {
    if (p.problem) return marker(p.key, p.problem);
    const want = expected?.get(p.key);
    if (want) {
      const mismatch = sameSizes(p.files, p.meta, want);
      if (mismatch) return marker(p.key, mismatch);
    }
    let meta: unknown = {};
    if (p.meta) {
      try {
        meta = JSON.parse(Buffer.from(p.meta.buffer, p.meta.byteOffset, p.meta.byteLength).toString('utf8'));
      } catch (e) {
        return marker(p.key, `invalid meta JSON: ${(e as Error).message}`);
      }
      if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return marker(p.key, 'meta JSON is not an object');
    }
    return { key: p.key, files: p.files, meta: meta as Record<string, unknown> };
  };

  const file = createReadStream(path, { start: o.start ?? 0 });
  const tar = extract();
  file.on('error', (e) => tar.destroy(e));
  file.pipe(tar);

  let cur: Partial | undefined;
  let reading: string | undefined; // key of the entry whose bytes are being read
  let failure: string | undefined;
  try {
    for await (const entry of tar) {
      const { name, type } = entry.header;
      reading = splitEntryName(name)?.key ?? name;
      const data = await readAll(entry as AsyncIterable<Uint8Array>);
      reading = undefined;
      if (type !== 'file' && type !== 'contiguous-file') continue;
      const parts = splitEntryName(name);
      const key = parts?.key ?? name;
      if (cur && cur.key !== key) {
        const done = finish(cur);
        cur = undefined;
        yield done;
        if (o.onlyFirst) return;
      }
      if (!cur) {
        cur = { key, files: {} };
        if (seen.has(key)) cur.problem = 'its entries are not contiguous in the shard';
        seen.add(key);
      }
      if (!parts) cur.problem ??= `entry "${name}" has no extension`;
      else if (parts.ext === 'json') {
        if (cur.meta) cur.problem ??= 'two .json entries';
        cur.meta = data;
      } else {
        if (parts.ext in cur.files) cur.problem ??= `two .${parts.ext} entries`;
        cur.files[parts.ext] = data;
      }
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!o.tolerant && err.code === 'ENOENT') throw new HerdError('io_error', `shard ${path} does not exist`, { cause: e });
    failure = err.code === 'ENOENT' ? 'shard file missing' : `corrupt tar: ${err.message}`;
  } finally {
    file.destroy();
  }

  if (cur) {
    // After a tar error the last sample may be cut short. It is whole if the failing entry belonged
    // to the next sample or if the index vouches for its entries; otherwise drop it.
    const whole = !failure || (reading !== undefined && reading !== cur.key) || (expected?.has(cur.key) ?? false);
    if (!whole) yield marker(cur.key, `shard ends inside this sample (${failure})`);
    else {
      const last = finish(cur);
      yield failure && isUnreadable(last) ? marker(last.key, `${last.detail} (${failure})`) : last;
    }
    if (o.onlyFirst) return;
  }
  if (failure && reading !== undefined && !seen.has(reading)) {
    seen.add(reading);
    yield marker(reading, `shard ends inside this sample (${failure})`);
    if (o.onlyFirst) return;
  }
  if (o.onlyFirst) {
    if (failure) yield marker(`${shard}@${o.start ?? 0}`, failure);
    return;
  }
  const why = failure ?? 'shard ends early';
  if (expected) {
    for (const key of expected.keys()) if (!seen.has(key)) yield marker(key, `missing from shard (${why})`);
  } else {
    const missing = Math.max((o.expectedCount ?? 0) - seen.size, failure && seen.size === 0 ? 1 : 0);
    for (let i = 0; i < missing; i++) yield marker(`${shard}#${seen.size + i}`, `missing from shard (${why})`);
    if (missing === 0 && failure) yield marker(`${shard}#${seen.size}`, failure);
  }
}

/**
 * Streams every sample of a dataset, shard after shard. Tolerant readers get Unreadable markers for
 * samples lost to damage (missing tail samples are keyed `<shard>#<n>` since only the manifest's
 * count is known here; the runner uses the index to name them).
 */
export function iterateDataset(dir: string, options?: { tolerant?: false }): AsyncIterable<Sample>;
export function iterateDataset(dir: string, options: { tolerant: true }): AsyncIterable<Sample | Unreadable>;
export async function* iterateDataset(dir: string, options: { tolerant?: boolean } = {}): AsyncIterable<Sample | Unreadable> {
  const manifest = await readDataset(dir);
  for (const s of manifest.shards) {
    yield* readShard(join(dir, s.file), { tolerant: options.tolerant ?? false, expectedCount: s.count });
  }
}
