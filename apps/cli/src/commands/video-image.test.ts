/**
 * The video commands' image checkpoint: by default the video model's own (MINI_VIDEO_IMAGE_DIR, the committed video
 * config's image.dir), not the committed vision checkpoint, whose place embeddings the video line does not feed to
 * frames. A tiny default `herd video train` (no --vision) gets past feature extraction to a saved checkpoint; an
 * image checkpoint with place embeddings is refused before any clip is generated, naming its folder.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MINI_VIDEO_DIR, MINI_VIDEO_FILES, MINI_VIDEO_IMAGE_DIR, frameFeaturesSha, videoImageDir, writeClipWorld } from '@herd/video';
import { MINI_VISION_DIR, MINI_VISION_FILES } from '@herd/vision';
import { herd } from '../test-support/run-herd.js';

const root = mkdtempSync(join(tmpdir(), 'herd-cli-video-image-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('video commands default to the video model\'s own image checkpoint', () => {
  it('the default is the committed video checkpoint\'s recorded image.dir', () => {
    expect(videoImageDir(MINI_VIDEO_DIR)).toBe(MINI_VIDEO_IMAGE_DIR);
    expect(MINI_VIDEO_IMAGE_DIR).not.toBe(MINI_VISION_DIR);
  });

  it('a tiny `herd video train` without --vision extracts the features through it, trains and saves a checkpoint recording it', async () => {
    const clips = join(root, 'clips');
    await writeClipWorld({ out: clips, count: 10, seed: 12, seconds: [1, 1], side: [64, 64], heldoutFraction: 0.5 });
    const out = join(root, 'video');
    const r = await herd(['video', 'train', '--data', clips, '--clips', '10', '--caption-steps', '2', '--qa-steps', '2', '--batch', '2', '--eval-per-type', '1', '--out', out, '--work', join(root, 'work'), '--device', 'cpu']);
    expect(r.err).not.toMatch(/^herd: /m);
    expect(r.code).toBe(0);
    // The feature cache is keyed by the image checkpoint's encoder + projector: the video model's own.
    const features = join(root, `features-${frameFeaturesSha(MINI_VIDEO_IMAGE_DIR).slice(0, 12)}-10`);
    expect(r.err).toContain(`extracting frozen image features of ${clips} (8 frames per clip) → ${features}`);
    expect(r.err).toMatch(/ 10 clips in \d+ s, 0 dropped/);
    expect(existsSync(join(features, 'manifest.json'))).toBe(true);
    expect(r.out).toMatch(/\| image model \+ video adapter \|/);
    const saved = JSON.parse(readFileSync(join(out, MINI_VIDEO_FILES.config), 'utf8')) as { image: { dir: string } };
    expect(saved.image.dir).toBe(MINI_VIDEO_IMAGE_DIR); // absolute: the scratch checkpoint lies outside the checkout
    expect(videoImageDir(out)).toBe(MINI_VIDEO_IMAGE_DIR);
  }, 240_000);

  it('an image checkpoint with place embeddings is refused before the clips are looked at, naming the folder and the ones that work', async () => {
    const placeBins = (JSON.parse(readFileSync(join(MINI_VISION_DIR, MINI_VISION_FILES.config), 'utf8')) as { placeBins?: number }).placeBins;
    expect(placeBins).toBeGreaterThan(0); // the committed vision checkpoint has them since round 27
    // --data names no dataset: that error would come if the clips were looked at first.
    const missing = ['--data', join(root, 'no-clips'), '--out', join(root, 'refused')];
    const r = await herd(['video', 'train', '--vision', MINI_VISION_DIR, ...missing]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`--vision ${MINI_VISION_DIR} has place embeddings (placeBins ${placeBins}), which the video line does not feed to frames yet: give an image checkpoint without them — the video model's own, packages/video/weights/mini-image (the video commands' default), or one trained by 'herd vision train' without --place-embeddings`);
    const look = await herd(['video', 'train', '--motion-tokens', '--look-vision', MINI_VISION_DIR, ...missing]);
    expect(look.err).toContain(`--look-vision ${MINI_VISION_DIR} has place embeddings (placeBins ${placeBins})`);
  });
});
