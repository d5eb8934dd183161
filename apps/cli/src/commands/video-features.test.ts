/**
 * `herd video train|eval --features DIR`: where the frozen frame-feature caches live (default beside the clips),
 * and the check that a cache found there was made from the clips asked about (its key is the image checkpoint
 * and the clip count, not the clips folder).
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_VIDEO_DATA, checkFeatureCache, featuresRoot } from './video.js';

describe('video feature caches (--features)', () => {
  const root = mkdtempSync(join(tmpdir(), 'herd-video-features-'));

  it('default: the folder above the clips; given: an existing folder, else one line naming it', () => {
    expect(featuresRoot(undefined, '/some/where/clips')).toBe('/some/where');
    expect(featuresRoot(undefined, undefined)).toBe(join(DEFAULT_VIDEO_DATA, '..'));
    expect(featuresRoot(root, '/some/where/clips')).toBe(root);
    expect(() => featuresRoot(join(root, 'nope'), undefined)).toThrow(/--features .*nope: not an existing folder/);
    writeFileSync(join(root, 'a-file'), 'x');
    expect(() => featuresRoot(join(root, 'a-file'), undefined)).toThrow(/--features .*a-file: not an existing folder/);
  });

  it('a cache made from the same clips (also through a link to them) is read; one made from other clips is refused; a missing one is made later', () => {
    const clips = join(root, 'clips');
    mkdirSync(clips);
    symlinkSync(clips, join(root, 'link'));
    const cache = (name: string, made: string) => {
      mkdirSync(join(root, name));
      writeFileSync(join(root, name, 'manifest.json'), JSON.stringify({ name: 'video-features', version: 1, shards: [], info: { frames: 8, clips: made } }));
      return join(root, name);
    };
    expect(() => checkFeatureCache(cache('same', clips), clips)).not.toThrow();
    expect(() => checkFeatureCache(cache('linked', join(root, 'link')), clips)).not.toThrow();
    expect(() => checkFeatureCache(cache('other', join(root, 'other-clips')), clips)).toThrow(/feature cache .*other was made from the clips at .*other-clips, not .*clips: give another --features folder/);
    expect(() => checkFeatureCache(join(root, 'not-made-yet'), clips)).not.toThrow();
  });
});
