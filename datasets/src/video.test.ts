import { describe, expect, it } from 'vitest';
import { mp4Duration, resolveFfmpeg, runFfmpeg } from '@herd/media';
import { VIDEO_NOISE } from './noise.js';
import type { Sample } from './sample.js';
import { generateVideos, type Track } from './video.js';
import { COLOUR_RGB, isHeldOutCombo, type Colour } from './world.js';
import type { MotionObject } from './motion.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function findFfmpeg(): string | undefined {
  try {
    return resolveFfmpeg();
  } catch {
    return undefined;
  }
}
const ffmpeg = findFfmpeg();

async function collect(it: AsyncIterable<Sample>): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of it) out.push(s);
  return out;
}

const small = { side: [48, 80] as const, duration: [2, 2.5] as const, fps: 8 };

describe.skipIf(ffmpeg === undefined)('video generator', () => {
  it('is deterministic: same seed, byte-identical MP4s', async () => {
    const a = await collect(generateVideos({ seed: 4, count: 2, noiseRate: 0, ...small }));
    const b = await collect(generateVideos({ seed: 4, count: 2, noiseRate: 0, ...small }));
    a.forEach((s, i) => {
      expect(Buffer.compare(Buffer.from(s.files.mp4!), Buffer.from(b[i]!.files.mp4!))).toBe(0);
      expect(JSON.stringify(s.meta)).toBe(JSON.stringify(b[i]!.meta));
    });
  });

  it('labels noise at the rate, and the MP4 header agrees with meta duration', async () => {
    const samples = await collect(generateVideos({ seed: 2, count: 11, noiseRate: 9 / 11, ...small }));
    const noisy = samples.filter((s) => s.meta.noise !== null);
    expect(noisy.length).toBe(9);
    expect(new Set(noisy.map((s) => s.meta.noise))).toEqual(new Set(VIDEO_NOISE));
    for (const s of samples) {
      const mp4 = s.files.mp4!;
      expect(mp4Duration(mp4)).toBeCloseTo(s.meta.durationS as number, 2);
      const durationS = s.meta.durationS as number;
      expect(durationS).toBeGreaterThanOrEqual(2 - 1 / 8);
      expect(durationS).toBeLessThanOrEqual(2.5 + 1 / 8);
      const objects = s.meta.objects as MotionObject[];
      if (s.meta.noise !== 'truncated') {
        // Frame size from the stream's own header, against meta (near duplicates are rescaled).
        const raw = await runFfmpeg(ffmpeg!, ['-i', 'pipe:0', '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], (async function* () {
          yield mp4;
        })());
        expect(raw.length, `${s.key} ${String(s.meta.noise)}`).toBe((s.meta.width as number) * (s.meta.height as number) * 3);
        // A blank clip is the background and nothing else (H.264 may shift a level by a step or two).
        if (s.meta.noise === 'blank') for (let i = 0; i < raw.length; i++) expect(Math.abs(raw[i]! - raw[i % 3]!)).toBeLessThanOrEqual(4);
      }
      if (s.meta.noise === 'static_clip') expect(objects.every((o) => o.motion.kind === 'still')).toBe(true);
      if (s.meta.noise === 'blank') expect(objects).toEqual([]);
      if (s.meta.noise === 'tiny') expect(Math.max(s.meta.width as number, s.meta.height as number)).toBeLessThanOrEqual(14);
      else if (s.meta.noise !== 'near_duplicate') expect(Math.min(s.meta.width as number, s.meta.height as number)).toBeGreaterThanOrEqual(16);
      if (s.meta.noise === null) expect(objects.some((o) => o.motion.kind !== 'still')).toBe(true);
      expect(objects.some((o) => isHeldOutCombo(o.colour, o.shape))).toBe(s.meta.split === 'heldout');
    }
  });

  it('near-duplicates by crop and trim when asked (labelled with the edit, sizes and durations as the file says); the default stays rescale with no edit drawn', async () => {
    const samples = await collect(generateVideos({ seed: 6, count: 12, noiseRate: 0.5, noiseKinds: ['near_duplicate'], nearDuplicateEdits: ['crop', 'trim'], ...small }));
    const copies = samples.filter((s) => s.meta.noise === 'near_duplicate');
    expect(copies.length).toBe(6);
    expect(new Set(copies.map((s) => s.meta.edit))).toEqual(new Set(['crop', 'trim']));
    const byKey = new Map(samples.map((s) => [s.key, s]));
    for (const c of copies) {
      const src = byKey.get(c.meta.duplicateOf as string)!;
      expect(src.meta.noise).toBeNull();
      if (c.meta.edit === 'crop') {
        expect(c.meta.width as number).toBeLessThan(src.meta.width as number);
        expect(c.meta.height as number).toBeLessThan(src.meta.height as number);
        expect(c.meta.durationS).toBe(src.meta.durationS);
      } else {
        expect(c.meta.width).toBe(src.meta.width);
        expect(c.meta.durationS as number).toBeLessThan(0.95 * (src.meta.durationS as number));
        expect(Math.abs(mp4Duration(c.files.mp4!) - (c.meta.durationS as number))).toBeLessThan(0.2);
      }
    }
    // Without the option: rescaled copies, no 'edit' in meta (the bytes of existing seeds do not move).
    const plain = await collect(generateVideos({ seed: 6, count: 12, noiseRate: 0.5, noiseKinds: ['near_duplicate'], ...small }));
    for (const c of plain.filter((s) => s.meta.noise === 'near_duplicate')) {
      expect(c.meta.edit).toBeUndefined();
      expect(c.meta.transform).toMatch(/^scale /);
    }
    await expect(generateVideos({ seed: 6, count: 2, nearDuplicateEdits: [] }).next()).rejects.toThrow(/nearDuplicateEdits must be a non-empty list/);
  });

  it('moves the shapes where the tracks say (decoded first and last frames)', async () => {
    const [s] = await collect(generateVideos({ seed: 21, count: 1, noiseRate: 0, side: [120, 120], duration: [3, 3], fps: 8 }));
    const { width, height, frames } = s!.meta as { width: number; height: number; frames: number };
    const dir = await mkdtemp(join(tmpdir(), 'herd-video-test-'));
    try {
      await writeFile(join(dir, 'c.mp4'), s!.files.mp4!);
      const raw = await runFfmpeg(ffmpeg!, ['-i', join(dir, 'c.mp4'), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
      expect(raw.length).toBe(width * height * 3 * frames);
      const tracks = s!.meta.tracks as Track[];
      // The first object of a clean clip always moves.
      expect(tracks[0]!.first).not.toEqual(tracks[0]!.last);
      for (const t of tracks) {
        for (const at of [t.first, t.last]) {
          if (at === null) continue;
          const rgb = COLOUR_RGB[t.colour as Colour];
          const base = at.frame * width * height * 3;
          let sx = 0;
          let sy = 0;
          let n = 0;
          for (let y = 0; y < height; y++) {
            for (let x = 0; x < width; x++) {
              const i = base + (y * width + x) * 3;
              if (Math.hypot(raw[i]! - rgb[0], raw[i + 1]! - rgb[1], raw[i + 2]! - rgb[2]) < 60) {
                sx += x;
                sy += y;
                n++;
              }
            }
          }
          expect(n).toBeGreaterThan(10);
          // Two shapes of one colour would confuse the centroid; the generator draws distinct shapes,
          // so only check when this colour is unique.
          if (tracks.filter((o) => o.colour === t.colour).length === 1) {
            expect(Math.abs(sx / n - at.x)).toBeLessThan(t.radius * 0.5 + 2);
            expect(Math.abs(sy / n - at.y)).toBeLessThan(t.radius * 0.5 + 2);
          }
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
