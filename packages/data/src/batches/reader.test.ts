import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHerdError } from '@herd/core';
import { writeDataset } from '../format/write.js';
import { type Sample } from '../sample.js';
import { type BatchPosition, ShardBatchReader } from './reader.js';

const root = mkdtempSync(join(tmpdir(), 'herd-batches-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const dir = join(root, 'ds');
const N = 23; // 5 shards of 5, the last one short

beforeAll(async () => {
  const samples: Sample[] = Array.from({ length: N }, (_, i) => ({ key: `s${String(i).padStart(3, '0')}`, files: { txt: new TextEncoder().encode(`sample ${i}`) }, meta: { i } }));
  await writeDataset(dir, samples, { samplesPerShard: 5 });
});

const collate = (ss: readonly Sample[]) => ss.map((s) => s.meta['i'] as number);
const opts = { batchSize: 4, seed: 7, collate, shuffleBuffer: 6 };

async function take(r: ShardBatchReader<number[]>, n: number): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < n; i++) out.push(await r.next());
  return out;
}

describe('ShardBatchReader', () => {
  it('visits every sample once per epoch, shuffled, in a different order each epoch and the same order for the same seed', async () => {
    const r = await ShardBatchReader.open(dir, opts);
    const firstEpochs = (await take(r, 23)).flat(); // 92 samples = 4 epochs of 23
    for (let e = 0; e < 4; e++) expect([...firstEpochs.slice(e * N, (e + 1) * N)].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(firstEpochs.slice(0, N)).not.toEqual(Array.from({ length: N }, (_, i) => i));
    expect(firstEpochs.slice(0, N)).not.toEqual(firstEpochs.slice(N, 2 * N));
    expect(r.position().epoch).toBe(3);
    const again = await ShardBatchReader.open(dir, opts);
    expect((await take(again, 23)).flat()).toEqual(firstEpochs);
    const other = await ShardBatchReader.open(dir, { ...opts, seed: 8 });
    expect((await take(other, 6)).flat()).not.toEqual(firstEpochs.slice(0, 24));
    await Promise.all([r.close(), again.close(), other.close()]);
  });

  it('resumes exactly from a stored position (mid-shard, with a full buffer, across an epoch boundary)', async () => {
    const straight = await ShardBatchReader.open(dir, opts);
    const want = await take(straight, 14);
    for (const cut of [1, 3, 5, 7]) {
      const a = await ShardBatchReader.open(dir, opts);
      const head = await take(a, cut);
      const pos: BatchPosition = JSON.parse(JSON.stringify(a.position()));
      await a.close();
      expect(pos.buffer.length).toBeGreaterThan(0);
      const b = await ShardBatchReader.open(dir, opts, pos);
      expect([...head, ...(await take(b, 14 - cut))]).toEqual(want);
      await b.close();
    }
    await straight.close();
  });

  it('hands collate the index of each batch in the stream, continued across a resume', async () => {
    const indexed = { ...opts, collate: (_ss: readonly Sample[], index: number) => [index] };
    const a = await ShardBatchReader.open(dir, indexed);
    expect(await take(a, 3)).toEqual([[0], [1], [2]]);
    const b = await ShardBatchReader.open(dir, indexed, JSON.parse(JSON.stringify(a.position())) as BatchPosition);
    expect(await take(b, 2)).toEqual([[3], [4]]);
    await Promise.all([a.close(), b.close()]);
  });

  it('keeps shard order with a buffer of one and no shard shuffle; serves the trainer in order only', async () => {
    const r = await ShardBatchReader.open(dir, { ...opts, shuffleBuffer: 1, shuffleShards: false });
    expect(await r.batch(0)).toEqual([0, 1, 2, 3]);
    expect(await r.batch(1)).toEqual([4, 5, 6, 7]);
    await expect(r.batch(5)).rejects.toThrow(/asked for batch 5 but the stream is at batch 2/);
    await r.close();
  });

  it('refuses a position that does not fit the dataset, naming every problem', async () => {
    const bad: BatchPosition = { epoch: 0, shardOrder: [0, 1, 2], shardCursor: 9, sampleCursor: 0, buffer: [{ shard: 4, index: 3 }], rng: [1, 2, 3, 4], batches: 0 };
    try {
      await ShardBatchReader.open(dir, opts, bad);
      expect.unreachable();
    } catch (e) {
      expect(isHerdError(e) && e.code).toBe('checkpoint_mismatch');
      expect((e as Error).message).toMatch(/not a permutation[\s\S]*shard cursor 9[\s\S]*buffered sample/);
    }
  });
});
