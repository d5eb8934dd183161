import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateVideos } from '@herd/datasets';
import { resolveFfmpeg } from '@herd/media';
import { herd } from '../test-support/run-herd.js';



function hasFfmpeg(): boolean {
  try {
    resolveFfmpeg();
    return true;
  } catch {
    return false;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'herd-cli-vcurate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasFfmpeg())('herd video curate', () => {
  it('curates a folder of clips with captions, names the dropped one, and writes the report', async () => {
    const folder = join(dir, 'clips');
    mkdirSync(folder);
    for await (const s of generateVideos({ seed: 3, count: 3, noiseRate: 0, side: [48, 64], duration: [2, 2], fps: 8 })) {
      writeFileSync(join(folder, `${s.key}.mp4`), s.files['mp4']!);
      writeFileSync(join(folder, `${s.key}.txt`), s.files['txt']!);
    }
    writeFileSync(join(folder, 'broken.mp4'), 'not a video at all');
    writeFileSync(join(folder, 'broken.txt'), 'a red circle moves to the left');
    const out = join(dir, 'out');
    const r = await herd(['video', 'curate', folder, out, '--no-ocr']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^4 clips in, 3 kept, /);
    expect(r.out).toMatch(/video_quality +3 kept +1 dropped +undecodable_video 1/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { out: number };
    expect(report.out).toBe(3);
  });

  it('--clip runs the two CLIP alignment stages with the committed mini CLIP and records their cosines', async () => {
    const out = join(dir, 'out-clip');
    // Thresholds given: the scores are recorded; a cosine below −1 never drops.
    const r = await herd(['video', 'curate', join(dir, 'clips'), out, '--no-ocr', '--clip', '--clip-frame-threshold', '-1.5', '--clip-video-threshold', '-1.5']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/clip_frame +3 kept +0 dropped/);
    expect(r.out).toMatch(/clip_video +3 kept +0 dropped/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { pending: string[]; histograms: { file: string }[] };
    expect(report.pending).toEqual([]);
    expect(report.histograms.map((h) => h.file)).toEqual(expect.arrayContaining(['histograms/clip_frame.svg', 'histograms/clip_video.svg']));
  });

  it('--clip-dir without a checkpoint there is one clear error naming the folder and what is missing', async () => {
    const empty = join(dir, 'no-clip-here');
    mkdirSync(empty);
    const r = await herd(['video', 'curate', join(dir, 'clips'), join(dir, 'out-noclip'), '--no-ocr', '--clip-dir', empty]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`mini CLIP checkpoint at ${empty}`);
    expect(r.err).toMatch(/config\.json and model\.safetensors are missing/);
  });

  it('refuses a bad --shard before running anything', async () => {
    const r = await herd(['video', 'curate', dir, join(dir, 'never'), '--shard', '3/2']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--shard must look like i\/N/);
  });
});
