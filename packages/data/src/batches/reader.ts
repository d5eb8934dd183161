/**
 * Shards → training batches: a streaming, seeded, epoch-aware, resumable reader over a dataset in the
 * shard format. Memory stays bounded by the shuffle buffer (plus one shard stream), whatever the
 * dataset's size: each epoch visits the shards in a seeded random order (shard-level shuffle) and
 * mixes samples through a shuffle buffer (WebDataset's scheme), and a per-modality `collate` turns
 * samples into a batch.
 *
 * Its position (epoch, shard order, shard and sample cursor, the buffer's sample references and the
 * buffer RNG's state) is plain JSON: a trainer stores it in its checkpoint, and a reader opened at
 * that position yields exactly the batches the uninterrupted reader would have yielded next.
 * Batches run on across epoch boundaries (the stream is endless), so every batch is full.
 */
import { join } from 'node:path';
import { HerdError, Rng } from '@herd/core';
import { readDataset, type Manifest } from '../format/manifest.js';
import { readShard } from '../format/read.js';
import { type Sample } from '../sample.js';

/** Where a sample sits: the shard's index in the manifest and the sample's ordinal in the shard. */
export interface SampleRef {
  readonly shard: number;
  readonly index: number;
}

/** The reader's position after the batches it has yielded; JSON-serialisable. */
export interface BatchPosition {
  /** Epochs started so far minus one (0 during the first pass). */
  readonly epoch: number;
  /** This epoch's order of the manifest's shards. */
  readonly shardOrder: readonly number[];
  /** Index into shardOrder of the shard being read. */
  readonly shardCursor: number;
  /** Samples already taken from that shard. */
  readonly sampleCursor: number;
  /** The samples in the shuffle buffer, in buffer order. */
  readonly buffer: readonly SampleRef[];
  /** State of the RNG that picks from the buffer. */
  readonly rng: readonly number[];
  /** Batches yielded so far. */
  readonly batches: number;
}

export interface BatchReaderOptions<B> {
  readonly batchSize: number;
  readonly seed: number;
  /**
   * Samples → one batch (tensors for the model); called with exactly batchSize samples and the
   * batch's index in the stream (0, 1, …; the same after a resume), e.g. to seed augmentation.
   */
  readonly collate: (samples: readonly Sample[], index: number) => B;
  /** Samples held for shuffling (default 256; 1 keeps the shard order's sample order). */
  readonly shuffleBuffer?: number;
  /** Visit shards in a fresh seeded order each epoch (default true). */
  readonly shuffleShards?: boolean;
}

interface Buffered {
  readonly ref: SampleRef;
  readonly sample: Sample;
}

