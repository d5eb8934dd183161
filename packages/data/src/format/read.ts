import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { HerdError } from '@herd/core';
import { isUnreadable, jsonDepth, MAX_META_CHARS, MAX_META_DEPTH, splitEntryName, type Sample, type Unreadable } from '../sample.js';
import { readDataset } from './manifest.js';
import { readTar, type TarEvent } from './tar.js';

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
  /**
   * Called for damage that is not one sample's (a bad header skipped, bytes after the
   * end-of-archive, a missing end marker). Without it, a strict reader throws for such damage and a
   * tolerant one ignores it.
   */
  onProblem?: (detail: string) => void;
  /** Largest `.json` member accepted as meta (default 16 MiB). */
  maxMetaBytes?: number;
  /** Deepest nesting accepted in meta JSON (default 64). */
  maxMetaDepth?: number;
  /** Largest member whose bytes are read (default 2 GiB). */
  maxMemberBytes?: number;
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
  /** Damage in the tar right before or inside this sample: its members may be incomplete. */
  damaged?: string;
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

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a `.json` member into a meta object, or says why it cannot be one. */
export function parseMeta(bytes: Uint8Array, limits: { maxMetaBytes?: number; maxMetaDepth?: number } = {}): Record<string, unknown> | string {
  const maxBytes = limits.maxMetaBytes ?? DEFAULT_MAX_META_BYTES;
  const maxDepth = limits.maxMetaDepth ?? DEFAULT_MAX_META_DEPTH;
  if (bytes.byteLength > maxBytes) return `meta JSON is ${bytes.byteLength} bytes (limit ${maxBytes})`;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return 'meta JSON is not valid UTF-8';
  }
  const depth = jsonDepth(text);
  if (depth > maxDepth) return `meta JSON is nested ${depth} levels deep (limit ${maxDepth})`;
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    return `invalid meta JSON: ${(e as Error).message}`;
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return 'meta JSON is not an object';
  return meta as Record<string, unknown>;
}

const DEFAULT_MAX_META_BYTES = MAX_META_CHARS;
const DEFAULT_MAX_META_DEPTH = MAX_META_DEPTH;

