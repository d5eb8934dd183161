import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedDrops, makeSamples, sha256, type Labelled } from '../fixtures/samples.js';
import { batchCalls, pipeline } from '../fixtures/pipeline.js';
import { readIndex, type IndexEntry } from '../format/index-file.js';
import { readDataset } from '../format/manifest.js';
import { iterateDataset } from '../format/read.js';
import { writeDataset } from '../format/write.js';
import type { Sample } from '../sample.js';
import type { Stage } from '../stages/stage.js';
import { runPipeline, type RunResult } from './run.js';
import type { DropRecord } from './shard-task.js';
import { formatStats, type RunStats } from './stats.js';
import { whyDropped } from './why.js';

const root = mkdtempSync(join(tmpdir(), 'herd-data-run-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const input = join(root, 'input');
const samples: Labelled[] = makeSamples(60, 7);
const fixture = new URL('../fixtures/pipeline.ts', import.meta.url).href;
let n = 0;
const fresh = (): string => join(root, `out${n++}`);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const readDrops = (dir: string): DropRecord[] =>
  readFileSync(join(dir, 'drops.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as DropRecord);

/** Everything a run writes that must not depend on timing, worker count or interruptions. */
function fingerprint(dir: string): Record<string, unknown> {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const stats = JSON.parse(readFileSync(join(dir, 'stats.json'), 'utf8')) as RunStats;
  return {
    shards: manifest.shards,
    totalCount: manifest.totalCount,
    files: readdirSync(dir).sort(),
    index: readFileSync(join(dir, 'index.jsonl'), 'utf8'),
    drops: readFileSync(join(dir, 'drops.jsonl'), 'utf8'),
    stats: stats.stages.map(({ seconds: _s, samplesPerSecond: _r, ...rest }) => rest),
  };
}

beforeAll(async () => {
  await writeDataset(input, samples, { samplesPerShard: 12, name: 'fixture' });
});

describe('runPipeline in-process', () => {
  let out: string;
  let result: RunResult;
  const want = expectedDrops(samples);

  beforeAll(async () => {
    out = fresh();
    result = await runPipeline({ input, output: out, stages: pipeline(), progress: null });
  });

  it('keeps and drops exactly what the labels say, in order', async () => {
    const kept = samples.filter((s) => !want.has(s.key));
    expect(kept.length).toBeGreaterThan(10);
    expect(want.size).toBeGreaterThan(10);
    const back = await collect(iterateDataset(out));
    expect(back.map((s) => s.key)).toEqual(kept.map((s) => s.key));
    const first = back[0] as Sample;
    const orig = kept[0] as Labelled;
    expect(first.meta).toEqual({ ...orig.meta, curated: true });
    expect(Buffer.from(first.files.png as Uint8Array).equals(Buffer.from(orig.files.png as Uint8Array))).toBe(true);
    const caption = new TextDecoder().decode(first.files.txt);
    expect(caption).toBe(orig.meta.caption.charAt(0).toUpperCase() + orig.meta.caption.slice(1));

    const drops = readDrops(out);
    expect(new Map(drops.map((d) => [d.key, [d.stage, d.reason.split(':')[0]]]))).toEqual(want);
    expect(drops).toHaveLength(want.size);
    const dup = drops.find((d) => d.stage === 'dedup');
    expect(dup?.reason).toMatch(/^exact_duplicate: same bytes as s\d{5}$/);
    const firstKey = dup?.reason.split(' ').pop() as string;
    expect(sha256(samples.find((s) => s.key === firstKey)?.files.png as Uint8Array)).toBe(sha256(samples.find((s) => s.key === dup?.key)?.files.png as Uint8Array));
    expect(drops.find((d) => d.stage === 'clip_score')?.reason).toMatch(/^low_clip_score: 0\.\d+ < 0\.25$/);
  });

  it('records per-stage statistics that add up', async () => {
    const count = (stage: string): number => [...want.values()].filter(([s]) => s === stage).length;
    const stats = result.stats;
    expect(JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8'))).toEqual(stats);
    const row = (name: string) => stats.stages.find((s) => s.name === name);
    expect(stats.stages.map((s) => [s.name, s.kind])).toEqual([
      ['read', 'read'],
      ['hang', 'sample'],
      ['english_only', 'sample'],
      ['text', 'sample'],
      ['clip_score', 'sample'],
      ['dedup', 'global'],
      ['tag', 'sample'],
    ]);
    expect(row('read')).toMatchObject({ in: 60, kept: 60, dropped: 0 });
    expect(row('english_only')).toMatchObject({ in: 60, kept: 60 - count('english_only'), dropped: count('english_only'), droppedByReason: { non_english_caption: count('english_only') } });
    const afterEn = 60 - count('english_only');
    expect(row('text')).toMatchObject({ in: afterEn, dropped: count('text'), droppedByReason: { text_too_short: count('text') } });
    const afterText = afterEn - count('text');
    expect(row('clip_score')).toMatchObject({ in: afterText, dropped: count('clip_score'), droppedByReason: { low_clip_score: count('clip_score') } });
    const afterClip = afterText - count('clip_score');
    expect(row('dedup')).toMatchObject({ in: afterClip, kept: afterClip - count('dedup'), dropped: count('dedup'), droppedByReason: { exact_duplicate: count('dedup') } });
    expect(row('tag')).toMatchObject({ in: 60 - want.size, kept: 60 - want.size, dropped: 0 });
    expect(stats).toMatchObject({ in: 60, out: 60 - want.size, passes: 2, workers: 0 });
    for (const s of stats.stages) expect(s.seconds).toBeGreaterThanOrEqual(0);
    expect(result.shards).toEqual({ processed: 10, skipped: 0 });

    const table = formatStats(stats);
    expect(table).toMatch(/^stage\s+kind\s+in\s+kept\s+dropped\s+seconds\s+samples\/s$/m);
    expect(table).toMatch(new RegExp(`^english_only\\s+sample\\s+60\\s+${afterEn}\\s+${count('english_only')}\\s`, 'm'));
    expect(table).toMatch(new RegExp(`^  exact_duplicate\\s+${count('dedup')}$`, 'm'));
    expect(table).toContain(`60 in, ${60 - want.size} out`);
  });

  it('answers why a sample was dropped, kept, or never seen', async () => {
    const [german] = [...want].find(([, [stage]]) => stage === 'english_only') as [string, unknown];
    expect(await whyDropped(out, german)).toEqual({ status: 'dropped', key: german, stage: 'english_only', reason: 'non_english_caption', shard: expect.stringMatching(/^shard-00000\d\.tar$/) });
    const [dupKey] = [...want].find(([, [stage]]) => stage === 'dedup') as [string, unknown];
    expect(await whyDropped(out, dupKey)).toMatchObject({ status: 'dropped', stage: 'dedup', reason: expect.stringMatching(/^exact_duplicate: same bytes as /) });
    const kept = samples.find((s) => !want.has(s.key)) as Sample;
    expect(await whyDropped(out, kept.key)).toEqual({ status: 'kept', key: kept.key, shard: 'shard-000000.tar' });
    expect(await whyDropped(out, 'no-such-key')).toEqual({ status: 'unseen', key: 'no-such-key' });
    await expect(whyDropped(input, 'x')).rejects.toMatchObject({ code: 'io_error' });
  });

  it('writes a well-formed output dataset and cleans up between-pass shards', async () => {
    const manifest = await readDataset(out);
    expect(manifest).toEqual(result.manifest);
    expect(manifest).toMatchObject({ name: 'fixture', info: { curatedFrom: { name: 'fixture', totalCount: 60 } } });
    const index = await collect(readIndex(out));
    expect(index.map((e: IndexEntry) => e.key)).toEqual((await collect(iterateDataset(out))).map((s) => s.key));
    expect(readdirSync(join(out, '_run', 'pass-0')).filter((f) => f.endsWith('.tar'))).toEqual([]);
    expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('a re-run of a finished run skips every shard and changes nothing', async () => {
    const before = fingerprint(out);
    const again = await runPipeline({ input, output: out, stages: pipeline(), progress: null });
    expect(again.shards).toEqual({ processed: 0, skipped: 10 });
    expect(fingerprint(out)).toEqual(before);
  });

  it('refuses to resume a run of a different pipeline, or to write over unrelated files', async () => {
    await expect(runPipeline({ input, output: out, stages: pipeline({ minScore: 0.5 }).slice(0, 3), progress: null })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringContaining('different pipeline'),
    });
    const other = fresh();
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    await expect(runPipeline({ input, output: other, stages: pipeline(), progress: null })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(runPipeline({ input, output: fresh(), stages: pipeline(), workers: 2 })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringContaining('workers > 0 needs pipeline'),
    });
  });
});

describe('runPipeline on damaged input', () => {
  it('drops what a truncated shard lost as unreadable and finishes the run', async () => {
    const damaged = join(root, 'damaged');
    cpSync(input, damaged, { recursive: true });
    const index = await collect(readIndex(damaged));
    const inShard2 = index.filter((e) => e.shard === 'shard-000002.tar');
    const cutAt = inShard2[5] as IndexEntry;
    truncateSync(join(damaged, 'shard-000002.tar'), cutAt.offset + 700);
    const lost = inShard2.slice(5).map((e) => e.key);

    const out = fresh();
    const res = await runPipeline({ input: damaged, output: out, stages: pipeline(), progress: null });
    const drops = readDrops(out);
    const unreadable = drops.filter((d) => d.stage === 'read');
    expect(unreadable.map((d) => d.key)).toEqual(lost);
    for (const d of unreadable) expect(d.reason).toMatch(/^unreadable: /);
    expect(res.stats.stages[0]).toMatchObject({ name: 'read', in: 60, kept: 60 - lost.length, dropped: lost.length, droppedByReason: { unreadable: lost.length } });
    expect(await whyDropped(out, lost[0] as string)).toMatchObject({ status: 'dropped', stage: 'read', reason: expect.stringMatching(/^unreadable: shard ends inside this sample \(file ends inside (the padding of )?member "s\d+\.json"/) });

    // Every other sample is judged as in an undamaged run.
    const want = expectedDrops(samples.filter((s) => !lost.includes(s.key)));
    const rest = drops.filter((d) => d.stage !== 'read');
    expect(new Map(rest.map((d) => [d.key, [d.stage, d.reason.split(':')[0]]]))).toEqual(want);
  });

  it('turns a throwing stage into stage_error drops', async () => {
    const boom: Stage = {
      kind: 'sample',
      name: 'boom',
      process(s) {
        if (s.key.endsWith('3')) throw new Error('model exploded');
        return { keep: true, sample: s };
      },
    };
    const rename: Stage = { kind: 'sample', name: 'rename', process: (s) => ({ keep: true, sample: { ...s, key: `${s.key}x` } }) };
    const out = fresh();
    const res = await runPipeline({ input, output: out, stages: [boom, rename], progress: null });
    const byReason = res.stats.stages.find((s) => s.name === 'boom')?.droppedByReason;
    expect(byReason).toEqual({ stage_error: samples.filter((s) => s.key.endsWith('3')).length });
    expect(await whyDropped(out, 's00003')).toMatchObject({ reason: 'stage_error: model exploded' });
    expect(await whyDropped(out, 's00004')).toMatchObject({ stage: 'rename', reason: 'stage_error: key changed to "s00004x"' });
    expect(res.stats.out).toBe(0);
    expect((await readDataset(out)).shards).toEqual([]);
  });
});

describe('runPipeline with a batched stage', () => {
  it('hands the batch hook at most batchSize samples per call and writes the unbatched output', async () => {
    const plain = fresh();
    await runPipeline({ input, output: plain, stages: pipeline(), progress: null });
    const batched = fresh();
    batchCalls.length = 0;
    const res = await runPipeline({ input, output: batched, stages: pipeline({ clipBatch: 5 }), progress: null });
    const clipIn = res.stats.stages.find((s) => s.name === 'clip_score')?.in as number;
    expect(batchCalls.reduce((a, b) => a + b, 0)).toBe(clipIn);
    expect(Math.max(...batchCalls)).toBe(5);
    // Shards of 12: full batches but at the end of a shard.
    expect(batchCalls.length).toBeLessThan(clipIn / 2);
    expect(fingerprint(batched)).toEqual(fingerprint(plain));
    for (const s of res.manifest.shards) expect(readFileSync(join(batched, s.file)).equals(readFileSync(join(plain, s.file)))).toBe(true);
  });

  it('retries a batch that throws or returns too few results one sample at a time', async () => {
    const plain = fresh();
    await runPipeline({ input, output: plain, stages: pipeline(), progress: null });
    const out = fresh();
    batchCalls.length = 0;
    await runPipeline({ input, output: out, stages: pipeline({ clipBatch: 4, batchThrowsOn: '7', batchShortOn: '2' }), progress: null });
    expect(fingerprint(out)).toEqual(fingerprint(plain));
    await expect(runPipeline({ input, output: fresh(), stages: pipeline({ clipBatch: 0 }), progress: null })).rejects.toThrow(/clip_score: batchSize must be an integer ≥ 1, got 0/);
  });

  it('gives the same output batched on worker threads', async () => {
    const a = fresh();
    const b = fresh();
    await runPipeline({ input, output: a, pipeline: { module: fixture, export: 'pipeline', options: {} }, workers: 0, progress: null });
    await runPipeline({ input, output: b, pipeline: { module: fixture, export: 'pipeline', options: { clipBatch: 3 } }, workers: 2, progress: null });
    expect(fingerprint(b)).toEqual(fingerprint(a));
  });
});

describe('runPipeline with worker threads', () => {
  it('gives byte-identical output to the in-process run', async () => {
    const a = fresh();
    const b = fresh();
    await runPipeline({ input, output: a, pipeline: { module: fixture, export: 'pipeline', options: {} }, workers: 0, progress: null });
    const res = await runPipeline({ input, output: b, pipeline: { module: fixture, export: 'pipeline', options: {} }, workers: 2, progress: null });
    expect(res.stats.workers).toBe(2);
    expect(res.shards.processed).toBe(10);
    expect(fingerprint(b)).toEqual(fingerprint(a));
    for (const s of res.manifest.shards) expect(readFileSync(join(b, s.file)).equals(readFileSync(join(a, s.file)))).toBe(true);
    expect(existsSync(join(b, '_run', 'lock.json'))).toBe(false);
  });

  it('reports a pipeline module that cannot be loaded, naming it', async () => {
    await expect(
      runPipeline({ input, output: fresh(), pipeline: { module: fixture, export: 'nope' }, workers: 1, progress: null }),
    ).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/has no export "nope" \(it exports: .*pipeline/) });
  });
});