function epochShardOrder(seed: number, epoch: number, shards: number, shuffle: boolean): number[] {
  const order = Array.from({ length: shards }, (_, i) => i);
  // A separate stream per epoch, so the order depends only on (seed, epoch).
  return shuffle ? new Rng((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0).shuffle(order) : order;
}

export class ShardBatchReader<B> {
  private shardOrder: number[];
  private shardCursor: number;
  private sampleCursor: number;
  private epoch: number;
  private rng: Rng;
  private buffer: Buffered[];
  private batches: number;
  private stream: AsyncIterator<Sample> | undefined;
  private readonly bufferSize: number;

  private constructor(
    readonly dir: string,
    private readonly manifest: Manifest,
    private readonly o: BatchReaderOptions<B>,
    at: BatchPosition,
    buffer: Buffered[],
  ) {
    this.bufferSize = o.shuffleBuffer ?? 256;
    this.epoch = at.epoch;
    this.shardOrder = [...at.shardOrder];
    this.shardCursor = at.shardCursor;
    this.sampleCursor = at.sampleCursor;
    this.rng = new Rng(at.rng);
    this.buffer = buffer;
    this.batches = at.batches;
  }

  /** Opens a dataset folder, at the start or at a stored position (re-reading the buffered samples). */
  static async open<B>(dir: string, options: BatchReaderOptions<B>, position?: BatchPosition): Promise<ShardBatchReader<B>> {
    if (!(Number.isInteger(options.batchSize) && options.batchSize >= 1)) throw new HerdError('invalid_argument', `batch reader: batchSize must be a positive integer, got ${options.batchSize}`);
    const sb = options.shuffleBuffer ?? 256;
    if (!(Number.isInteger(sb) && sb >= 1)) throw new HerdError('invalid_argument', `batch reader: shuffleBuffer must be a positive integer, got ${sb}`);
    const manifest = await readDataset(dir);
    if (manifest.totalCount === 0) throw new HerdError('invalid_argument', `batch reader: dataset ${dir} holds no samples`);
    const shuffle = options.shuffleShards ?? true;
    const at = position ?? { epoch: 0, shardOrder: epochShardOrder(options.seed, 0, manifest.shards.length, shuffle), shardCursor: 0, sampleCursor: 0, buffer: [], rng: new Rng(options.seed).state(), batches: 0 };
    checkPosition(dir, manifest, at);
    const buffer = await readRefs(dir, manifest, at.buffer);
    return new ShardBatchReader(dir, manifest, options, at, buffer);
  }

  get batchSize(): number {
    return this.o.batchSize;
  }

  /** The position after the batches yielded so far (store it to resume). */
  position(): BatchPosition {
    return {
      epoch: this.epoch,
      shardOrder: [...this.shardOrder],
      shardCursor: this.shardCursor,
      sampleCursor: this.sampleCursor,
      buffer: this.buffer.map((b) => b.ref),
      rng: this.rng.state(),
      batches: this.batches,
    };
  }

  /** The next batch. */
  async next(): Promise<B> {
    const samples: Sample[] = [];
    while (samples.length < this.o.batchSize) samples.push(await this.nextSample());
    const index = this.batches++;
    return this.o.collate(samples, index);
  }

  /**
   * The trainer's batch-source call: batches come in order, so `index` must be the number of
   * batches yielded so far (a resumed trainer and a reader opened at its stored position agree).
   */
  async batch(index: number): Promise<B> {
    if (index !== this.batches) throw new HerdError('invalid_argument', `batch reader ${this.dir}: asked for batch ${index} but the stream is at batch ${this.batches}; open the reader at the position stored with the checkpoint`);
    return this.next();
  }

  private async nextSample(): Promise<Sample> {
    while (this.buffer.length < this.bufferSize) {
      const s = await this.pull();
      if (!s) break;
      this.buffer.push(s);
    }
    if (this.buffer.length === 0) {
      // The epoch is over: next epoch, new shard order.
      await this.closeStream();
      this.epoch++;
      this.shardOrder = epochShardOrder(this.o.seed, this.epoch, this.manifest.shards.length, this.o.shuffleShards ?? true);
      this.shardCursor = 0;
      this.sampleCursor = 0;
      return this.nextSample();
    }
    const j = this.rng.int(this.buffer.length);
    const picked = this.buffer[j]!;
    this.buffer[j] = this.buffer[this.buffer.length - 1]!;
    this.buffer.pop();
    return picked.sample;
  }

  /** The next sample of this epoch's shard stream, or undefined at the epoch's end. */
  private async pull(): Promise<Buffered | undefined> {
    while (this.shardCursor < this.shardOrder.length) {
      const shard = this.shardOrder[this.shardCursor]!;
      if (!this.stream) this.stream = await skipInto(join(this.dir, this.manifest.shards[shard]!.file), this.sampleCursor);
      const r = await this.stream.next();
      if (!r.done) return { ref: { shard, index: this.sampleCursor++ }, sample: r.value };
      await this.closeStream();
      this.shardCursor++;
      this.sampleCursor = 0;
    }
    return undefined;
  }

  private async closeStream(): Promise<void> {
    await this.stream?.return?.();
    this.stream = undefined;
  }

  /** Stops reading (closes the open shard). */
  async close(): Promise<void> {
    await this.closeStream();
  }
}

/** A shard's sample stream after skipping `skip` samples. */
async function skipInto(path: string, skip: number): Promise<AsyncIterator<Sample>> {
  const it = readShard(path)[Symbol.asyncIterator]();
  for (let i = 0; i < skip; i++) {
    const r = await it.next();
    if (r.done) throw new HerdError('checkpoint_mismatch', `batch reader: ${path} has ${i} samples, the stored position is after sample ${skip}; the dataset changed since the checkpoint`);
  }
  return it;
}

/** Re-reads the buffered samples of a stored position, each referenced shard streamed once. */
async function readRefs(dir: string, manifest: Manifest, refs: readonly SampleRef[]): Promise<Buffered[]> {
  const wanted = new Map<number, Set<number>>();
  for (const r of refs) (wanted.get(r.shard) ?? wanted.set(r.shard, new Set()).get(r.shard)!).add(r.index);
  const found = new Map<string, Sample>();
  for (const [shard, indices] of wanted) {
    const last = Math.max(...indices);
    let i = 0;
    for await (const s of readShard(join(dir, manifest.shards[shard]!.file))) {
      if (indices.has(i)) found.set(`${shard}:${i}`, s);
      if (++i > last) break;
    }
  }
  return refs.map((ref) => {
    const sample = found.get(`${ref.shard}:${ref.index}`);
    if (!sample) throw new HerdError('checkpoint_mismatch', `batch reader: ${dir}: shard ${manifest.shards[ref.shard]!.file} has no sample ${ref.index} (the stored position refers to it); the dataset changed since the checkpoint`);
    return { ref, sample };
  });
}

function checkPosition(dir: string, manifest: Manifest, at: BatchPosition): void {
  const n = manifest.shards.length;
  const problems: string[] = [];
  if (at.shardOrder.length !== n || [...at.shardOrder].sort((a, b) => a - b).some((s, i) => s !== i)) problems.push(`shard order ${JSON.stringify(at.shardOrder)} is not a permutation of the dataset's ${n} shards`);
  if (!(at.shardCursor >= 0 && at.shardCursor <= n)) problems.push(`shard cursor ${at.shardCursor} is outside 0..${n}`);
  for (const r of at.buffer) if (!(r.shard >= 0 && r.shard < n && r.index >= 0 && r.index < manifest.shards[r.shard]!.count)) problems.push(`buffered sample ${JSON.stringify(r)} is not in the dataset`);
  if (at.rng.length !== 4) problems.push(`rng state must be 4 words, got ${at.rng.length}`);
  if (problems.length) throw new HerdError('checkpoint_mismatch', `batch reader: the stored position does not fit ${dir}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}
