import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { iterateDataset, readDataset, type Sample } from '@herd/data';
import { describe, expect, it } from 'vitest';
import { SAMPLE_DIR } from './paths.js';

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

  it('holds the text corpus as train and held-out shard datasets', async () => {
    const docs: Sample[] = [];
    for (const split of ['train', 'heldout']) for await (const s of iterateDataset(join(SAMPLE_DIR, 'text', split))) docs.push(s);
    expect(docs.length).toBeGreaterThan(100);
    expect(docs.some((d) => d.meta.split === 'heldout')).toBe(true);
    expect(docs.some((d) => d.meta.kind === 'dialogue' && ((d.meta.turns as unknown[] | undefined)?.length ?? 0) >= 2)).toBe(true);
  });
});
