import type { Sample } from '@herd/data';

// The score helpers are shared by every modality's curation and live in @herd/data.
export { CURATION_FIELD, withScores, scoreOf, captionOf } from '@herd/data';

/** Image file extensions in the order they are looked for. */
export const IMAGE_EXTS = ['png', 'jpg', 'jpeg', 'webp', 'gif', 'bmp', 'tif', 'tiff', 'avif'] as const;

export function imageFileOf(sample: Sample): { ext: string; bytes: Uint8Array } | undefined {
  for (const ext of IMAGE_EXTS) {
    const bytes = sample.files[ext];
    if (bytes !== undefined) return { ext, bytes };
  }
  return undefined;
}
