/**
 * Size presets. `tiny` is for CI (all modalities in seconds on 2 cores), `sample` is what is
 * committed under datasets/sample/, `small` is for a laptop run of the whole recipe, and `full`
 * scales by count (generation is streamed and per-item seeded, so counts of millions only cost time).
 */
import { HerdError } from '@herd/core';

export const MODALITIES = ['text', 'images', 'video', 'speech'] as const;
export type Modality = (typeof MODALITIES)[number];

export interface SizePreset {
  readonly counts: Readonly<Record<Modality, number>>;
  readonly imageSide: readonly [number, number];
  readonly videoSide: readonly [number, number];
  readonly videoSeconds: readonly [number, number];
  readonly fps: number;
  readonly noiseRate: number;
  readonly samplesPerShard: number;
  readonly docsPerShard: number;
}

export const SIZE_NAMES = ['tiny', 'sample', 'small', 'full'] as const;
export type SizeName = (typeof SIZE_NAMES)[number];

export const SIZES_PRESETS: Readonly<Record<SizeName, SizePreset>> = {
  tiny: {
    counts: { text: 5000, images: 96, video: 16, speech: 24 },
    imageSide: [64, 160],
    videoSide: [48, 96],
    videoSeconds: [2, 3],
    fps: 8,
    noiseRate: 0.25,
    samplesPerShard: 64,
    docsPerShard: 5000,
  },
  sample: {
    counts: { text: 1000, images: 40, video: 10, speech: 12 },
    imageSide: [64, 160],
    videoSide: [48, 96],
    videoSeconds: [2, 3],
    fps: 8,
    noiseRate: 0.3,
    samplesPerShard: 64,
    docsPerShard: 1000,
  },
  small: {
    counts: { text: 200_000, images: 5_000, video: 500, speech: 2_000 },
    imageSide: [96, 320],
    videoSide: [96, 192],
    videoSeconds: [2, 8],
    fps: 12,
    noiseRate: 0.2,
    samplesPerShard: 500,
    docsPerShard: 50_000,
  },
  full: {
    counts: { text: 5_000_000, images: 200_000, video: 20_000, speech: 50_000 },
    imageSide: [128, 512],
    videoSide: [128, 320],
    videoSeconds: [2, 20],
    fps: 15,
    noiseRate: 0.2,
    samplesPerShard: 1000,
    docsPerShard: 100_000,
  },
};

export function sizePreset(name: string): SizePreset {
  if (!(SIZE_NAMES as readonly string[]).includes(name)) {
    throw new HerdError('invalid_argument', `unknown size "${name}"; valid sizes: ${SIZE_NAMES.join(', ')}`);
  }
  return SIZES_PRESETS[name as SizeName];
}
