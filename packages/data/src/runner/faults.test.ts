// Fault injection for the runner (issue 8): damaged inputs, broken indexes and manifests, duplicates,
// poison samples and misbehaving stages. Every case ends in a clear error, or in a finished run
// where each sample the input promises is kept or dropped with a reason, with exact counts.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnUntil, stopChild } from '@herd/core';
import { END, gnuLongName, member, noise, sample as tarSample, tar } from '../fixtures/hostile-tars.js';
import { pipeline } from '../fixtures/pipeline.js';
import { makeSamples, type Labelled } from '../fixtures/samples.js';
import { encodeShard } from '../format/encode.js';
import { writeDataset } from '../format/write.js';
import type { Sample } from '../sample.js';
import { exactDuplicate } from '../stages/exact-duplicate.js';
import { runPipeline, type RunOptions, type RunResult } from './run.js';
import type { DropRecord } from './shard-task.js';
import { whyDropped } from './why.js';

const root = mkdtempSync(join(tmpdir(), 'herd-data-faults-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const samples: Labelled[] = makeSamples(40, 5);
const input = join(root, 'input');
const faultyModule = new URL('../fixtures/faulty.ts', import.meta.url).href;
const child = fileURLToPath(new URL('../fixtures/run-child.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
let n = 0;
const fresh = (): string => join(root, `out${n++}`);
let reference: { kept: string[]; drops: Map<string, string> };

function lines<T>(path: string): T[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

/**
 * The invariant of every case: each key read is either in the index or in drops.jsonl, once, and the
 * counts in stats.json agree. Returns kept keys and drop reasons by key.
 */
function accounted(out: string, res: RunResult): { kept: string[]; drops: Map<string, string>; records: DropRecord[] } {
  const kept = lines<{ key: string }>(join(out, 'index.jsonl')).map((e) => e.key);
  const records = lines<DropRecord>(join(out, 'drops.jsonl'));
  const all = [...kept, ...records.map((d) => d.key)];
  // A key occurs once, except where a later sample under the same key was dropped for it.
  const repeats = records.filter((d) => d.reason.startsWith('duplicate_key:')).length;
  expect(new Set(all).size).toBe(all.length - repeats);
  expect(new Set(kept).size).toBe(kept.length);
  expect(res.stats.in).toBe(all.length);
  expect(res.stats.out).toBe(kept.length);
  expect(res.stats.dropped).toBe(records.length);
  expect(res.manifest.totalCount).toBe(kept.length);
  for (const d of records) expect(d.reason, d.key).toMatch(/^[a-z_]+(: .+)?$/s);
  return { kept, drops: new Map(records.filter((d) => !d.reason.startsWith('duplicate_key:')).map((d) => [d.key, `${d.stage}/${d.reason}`])), records };
}

async function run(inDir: string, o: Partial<RunOptions> = {}): Promise<{ out: string; res: RunResult; acc: ReturnType<typeof accounted> }> {
  const out = fresh();
  const res = await runPipeline({ input: inDir, output: out, stages: pipeline(), progress: null, ...o } as RunOptions);
  return { out, res, acc: accounted(out, res) };
}

function copyInput(): string {
  const dir = fresh();
  cpSync(input, dir, { recursive: true });
  return dir;
}

const shardKeys = (i: number): string[] => samples.slice(i * 10, i * 10 + 10).map((s) => s.key);

/** A dataset written shard by shard from given samples, bypassing the writer's checks (duplicates allowed). */
async function handDataset(dir: string, shards: Sample[][]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const infos = [];
  const index = [];
  for (const [i, list] of shards.entries()) {
    const file = `shard-${String(i).padStart(6, '0')}.tar`;
    const enc = await encodeShard(list, file);
    writeFileSync(join(dir, file), Buffer.concat(enc.chunks));
    infos.push(enc.info);
    index.push(...enc.index);
  }
  writeFileSync(join(dir, 'index.jsonl'), index.map((e) => JSON.stringify(e) + '\n').join(''));
  writeManifestRaw(dir, infos.map((s) => ({ file: s.file, count: s.count, bytes: s.bytes })));
}

function writeManifestRaw(dir: string, shards: { file: string; count: number; bytes: number }[]): void {
  const totalCount = shards.reduce((a, s) => a + s.count, 0);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ name: 'hand', version: 1, createdAt: '2026-01-01T00:00:00Z', shards, totalCount, info: {} }));
}

beforeAll(async () => {
  await writeDataset(input, samples, { samplesPerShard: 10, name: 'faults' });
  const { acc } = await run(input);
  reference = acc;
  expect(reference.kept.length).toBeGreaterThan(10);
});

describe('damaged shards cost exactly their lost samples', () => {
  it('a zero-byte shard: its 10 samples dropped as unreadable, the run finishes', async () => {
    const dir = copyInput();
    truncateSync(join(dir, 'shard-000001.tar'), 0);
    const { res, acc } = await run(dir);
    expect(res.stats.in).toBe(40);
    const lost = shardKeys(1);
    for (const k of lost) expect(acc.drops.get(k)).toMatch(/^read\/unreadable: missing from shard \(shard is empty \(0 bytes/);
    // Everything else is judged as before, except a duplicate whose first copy was in the lost shard.
    const extra = acc.kept.filter((k) => !reference.kept.includes(k));
    expect(acc.kept.filter((k) => !extra.includes(k))).toEqual(reference.kept.filter((k) => !lost.includes(k)));
    for (const k of extra) expect(reference.drops.get(k)).toMatch(/^dedup\/exact_duplicate: same bytes as s0001\d$/);
    expect(res.stats.problems).toContainEqual(expect.stringMatching(/^shard-000001\.tar \(pass 0\): shard is empty/));
  });

  it('random bytes, a gzipped shard and a truncated one, in one run', async () => {
    const dir = copyInput();
    writeFileSync(join(dir, 'shard-000000.tar'), noise(6000, 3));
    writeFileSync(join(dir, 'shard-000002.tar'), gzipSync(readFileSync(join(input, 'shard-000002.tar'))));
    const bytes = readFileSync(join(input, 'shard-000003.tar'));
    const offsets = lines<{ key: string; offset: number; shard: string }>(join(input, 'index.jsonl')).filter((e) => e.shard === 'shard-000003.tar');
    writeFileSync(join(dir, 'shard-000003.tar'), bytes.subarray(0, (offsets[6] as { offset: number }).offset + 700));
    const { res, acc } = await run(dir);
    expect(res.stats.in).toBe(40);
    for (const k of shardKeys(0)) expect(acc.drops.get(k)).toMatch(/^read\/unreadable: missing from shard \(bad header checksum at byte 0\)$/);
    for (const k of shardKeys(2)) expect(acc.drops.get(k)).toMatch(/gzip-compressed/);
    const cut = shardKeys(3).slice(6);
    expect(acc.drops.get(cut[0] as string)).toMatch(/^read\/unreadable: shard ends inside this sample/);
    for (const k of cut.slice(1)) expect(acc.drops.get(k)).toMatch(/^read\/unreadable: missing from shard/);
    const readDrops = acc.records.filter((d) => d.stage === 'read').length;
    expect(readDrops).toBe(10 + 10 + 4);
    const survivors = [...shardKeys(1), ...shardKeys(3).slice(0, 6)];
    // Survivors that passed the exact-duplicate check in the reference pass it here too (no earlier twin lost).
    expect(acc.kept.every((k) => survivors.includes(k))).toBe(true);
  });
});

describe('broken indexes and manifests', () => {
  it('malformed index lines: the shards they belong to are read without the index, nothing lost', async () => {
    const dir = copyInput();
    const text = readFileSync(join(dir, 'index.jsonl'), 'utf8').split('\n');
    text[3] = '{not json';
    text[25] = '"just a string"';
    writeFileSync(join(dir, 'index.jsonl'), text.join('\n'));
    const { res, acc } = await run(dir);
    expect(acc.kept).toEqual(reference.kept);
    expect(acc.drops).toEqual(reference.drops);
    expect(res.stats.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^input: index\.jsonl:4: not valid JSON/),
        expect.stringMatching(/^input: index\.jsonl:26: expected \{key, shard, offset, sizes, meta\}/),
        'input: index.jsonl lists 9 samples of shard-000000.tar, the manifest 10: the shard is read without the index',
        'input: index.jsonl lists 9 samples of shard-000002.tar, the manifest 10: the shard is read without the index',
      ]),
    );
  });

  it('an index cut to half: the uncovered shards are read themselves (no silent loss, stats.in stays 40)', async () => {
    const dir = copyInput();
    const text = readFileSync(join(dir, 'index.jsonl'), 'utf8').split('\n');
    writeFileSync(join(dir, 'index.jsonl'), text.slice(0, 20).join('\n') + '\n');
    const { res, acc } = await run(dir);
    expect(res.stats).toMatchObject({ in: 40, promised: 40 });
    expect(acc.kept).toEqual(reference.kept);
    expect(acc.drops).toEqual(reference.drops);
    rmSync(join(dir, 'index.jsonl'));
    const again = await run(dir);
    expect(again.acc.kept).toEqual(reference.kept);
  });

  it('a missing manifest is a clear error naming it', async () => {
    const dir = copyInput();
    rmSync(join(dir, 'manifest.json'));
    await expect(runPipeline({ input: dir, output: fresh(), stages: pipeline(), progress: null })).rejects.toMatchObject({ code: 'io_error', message: expect.stringContaining('manifest.json') });
  });

  it('a shard listed twice: its repeat is dropped as duplicate keys, counted, not duplicated', async () => {
    const dir = copyInput();
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    m.shards.push(m.shards[1]);
    m.totalCount += 10;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const { res, acc } = await run(dir);
    expect(res.stats).toMatchObject({ in: 50, promised: 50, out: reference.kept.length });
    expect(acc.kept).toEqual(reference.kept);
    const dups = acc.records.filter((d) => d.reason.startsWith('duplicate_key'));
    expect(dups.map((d) => d.key)).toEqual(shardKeys(1));
    expect(dups[0]).toMatchObject({ stage: 'read', shard: 'shard-000001.tar', reason: 'duplicate_key: also in shard-000001.tar (the manifest lists this shard more than once)' });
    // Which means two records for those keys in drops.jsonl is impossible: accounted() checked uniqueness
    // over index + drops, and the repeats are the only drops of their keys.
    expect(res.stats.problems[0]).toMatch(/manifest lists shard-000001\.tar 2 times/);
  });

  it('the same key in two shards, and the same bytes under two keys across shards', async () => {
    const dir = fresh();
    const png = (b: number): Uint8Array => Uint8Array.from({ length: 64 }, (_, i) => (i * b) & 0xff);
    const s = (key: string, p: Uint8Array): Sample => ({ key, files: { png: p, txt: new TextEncoder().encode('a red circle') }, meta: { lang: 'en', score: 0.9 } });
    await handDataset(dir, [
      [s('a', png(1)), s('b', png(2))],
      [s('b', png(3)), s('c', png(1)), s('d', png(4))],
    ]);
    const out = fresh();
    const res = await runPipeline({ input: dir, output: out, stages: [exactDuplicate({ exts: ['png'] })], progress: null });
    const acc = accounted(out, res);
    expect(res.stats.in).toBe(5);
    expect(acc.kept).toEqual(['a', 'b', 'd']);
    expect(acc.records).toEqual([
      { key: 'b', stage: 'read', reason: 'duplicate_key: also in shard-000000.tar', shard: 'shard-000001.tar' },
      { key: 'c', stage: 'exact_duplicate', reason: 'exact_duplicate: same bytes as a', shard: 'shard-000001.tar' },
    ]);
    // "Why was b dropped?" — it was not: the first b was kept; only its repeat was dropped.
    expect(await whyDropped(out, 'b')).toEqual({ status: 'kept', key: 'b', shard: 'shard-000000.tar' });
  });
});

describe('poison samples are dropped with a reason naming them; the run finishes', () => {
  it('deep meta, non-UTF-8 meta, a 120-character key, an upper-case extension, unsafe names, a symlink — with a global-only pipeline', async () => {
    const dir = fresh();
    mkdirSync(dir);
    const long = 'k'.repeat(120);
    const shard0 = tar(
      tarSample('good1'),
      member('deep.json', `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`),
      member('latin.json', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d])),
      gnuLongName(`${long}.txt`),
      member('x', 'long key', { format: 'gnu' }),
      member('upper.json', '{}'),
      member('upper.PNG', 'png bytes'),
      member('../../evil.txt', 'x'),
      tarSample('linked'),
      member('linked.png', '', { type: '2', linkname: '/etc/shadow' }),
      tarSample('good2'),
      END,
    );
    const shard1 = tar(tarSample('good3'), tarSample('good1', 'same key again'), END);
    writeFileSync(join(dir, 'shard-000000.tar'), shard0);
    writeFileSync(join(dir, 'shard-000001.tar'), shard1);
    writeManifestRaw(dir, [
      { file: 'shard-000000.tar', count: 8, bytes: shard0.length },
      { file: 'shard-000001.tar', count: 2, bytes: shard1.length },
    ]);
    const out = fresh();
    const res = await runPipeline({ input: dir, output: out, stages: [exactDuplicate()], progress: null });
    const acc = accounted(out, res);
    expect(res.stats).toMatchObject({ in: 10, promised: 10, out: 3 });
    expect(acc.kept).toEqual(['good1', 'good2', 'good3']);
    expect(Object.fromEntries(acc.drops)).toEqual({
      deep: 'read/unreadable: meta JSON is nested 5001 levels deep (limit 64)',
      latin: 'read/unreadable: meta JSON is not valid UTF-8',
      [long]: expect.stringMatching(/^read\/invalid_sample: entry name "k{120}\.txt" is longer than 100 characters$/),
      upper: 'read/invalid_sample: file extension "PNG" must be lower-case letters, digits and "_", parts joined by "."',
      '../../evil': 'read/unreadable: unsafe member name "../../evil.txt" in shard-000000.tar: path traversal ("..")',
      linked: expect.stringMatching(/^read\/unreadable: member "linked\.png" in shard-000000\.tar is a symlink/),
      // good1 in shard 1 is a second sample under a key already used in shard 0.
    });
    expect(acc.records.filter((d) => d.key === 'good1')).toEqual([{ key: 'good1', stage: 'read', reason: 'duplicate_key: also in shard-000000.tar', shard: 'shard-000001.tar' }]);
  });
});

