import { createHash } from 'node:crypto';
import { HerdError } from '@herd/core';
import type { Sample } from '../sample.js';
import type { ShardInfo } from './manifest.js';
import type { IndexEntry } from './index-file.js';

const BLOCK = 512;
// Output is gathered into chunks of about this size: one write per chunk, not per tar member.
const CHUNK = 4 * 2 ** 20;

export interface EncodedShard {
  chunks: Uint8Array[];
  info: ShardInfo;
  index: IndexEntry[];
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function octal(target: Buffer, at: number, width: number, value: number): void {
  target.write(value.toString(8).padStart(width - 1, '0') + '\0', at, width, 'latin1');
}

/**
 * One POSIX ustar header: regular file, mode 644, owner 0:0 without names, mtime 0. The fixed mtime
 * makes a shard a pure function of its samples, so reruns and worker counts give identical bytes.
 */
function ustarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const written = h.write(name, 0, 100, 'utf8');
  if (Buffer.byteLength(name) !== written || written > 100) throw new HerdError('invalid_argument', `tar entry name "${name}" does not fit the 100-byte ustar name field`);
  octal(h, 100, 8, 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  if (size >= 8 ** 11) throw new HerdError('invalid_argument', `tar entry "${name}" is ${size} bytes; ustar holds at most ${8 ** 11 - 1}`);
  octal(h, 124, 12, size);
  octal(h, 136, 12, 0);
  h.write('0', 156, 'latin1');
  h.write('ustar\x0000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i] as number;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

/**
 * Encodes samples as one WebDataset tar: per sample `<key>.json` (the meta) then its files in
 * extension order, samples contiguous, one 512-byte header per entry (so index offsets are plain
 * arithmetic), two zero blocks at the end. Samples must already be valid (assertValidSample).
 */
export async function encodeShard(samples: readonly Sample[], file: string): Promise<EncodedShard> {
  const chunks: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  let partBytes = 0;
  const push = (b: Uint8Array): void => {
    parts.push(b);
    partBytes += b.byteLength;
    if (partBytes >= CHUNK) {
      chunks.push(Buffer.concat(parts));
      parts = [];
      partBytes = 0;
    }
  };
  const index: IndexEntry[] = [];
  const zeros = Buffer.alloc(BLOCK);
  let offset = 0;
  for (const sample of samples) {
    const entries: [string, Uint8Array][] = [['json', Buffer.from(JSON.stringify(sample.meta))]];
    for (const ext of Object.keys(sample.files).sort()) entries.push([ext, sample.files[ext] as Uint8Array]);
    const sizes: Record<string, number> = {};
    const first = offset;
    for (const [ext, data] of entries) {
      push(ustarHeader(`${sample.key}.${ext}`, data.byteLength));
      push(data);
      const pad = padded(data.byteLength) - data.byteLength;
      if (pad > 0) push(zeros.subarray(0, pad));
      sizes[ext] = data.byteLength;
      offset += BLOCK + padded(data.byteLength);
    }
    index.push({ key: sample.key, shard: file, offset: first, sizes, meta: sample.meta });
  }
  push(zeros);
  push(zeros);
  if (parts.length > 0) chunks.push(Buffer.concat(parts));
  const hash = createHash('sha256');
  let bytes = 0;
  for (const c of chunks) {
    hash.update(c);
    bytes += c.byteLength;
  }
  return { chunks, info: { file, count: samples.length, bytes, sha256: hash.digest('hex') }, index };
}
