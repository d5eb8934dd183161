/** Resizing RGB u8 HWC pixels with sharp (Lanczos-3), and encoding them for tools and tests. */
import sharp from 'sharp';
import { HerdError } from '@herd/core';
import type { Rgb, RgbImage } from './decode.js';

export interface ResizeOptions {
  /** fill: stretch to the size; contain: fit inside and pad with `background`; cover: fill and crop the centre. */
  readonly fit?: 'fill' | 'contain' | 'cover';
  readonly background?: Rgb;
}

export async function resizeRgb(img: RgbImage, width: number, height: number, opts: ResizeOptions = {}): Promise<RgbImage> {
  checkRgb(img);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new HerdError('invalid_argument', `resizeRgb: target ${width}×${height} must be positive integers`);
  }
  const bg = opts.background ?? [0, 0, 0];
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: opts.fit ?? 'fill', background: { r: bg[0], g: bg[1], b: bg[2] } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

export async function encodeRgb(img: RgbImage, format: 'png' | 'jpeg', quality = 90): Promise<Uint8Array> {
  checkRgb(img);
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  const out = format === 'png' ? s.png() : s.jpeg({ quality, chromaSubsampling: '4:4:4' });
  return new Uint8Array(await out.toBuffer());
}

function checkRgb(img: RgbImage): void {
  if (img.data.length !== img.width * img.height * 3) {
    throw new HerdError('shape_mismatch', `RGB image ${img.width}×${img.height} needs ${img.width * img.height * 3} bytes, got ${img.data.length}`);
  }
}
