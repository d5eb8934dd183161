import type { Sample } from '../sample.js';

/**
 * Every curation score lives under `meta.curation.<stage>` so that a person (or `herd why`) can see
 * why a sample was kept, and later stages (dedup's representative choice) can read earlier scores.
 * Shared by every modality's curation (images, speech, video).
 */
export const CURATION_FIELD = 'curation';

export function withScores(sample: Sample, stage: string, scores: Record<string, unknown>): Sample {
  const prev = sample.meta[CURATION_FIELD];
  const curation = typeof prev === 'object' && prev !== null && !Array.isArray(prev) ? (prev as Record<string, unknown>) : {};
  return { ...sample, meta: { ...sample.meta, [CURATION_FIELD]: { ...curation, [stage]: scores } } };
}

/** A score an earlier stage recorded, or undefined. */
export function scoreOf(sample: Sample, stage: string, field: string): unknown {
  const curation = sample.meta[CURATION_FIELD];
  if (typeof curation !== 'object' || curation === null) return undefined;
  const s = (curation as Record<string, unknown>)[stage];
  if (typeof s !== 'object' || s === null) return undefined;
  return (s as Record<string, unknown>)[field];
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The text of a sample (an image caption, a speech transcript: the `txt` file by default), or a
 * reason why there is none. `subject` names it in the reason (`missing_caption`, `missing_transcript`).
 */
export function captionOf(sample: Sample, ext = 'txt', subject = 'caption'): { text: string } | { reason: string } {
  const bytes = sample.files[ext];
  if (bytes === undefined) return { reason: `missing_${subject}: no .${ext} file` };
  try {
    return { text: decoder.decode(bytes) };
  } catch {
    return { reason: `invalid_utf8: .${ext} is not UTF-8` };
  }
}
