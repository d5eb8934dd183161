/**
 * Frames → tensors through @herd/media: N frames uniformly over a real generated clip, each tiled as
 * the image path tiles an image; bad files fail with media's errors naming the file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HerdError } from '@herd/core';
import { generateVideos } from '@herd/datasets';
import { resolveFfmpeg, runFfmpeg } from '@herd/media';
import { tileImage } from '@herd/vision';
import { tinyModel } from '../test-support/tiny.js';
import { readClipFrames } from './frames.js';

const dir = mkdtempSync(join(tmpdir(), 'herd-video-frames-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { m } = tinyModel();
let clip: string;
let bytes: Uint8Array;

beforeAll(async () => {
  for await (const s of generateVideos({ seed: 3, count: 1, noiseRate: 0, side: [80, 80], duration: [2, 2], fps: 12 })) bytes = s.files['mp4']!;
  clip = join(dir, 'clip.mp4');
  writeFileSync(clip, bytes);
});

describe('readClipFrames', () => {
  it('samples N frames at the centres of N equal segments and tiles each like an image', async () => {
    const c = await readClipFrames(clip, m.image, 4);
    expect(c.frames).toHaveLength(4);
    expect(c.frameIndices).toEqual([3, 9, 15, 21]); // 24 frames, segments of 6
    expect(c.durationS).toBeCloseTo(2, 1);
    const { maxTiles, tileSize } = m.image.vision;
    for (const f of c.frames) expect(f.pixels.length).toBe(maxTiles * 3 * tileSize * tileSize);
    // The first frame's tiles are exactly the image path's tiling of the same RGB frame.
    const one = await readClipFrames(clip, m.image, 1);
    expect(one.frameIndices).toEqual([12]);
    expect(one.frames[0]!.nTiles).toBe(c.frames[0]!.nTiles);
    expect(c.frames[0]!.aspectRatioId).toBe(tileImage({ data: new Uint8Array(c.width * c.height * 3), width: c.width, height: c.height }, m.image.vision).aspectRatioId);
  });

  it('refuses more than 64 frames, naming the file', async () => {
    await expect(readClipFrames(clip, m.image, 65)).rejects.toThrow(/clip\.mp4: frames must be an integer in 1\.\.64/);
  });

  it('no video stream, a truncated file and a text file fail with a HerdError naming the file', async () => {
    const audio = join(dir, 'audio-only.m4a');
    await runFfmpeg(resolveFfmpeg(), ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac', '-y', audio]);
    const cut = join(dir, 'cut.mp4');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 3)));
    const text = join(dir, 'notes.mp4');
    writeFileSync(text, 'not a video at all');
    for (const [path, pattern] of [[audio, /audio-only\.m4a.*no video stream/], [cut, /cut\.mp4/], [text, /notes\.mp4/]] as const) {
      const e = await readClipFrames(path, m.image, 4).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(HerdError);
      expect((e as Error).message).toMatch(pattern);
    }
  });
});
