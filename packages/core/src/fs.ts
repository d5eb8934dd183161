import { type Stats, closeSync, constants as fsConstants, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { HerdError, type HerdErrorCode } from './errors.js';

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** A folder as a model card names it: relative to the working directory (the repository root) when inside it, else as given. */
export function cardPath(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : dir;
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

/** What an output path names: a file written at once (`--answers FILE`) or a folder written into (`--out DIR`). */
export type OutputKind = 'file' | 'folder';

function kindOfNonFolder(st: Stats): string {
  return st.isFile() ? 'a file' : st.isFIFO() ? 'a FIFO (named pipe)' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a folder';
}

/**
 * Why `path` cannot be written later as a `kind` by `writeFileAtomic` (or into, for a folder), or
 * undefined when it can; the reason names the path at fault (absolute). Checked before a long run, so
 * a bad output path fails before the work, not after it. Folders missing on the way are fine, since
 * the write creates them (mkdir -p, as `writeFileAtomic` does); nothing is created here. Refused: a file path that is a folder or not a
 * regular file, a folder path that is not a folder, a path below a file, and a nearest existing folder
 * that a file cannot be created in. Writability is probed by creating and removing a file there: the
 * permission bits alone say yes to root on a file system that refuses writes (/sys, read-only mounts).
 */
export function outputPathProblem(path: string, kind: OutputKind): string | undefined {
  if (path === '') return `an empty path names no ${kind}`;
  if (kind === 'file' && (path.endsWith('/') || path.endsWith(sep))) return `${path} ends in '${sep}', which names a folder; give a file name`;
  const abs = resolve(path);
  const statOf = (p: string): Stats | NodeJS.ErrnoException => {
    try {
      return statSync(p);
    } catch (e) {
      return e as NodeJS.ErrnoException;
    }
  };
  const self = statOf(abs);
  if (self instanceof Error) {
    if (self.code !== 'ENOENT' && self.code !== 'ENOTDIR') return `${abs} cannot be looked at (${self.code ?? self.message})`;
  } else if (kind === 'file' && self.isDirectory()) return `${abs} is a folder, not a file`;
  else if (kind === 'file' && !self.isFile()) return `${abs} is ${kindOfNonFolder(self)}, not a regular file (the output goes to a temporary file renamed over it)`;
  else if (kind === 'folder' && !self.isDirectory()) return `${abs} is ${kindOfNonFolder(self)}, not a folder`;
  // The nearest folder that exists: the file's own, the folder itself, or an ancestor (the rest is created by the write).
  let folder = kind === 'folder' && !(self instanceof Error) ? abs : dirname(abs);
  for (;;) {
    const st = statOf(folder);
    if (!(st instanceof Error)) {
      if (!st.isDirectory()) return `${folder} is ${kindOfNonFolder(st)}, not a folder`;
      break;
    }
    if (st.code !== 'ENOENT' && st.code !== 'ENOTDIR') return `cannot look at the folder ${folder} (${st.code ?? st.message})`;
    if (dirname(folder) === folder) return `no folder on the way to ${abs} exists`;
    folder = dirname(folder);
  }
  const probe = join(folder, `.${basename(abs)}.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (e) {
    return `cannot create files in the folder ${folder} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  rmSync(probe, { force: true });
  return undefined;
}

/**
 * Opens a file for reading only if it is a regular file, and returns its descriptor and size. The open
 * is non-blocking so a FIFO cannot hang the caller (a plain open of a FIFO waits for a writer); the
 * type is then checked on the open descriptor, so nothing can swap the file between check and read.
 * `what` names the file's role in errors ("safetensors file", "config file").
 */
export function openRegularFileSync(path: string, what: string, code: HerdErrorCode = 'io_error'): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'does not exist' : err.code === 'EACCES' ? 'is not readable (permission denied)' : err.message;
    throw new HerdError('io_error', `${what} ${path} ${why}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new HerdError(code, `${what} ${path} is a directory, not a file`);
    if (!st.isFile()) {
      const kind = st.isFIFO() ? 'a FIFO (named pipe)' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
      throw new HerdError(code, `${what} ${path} is ${kind}; only regular files are read`);
    }
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Reads `target.length` bytes at `position`; a short file is corrupt_data naming the file and `what`. */
export function readFullySync(fd: number, target: Uint8Array, position: number, path: string, what: string): void {
  const maxChunk = 1 << 30;
  let done = 0;
  while (done < target.length) {
    const n = readSync(fd, target, done, Math.min(target.length - done, maxChunk), position + done);
    if (n === 0) {
      throw new HerdError(
        'corrupt_data',
        `${path}: file ends early while reading ${what}: expected ${target.length} bytes at offset ${position}, got ${done}. The file is truncated; re-download or re-save it.`,
      );
    }
    done += n;
  }
}
