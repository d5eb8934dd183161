import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { isHerdError } from '@herd/core';
import { DECODABLE_IMAGE_FORMATS, decodeImage, readImageHeader } from './decode.js';
import { encodeBmp } from './bmp.js';
import { encodeRgb, resizeRgb } from './resize.js';

/** A W×H image whose left half is `a` and right half `b` (raw RGB). */
function halves(w: number, h: number, a: readonly number[], b: readonly number[]): Buffer {
  const out = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out.set(x < w / 2 ? a : b, (y * w + x) * 3);
  return out;
}
const RED = [230, 20, 20];
const BLUE = [20, 20, 230];

function pixel(img: { data: Uint8Array; width: number }, x: number, y: number): number[] {
  const o = (y * img.width + x) * 3;
  return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
}
function near(got: number[], want: readonly number[], tol: number): void {
  got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(tol));
}

describe('decodeImage', () => {
  const raw = halves(16, 8, RED, BLUE);
  const encoders: Record<string, (s: Sharp) => Sharp> = {
    png: (s) => s.png(),
    jpeg: (s) => s.jpeg({ quality: 95, chromaSubsampling: '4:4:4' }),
    webp: (s) => s.webp({ lossless: true }),
    gif: (s) => s.gif(),
    avif: (s) => s.avif({ lossless: true }),
    tiff: (s) => s.tiff({ compression: 'lzw' }),
  };

  it.each(Object.keys(encoders))('decodes %s to RGB u8 HWC with the pixels in place', async (fmt) => {
    const bytes = await encoders[fmt]!(sharp(raw, { raw: { width: 16, height: 8, channels: 3 } })).toBuffer();
    const img = await decodeImage(bytes, { name: `x.${fmt}` });
    expect([img.width, img.height, img.data.length]).toEqual([16, 8, 16 * 8 * 3]);
    const tol = fmt === 'jpeg' || fmt === 'gif' || fmt === 'avif' ? 24 : 0;
    near(pixel(img, 2, 4), RED, tol);
    near(pixel(img, 13, 4), BLUE, tol);
  });

  it('decodes uncompressed BMP itself (sharp cannot), bottom-up and top-down', async () => {
    const bmp = encodeBmp(new Uint8Array(raw), 16, 8);
    const img = await decodeImage(bmp, { name: 'x.bmp' });
    expect(Buffer.from(img.data).equals(raw)).toBe(true);
    // Same pixels stored top-down (negative height), 32-bit BGRX.
    const td = new Uint8Array(54 + 16 * 8 * 4);
    td.set(bmp.subarray(0, 54));
    const dv = new DataView(td.buffer);
    dv.setInt32(22, -8, true);
    dv.setUint16(28, 32, true);
    for (let i = 0; i < 16 * 8; i++) td.set([raw[i * 3 + 2]!, raw[i * 3 + 1]!, raw[i * 3]!, 0], 54 + i * 4);
    expect(Buffer.from((await decodeImage(td)).data).equals(raw)).toBe(true);
    expect(DECODABLE_IMAGE_FORMATS).toContain('bmp');
  });

  it('applies EXIF orientation (6 = rotate 90° clockwise)', async () => {
    const jpg = await sharp(raw, { raw: { width: 16, height: 8, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const img = await decodeImage(jpg);
    expect([img.width, img.height]).toEqual([8, 16]);
    near(pixel(img, 4, 2), RED, 24); // the left half is now on top
    near(pixel(img, 4, 13), BLUE, 24);
    expect(await readImageHeader(jpg)).toEqual({ format: 'jpeg', width: 16, height: 8 }); // stored size
  });

  it('flattens alpha onto the stated background', async () => {
    const rgba = Buffer.from([255, 0, 0, 0, 255, 0, 0, 128, 0, 0, 255, 255]); // transparent, half, opaque
    const png = await sharp(rgba, { raw: { width: 3, height: 1, channels: 4 } }).png().toBuffer();
    const white = await decodeImage(png);
    expect(pixel(white, 0, 0)).toEqual([255, 255, 255]);
    near(pixel(white, 1, 0), [255, 127, 127], 2);
    expect(pixel(white, 2, 0)).toEqual([0, 0, 255]);
    const grey = await decodeImage(png, { background: [100, 100, 100] });
    expect(pixel(grey, 0, 0)).toEqual([100, 100, 100]);
  });

  it('gives three channels for greyscale and one byte per channel for 16-bit PNG', async () => {
    const g = await sharp(Buffer.from([0, 128, 255]), { raw: { width: 3, height: 1, channels: 1 } }).png().toBuffer();
    const img = await decodeImage(g);
    expect(Array.from(img.data)).toEqual([0, 0, 0, 128, 128, 128, 255, 255, 255]);
    const deep = await sharp(raw, { raw: { width: 16, height: 8, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
    const d = await decodeImage(deep);
    expect(d.data.length).toBe(16 * 8 * 3);
    near(pixel(d, 2, 4), RED, 1);
  });

  it('takes the first frame of an animated GIF', async () => {
    const a = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
    const b = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 0, g: 0, b: 255 } } }).png().toBuffer();
    const gif = await sharp([a, b], { join: { animated: true } }).gif().toBuffer();
    const img = await decodeImage(gif);
    expect([img.width, img.height]).toEqual([8, 8]);
    near(pixel(img, 4, 4), [255, 0, 0], 8);
  });

  it('honours an accepted-format list and a pixel limit', async () => {
    const png = await encodeRgb({ data: new Uint8Array(raw), width: 16, height: 8 }, 'png');
    await expect(decodeImage(png, { formats: ['jpeg'], name: 'a.png' })).rejects.toThrow(/a\.png: png is not an accepted image format; accepted: jpeg/);
    await expect(decodeImage(png, { maxPixels: 100, name: 'a.png' })).rejects.toThrow(/a\.png: 16×8 .* over the 0\.0 MP limit/);
    try {
      await decodeImage(png, { maxPixels: 100 });
      expect.unreachable();
    } catch (e) {
      expect(isHerdError(e, 'invalid_argument')).toBe(true);
    }
  });

  it('resizes RGB with sharp (fill and contain)', async () => {
    const img = { data: new Uint8Array(raw), width: 16, height: 8 };
    const r = await resizeRgb(img, 8, 4);
    expect([r.width, r.height, r.data.length]).toEqual([8, 4, 96]);
    near(pixel(r, 0, 2), RED, 4);
    near(pixel(r, 7, 2), BLUE, 4);
    const c = await resizeRgb(img, 8, 8, { fit: 'contain', background: [0, 255, 0] });
    expect(pixel(c, 4, 0)).toEqual([0, 255, 0]); // padding above
  });
});
