/**
 * `herd export` with vision + video when the vision folder is not the video checkpoint's own image
 * checkpoint: the export's one set of image layers is the video's own (composedImageDir), with a note
 * naming both folders; with the video's own image checkpoint, no note.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '@herd/core';
import { loadLanguageCore } from '@herd/llama3';
import { MINI_VIDEO_DIR, videoImageDir } from '@herd/video';
import { MINI_VISION_FILES, loadMiniVision } from '@herd/vision';
import { exportModalities } from './export.js';

describe('export: vision + video on two image checkpoints', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'herd-export-video-image-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("the video's own image checkpoint takes the vision folder's place, with a note naming both; the same checkpoint, no note", () => {
    const core = loadLanguageCore();
    const other = join(tmp, 'other');
    cpSync(videoImageDir(), other, { recursive: true });
    const path = join(other, MINI_VISION_FILES.weights);
    const info = SafetensorsFile.open(path).info('multi_modal_projector.weight');
    const bytes = readFileSync(path);
    bytes[info.byteOffset + 1] = bytes[info.byteOffset + 1]! ^ 0x80;
    writeFileSync(path, bytes);
    const notes: string[] = [];
    const parts = exportModalities(core, { modalities: ['vision', 'video'], vision: other, video: MINI_VIDEO_DIR }, (l) => notes.push(l));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain(`trained on the image checkpoint ${videoImageDir()}, not ${other}`);
    const vision = parts.find((p) => p.name === 'vision')!;
    const own = loadMiniVision(videoImageDir(), core).weights;
    const name = 'multi_modal_projector.weight';
    expect(Array.from(vision.weights![name]!.data as Float32Array)).toEqual(Array.from(own[name]!.data as Float32Array));
    const quiet: string[] = [];
    exportModalities(core, { modalities: ['vision', 'video'], vision: videoImageDir(), video: MINI_VIDEO_DIR }, (l) => quiet.push(l));
    expect(quiet).toEqual([]);
  }, 120_000);
});
