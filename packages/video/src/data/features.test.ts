/**
 * A feature cache read back: each clip's canvas (its aspect-ratio id, which the `frameLayout` 'canvas' model is fed) follows
 * from the clip's size in the cache's meta, as the image encoder chose it; a cache without a size is refused by clip.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDataset } from '@herd/data';
import { headDim } from '@herd/llama3';
import { canvasOf } from '@herd/vision';
import { frameTokens } from '../model/graphs.js';
import { TINY_CLIP, tinyModel } from '../test-support/tiny.js';
import { readVideoExamples } from './features.js';

const root = mkdtempSync(join(tmpdir(), 'herd-video-features-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const t = tinyModel();
const img = t.m.image;
const S = frameTokens(img);

/** One cached clip of the tiny model (zeros), with `size` in its meta when given. */
function sample(key: string, size?: { width: number; height: number }) {
  const kv = 2 * img.crossAttentionLayers.length * img.text.nKvHeads * S * headDim(img.text);
  return {
    key,
    files: { features: new Uint8Array(2 * TINY_CLIP.frames * S * img.text.dim), frame_mask: new Uint8Array(S).fill(1), kv: new Uint8Array(4 * kv) },
    meta: { split: 'train', caption: 'x', objects: [], static: false, frames: TINY_CLIP.frames, ...size },
  };
}

describe('readVideoExamples', () => {
  it("gives each clip the canvas the image encoder chose for its size; a clip without a size is refused by name", async () => {
    const sizes = [{ width: 112, height: 56 }, { width: 56, height: 112 }, { width: 64, height: 64 }];
    const good = join(root, 'good');
    await writeDataset(good, sizes.map((z, i) => sample(`c${i}`, z)), { samplesPerShard: 8 });
    const ids = (await readVideoExamples(good, img)).map((x) => x.clip.aspectRatioId);
    expect(ids).toEqual(sizes.map((z) => canvasOf(z.height, z.width, img.vision).aspectRatioId));
    expect(new Set(ids).size).toBe(3); // wide, tall and square clips get different canvases
    const bad = join(root, 'bad');
    await writeDataset(bad, [sample('c0', sizes[0]), sample('c1')], { samplesPerShard: 8 });
    await expect(readVideoExamples(bad, img)).rejects.toThrow(/bad:c1: no clip size \(width, height\) in its meta/);
  });
});
