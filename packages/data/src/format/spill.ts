import { appendFile, mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { HerdError } from '@herd/core';

/**
 * Spill files: what a run learns per sample (index entries, drops, global features) goes to disk as
 * JSON lines and is read back in passes, so the coordinator's memory does not grow with the dataset.
 */

const FLUSH_BYTES = 1 << 20;

/** Writes one JSON-lines file line by line and makes it appear whole (temp file + rename) on close. */
export class JsonlWriter {
  private fh: FileHandle | undefined;
  private readonly tmp: string;
  private parts: string[] = [];
  private pending = 0;
  count = 0;

  constructor(readonly path: string) {
    this.tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  }

  async write(record: unknown): Promise<void> {
    const line = JSON.stringify(record) + '\n';
    this.parts.push(line);
    this.pending += line.length;
    this.count++;
    if (this.pending >= FLUSH_BYTES) await this.flush();
  }

  /** Writes a line already serialised (without its newline). */
  async writeRaw(line: string): Promise<void> {
    this.parts.push(line, '\n');
    this.pending += line.length + 1;
    this.count++;
    if (this.pending >= FLUSH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.fh) {
      await mkdir(dirname(this.path), { recursive: true });
      this.fh = await open(this.tmp, 'w');
    }
    if (this.parts.length > 0) await this.fh.write(this.parts.join(''));
    this.parts = [];
    this.pending = 0;
  }

  async close(): Promise<void> {
    try {
      await this.flush();
      await this.fh?.sync();
      await this.fh?.close();
      this.fh = undefined;
      await rename(this.tmp, this.path);
    } catch (e) {
      await this.abort();
      throw new HerdError('io_error', `could not write ${this.path}: ${(e as Error).message}`, { cause: e });
    }
  }

  async abort(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    await rm(this.tmp, { force: true });
  }
}

/**
 * Appends JSON lines to many files with a bounded buffer: lines are held per file and all buffers are
 * flushed once their total passes a limit, so memory stays flat however many lines are routed.
 * Files are appended to; callers start from fresh folders.
 */
export class BufferedAppender {
  private readonly buffers = new Map<string, string[]>();
  private bytes = 0;

  constructor(private readonly limitBytes = 32 * FLUSH_BYTES) {}

  async append(path: string, record: unknown): Promise<void> {
    const line = JSON.stringify(record) + '\n';
    let buf = this.buffers.get(path);
    if (!buf) this.buffers.set(path, (buf = []));
    buf.push(line);
    this.bytes += line.length;
    if (this.bytes >= this.limitBytes) await this.flush();
  }

  async flush(): Promise<void> {
    const dirs = new Set<string>();
    for (const [path, lines] of this.buffers) {
      const dir = dirname(path);
      if (!dirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        dirs.add(dir);
      }
      await appendFile(path, lines.join(''));
    }
    this.buffers.clear();
    this.bytes = 0;
  }
}

/** Chunks of files' contents, in order, for a streamed atomic write. */
export async function* concatFiles(paths: Iterable<string>): AsyncGenerator<Uint8Array> {
  const { createReadStream } = await import('node:fs');
  for (const path of paths) {
    try {
      for await (const chunk of createReadStream(path)) yield chunk as Uint8Array;
    } catch (e) {
      throw new HerdError('io_error', `cannot read ${path}: ${(e as Error).message} (run state damaged? remove the shard's .done.json to redo it)`, { cause: e });
    }
  }
}