async function* readItems(path: string, o: ReadShardOptions): AsyncGenerator<Sample | Unreadable> {
  const shard = basename(path);
  const expected = o.expected ? new Map(o.expected.map((e) => [e.key, e])) : undefined;
  const seen = new Set<string>();
  const marker = (key: string, detail: string): Unreadable => ({ kind: 'unreadable', key, shard, detail });
  const report = (detail: string): void => {
    if (o.onProblem) o.onProblem(detail);
    else if (!o.tolerant) throw new HerdError('corrupt_data', `${path}: ${detail}`);
  };
  const finish = (p: Partial): Sample | Unreadable => {
    if (p.problem) return marker(p.key, p.problem);
    const want = expected?.get(p.key);
    if (want) {
      const mismatch = sameSizes(p.files, p.meta, want);
      if (mismatch) return marker(p.key, p.damaged ? `${mismatch} (${p.damaged})` : mismatch);
    } else if (p.damaged) {
      return marker(p.key, `its members may be incomplete (${p.damaged})`);
    }
    let meta: Record<string, unknown> = {};
    if (p.meta) {
      const parsed = parseMeta(p.meta, o);
      if (typeof parsed === 'string') return marker(p.key, parsed);
      meta = parsed;
    }
    return { key: p.key, files: p.files, meta };
  };

  let events: AsyncGenerator<TarEvent>;
  try {
    const st = await stat(path);
    if (st.size === 0 && (o.start ?? 0) === 0) {
      const detail = 'shard is empty (0 bytes; a tar holds at least its 1024-byte end-of-archive)';
      report(detail);
      if (expected) for (const key of expected.keys()) yield marker(key, `missing from shard (${detail})`);
      else for (let i = 0; i < (o.expectedCount ?? 0); i++) yield marker(`${shard}#${i}`, `missing from shard (${detail})`);
      return;
    }
    events = readTar(path, { start: o.start, maxMemberBytes: o.maxMemberBytes });
  } catch (e) {
    if (e instanceof HerdError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (!o.tolerant) throw new HerdError('io_error', `shard ${path} cannot be read: ${err.message}`, { cause: e });
    const detail = err.code === 'ENOENT' ? 'shard file missing' : `cannot read shard: ${err.message}`;
    if (expected) for (const key of expected.keys()) yield marker(key, `missing from shard (${detail})`);
    else for (let i = 0; i < Math.max(o.expectedCount ?? 0, 1); i++) yield marker(`${shard}#${i}`, `missing from shard (${detail})`);
    return;
  }

  let cur: Partial | undefined;
  let pendingDamage: string | undefined;
  let failure: string | undefined;
  let noEndAt: number | undefined;
  let lastDamage: string | undefined;
  try {
    for await (const ev of events) {
      if (ev.kind === 'end') {
        if (ev.marker === 'none') noEndAt = ev.offset;
        if (ev.trailingBytes > 0) report(`${ev.trailingBytes} non-zero bytes after the end-of-archive at byte ${ev.offset} (ignored)`);
        break;
      }
      if (ev.kind === 'damage') {
        if (!ev.eof) {
          // The sample before the damage keeps its members (they were read whole); the one after may
          // have lost its first members, so it needs the index to vouch for it.
          report(ev.detail);
          pendingDamage = lastDamage = ev.detail;
          continue;
        }
        failure = ev.detail;
        const cutKey = ev.member === undefined ? undefined : (splitEntryName(ev.member)?.key ?? ev.member);
        if (cur && cutKey === cur.key) cur.problem ??= `shard ends inside this sample (${ev.detail})`;
        if (cur) {
          const done = finish(cur);
          cur = undefined;
          yield done;
          if (o.onlyFirst) return;
        }
        if (cutKey !== undefined && !seen.has(cutKey)) {
          seen.add(cutKey);
          yield marker(cutKey, `shard ends inside this sample (${ev.detail})`);
          if (o.onlyFirst) return;
        }
        if (!o.tolerant && !o.onlyFirst) throw new HerdError('corrupt_data', `${path}: ${ev.detail}`);
        break;
      }
      if (ev.type === 'directory') continue;
      const parts = ev.unsafe ? undefined : splitEntryName(ev.name);
      const key = parts?.key ?? (ev.unsafe ? (splitEntryName(ev.name)?.key ?? ev.name) : ev.name);
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
        if (pendingDamage) cur.damaged = `follows damaged tar data: ${pendingDamage}`;
        pendingDamage = undefined;
      }
      if (ev.unsafe) cur.problem ??= `unsafe member name ${JSON.stringify(ev.name)} in ${shard}: ${ev.unsafe}`;
      else if (ev.type !== 'file') cur.problem ??= `member "${ev.name}" in ${shard} is a ${ev.type} (typeflag ${JSON.stringify(ev.typeflag)}); links and special files are refused`;
      else if (ev.tooLarge) cur.problem ??= `member "${ev.name}" is ${ev.size} bytes (limit ${o.maxMemberBytes})`;
      else if (!parts) cur.problem ??= `entry "${ev.name}" has no extension`;
      else if (parts.ext === 'json') {
        if (cur.meta) cur.problem ??= 'two .json entries';
        cur.meta = ev.data;
      } else {
        if (parts.ext in cur.files) cur.problem ??= `two .${parts.ext} entries`;
        cur.files[parts.ext] = ev.data as Uint8Array;
      }
    }
  } catch (e) {
    if (e instanceof HerdError) throw e;
    failure = `cannot read shard: ${(e as Error).message}`;
    if (!o.tolerant) throw new HerdError('io_error', `${path}: ${failure}`, { cause: e });
  } finally {
    await events.return(undefined);
  }
  if (cur) {
    yield finish(cur);
    if (o.onlyFirst) return;
  }
  if (o.onlyFirst) {
    if (failure) yield marker(`${shard}@${o.start ?? 0}`, failure);
    return;
  }
  const why = failure ?? lastDamage ?? 'shard ends early';
  let lost = 0;
  if (expected) {
    for (const key of expected.keys()) {
      if (!seen.has(key)) {
        lost++;
        yield marker(key, `missing from shard (${why})`);
      }
    }
  } else {
    lost = Math.max((o.expectedCount ?? 0) - seen.size, 0);
    for (let i = 0; i < lost; i++) yield marker(`${shard}#${seen.size + i}`, `missing from shard (${why})`);
  }
  // Markers already tell of a cut; otherwise a missing end marker is worth a word.
  if (noEndAt !== undefined && lost === 0) report(`no end-of-archive marker at byte ${noEndAt} (the shard may be truncated)`);
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
