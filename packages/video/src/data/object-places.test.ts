/**
 * Where a clip's objects are on the frame grid (`object-places.ts`): the patch geometry, the sampled frames, the groups
 * of the look loss, the clips index's timings — and, on a real generated clip decoded and tiled as training sees it,
 * that the tokens named for an object show that object's colour.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDataset } from '@herd/data';
import { BACKGROUNDS, BACKGROUND_RGB, type Background, COLOUR_RGB, type MotionObject, framePositions, generateVideos } from '@herd/datasets';
import { loadVisionPreset, patchesPerTile } from '@herd/vision';
import { readClipFrames } from './frames.js';
import { objectPatches, objectTokensPerGroup, patchesAt, readClipTimings, sampledFrameIndices, withClipTimings } from './object-places.js';

// The mini image model's grid: 48-px tiles of 8-px patches (6 × 6 + a class token = 37 tokens a tile), up to 4 tiles.
const V = loadVisionPreset('mini');
const dir = mkdtempSync(join(tmpdir(), 'herd-video-places-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Row and column of a frame token on the 2 × 2 canvas's 12 × 12 patch grid. */
const cell = (tok: number) => {
  const tile = Math.floor(tok / 37);
  const p = (tok % 37) - 1;
  return { row: Math.floor(tile / 2) * 6 + Math.floor(p / 6), col: (tile % 2) * 6 + (p % 6) };
};

