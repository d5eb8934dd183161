import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freeLoopbackPort, spawnUntil, type StartedProcess } from '@herd/core';
import { herd } from '../test-support/run-herd.js';

// A real redis-server on loopback; skipped only when it is not installed (the README lists it).
const redisBin = spawnSync('redis-server', ['--version']).status === 0 ? 'redis-server' : undefined;
const dir = mkdtempSync(join(tmpdir(), 'herd-curate-worker-cli-'));
const main = fileURLToPath(new URL('../main.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a child (killed after the test) and resolves once its stdout contains `marker`. */
async function startUntil(cmd: string, args: string[], marker: string): Promise<StartedProcess> {
  const p = await spawnUntil(cmd, args, marker);
  children.push(p.proc);
  return p;
}

const DOCS = [
  'The small red circle sits above the large blue square in the middle of the picture.',
  'A green star moves slowly from the left edge of the picture towards the right edge.',
  'The yellow triangle stays where it is while the purple circle grows a little larger.',
  'The small red circle sits above the large blue square in the middle of the picture.',
  'x',
];

describe.skipIf(redisBin === undefined)('herd curate-worker and --queue (redis-server on loopback)', () => {
  it('without a worker the coordinator says so and stops after --queue-wait; with `herd curate-worker` it gives the in-process output', async () => {
    const port = await freeLoopbackPort();
    await startUntil(redisBin as string, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], 'Ready to accept connections');
    const url = `redis://127.0.0.1:${port}`;
    const src = join(dir, 'docs');
    mkdirSync(src);
    DOCS.forEach((d, i) => writeFileSync(join(src, `doc-${i}.txt`), d));

    const lonely = await herd(['text', 'curate', src, join(dir, 'lonely'), '--queue', url, '--queue-wait', '2']);
    expect(lonely.code).toBe(1);
    expect(lonely.err).toMatch(/^herd: waiting: \d+ shard task\(s\) wait on queue "herd-curate" at redis:\/\/127\.0\.0\.1:\d+ and no worker is connected; start workers with `herd curate-worker --queue/m);
    expect(lonely.err).toMatch(/^herd: runtime_error: no worker connected to queue "herd-curate" at redis:\/\/127\.0\.0\.1:\d+ for \d+ s/m);

    const worker = await startUntil(process.execPath, ['--import', tsx, '--conditions=source', main, 'curate-worker', '--queue', url], 'waiting for shard tasks');
    const queued = await herd(['text', 'curate', src, join(dir, 'queued'), '--queue', url]);
    expect(queued.err).toBe('');
    expect(queued.code).toBe(0);
    const local = await herd(['text', 'curate', src, join(dir, 'local')]);
    expect(local.code).toBe(0);
    expect(queued.out.replace(/[\d.]+ documents\/s/, '')).toBe(local.out.replace(/[\d.]+ documents\/s/, '').replaceAll('/local', '/queued'));
    for (const f of ['index.jsonl', 'drops.jsonl']) expect(readFileSync(join(dir, 'queued', f), 'utf8')).toBe(readFileSync(join(dir, 'local', f), 'utf8'));
    expect(worker.out()).toMatch(/: done\n/);

    const exited = new Promise<number | null>((resolve) => worker.proc.on('exit', (code) => resolve(code)));
    worker.proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(worker.out()).toMatch(/stopped after [1-9]\d* shard\(s\)\n$/);
  });
});

describe('a queue that cannot be reached', () => {
  it('worker and coordinator both stop at once with one line naming the URL and the socket error (BullMQ alone would retry forever)', async () => {
    const url = `redis://127.0.0.1:${await freeLoopbackPort()}`; // nothing listens there
    const worker = await herd(['curate-worker', '--queue', url]);
    expect(worker.code).toBe(1);
    expect(worker.err).toBe(`herd: io_error: cannot reach the queue at ${url}: connect ECONNREFUSED ${url.slice('redis://'.length)} (is redis-server running there?)\n`);
    const src = join(dir, 'unreachable-docs');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), DOCS[0]!);
    const coordinator = await herd(['text', 'curate', src, join(dir, 'unreachable-out'), '--queue', url]);
    expect(coordinator.code).toBe(1);
    expect(coordinator.err).toMatch(/^herd: io_error: cannot reach the queue at redis:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
  });
});