describe('misbehaving stages cost their sample or their shard, never the run', () => {
  const faulty = (options: object, extra: Partial<RunOptions> = {}): Partial<RunOptions> => ({ stages: undefined, pipeline: { module: faultyModule, export: 'faulty', options }, ...extra });

  it('a result that is not a result, a meta made unstorable in place, and a stage that never settles (in-process, sample time limit)', async () => {
    const bad = await run(input, faulty({ mode: 'bad-result', suffix: '5' }));
    expect(bad.res.stats.out).toBe(36);
    expect(bad.acc.drops.get('s00005')).toBe('faulty/stage_error: result is not {keep, sample} or {keep, reason}');
    const deep = await run(input, faulty({ mode: 'mutate-deep', suffix: '2' }));
    expect(deep.res.stats.out).toBe(36);
    expect(deep.acc.drops.get('s00012')).toBe('runner/invalid_sample: meta cannot be stored as JSON: Maximum call stack size exceeded');
    const hung = await run(input, faulty({ mode: 'hang', suffix: '7' }, { sampleTimeoutMs: 100 }));
    expect(hung.res.stats.out).toBe(36);
    for (const k of ['s00007', 's00017', 's00027', 's00037']) expect(hung.acc.drops.get(k)).toBe('faulty/stage_timeout: no result after 100 ms');
  });

  it('errors thrown from timers and unawaited rejections in worker threads cost only that sample', async () => {
    const thrown = await run(input, faulty({ mode: 'async-throw', suffix: '3', dedup: true }, { workers: 2 }));
    expect(thrown.res.stats.out).toBe(36 - thrown.acc.records.filter((d) => d.stage === 'dedup').length);
    for (const k of ['s00003', 's00013', 's00023', 's00033']) expect(thrown.acc.drops.get(k)).toBe(`faulty/stage_error: uncaught late boom on ${k}`);
    const rejected = await run(input, faulty({ mode: 'reject-later', suffix: '9' }, { workers: 1 }));
    expect(rejected.res.stats.out).toBe(36);
    expect(rejected.acc.drops.get('s00019')).toBe('faulty/stage_error: uncaught unawaited rejection on s00019');
  });

  it('a synchronous hang past the shard time limit gives that shard up; the pool and the next pass go on', async () => {
    const { res, acc } = await run(input, faulty({ mode: 'spin', shard: 'shard-000001.tar', dedup: true }, { workers: 2, shardTimeoutMs: 2500 }));
    expect(res.stats.in).toBe(40);
    for (const k of shardKeys(1)) expect(acc.drops.get(k)).toBe('runner/shard_timeout: not finished after 2500 ms');
    expect(res.stats.stages.find((s) => s.name === 'runner')).toMatchObject({ dropped: 10, droppedByReason: { shard_timeout: 10 } });
    expect(acc.kept.length + acc.records.length).toBe(40);
  });

  it('a stage that kills its worker thread: retried once on a fresh worker, then that shard is given up', async () => {
    const { res, acc } = await run(input, faulty({ mode: 'exit', shard: 'shard-000002.tar' }, { workers: 2 }));
    expect(res.stats.out).toBe(30);
    for (const k of shardKeys(2)) expect(acc.drops.get(k)).toBe('runner/worker_crashed: exited with code 3');
    const log = readFileSync(join(res.stats.output, '_run', 'log.jsonl'), 'utf8');
    expect(log).toContain('"event":"shard_retry"');
  });

  it('in-process, an error thrown from a timer neither kills the process nor ends it with exit 0 and no manifest', async () => {
    const out = fresh();
    const proc = spawn(process.execPath, ['--import', tsx, '--conditions=source', child, input, out, faultyModule, 'faulty', JSON.stringify({ mode: 'async-throw', suffix: '1' })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise((resolve) => proc.on('exit', (c) => resolve(c)));
    expect(stdout).toMatch(/^DONE \{"in":40,"out":36\}$/m);
    expect(code).toBe(0);
    expect(lines<DropRecord>(join(out, 'drops.jsonl')).map((d) => d.reason)).toEqual(['s00001', 's00011', 's00021', 's00031'].map((k) => `stage_error: uncaught late boom on ${k}`));
  });
});

describe('SIGINT', () => {
  it.each([
    ['in-process', {}],
    ['on a worker thread', { workers: 1 }],
  ])('%s: abandons the shard in flight, releases the lock, and a re-run ends like an uninterrupted run', async (_, runOptions) => {
    const out = fresh();
    const fixtureUrl = new URL('../fixtures/pipeline.ts', import.meta.url).href;
    const started = await spawnUntil(process.execPath, ['--import', tsx, '--conditions=source', child, input, out, fixtureUrl, 'pipeline', '{}', JSON.stringify(runOptions)], 'HANG', {
      HERD_TEST_HANG_ON: 'shard-000002.tar',
    });
    const code = await stopChild(started.proc, 'SIGINT');
    const stdout = started.out();
    expect(code).toBe(130);
    expect(stdout).toMatch(/FAILED run interrupted \(SIGINT\); re-run the same command to resume/);
    expect(existsSync(join(out, '_run', 'lock.json'))).toBe(false);
    expect(existsSync(join(out, 'manifest.json'))).toBe(false);
    expect(existsSync(join(out, '_run', 'pass-0', 'shard-000002.done.json'))).toBe(false);
    const fixture = new URL('../fixtures/pipeline.ts', import.meta.url).href;
    const res = await runPipeline({ input, output: out, pipeline: { module: fixture, export: 'pipeline', options: {} }, progress: null });
    expect(res.shards.skipped).toBe(2);
    const acc = accounted(out, res);
    expect(acc.kept).toEqual(reference.kept);
    expect(acc.drops).toEqual(reference.drops);
  });
});
