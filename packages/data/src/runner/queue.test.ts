import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLoopbackPort, spawnUntil, type StartedProcess } from '@herd/core';
import { makeSamples } from '../fixtures/samples.js';
import { writeDataset } from '../format/write.js';
import { mergeRun, runPipeline, runShardSlice } from './run.js';
import type { DropRecord } from './shard-task.js';

// A real redis-server on loopback, started here and killed after; skipped only when it is not installed.
const redisBin = spawnSync('redis-server', ['--version']).status === 0 ? 'redis-server' : undefined;
const root = mkdtempSync(join(tmpdir(), 'herd-data-queue-'));
const fixture = new URL('../fixtures/pipeline.ts', import.meta.url).href;
const workerScript = fileURLToPath(new URL('../fixtures/queue-worker.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const pipeline = { module: fixture, export: 'pipeline', options: {} };
const input = join(root, 'input');
const reference = join(root, 'reference');
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

/** Starts a child (killed after the tests) and resolves once its stdout contains `marker`. */
async function startUntil(cmd: string, args: string[], marker: string, env: NodeJS.ProcessEnv = {}): Promise<StartedProcess> {
  const started = spawnUntil(cmd, args, marker, env);
  const p = await started;
  children.push(p.proc);
  return p;
}

const worker = (url: string, env: NodeJS.ProcessEnv = {}, marker = 'READY') =>
  startUntil(process.execPath, ['--import', tsx, '--conditions=source', workerScript, url], marker, env);

/** What must not depend on how the shards were spread over workers. */
function outputOf(dir: string): Record<string, string> {
  const files = readdirSync(dir).filter((f) => /^shard-\d+\.tar$|^index\.jsonl$|^drops\.jsonl$/.test(f));
  const stats = JSON.parse(readFileSync(join(dir, 'stats.json'), 'utf8'));
  return {
    ...Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f)).toString('base64')])),
    shards: JSON.stringify(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).shards),
    stats: JSON.stringify(stats.stages.map(({ seconds: _s, samplesPerSecond: _r, ...rest }: Record<string, unknown>) => rest)),
  };
}

beforeAll(async () => {
  await writeDataset(input, makeSamples(90, 11), { samplesPerShard: 10 });
  await runPipeline({ input, output: reference, pipeline, progress: null });
});

describe.skipIf(redisBin === undefined)('curation over a Redis/BullMQ shard queue (redis-server on loopback)', () => {
  it('3 queue workers, one SIGKILLed mid-shard: the output equals the single-process run', async () => {
    const port = await freeLoopbackPort();
    await startUntil(redisBin as string, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], 'Ready to accept connections');
    const url = `redis://127.0.0.1:${port}`;

    // The first worker hangs inside the first shard it takes; the others start once it holds one.
    const doomed = await worker(url, { HERD_TEST_HANG_ON: '*' });
    const out = join(root, 'queued');
    const run = runPipeline({ input, output: out, pipeline, queue: { url }, progress: null });
    run.catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (doomed.out().includes('HANG')) {
          clearInterval(t);
          resolve();
        }
      }, 20);
      doomed.proc.on('exit', () => reject(new Error(`doomed worker exited early: ${doomed.out()}`)));
    });
    const hung = /HANG (\S+)/.exec(doomed.out())?.[1] as string;
    const helpers = await Promise.all([worker(url), worker(url)]);
    doomed.proc.kill('SIGKILL');

    const res = await run;
    expect(res.stats.in).toBe(90);
    expect(outputOf(out)).toEqual(outputOf(reference));
    // The shard the dead worker held was finished by another one.
    const log = helpers.map((h) => h.out()).join('');
    expect(log).toMatch(new RegExp(`SHARD 0 ${hung.replace('.', '\\.')} done`));
    // Both passes were spread over the two live workers.
    for (const h of helpers) expect(h.out()).toMatch(/SHARD \d shard-\d+\.tar done/);
    const drops = readFileSync(join(out, 'drops.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as DropRecord);
    const index = readFileSync(join(out, 'index.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string });
    const keys = [...drops.map((d) => d.key), ...index.map((e) => e.key)];
    expect(keys.length).toBe(90);
    expect(new Set(keys).size).toBe(90);
    expect(existsSync(join(out, '_run', 'lock.json'))).toBe(false);

    for (const h of helpers) h.proc.kill('SIGTERM');
    await Promise.all(helpers.map((h) => new Promise((r) => (h.proc.exitCode !== null ? r(null) : h.proc.on('exit', r)))));
    for (const h of helpers) expect(h.out()).toContain('STOPPED');
  });
});

describe('static shard slices (--shard i/N) and the merge step', () => {
  it('three slices and two merges give the same output as one run', async () => {
    const out = join(root, 'sliced');
    // Pass 0 for every slice, then the merge decides the global stage, then pass 1, then the merge assembles.
    const first = await Promise.all([0, 1, 2].map((index) => runShardSlice({ input, output: out, pipeline, progress: null }, { index, count: 3 })));
    expect(first.map((r) => [r.passesDone, r.passes])).toEqual([[1, 2], [1, 2], [1, 2]]);
    expect(first.reduce((n, r) => n + r.shards.processed, 0)).toBe(9);
    const early = await mergeRun({ input, output: out, pipeline, progress: null });
    expect(early).toMatchObject({ complete: false, pass: 1 });
    const second = await Promise.all([0, 1, 2].map((index) => runShardSlice({ input, output: out, pipeline, progress: null }, { index, count: 3 })));
    expect(second.map((r) => r.passesDone)).toEqual([2, 2, 2]);
    const merged = await mergeRun({ input, output: out, pipeline, progress: null });
    expect(merged.complete).toBe(true);
    expect(outputOf(out)).toEqual(outputOf(reference));
  });

  it('a merge before the slices ran names the missing shards', async () => {
    const res = await mergeRun({ input, output: join(root, 'unsliced'), pipeline, progress: null });
    expect(res).toMatchObject({ complete: false, pass: 0, missing: expect.arrayContaining(['shard-000000.tar', 'shard-000008.tar']) });
    await expect(runShardSlice({ input, output: join(root, 'bad'), pipeline, progress: null }, { index: 3, count: 3 })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('3/3') });
  });
});

describe.skipIf(redisBin === undefined)('a queue with no workers', () => {
  it('a coordinator with no worker says so once, stops after noWorkerTimeoutMs naming the queue, and the rerun with a worker resumes', async () => {
    const port = await freeLoopbackPort();
    await startUntil(redisBin as string, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], 'Ready to accept connections');
    const url = `redis://127.0.0.1:${port}`;
    const out = join(root, 'no-workers');
    const said: string[] = [];
    const queue = { url, name: 'lonely', noWorkerTimeoutMs: 3_000, onNoWorkers: (m: string) => said.push(m) };
    await expect(runPipeline({ input, output: out, pipeline, queue, progress: null })).rejects.toThrow(
      new RegExp(`no worker connected to queue "lonely" at ${url} for \\d+ s while \\d+ shard task\\(s\\) waited; start workers with \`herd curate-worker --queue ${url}\``),
    );
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/shard task\(s\) wait on queue "lonely" .* and no worker is connected/);
    // The same command with a worker up finishes the run as if nothing had happened.
    const w = await worker(url, { HERD_TEST_QUEUE: 'lonely' });
    await runPipeline({ input, output: out, pipeline, queue: { url, name: 'lonely' }, progress: null });
    expect(outputOf(out)).toEqual(outputOf(reference));
    w.proc.kill('SIGTERM');
  });
});
