import { createHash } from 'node:crypto';
import { pack } from 'tar-stream';
import { HerdError } from '@herd/core';
import type { Sample } from '../sample.js';
import type { ShardInfo } from './manifest.js';
import type { IndexEntry } from './index-file.js';

const BLOCK = 512;
// A fixed mtime makes a shard a pure function of its samples, so reruns and worker counts give
// byte-identical files.
const MTIME = new Date(0);

export interface EncodedShard {
  chunks: Uint8Array[];
  info: ShardInfo;
  index: IndexEntry[];
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/**
 * Encodes samples as one WebDataset tar: per sample `<key>.json` (the meta) then its files in
 * extension order, samples contiguous. Samples must already be valid (assertValidSample).
 */
export async function encodeShard(samples: readonly Sample[], file: string): Promise<EncodedShard> {
  const tar = pack();
  const chunks: Uint8Array[] = [];
  const collected = (async () => {
    for await (const chunk of tar) chunks.push(chunk as Uint8Array);
  })();
  const index: IndexEntry[] = [];
  let offset = 0;
  for (const sample of samples) {
    const entries: [string, Uint8Array][] = [['json', Buffer.from(JSON.stringify(sample.meta))]];
    for (const ext of Object.keys(sample.files).sort()) entries.push([ext, sample.files[ext] as Uint8Array]);
    const sizes: Record<string, number> = {};
    const first = offset;
    for (const [ext, data] of entries) {
      tar.entry({ name: `${sample.key}.${ext}`, size: data.byteLength, mtime: MTIME, mode: 0o644, uname: '', gname: '' }, data);
      sizes[ext] = data.byteLength;
      offset += BLOCK + padded(data.byteLength);
    }
    index.push({ key: sample.key, shard: file, offset: first, sizes, meta: sample.meta });
  }
  tar.finalize();
  await collected;

  const hash = createHash('sha256');
  let bytes = 0;
  for (const c of chunks) {
    hash.update(c);
    bytes += c.byteLength;
  }
  if (bytes !== offset + 2 * BLOCK) {
    // Would mean tar-stream wrote extension headers: the index offsets would be wrong.
    throw new HerdError('runtime_error', `encoding ${file}: expected ${offset + 2 * BLOCK} tar bytes, got ${bytes}`);
  }
  return { chunks, info: { file, count: samples.length, bytes, sha256: hash.digest('hex') }, index };
}
