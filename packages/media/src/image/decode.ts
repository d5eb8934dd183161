/**
 * Image decoding at the edge: any of an explicit list of formats (sniffed from magic bytes) to RGB
 * u8 HWC, upright (EXIF orientation applied), alpha flattened onto a stated background, with a
 * pixel limit checked against the header before any pixel is decoded.
 *
 * Shape legend: H height, W width; `data` is [H, W, 3] row-major RGB, one byte per channel.
 */
import sharp from 'sharp';
import { HerdError } from '@herd/core';
import { readSource, bytesAsBuffer, type MediaInput } from '../source.js';
import { sniffFormat, type ImageFormat } from '../sniff.js';
import { decodeBmp, parseBmpHeader } from './bmp.js';

/** Formats `decodeImage` reads; BMP (uncompressed 24/32-bit) by herd's own reader, the rest by sharp. */
export const DECODABLE_IMAGE_FORMATS: readonly ImageFormat[] = ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff', 'bmp'];

/** 40 megapixels: well above any training resolution (the paper tiles 448² crops), far below a bomb. */
export const DEFAULT_MAX_PIXELS = 40_000_000;
export const DEFAULT_MAX_IMAGE_BYTES = 128 * 1024 * 1024;

export type Rgb = readonly [number, number, number];

/** RGB u8 pixels, [H, W, 3] row-major. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface DecodeImageOptions {
  /** Name used in errors when the input is a buffer (default `<buffer>`; a path names itself). */
  readonly name?: string;
  /** Refuse images with more pixels than this, from the header, before decoding (default 40 MP). */
  readonly maxPixels?: number;
  /** Refuse files larger than this many bytes (default 128 MiB). */
  readonly maxBytes?: number;
  /** Colour transparent pixels are composited onto (default white). */
  readonly background?: Rgb;
  /** Formats to accept (default all of DECODABLE_IMAGE_FORMATS). */
  readonly formats?: readonly ImageFormat[];
  /**
   * Render SVG (default false). librsvg, which sharp uses, follows external references (other
   * files, `xlink:href` images): only for SVGs you made yourself, never for scraped data.
   */
  readonly allowSvg?: boolean;
  /** Give up on one image after this long (default 30 s); libvips stops at the next tile. */
  readonly timeoutSeconds?: number;
}

export interface ImageHeader {
  readonly format: ImageFormat | 'svg';
  readonly width: number;
  readonly height: number;
}

/** Format and stored size (before EXIF rotation) from the header alone; no pixels are decoded. */
export async function readImageHeader(input: MediaInput, opts: DecodeImageOptions = {}): Promise<ImageHeader> {
  const { bytes, name } = await readSource(input, opts.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES, opts.name);
  return headerOf(bytes, name, opts);
}

export async function decodeImage(input: MediaInput, opts: DecodeImageOptions = {}): Promise<RgbImage> {
  const { bytes, name } = await readSource(input, opts.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES, opts.name);
  const header = await headerOf(bytes, name, opts);
  if (header.format === 'bmp') return decodeBmp(bytes, name);
  const bg = opts.background ?? [255, 255, 255];
  try {
    const { data, info } = await sharp(bytesAsBuffer(bytes), {
      limitInputPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS,
      failOn: 'warning', // a truncated or damaged file is refused, not half-decoded
      pages: 1, // GIF/WebP animations and multi-page TIFFs: the first frame
      page: 0,
    })
      .timeout({ seconds: opts.timeoutSeconds ?? 30 })
      .autoOrient()
      .flatten({ background: { r: bg[0], g: bg[1], b: bg[2] } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new HerdError('corrupt_data', `${name}: decoded to ${info.channels} channels, ${data.length} bytes for ${info.width}×${info.height} (expected RGB)`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (e) {
    throw wrapSharpError(e, name, header.format);
  }
}

async function headerOf(bytes: Uint8Array, name: string, opts: DecodeImageOptions): Promise<ImageHeader> {
  const sniffed = sniffFormat(bytes);
  const allowed = opts.formats ?? DECODABLE_IMAGE_FORMATS;
  const list = `accepted: ${allowed.join(', ')}`;
  if (sniffed === 'svg') {
    if (opts.allowSvg !== true) {
      throw new HerdError('invalid_argument', `${name}: SVG refused (it can reference external files; pass allowSvg only for SVGs you made); ${list}`);
    }
  } else if (sniffed === 'heic') {
    throw new HerdError('invalid_argument', `${name}: HEIC/HEIF (HEVC) is not decodable here (sharp's prebuilt libvips has no HEVC decoder); convert to JPEG or AVIF; ${list}`);
  } else if (sniffed === 'unknown') {
    throw new HerdError('corrupt_data', `${name}: not a recognised image (first bytes ${hex(bytes.subarray(0, 8))}); ${list}`);
  } else if (!(allowed as readonly string[]).includes(sniffed)) {
    throw new HerdError('invalid_argument', `${name}: ${sniffed} is not an accepted image format; ${list}`);
  }
  let width: number;
  let height: number;
  if (sniffed === 'bmp') {
    ({ width, height } = parseBmpHeader(bytes, name));
  } else {
    try {
      // metadata() reads the header only: a compression bomb is measured, not inflated.
      const m = await sharp(bytesAsBuffer(bytes), { limitInputPixels: false }).metadata();
      width = m.width ?? 0;
      height = m.pageHeight ?? m.height ?? 0;
    } catch (e) {
      throw wrapSharpError(e, name, sniffed);
    }
    if (width <= 0 || height <= 0) throw new HerdError('corrupt_data', `${name}: ${sniffed} header gives no size`);
  }
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width * height > maxPixels) {
    throw new HerdError(
      'invalid_argument',
      `${name}: ${width}×${height} = ${(width * height / 1e6).toFixed(1)} MP is over the ${(maxPixels / 1e6).toFixed(1)} MP limit (raise maxPixels if such images are expected)`,
    );
  }
  return { format: sniffed as ImageFormat | 'svg', width, height };
}

function wrapSharpError(e: unknown, name: string, format: string): HerdError {
  if (e instanceof HerdError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (/pixel limit/i.test(msg)) return new HerdError('invalid_argument', `${name}: over the pixel limit: ${msg}`, { cause: e });
  if (/timeout/i.test(msg)) return new HerdError('runtime_error', `${name}: decoding timed out: ${msg}`, { cause: e });
  return new HerdError('corrupt_data', `${name}: ${format} could not be decoded (damaged or truncated?): ${msg}`, { cause: e });
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
