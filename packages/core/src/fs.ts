import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { HerdError } from './errors.js';

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** What an atomic write accepts: bytes, text, a list of chunks, or chunks produced one at a time (streamed). */
export type AtomicData = Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/**
 * Writes a file so that readers see either the old content or the whole new content, never a part:
 * the bytes go to a temporary file in the same folder, are flushed, and the file is renamed over
 * the target. Chunks from an (async) iterable are written as they come, so large files need not be
 * held in memory. Returns the number of bytes written.
 */
export async function writeFileAtomic(path: string, data: AtomicData): Promise<number> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array> = typeof data === 'string' ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
  let written = 0;
  try {
    const fh = await open(tmp, 'w');
    try {
      for await (const c of chunks) {
        await fh.write(c, 0, c.length, written);
        written += c.length;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    return written;
  } catch (e) {
    await rm(tmp, { force: true });
    throw new HerdError('io_error', `could not write ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export function writeFileAtomicSync(path: string, data: Uint8Array | string | readonly Uint8Array[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const chunks = typeof data === 'string' ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const c of chunks) writeSync(fd, c);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new HerdError('io_error', `could not write ${path}: ${(e as Error).message}`, { cause: e });
  }
}
