import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iterateDataset, readDataset } from '@herd/data';
import { describe, expect, it } from 'vitest';
import { generateWorld } from './generate.js';

describe('generateWorld', () => {
  it('writes the text corpus and images as @herd/data datasets (text in train and held-out splits)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'herd-world-'));
    try {
      const report = await generateWorld({ out, size: 'tiny', only: ['text', 'images'], counts: { text: 120, images: 8 } });
      expect(report.modalities.text?.count).toBe(120);
      expect(report.modalities.images?.count).toBe(8);
      expect(report.modalities.video).toBeUndefined();
      const train = await readDataset(join(out, 'text', 'train'));
      const heldout = await readDataset(join(out, 'text', 'heldout'));
      expect(train.totalCount + heldout.totalCount).toBe(120);
      expect(heldout.totalCount).toBeGreaterThan(0);
      const docs = [];
      for await (const s of iterateDataset(join(out, 'text', 'train'))) docs.push(s);
      expect(docs.length).toBe(train.totalCount);
      expect(docs.every((d) => d.meta.split === 'train' && d.files.txt!.length > 0)).toBe(true);
      const dialogue = docs.find((d) => d.meta.kind === 'dialogue')!;
      expect((dialogue.meta.turns as { content: string }[]).map((t) => t.content).join('\n')).toBe(new TextDecoder().decode(dialogue.files.txt));
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
