import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { isHerdError } from '@herd/core';
import { makeSamples, sha256 } from '../fixtures/samples.js';
import { isUnreadable, type Sample, type Unreadable } from '../sample.js';
import { lookupSample, readIndex, type IndexEntry } from './index-file.js';
import { readDataset } from './manifest.js';
import { iterateDataset, readShard } from './read.js';
import { ShardWriter, writeDataset } from './write.js';

const root = mkdtempSync(join(tmpdir(), 'herd-data-format-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `d${n++}`);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function plain(s: Sample): unknown {
  return { key: s.key, meta: s.meta, files: Object.fromEntries(Object.entries(s.files).map(([e, b]) => [e, Buffer.from(b).toString('hex')])) };
}

async function indexOf(dir: string): Promise<IndexEntry[]> {
  return collect(readIndex(dir));
}

describe('writeDataset / readDataset / iterateDataset', () => {
  it('round-trips samples through tar shards, manifest and index', async () => {
    const dir = fresh();
    const samples = makeSamples(10);
    const manifest = await writeDataset(dir, samples, { samplesPerShard: 4, name: 'tiny', info: { seed: 1 } });

    expect(manifest.shards.map((s) => [s.file, s.count])).toEqual([
      ['shard-000000.tar', 4],
      ['shard-000001.tar', 4],
      ['shard-000002.tar', 2],
    ]);
    expect(manifest.totalCount).toBe(10);
    expect(await readDataset(dir)).toEqual(manifest);
    expect(manifest).toMatchObject({ name: 'tiny', version: 1, info: { seed: 1 } });
    for (const s of manifest.shards) {
      const bytes = readFileSync(join(dir, s.file));
      expect(bytes.byteLength).toBe(s.bytes);
      expect(sha256(bytes)).toBe(s.sha256);
    }

    const back = await collect(iterateDataset(dir));
    expect(back.map(plain)).toEqual(samples.map(plain));
    expect(back[0]?.files.png).toBeInstanceOf(Uint8Array);

    const index = await indexOf(dir);
    expect(index.map((e) => e.key)).toEqual(samples.map((s) => s.key));
    expect(index[5]).toMatchObject({ shard: 'shard-000001.tar', meta: samples[5]?.meta, sizes: { png: samples[5]?.files.png?.byteLength } });
    // No stray temp files: every write went through rename.
    expect(readdirSync(dir).sort()).toEqual(['index.jsonl', 'manifest.json', 'shard-000000.tar', 'shard-000001.tar', 'shard-000002.tar']);
  });

  it('writes tars that GNU tar lists as WebDataset entries, samples contiguous', async () => {
    const dir = fresh();
    await writeDataset(dir, makeSamples(3), { samplesPerShard: 10 });
    const names = execFileSync('tar', ['-tf', join(dir, 'shard-000000.tar')], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toEqual(['s00000.json', 's00000.png', 's00000.txt', 's00001.json', 's00001.png', 's00001.txt', 's00002.json', 's00002.png', 's00002.txt']);
  });

  it('writes byte-identical shards for the same samples (fixed mtime)', async () => {
    const a = fresh();
    const b = fresh();
    await writeDataset(a, makeSamples(6), { samplesPerShard: 3 });
    await writeDataset(b, makeSamples(6), { samplesPerShard: 3 });
    expect(readFileSync(join(a, 'shard-000001.tar')).equals(readFileSync(join(b, 'shard-000001.tar')))).toBe(true);
  });

  it('accepts async iterables and closes shards by bytes too', async () => {
    const dir = fresh();
    async function* gen(): AsyncGenerator<Sample> {
      yield* makeSamples(5);
    }
    const manifest = await writeDataset(dir, gen(), { samplesPerShard: 100, maxShardBytes: 1500 });
    expect(manifest.totalCount).toBe(5);
    expect(manifest.shards.length).toBeGreaterThan(1);
  });

  it('replaces an existing dataset in the folder, removing stale shards', async () => {
    const dir = fresh();
    await writeDataset(dir, makeSamples(9), { samplesPerShard: 3 });
    await writeDataset(dir, makeSamples(2), { samplesPerShard: 3 });
    expect(readdirSync(dir).filter((f) => f.endsWith('.tar'))).toEqual(['shard-000000.tar']);
    expect((await readDataset(dir)).totalCount).toBe(2);
    expect(await indexOf(dir)).toHaveLength(2);
  });

  it('rejects samples it cannot store, naming the sample', async () => {
    const bad: [Sample, RegExp][] = [
      [{ key: 'a.b', files: {}, meta: {} }, /sample "a\.b".*no dots/s],
      [{ key: 'ok', files: { json: new Uint8Array(1) }, meta: {} }, /must not hold "json"/],
      [{ key: 'ok', files: { PNG: new Uint8Array(1) }, meta: {} }, /extension "PNG"/],
      [{ key: 'ok', files: { png: [1, 2] as unknown as Uint8Array }, meta: {} }, /files.png must be a Uint8Array/],
      [{ key: 'x'.repeat(99), files: { png: new Uint8Array(1) }, meta: {} }, /longer than 100/],
    ];
    for (const [sample, re] of bad) {
      const err = await writeDataset(fresh(), [sample]).catch((e: unknown) => e);
      expect(isHerdError(err, 'invalid_argument'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(re);
    }
    const dup = await writeDataset(fresh(), [makeSamples(1)[0] as Sample, makeSamples(1)[0] as Sample]).catch((e: unknown) => e);
    expect((dup as Error).message).toMatch(/key "s00000" appears twice/);
    const w = new ShardWriter(fresh());
    await w.close();
    await expect(w.write(makeSamples(1)[0] as Sample)).rejects.toThrow(/after close/);
  });

  it('reports a missing or broken manifest as a HerdError naming the file', async () => {
    const dir = fresh();
    await expect(readDataset(dir)).rejects.toMatchObject({ code: 'io_error', message: expect.stringContaining('manifest.json') });
    await writeDataset(dir, makeSamples(2));
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    m.totalCount = 7;
    m.shards[0].file = '../evil.tar';
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const err = (await readDataset(dir).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'corrupt_data' });
    expect(err.message).toMatch(/shards\[0\]\.file/);
    expect(err.message).toMatch(/totalCount: expected the sum of shard counts \(2\), got 7/);
  });
});

describe('lookupSample', () => {
  it('finds every sample through the index by byte offset', async () => {
    const dir = fresh();
    const samples = makeSamples(12);
    await writeDataset(dir, samples, { samplesPerShard: 5 });
    for (const s of samples) expect(plain((await lookupSample(dir, s.key)) as Sample)).toEqual(plain(s));
    expect(await lookupSample(dir, 'nope')).toBeUndefined();
  });

  it('notices an index that no longer matches its shard', async () => {
    const dir = fresh();
    await writeDataset(dir, makeSamples(4), { samplesPerShard: 4 });
    const lines = readFileSync(join(dir, 'index.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    lines[2].offset = lines[1].offset;
    writeFileSync(join(dir, 'index.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    await expect(lookupSample(dir, 's00002')).rejects.toMatchObject({ code: 'corrupt_data', message: expect.stringContaining('found "s00001"') });
  });
});

describe('damaged shards', () => {
  async function damaged(): Promise<{ dir: string; shard: string; expected: IndexEntry[] }> {
    const dir = fresh();
    await writeDataset(dir, makeSamples(6), { samplesPerShard: 6 });
    const shard = join(dir, 'shard-000000.tar');
    return { dir, shard, expected: await indexOf(dir) };
  }

  it('truncated mid-sample: strict readers throw naming the file, tolerant ones yield markers', async () => {
    const { shard, expected } = await damaged();
    const cut = (expected[3] as IndexEntry).offset + 512 + 20; // inside s00003's meta
    truncateSync(shard, cut);

    const err = (await collect(readShard(shard)).catch((e: unknown) => e)) as Error;
    expect(isHerdError(err, 'corrupt_data')).toBe(true);
    expect(err.message).toContain('shard-000000.tar');

    const items = await collect(readShard(shard, { tolerant: true, expected }));
    const good = items.filter((i): i is Sample => !isUnreadable(i)).map((s) => s.key);
    const bad = items.filter(isUnreadable).map((u) => [u.key, u.detail]);
    expect(good).toEqual(['s00000', 's00001', 's00002']);
    expect(bad.map(([k]) => k)).toEqual(['s00003', 's00004', 's00005']);
    expect(bad[0]?.[1]).toMatch(/shard ends inside this sample/);
    expect(bad[1]?.[1]).toMatch(/missing from shard \(file ends inside member "s00003.json" \(20 of \d+ bytes\)\)/);

    // Without the index, the last whole samples survive and the lost tail is counted from the manifest.
    const blind = await collect(readShard(shard, { tolerant: true, expectedCount: 6 }));
    expect(blind.filter((i) => !isUnreadable(i)).map((s) => s.key)).toEqual(['s00000', 's00001', 's00002']);
    expect(blind.filter(isUnreadable).map((u) => u.key)).toEqual(['s00003', 'shard-000000.tar#4', 'shard-000000.tar#5']);
  });

  it('truncated exactly between samples: only the index (or count) reveals the loss', async () => {
    const { dir, shard, expected } = await damaged();
    truncateSync(shard, (expected[4] as IndexEntry).offset);
    const items = await collect(readShard(shard, { tolerant: true, expected }));
    expect(items.map((i) => (isUnreadable(i) ? `!${i.key}` : i.key))).toEqual(['s00000', 's00001', 's00002', 's00003', '!s00004', '!s00005']);
    await expect(collect(iterateDataset(dir))).rejects.toMatchObject({ code: 'corrupt_data', message: expect.stringMatching(/shard-000000\.tar#4.*shard ends early/) });
  });

  it('a sample that lost a trailing entry is caught by the index sizes', async () => {
    const { shard, expected } = await damaged();
    const e5 = expected[5] as IndexEntry;
    // Cut after s00005's .json and .png, dropping its .txt entry.
    truncateSync(shard, e5.offset + 512 + 512 * Math.ceil((e5.sizes.json as number) / 512) + 512 + 512 * Math.ceil((e5.sizes.png as number) / 512));
    const items = await collect(readShard(shard, { tolerant: true, expected }));
    const last = items[items.length - 1] as Unreadable;
    expect(last).toMatchObject({ kind: 'unreadable', key: 's00005', detail: expect.stringContaining('entry .txt is missing') });
    expect(items.filter((i) => !isUnreadable(i))).toHaveLength(5);
  });

  it('a garbled header costs only its sample: the reader skips to the next valid header', async () => {
    const { shard, expected } = await damaged();
    const bytes = readFileSync(shard);
    const at = (expected[2] as IndexEntry).offset;
    bytes.fill(0x41, at, at + 200);
    writeFileSync(shard, bytes);
    const problems: string[] = [];
    const items = await collect(readShard(shard, { tolerant: true, expected, onProblem: (p) => problems.push(p) }));
    expect(items.map((i) => (isUnreadable(i) ? `!${i.key}` : i.key))).toEqual(['s00000', 's00001', '!s00002', 's00003', 's00004', 's00005']);
    expect((items[2] as Unreadable).detail).toMatch(/^entry \.json is missing, index says \d+ bytes \(follows damaged tar data: bad header checksum at byte \d+\)$/);
    expect(problems).toEqual([`bad header checksum at byte ${at}`]);
    // Without the index the sample after the damage is refused too: its members may be incomplete.
    const blind = await collect(readShard(shard, { tolerant: true, expectedCount: 6, onProblem: () => undefined }));
    expect(blind.map((i) => (isUnreadable(i) ? `!${i.key}` : i.key))).toEqual(['s00000', 's00001', '!s00002', 's00003', 's00004', 's00005']);
    // A strict reader throws, naming the file and the offset.
    await expect(collect(readShard(shard))).rejects.toMatchObject({ code: 'corrupt_data', message: expect.stringContaining(`shard-000000.tar: bad header checksum at byte ${at}`) });
  });

  it('bad meta JSON and non-contiguous entries make that sample unreadable, not the shard', async () => {
    const dir = fresh();
    const path = join(dir, 'hand.tar');
    const tar = pack();
    const chunks: Buffer[] = [];
    const done = (async () => {
      for await (const c of tar) chunks.push(c as Buffer);
    })();
    tar.entry({ name: 'a.json' }, '{"ok": true}');
    tar.entry({ name: 'a.txt' }, 'hello');
    tar.entry({ name: 'b.json' }, '{broken');
    tar.entry({ name: 'c.txt' }, 'c');
    tar.entry({ name: 'a.png' }, 'again');
    tar.entry({ name: 'd.json' }, '[1]');
    tar.entry({ name: 'e.txt' }, 'no meta is fine');
    tar.finalize();
    await done;
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, Buffer.concat(chunks));
    const items = await collect(readShard(path, { tolerant: true }));
    expect(items.map((i) => (isUnreadable(i) ? `!${i.key}: ${i.detail}` : i.key))).toEqual([
      'a',
      expect.stringMatching(/^!b: invalid meta JSON/),
      'c',
      '!a: its entries are not contiguous in the shard',
      '!d: meta JSON is not an object',
      'e',
    ]);
    expect((items[5] as Sample).meta).toEqual({});
  });

  it('a missing shard file yields markers for every indexed sample', async () => {
    const { shard, expected } = await damaged();
    rmSync(shard);
    await expect(collect(readShard(shard))).rejects.toMatchObject({ code: 'io_error', message: expect.stringContaining(shard) });
    const items = await collect(readShard(shard, { tolerant: true, expected }));
    expect(items).toHaveLength(6);
    expect(items.every(isUnreadable)).toBe(true);
    expect((items[0] as Unreadable).detail).toBe('missing from shard (shard file missing)');
  });
});
