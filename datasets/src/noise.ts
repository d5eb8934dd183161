/**
 * Deliberate noise with ground-truth labels, so each curation stage can be scored against the truth.
 * The plan is exact rather than Bernoulli: round(rate × count) samples are noisy and the kinds take
 * turns, so a tiny set still contains every kind once its count allows, and tests can check the rate.
 */
import type { Rng } from '@herd/core';
import { HerdError } from '@herd/core';

export const IMAGE_NOISE = [
  'exact_duplicate',
  'near_duplicate',
  'mismatched_caption',
  'non_english_caption',
  'blank',
  'tiny',
  'extreme_aspect',
  'text_heavy',
  'truncated',
] as const;
export const VIDEO_NOISE = [
  'exact_duplicate',
  'near_duplicate',
  'mismatched_caption',
  'non_english_caption',
  'static_clip',
  'subtitles',
  'truncated',
  'blank',
  'tiny',
] as const;
export const SPEECH_NOISE = [
  'exact_duplicate',
  'near_duplicate',
  'mismatched_caption',
  'silent',
  'clipped',
  'noise_only',
  'truncated',
  // Speech over added white noise at −5…+5 dB SNR (meta.snrDb).
  'noisy',
  // A transcript in another language than the one spoken (meta.transcriptLanguage).
  'wrong_language_transcript',
  // A transcript that is not one: markup, a link list, one word repeated, nothing (meta.junk).
  'junk_transcript',
  // The first 0.05–0.3 s of the utterance only, as a valid file (a segmentation accident).
  'fragment',
] as const;

export type ImageNoise = (typeof IMAGE_NOISE)[number];
export type VideoNoise = (typeof VIDEO_NOISE)[number];
export type SpeechNoise = (typeof SPEECH_NOISE)[number];
export type NoiseKind = ImageNoise | VideoNoise | SpeechNoise;

/** Kinds that copy an earlier clean sample; they are never planned at index 0. */
export const DUPLICATE_NOISE: readonly NoiseKind[] = ['exact_duplicate', 'near_duplicate'];

export function checkRate(rate: number, field = 'noiseRate'): void {
  if (!(rate >= 0 && rate <= 1)) throw new HerdError('invalid_argument', `${field} must be in [0, 1], got ${rate}`);
}

/**
 * Which samples are noisy, and how. Index 0 stays clean so duplicates always have a source;
 * `kinds` may be a subset (e.g. only what a stage under test needs).
 */
export function planNoise<K extends NoiseKind>(rng: Rng, count: number, rate: number, kinds: readonly K[]): (K | null)[] {
  checkRate(rate);
  const plan: (K | null)[] = new Array<K | null>(count).fill(null);
  if (count < 2 || kinds.length === 0) return plan;
  const n = Math.min(count - 1, Math.round(rate * count));
  const order = rng.shuffle([...kinds]);
  const slots = rng.shuffle(Array.from({ length: count - 1 }, (_, i) => i + 1)).slice(0, n);
  slots.forEach((slot, j) => {
    plan[slot] = order[j % order.length]!;
  });
  return plan;
}

/** Remembers the last few clean samples as duplicate sources; bounded so millions of samples fit. */
export class RecentPool<T> {
  private readonly items: T[] = [];
  constructor(private readonly capacity = 32) {}
  add(item: T): void {
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.shift();
  }
  pick(rng: Rng): T | undefined {
    return this.items.length === 0 ? undefined : rng.pick(this.items);
  }
}

/** Cuts a file short at 30–80 % of its length, as an interrupted download would. */
export function truncateBytes(rng: Rng, bytes: Uint8Array): Uint8Array {
  const keep = Math.max(1, Math.floor(bytes.length * (0.3 + 0.5 * rng.next())));
  return bytes.slice(0, keep);
}