describe('object places', () => {
  it('finds the patch tokens under a disc, tiles row by row after the clip is resized onto its canvas', () => {
    expect(V.tileSize).toBe(48);
    expect(V.patchSize).toBe(8);
    // 96 × 96: a 2 × 2 canvas at scale 1. The first patch of tile 0 is token 1 (token 0 is the class token).
    expect(patchesAt(4, 4, 3, 96, 96, V)).toEqual([1]);
    expect(patchesAt(4, 4, 4, 96, 96, V)).toEqual([1]); // touching a square's edge is not covering it
    // A small disc at the canvas centre covers the corner patch of each of the 4 tiles.
    expect(patchesAt(48, 48, 2, 96, 96, V)).toEqual([36, 37 + 1 + 30, 74 + 1 + 5, 111 + 1]);
    // 120 × 120 is resized down to 96 × 96 (scale 0.8): the same places in the clip's own pixels.
    expect(patchesAt(60, 60, 1, 120, 120, V)).toEqual([36, 68, 80, 112]);
    expect(patchesAt(5, 5, 2, 120, 120, V)).toEqual([1]);
    // 72 × 72 is not resized up (`fitToCanvas`: each side at most its own size): it sits at the top left of the 2 × 2
    // canvas, padded, so its centre (36, 36) is tile 0, row 4, column 4.
    expect(patchesAt(36, 36, 1, 72, 72, V)).toEqual([1 + 4 * 6 + 4]);
    // A bigger disc covers a block of patches, never a class token.
    const big = patchesAt(48, 48, 10, 96, 96, V);
    expect(big.length).toBeGreaterThan(8);
    expect(big.some((t) => t % 37 === 0)).toBe(false);
  });

  it('takes each feature frame at the centre of its segment of the clip, as sampleFrames decodes it', () => {
    expect(sampledFrameIndices(34, 8)).toEqual([2, 6, 10, 14, 19, 23, 27, 31]);
    expect(sampledFrameIndices(3, 4)).toEqual([0, 1, 1, 2]);
  });

  // A 96 × 96 clip of 16 frames at 12 fps read as 4 frames in 2 groups: a green star that appears halfway (clip frame 8),
  // a blue square that moves right.
  const appears: MotionObject = { shape: 'star', colour: 'green', size: 'small', start: 'right', motion: { kind: 'appear', at: 0.5 } };
  const mover: MotionObject = { shape: 'square', colour: 'blue', size: 'small', start: 'left', motion: { kind: 'move', direction: 'right', speed: 'fast' } };
  const spec = { width: 96, height: 96, fps: 12, frames: 16, objects: [appears, mover] };

  it("per effective frame, the union of the tokens an object covers in that group's frames", () => {
    const groups = objectTokensPerGroup(spec, 1, 4, 2, V);
    expect(groups).toHaveLength(2);
    const per = objectPatches(spec, 4, V);
    expect(groups[0]).toEqual([...new Set([...per[0]![1]!, ...per[1]![1]!])].sort((a, b) => a - b));
    expect(groups[1]).toEqual([...new Set([...per[2]![1]!, ...per[3]![1]!])].sort((a, b) => a - b));
    // Moving right: the second group's tokens lie further right than the first's.
    const meanCol = (ts: number[]) => ts.reduce((a, t) => a + cell(t).col, 0) / ts.length;
    expect(meanCol(groups[1]!)).toBeGreaterThan(meanCol(groups[0]!) + 1);
    // Hidden through the first group (feature frames 0, 1 = clip frames 2, 6): no tokens there.
    const star = objectTokensPerGroup(spec, 0, 4, 2, V);
    expect(star[0]).toEqual([]);
    expect(star[1]!.length).toBeGreaterThan(0);
    expect(() => objectTokensPerGroup(spec, 2, 4, 2, V)).toThrow(/the clip has 2 objects, no object 2/);
    expect(() => objectTokensPerGroup(spec, 0, 4, 3, V)).toThrow(/4 frames do not split into groups of 3/);
  });

  it("reads each clip's timing from a clips index, attaches it to examples of the same objects and refuses other objects", async () => {
    const clips = join(dir, 'clips');
    await writeDataset(clips, [
      { key: 'a', files: { txt: new TextEncoder().encode('x') }, meta: { width: 96, height: 80, fps: 12, frames: 30, objects: [mover] } },
      { key: 'b', files: { txt: new TextEncoder().encode('y') }, meta: { width: 96 } }, // not a synthetic-world clip: left out
    ], { name: 'clips' });
    const t = await readClipTimings(clips);
    expect([...t.keys()]).toEqual(['a']);
    const [a, b] = withClipTimings([{ key: 'a', objects: [mover] }, { key: 'b', objects: [] }], t, `clips ${clips}`);
    expect(a!.timing).toEqual({ width: 96, height: 80, fps: 12, frames: 30 });
    expect(b!.timing).toBeUndefined();
    expect(() => withClipTimings([{ key: 'a', objects: [appears] }], t, `clips ${clips}`)).toThrow(/clips .*clip 'a' holds other objects than its features'/);
  });

  it("on a real clip, decoded and tiled as training reads it, an object's tokens show its colour in every sampled frame", async () => {
    let sample: { mp4: Uint8Array; meta: Record<string, unknown> } | undefined;
    for await (const s of generateVideos({ seed: 5, count: 6, noiseRate: 0, side: [96, 112], duration: [2, 3], fps: 12 })) {
      const objects = s.meta['objects'] as MotionObject[];
      if (!sample && objects.some((o) => o.motion.kind === 'move')) sample = { mp4: s.files['mp4']!, meta: s.meta };
    }
    expect(sample).toBeDefined();
    const path = join(dir, 'clip.mp4');
    writeFileSync(path, sample!.mp4);
    const timing = { width: sample!.meta['width'] as number, height: sample!.meta['height'] as number, fps: sample!.meta['fps'] as number, frames: sample!.meta['frames'] as number };
    const objects = sample!.meta['objects'] as MotionObject[];
    const F = 8;
    const m = { vision: V } as Parameters<typeof readClipFrames>[1];
    const clip = await readClipFrames(path, m, F);
    expect(clip.frameIndices).toEqual(sampledFrameIndices(timing.frames, F));
    const T = V.tileSize;
    const p = V.patchSize;
    const side = T / p;
    const P = patchesPerTile(V);
    /** A patch token's mean RGB (0–255) in frame f, from the normalised tiles. */
    const rgb = (f: number, tok: number) => {
      const tile = Math.floor(tok / P);
      const k = (tok % P) - 1;
      const [py, px] = [Math.floor(k / side) * p, (k % side) * p];
      return [0, 1, 2].map((ch) => {
        let sum = 0;
        for (let y = py; y < py + p; y++) for (let x = px; x < px + p; x++) sum += clip.frames[f]!.pixels[((tile * 3 + ch) * T + y) * T + x]!;
        return ((sum / (p * p)) * V.imageStd[ch]! + V.imageMean[ch]!) * 255;
      });
    };
    /** Whether patch token t of frame f reaches into the canvas's padding (black, past the resized clip). */
    const padded = (f: number, t: number) => {
      const { canvas, resized } = clip.frames[f]!;
      const tile = Math.floor(t / P);
      const k = (t % P) - 1;
      const y = Math.floor(tile / canvas.cols) * T + Math.floor(k / side) * p;
      const x = (tile % canvas.cols) * T + (k % side) * p;
      return y + p > resized.height || x + p > resized.width;
    };
    const bg = BACKGROUND_RGB[sample!.meta['background'] as Background];
    /** Where `rgb` lies on the way from the background's colour (0) to `colour` (1). */
    const towards = (c: number[], colour: readonly number[]) => {
      const d = colour.map((v, ch) => v - bg[ch]!);
      return c.reduce((a, v, ch) => a + (v - bg[ch]!) * d[ch]!, 0) / d.reduce((a, v) => a + v * v, 0);
    };
    const places = objectPatches({ ...timing, objects }, F, V);
    // A patch no object covers in frame 0 (and none of the canvas's padding) is background.
    const free = Array.from({ length: 4 * P }, (_, t) => t).find((t) => t % P !== 0 && Math.floor(t / P) < clip.frames[0]!.nTiles && !padded(0, t) && places.every((fr) => !fr.some((ts) => ts.includes(t))))!;
    expect(Math.abs(towards(rgb(0, free), COLOUR_RGB[objects[0]!.colour]))).toBeLessThan(0.1);
    let checked = 0;
    places.forEach((perObject, f) =>
      perObject.forEach((tokens, j) => {
        if (tokens.length === 0) return;
        // The patch under the disc's centre (a 1-px disc there) is one of its tokens; and of the object's colour in the frame
        // (each patch's place on the way from the background's colour to the object's, summed over the patches above the
        // codec's noise where no other object is),
        // at least 90% lies on its tokens — a frame of the wrong time or a wrong grid would put it elsewhere.
        const o = objects[j]!;
        const at = framePositions({ ...timing, objects, background: BACKGROUNDS[0] }, clip.frameIndices[f]!)[j]!;
        expect(tokens).toContain(patchesAt(at.x, at.y, 1, timing.width, timing.height, V)[0]);
        const others = new Set(perObject.filter((_, k) => k !== j).flat());
        let inside = 0, all = 0;
        for (let t = 0; t < clip.frames[f]!.nTiles * P; t++) {
          if (t % P === 0 || others.has(t) || padded(f, t)) continue;
          const w = towards(rgb(f, t), COLOUR_RGB[o.colour]);
          if (w < 0.02) continue; // the video codec's noise
          all += w;
          if (tokens.includes(t)) inside += w;
        }
        expect(all, `frame ${f}, object ${j}: no ${o.colour} in the frame`).toBeGreaterThan(0.3);
        expect(inside / all, `frame ${f}, object ${j} (${o.colour} ${o.shape}, ${JSON.stringify(o.motion)}): ${inside.toFixed(2)} of ${all.toFixed(2)} on its tokens`).toBeGreaterThan(0.9);
        checked++;
      }),
    );
    expect(checked).toBeGreaterThanOrEqual(F);
  });
});

