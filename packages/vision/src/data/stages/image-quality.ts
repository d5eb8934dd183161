/**
 * Quality filter, image half (Llama 3 paper §7.1.1; SPEC "Data curation"): the image must decode
 * (through `@herd/media`'s `decodeImage`: magic-byte sniffing, pixel limit from the header, damaged
 * files refused), be large enough, not too elongated and not one flat colour. The 64-bit perceptual
 * hash is computed here from the decoded pixels, so dedup does not decode every image a second time.
 * Scores: `meta.curation.image = {width, height, aspect, std, phash}`.
 */
import type { OptionRules } from '@herd/core';
import { drop, keep, type SampleStage } from '@herd/data';
import { decodeImage, type RgbImage } from '@herd/media';
import { perceptualHash } from './phash.js';
import { imageFileOf, withScores } from './meta.js';

export interface ImageQualityOptions {
  name?: string;
  /** Shorter side at least this many pixels (default 32). */
  minSide?: number;
  /** Longer / shorter side at most this (default 4). */
  maxAspect?: number;
  /** Standard deviation of the grey level (0–255) at least this; below it the image is blank (default 3). */
  minStd?: number;
  /** Largest image decoded, in pixels (default: decodeImage's 40 MP). */
  maxPixels?: number;
  /** Compute the perceptual hash (default true). */
  hash?: boolean;
}

/** What a config file may set (`checkOptions`). */
export const IMAGE_QUALITY_RULES = { name: 'string', minSide: 'int', maxAspect: 'number', minStd: 'number', maxPixels: 'int', hash: 'boolean' } satisfies OptionRules<ImageQualityOptions>;

/** Standard deviation of the grey level (Rec. 601 luma), over at most ~16k pixels. */
export function greyStd(img: RgbImage): number {
  const n = img.width * img.height;
  const step = Math.max(1, Math.floor(n / 16384));
  let s = 0;
  let s2 = 0;
  let m = 0;
  for (let i = 0; i < n; i += step) {
    const y = 0.299 * (img.data[3 * i] as number) + 0.587 * (img.data[3 * i + 1] as number) + 0.114 * (img.data[3 * i + 2] as number);
    s += y;
    s2 += y * y;
    m++;
  }
  const mean = s / m;
  return Math.sqrt(Math.max(0, s2 / m - mean * mean));
}

export function imageQuality(options: ImageQualityOptions = {}): SampleStage {
  const o = { minSide: options.minSide ?? 32, maxAspect: options.maxAspect ?? 4, minStd: options.minStd ?? 3, maxPixels: options.maxPixels, hash: options.hash ?? true };
  const name = options.name ?? 'image_quality';
  return {
    kind: 'sample',
    name,
    version: JSON.stringify(o),
    async process(sample) {
      const file = imageFileOf(sample);
      if (file === undefined) return drop(`missing_image: no image file among ${Object.keys(sample.files).join(', ') || 'no files'}`);
      let img: RgbImage;
      try {
        img = await decodeImage(file.bytes, { name: `${sample.key}.${file.ext}`, ...(o.maxPixels !== undefined ? { maxPixels: o.maxPixels } : {}) });
      } catch (e) {
        // One line: the detail is decodeImage's message (format, size limit, damage).
        return drop(`undecodable_image: ${((e as Error).message ?? String(e)).split('\n')[0]}`);
      }
      const short = Math.min(img.width, img.height);
      const aspect = Math.max(img.width, img.height) / Math.max(1, short);
      if (aspect > o.maxAspect) return drop(`extreme_aspect: ${aspect.toFixed(2)} > ${o.maxAspect} (${img.width}×${img.height})`);
      if (short < o.minSide) return drop(`image_too_small: ${img.width}×${img.height}, shorter side ${short} < ${o.minSide}`);
      const std = greyStd(img);
      if (std < o.minStd) return drop(`blank_image: grey std ${std.toFixed(2)} < ${o.minStd}`);
      const scores: Record<string, unknown> = { width: img.width, height: img.height, aspect: Number(aspect.toFixed(4)), std: Number(std.toFixed(3)) };
      if (o.hash) scores['phash'] = await perceptualHash(img);
      return keep(withScores(sample, name, scores));
    },
  };
}
