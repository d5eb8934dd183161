import type { Sample } from '@herd/data';

/**
 * Every curation score lives under `meta.curation.<stage>` so that a person (or `herd why`) can see
 * why a sample was kept, and later stages (dedup's representative choice) can read earlier scores.
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

/** The caption (the `txt` file by default) as text, or a reason why there is none. */
export function captionOf(sample: Sample, ext = 'txt'): { text: string } | { reason: string } {
  const bytes = sample.files[ext];
  if (bytes === undefined) return { reason: `missing_caption: no .${ext} file` };
  try {
    return { text: decoder.decode(bytes) };
  } catch {
    return { reason: `invalid_utf8: .${ext} is not UTF-8` };
  }
}

/** Image file extensions in the order they are looked for. */
export const IMAGE_EXTS = ['png', 'jpg', 'jpeg', 'webp', 'gif', 'bmp', 'tif', 'tiff', 'avif'] as const;

export function imageFileOf(sample: Sample): { ext: string; bytes: Uint8Array } | undefined {
  for (const ext of IMAGE_EXTS) {
    const bytes = sample.files[ext];
    if (bytes !== undefined) return { ext, bytes };
  }
  return undefined;
}
