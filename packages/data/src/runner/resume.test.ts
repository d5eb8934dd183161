import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnUntil, stopChild } from '@herd/core';
import { makeSamples } from '../fixtures/samples.js';
import { writeDataset } from '../format/write.js';
import { runPipeline } from './run.js';
import type { ShardDone } from './shard-task.js';

const root = mkdtempSync(join(tmpdir(), 'herd-data-resume-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const fixture = new URL('../fixtures/pipeline.ts', import.meta.url).href;
const child = fileURLToPath(new URL('../fixtures/run-child.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Every file under dir (relative paths), with content for the ones a finished run must reproduce. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${name.name}` : name.name;
      if (name.isDirectory()) walk(path);
      else if (/^shard-\d+\.tar$|^index\.jsonl$|^drops\.jsonl$/.test(path)) out[path] = readFileSync(join(dir, path)).toString('base64');
      else out[path] = '';
    }
  };
  walk('');
  return out;
}

describe('resume after SIGKILL', () => {
  it('a killed run resumes by skipping finished shards and ends exactly like an uninterrupted one', async () => {
    const input = join(root, 'input');
    await writeDataset(input, makeSamples(40, 3), { samplesPerShard: 10 });
    const pipeline = { module: fixture, export: 'pipeline', options: {} };

    const reference = join(root, 'reference');
    await runPipeline({ input, output: reference, pipeline, progress: null });

    // The child hangs inside shard 2 of pass 0 (after shards 0 and 1 are done) and is killed there.
    const killed = join(root, 'killed');
    const { proc } = await spawnUntil(process.execPath, ['--import', tsx, '--conditions=source', child, input, killed], 'HANG shard-000002.tar', {
      HERD_TEST_HANG_ON: 'shard-000002.tar',
    });
    expect(await stopChild(proc, 'SIGKILL')).toBe('SIGKILL');

    const pass0 = join(killed, '_run', 'pass-0');
    expect(readdirSync(pass0).filter((f) => f.endsWith('.done.json')).sort()).toEqual(['shard-000000.done.json', 'shard-000001.done.json']);
    expect(existsSync(join(killed, 'manifest.json'))).toBe(false);
    expect(JSON.parse(readFileSync(join(killed, '_run', 'lock.json'), 'utf8')).pid).toBe(proc.pid);
    const done0 = JSON.parse(readFileSync(join(pass0, 'shard-000000.done.json'), 'utf8')) as ShardDone;
    expect(done0.output?.count).toBeGreaterThan(0);

    // What a kill during writeFileAtomic leaves: a temp file beside its target (planted here, since
    // the kill above lands between writes).
    writeFileSync(join(pass0, `.shard-000002.tar.${proc.pid}.0badf00d.tmp`), 'half a shard');
    writeFileSync(join(killed, `.index.jsonl.${proc.pid}.0badf00d.tmp`), 'half an index');

    const resumed = await runPipeline({ input, output: killed, pipeline, progress: null });
    // Pass 0: shards 0 and 1 skipped; pass 1: all four run.
    expect(resumed.shards).toEqual({ processed: 6, skipped: 2 });
    expect(snapshot(killed)).toEqual(snapshot(reference));
    const all = Object.keys(snapshot(killed));
    expect(all.filter((p) => p.split('/').some((part) => part.startsWith('.')))).toEqual([]);
    expect(all).not.toContain('_run/lock.json');
  });
});
