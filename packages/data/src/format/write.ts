import { readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { HerdError, writeFileAtomic } from '@herd/core';
import { assertValidSample, type Sample } from '../sample.js';
import { encodeShard } from './encode.js';
import { JsonlWriter } from './spill.js';
import { FORMAT_VERSION, INDEX_FILE, MANIFEST_FILE, shardFileName, writeManifest, type Manifest, type ShardInfo } from './manifest.js';

export interface WriteDatasetOptions {
  /** Samples per shard (default 1000). */
  samplesPerShard?: number;
  /** A shard is also closed once its files pass this many bytes (default 256 MiB). */
  maxShardBytes?: number;
  /** Dataset name for the manifest (default: the folder's name). */
  name?: string;
  /** Free-form description stored in the manifest (generator settings, sources, ...). */
  info?: Record<string, unknown>;
}

/** Bytes a sample adds to a shard, near enough to decide when a shard is full. */
function sampleBytes(sample: Sample): number {
  let n = 1024;
  for (const data of Object.values(sample.files)) n += data.byteLength + 512;
  return n;
}

/**
 * Writes a dataset shard by shard: each shard file appears whole (temp file + rename), the index and
 * the manifest come last, so a folder with a manifest always holds a complete dataset. Writing into a
 * folder that holds a dataset replaces it (its manifest is removed first, stale shards after).
 */
export class ShardWriter {
  private readonly samplesPerShard: number;
  private readonly maxShardBytes: number;
  private readonly keys = new Set<string>();
  private readonly shards: ShardInfo[] = [];
  private indexWriter: JsonlWriter | undefined;
  private written = 0;
  private pending: Sample[] = [];
  private pendingBytes = 0;
  private started = false;
  private closed = false;

  constructor(
    readonly dir: string,
    private readonly options: WriteDatasetOptions = {},
  ) {
    this.samplesPerShard = options.samplesPerShard ?? 1000;
    this.maxShardBytes = options.maxShardBytes ?? 256 * 2 ** 20;
    if (!Number.isInteger(this.samplesPerShard) || this.samplesPerShard < 1) {
      throw new HerdError('invalid_argument', `samplesPerShard must be a positive integer, got ${options.samplesPerShard}`);
    }
    if (!(this.maxShardBytes > 0)) throw new HerdError('invalid_argument', `maxShardBytes must be positive, got ${options.maxShardBytes}`);
  }

  get count(): number {
    return this.written + this.pending.length;
  }

  async write(sample: Sample): Promise<void> {
    if (this.closed) throw new HerdError('invalid_argument', `ShardWriter(${this.dir}): write after close`);
    assertValidSample(sample, `writing ${this.dir}`);
    if (this.keys.has(sample.key)) throw new HerdError('invalid_argument', `writing ${this.dir}: key "${sample.key}" appears twice`);
    this.keys.add(sample.key);
    if (!this.started) {
      this.started = true;
      await rm(join(this.dir, MANIFEST_FILE), { force: true });
    }
    this.pending.push(sample);
    this.pendingBytes += sampleBytes(sample);
    if (this.pending.length >= this.samplesPerShard || this.pendingBytes >= this.maxShardBytes) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const file = shardFileName(this.shards.length);
    const encoded = await encodeShard(this.pending, file);
    await writeFileAtomic(join(this.dir, file), encoded.chunks);
    this.shards.push(encoded.info);
    // Index lines go to disk as shards close: no index string grows with the dataset.
    this.indexWriter ??= new JsonlWriter(join(this.dir, INDEX_FILE));
    for (const e of encoded.index) await this.indexWriter.write(e);
    this.written += encoded.index.length;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Writes the last shard, the index and then the manifest. */
  async close(): Promise<Manifest> {
    if (this.closed) throw new HerdError('invalid_argument', `ShardWriter(${this.dir}): closed twice`);
    if (!this.started) await rm(join(this.dir, MANIFEST_FILE), { force: true });
    await this.flush();
    this.closed = true;
    if (this.indexWriter) await this.indexWriter.close();
    else await writeFileAtomic(join(this.dir, INDEX_FILE), '');
    const manifest: Manifest = {
      name: this.options.name ?? basename(this.dir),
      version: FORMAT_VERSION,
      createdAt: new Date().toISOString(),
      shards: this.shards,
      totalCount: this.written,
      info: this.options.info ?? {},
    };
    await removeStaleShards(this.dir, new Set(this.shards.map((s) => s.file)));
    await writeManifest(this.dir, manifest);
    return manifest;
  }
}

/** Removes `shard-*.tar` files that the new manifest does not list (left by an earlier, larger dataset). */
export async function removeStaleShards(dir: string, keep: ReadonlySet<string>): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (/^shard-\d+\.tar$/.test(name) && !keep.has(name)) await rm(join(dir, name), { force: true });
  }
}

/** Writes samples as a sharded dataset in `dir` and returns its manifest. */
export async function writeDataset(
  dir: string,
  samples: AsyncIterable<Sample> | Iterable<Sample>,
  options: WriteDatasetOptions = {},
): Promise<Manifest> {
  const writer = new ShardWriter(dir, options);
  for await (const sample of samples) await writer.write(sample);
  return writer.close();
}
