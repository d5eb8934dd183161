/**
 * `herd export` with vision + video carries two sets of image layers: the vision part's values are
 * --vision's (they answer images), the video part's own image layers (`video.image.`) are the image
 * checkpoint the video model was trained on, whatever --vision is (they read clips). A --vision that
 * is another checkpoint (the video's image checkpoint with one adapter layer's query weights negated) changes the
 * first set only; each recipe records the checkpoint its layers come from (weights sha256).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '@herd/core';
import { loadLanguageCore } from '@herd/llama3';
import { MINI_VIDEO_DIR, VIDEO_IMAGE_PREFIX, imageCheckpointSha, videoImageDir } from '@herd/video';
import { MINI_VISION_FILES, loadMiniVision } from '@herd/vision';
import { exportModalities } from './export.js';

describe('export: vision + video on two image checkpoints', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'herd-export-video-image-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("the vision part is --vision's, the video part's own image layers the video's image checkpoint's; each recipe names its source", () => {
    const core = loadLanguageCore();
    const other = join(tmp, 'other');
    cpSync(videoImageDir(), other, { recursive: true });
    const path = join(other, MINI_VISION_FILES.weights);
    const file = SafetensorsFile.open(path);
    // Flip the sign of every cross-attention query weight of the first adapter layer: another checkpoint, same shapes.
    const name = file.names().find((n) => n.endsWith('.cross_attn.q_proj.weight'))!;
    const info = file.info(name);
    const bytes = readFileSync(path);
    const width = info.dtype === 'F16' ? 2 : 4;
    for (let i = info.byteOffset + width - 1; i < info.byteOffset + info.byteLength; i += width) bytes[i] = bytes[i]! ^ 0x80;
    writeFileSync(path, bytes);

    const parts = exportModalities(core, { modalities: ['vision', 'video'], vision: other, video: MINI_VIDEO_DIR });
    expect(parts.map((p) => p.name)).toEqual(['video', 'vision']); // the video part first (its layers act first at a shared core layer)
    const vision = parts.find((p) => p.name === 'vision')!;
    const video = parts.find((p) => p.name === 'video')!;
    const values = (x: { data?: unknown } | undefined) => Array.from(x!.data as Float32Array);
    const given = loadMiniVision(other, core).weights;
    const own = loadMiniVision(videoImageDir(), core).weights;
    expect(values(given[name])).not.toEqual(values(own[name]));
    expect(values(vision.weights![name])).toEqual(values(given[name]));
    expect(values(video.weights![`${VIDEO_IMAGE_PREFIX}${name}`])).toEqual(values(own[name]));
    expect(video.weights![name]).toBeUndefined();
    expect(vision.recipe).toMatchObject({ serves: 'images', source: { weightsSha256: imageCheckpointSha(other) } });
    expect(video.recipe['image']).toMatchObject({ serves: 'clips', source: { weightsSha256: imageCheckpointSha(videoImageDir()) } });
  }, 120_000);
});
