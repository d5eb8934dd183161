import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { iterateDataset, readDataset, type Sample } from '@herd/data';
import { describe, expect, it } from 'vitest';
import { SAMPLE_DIR } from './paths.js';
import type { TextDoc } from './text.js';

/** The committed sample is what other packages' tests read; it must stay readable and complete. */
describe.skipIf(!existsSync(join(SAMPLE_DIR, 'images')))('committed sample (datasets/sample)', () => {
  it.each([
    ['images', ['png', 'jpg']],
    ['video', ['mp4']],
    ['speech', ['wav']],
  ] as const)('%s is a readable @herd/data dataset with clean and noisy samples', async (name, exts) => {
    const dir = join(SAMPLE_DIR, name);
    const manifest = await readDataset(dir);
    const samples: Sample[] = [];
    for await (const s of iterateDataset(dir)) samples.push(s);
    expect(samples.length).toBe(manifest.totalCount);
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) {
      expect(exts.some((e) => s.files[e] !== undefined)).toBe(true);
      expect(s.files.txt).toBeDefined();
    }
    expect(samples.some((s) => s.meta.noise === null)).toBe(true);
    expect(samples.some((s) => s.meta.noise !== null)).toBe(true);
  });

  it('holds a JSONL text corpus', () => {
    const manifest = JSON.parse(readFileSync(join(SAMPLE_DIR, 'text', 'manifest.json'), 'utf8')) as { shards: { file: string }[] };
    const docs = manifest.shards.flatMap((s) =>
      readFileSync(join(SAMPLE_DIR, 'text', s.file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as TextDoc),
    );
    expect(docs.length).toBeGreaterThan(100);
    expect(docs.some((d) => d.kind === 'dialogue' && (d.turns?.length ?? 0) >= 2)).toBe(true);
  });
});
