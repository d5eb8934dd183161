/**
 * The synthetic world's clips for the video recipe: moving shapes from `@herd/datasets`
 * (`generateVideos`) written as a shard dataset. Static clips are mixed in on purpose (the
 * generator's `static_clip` kind, every object still) so "does it move?" has both answers; no other
 * noise (curation is `vcurate`'s part). Seeded: the same seed gives the same bytes.
 */
import { writeDataset } from '@herd/data';
import { generateVideos } from '@herd/datasets';

export interface ClipWorldOptions {
  readonly out: string;
  readonly count: number;
  readonly seed: number;
  /** Fraction of static clips (default 0.25). */
  readonly staticRate?: number;
  /** Longer frame side range in pixels (default [64, 112]: one to four 56-px tiles). */
  readonly side?: readonly [number, number];
  /** Clip length range in seconds (default [2, 4]). */
  readonly seconds?: readonly [number, number];
  readonly heldoutFraction?: number;
  readonly ffmpeg?: string;
  readonly onClip?: (i: number) => void;
}

export async function writeClipWorld(o: ClipWorldOptions): Promise<void> {
  let i = 0;
  const samples = generateVideos({
    seed: o.seed,
    count: o.count,
    noiseRate: o.staticRate ?? 0.25,
    noiseKinds: ['static_clip'],
    side: o.side ?? [64, 112],
    duration: o.seconds ?? [2, 4],
    fps: 12,
    heldoutFraction: o.heldoutFraction ?? 0.15,
    ...(o.ffmpeg ? { ffmpeg: o.ffmpeg } : {}),
  });
  async function* counted() {
    for await (const s of samples) {
      o.onClip?.(i++);
      yield s;
    }
  }
  await writeDataset(o.out, counted(), { samplesPerShard: 200, name: 'video-clips' });
}
