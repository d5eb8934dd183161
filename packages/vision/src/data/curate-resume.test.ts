import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnUntil, stopChild } from '@herd/core';
import { writeDataset, type Sample } from '@herd/data';
import { generateImages } from '@herd/datasets';
import { curateImages, type CurateConfig } from './curate.js';

const root = mkdtempSync(join(tmpdir(), 'herd-vision-resume-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const child = fileURLToPath(new URL('./fixtures/curate-child.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Every file under dir (relative paths), with the content of those a finished run must reproduce. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path);
      else out[path] = /^shard-\d+\.tar$|^index\.jsonl$|^drops\.jsonl$/.test(path) ? readFileSync(join(dir, path)).toString('base64') : '';
    }
  };
  walk('');
  return out;
}

describe('image curation after a crash', () => {
  it('a run killed inside the dedup decision leaves its spill file only in the run folder; the resumed run skips finished shards, cleans every temp file and ends like an uninterrupted one', async () => {
    const samples: Sample[] = [];
    for await (const s of generateImages({ seed: 11, count: 60, noiseRate: 0.4, noiseKinds: ['exact_duplicate', 'near_duplicate', 'blank'] })) samples.push(s);
    const input = join(root, 'input');
    await writeDataset(input, samples, { samplesPerShard: 20 });
    // No models (fast); the stages that are left still make two passes around the dedup decision.
    const config: CurateConfig = { language: false, ocr: false, progress: null };
    const reference = join(root, 'reference');
    const ref = await curateImages(input, reference, config);
    expect(ref.report?.stages.find((s) => s.name === 'near_duplicate')?.dropped).toBeGreaterThan(5);

    const killed = join(root, 'killed');
    const { progress: _p, ...stageConfig } = config;
    const options = { ...stageConfig, outputDir: killed }; // what curateImages hands its pipeline
    const { proc } = await spawnUntil(process.execPath, ['--import', tsx, '--conditions=source', child, input, killed, JSON.stringify(options)], 'HANG near_duplicate', {
      HERD_TEST_DEDUP_HANG_AFTER: '45',
    });
    // Mid-decision: the spill file of layouts and thumbnails is open, in the run's scratch folder.
    const scratch = join(killed, '_run', 'pass-0', 'decision', 'scratch');
    expect(readdirSync(scratch).filter((n) => n.startsWith('herd-dedup-'))).toHaveLength(1);
    expect(await stopChild(proc, 'SIGKILL')).toBe('SIGKILL');
    expect(existsSync(join(killed, 'manifest.json'))).toBe(false);
    expect(readdirSync(join(killed, '_run', 'pass-0')).filter((f) => f.endsWith('.done.json'))).toHaveLength(3);
    // What a kill during an atomic write leaves (planted: the kill above lands between writes), in
    // folders below the output: a report plot and a decision file.
    mkdirSync(join(killed, 'histograms'), { recursive: true });
    writeFileSync(join(killed, 'histograms', `.clip_score.svg.${proc.pid}.0badf00d.tmp`), '<svg');
    writeFileSync(join(killed, '_run', 'pass-0', 'decision', `.half.${proc.pid}.0badf00d.tmp`), 'half');

    const resumed = await curateImages(input, killed, config);
    expect(resumed.report?.out).toBe(ref.report?.out);
    // Pass 0's three shards were finished before the kill and are not redone.
    const log = readFileSync(join(killed, '_run', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; skipped?: number });
    expect(log.filter((e) => e.event === 'run_done').at(-1)?.skipped).toBe(3);
    const got = snapshot(killed);
    const want = snapshot(reference);
    for (const k of Object.keys(want)) if (/\.(tar|jsonl)$/.test(k) && !k.startsWith('_run/')) expect(got[k], k).toBe(want[k]);
    const leftovers = Object.keys(got).filter((p) => p.split('/').some((part) => part.startsWith('.') || part.startsWith('herd-dedup-') || part === 'scratch'));
    expect(leftovers).toEqual([]);
    expect(Object.keys(got).filter((p) => !p.startsWith('_run/')).sort()).toEqual(Object.keys(want).filter((p) => !p.startsWith('_run/')).sort());
  }, 600_000);
});
