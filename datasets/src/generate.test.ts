import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iterateDataset, readDataset } from '@herd/data';
import { describe, expect, it } from 'vitest';
import { generateWorld } from './generate.js';

describe('generateWorld', () => {
  it('writes the text corpus as JSONL shards and images as a @herd/data dataset', async () => {
    const out = await mkdtemp(join(tmpdir(), 'herd-world-'));
    try {
      const report = await generateWorld({ out, size: 'tiny', only: ['text', 'images'], counts: { text: 120, images: 8 } });
      expect(report.modalities.text?.count).toBe(120);
      expect(report.modalities.images?.count).toBe(8);
      expect(report.modalities.video).toBeUndefined();
      const text = JSON.parse(await readFile(join(out, 'text', 'manifest.json'), 'utf8')) as { totalCount: number; shards: { file: string }[] };
      expect(text.totalCount).toBe(120);
      const lines = (await readFile(join(out, 'text', text.shards[0]!.file), 'utf8')).trim().split('\n');
      expect(lines.length).toBe(120);
      expect((await readDataset(join(out, 'images'))).totalCount).toBe(8);
      let n = 0;
      for await (const s of iterateDataset(join(out, 'images'))) {
        expect(s.key).toMatch(/^img-\d{8}$/);
        n++;
      }
      expect(n).toBe(8);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('rejects an unknown size or modality, naming the valid ones', async () => {
    await expect(generateWorld({ out: '/tmp/never', size: 'huge' })).rejects.toThrow(/tiny, sample, small, full/);
    await expect(generateWorld({ out: '/tmp/never', size: 'tiny', only: ['smell' as never] })).rejects.toThrow(/text, images, video, speech/);
  });
});
