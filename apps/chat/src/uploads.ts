/**
 * Streamed uploads (`POST /api/uploads`, the raw file as the body): a clip of tens of megabytes goes
 * to a private temporary file as it arrives, never whole into memory, and never through base64 JSON.
 * The limits hold while it streams: a declared Content-Length over the limit is refused before a
 * byte is read; a body that grows past it is cut off at once; bytes that are none of the accepted
 * formats are refused after the first chunk (415), before the rest is read. A finished upload is
 * named by a random id, used once by `/api/chat` (`"video": {"upload": id}`), and deleted after use,
 * after `ttlMs`, or when the server closes. At most `maxPending` wait at any time (beyond: 503).
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { type SniffedFormat, sniffFormat } from '@herd/media';
import { ClientError, bodyChunks } from './http-util.js';

/** A finished upload waiting for its chat message. */
export interface Upload {
  readonly id: string;
  readonly path: string;
  readonly name: string;
  readonly bytes: number;
  readonly format: SniffedFormat;
}

export interface UploadLimits {
  readonly maxBytes: number;
  readonly maxPending: number;
  readonly ttlMs: number;
  /** Where the private temporary folders go (default the OS's). */
  readonly dir?: string;
}

/** Bytes needed to judge a format by its magic numbers (the longest signature sniffFormat reads). */
const SNIFF_BYTES = 64;

export class UploadStore {
  private readonly pending = new Map<string, Upload & { readonly dir: string; readonly timer: NodeJS.Timeout }>();
  private receiving = 0;

  constructor(
    private readonly limits: UploadLimits,
    /** The formats taken, and the message that names them (for the 415). */
    private readonly accepted: readonly SniffedFormat[],
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Streams a request body to a private temporary file; resolves when it is complete and judged. */
  async receive(req: IncomingMessage, name: string, signal: AbortSignal): Promise<Upload> {
    const max = this.limits.maxBytes;
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > max) throw tooBig(name, `is ${declared} bytes`, max);
    if (this.pending.size + this.receiving >= this.limits.maxPending) {
      throw new ClientError(503, 'busy', `${this.pending.size + this.receiving} uploads are waiting for their messages (limit ${this.limits.maxPending}); send the messages, or retry in 10 s`, { 'Retry-After': '10' });
    }
    this.receiving++;
    const dir = await mkdtemp(join(this.limits.dir ?? tmpdir(), 'herd-chat-upload-'));
    const path = join(dir, 'upload');
    // mode 0600 in a 0700 folder: private to this server's user.
    const out = createWriteStream(path, { mode: 0o600 });
    // A disk error fails the upload (below); a write still queued when a refusal destroys the stream is moot.
    let diskError: Error | undefined;
    out.on('error', (e) => (diskError ??= e));
    let total = 0;
    let head = Buffer.alloc(0);
    let format: SniffedFormat | undefined;
    try {
      for await (const chunk of bodyChunks(req)) {
        if (signal.aborted) throw new ClientError(408, 'timeout', `${name}: the upload took too long`);
        total += chunk.length;
        if (total > max) throw tooBig(name, 'grew past the limit while arriving', max);
        if (format === undefined) {
          head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES)]);
          if (head.length >= SNIFF_BYTES) format = this.judge(head, name);
        }
        if (!out.write(chunk)) await once(out, 'drain');
      }
      if (diskError) throw diskError;
      if (total === 0) throw new ClientError(400, 'invalid_request', `${name}: empty upload (send the file's bytes as the body)`);
      format ??= this.judge(head, name);
      out.end();
      await once(out, 'finish');
      if (diskError) throw diskError;
    } catch (e) {
      out.destroy();
      await rm(dir, { recursive: true, force: true });
      throw e;
    } finally {
      this.receiving--;
    }
    const id = randomUUID().replaceAll('-', '');
    const timer = setTimeout(() => void this.discard(id), this.limits.ttlMs);
    timer.unref();
    const upload = { id, path, name, bytes: total, format, dir, timer };
    this.pending.set(id, upload);
    return upload;
  }

  private judge(head: Buffer, name: string): SniffedFormat {
    const f = sniffFormat(new Uint8Array(head.buffer, head.byteOffset, head.length));
    if (!this.accepted.includes(f)) {
      throw new ClientError(415, 'unsupported_media_type', `'${name}': its bytes ${f === 'unknown' ? 'start with no known signature' : `look like ${f}`} (the name and declared type are not trusted); uploads take ${this.accepted.join(', ')}`);
    }
    return f;
  }

  /** Takes an upload for a message (once: it is no longer pending); `release` deletes its file (at once: one unlink). */
  take(id: string): (Upload & { release(): void }) | undefined {
    const u = this.pending.get(id);
    if (!u) return undefined;
    this.pending.delete(id);
    clearTimeout(u.timer);
    return { id: u.id, path: u.path, name: u.name, bytes: u.bytes, format: u.format, release: () => rmSync(u.dir, { recursive: true, force: true }) };
  }

  private async discard(id: string): Promise<void> {
    this.take(id)?.release();
  }

  async close(): Promise<void> {
    await Promise.all([...this.pending.keys()].map((id) => this.discard(id)));
  }
}

function tooBig(name: string, what: string, max: number): ClientError {
  return new ClientError(413, 'payload_too_large', `upload '${name}' ${what}; the limit is ${max} bytes (set with --max-upload-mb)`);
}
