/**
 * A BMP reader for the uncompressed kinds (sharp/libvips cannot read BMP at all): 24-bit and 32-bit
 * BI_RGB, and 32-bit BI_BITFIELDS, bottom-up or top-down. Palettes (1/4/8-bit), 16-bit and RLE or
 * JPEG/PNG-in-BMP are refused with a message saying to convert the file.
 */
import { HerdError } from '@herd/core';

export interface BmpHeader {
  readonly width: number;
  readonly height: number;
  readonly bitsPerPixel: number;
  readonly compression: number;
  readonly topDown: boolean;
  readonly dataOffset: number;
  readonly headerSize: number;
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;

export function parseBmpHeader(b: Uint8Array, name: string): BmpHeader {
  if (b.length < 26) throw new HerdError('corrupt_data', `${name}: BMP header cut short (${b.length} bytes)`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dataOffset = dv.getUint32(10, true);
  const headerSize = dv.getUint32(14, true);
  if (headerSize === 12) throw new HerdError('invalid_argument', `${name}: OS/2 1.x BMP is not supported; convert it to PNG`);
  if (headerSize < 40 || b.length < 14 + 40) throw new HerdError('corrupt_data', `${name}: BMP info header of ${headerSize} bytes (expected 40, 108 or 124) or file cut short`);
  const width = dv.getInt32(18, true);
  const rawHeight = dv.getInt32(22, true);
  const bitsPerPixel = dv.getUint16(28, true);
  const compression = dv.getUint32(30, true);
  if (width <= 0 || rawHeight === 0 || rawHeight === -0x80000000) throw new HerdError('corrupt_data', `${name}: BMP size ${width}×${rawHeight} is not a valid image size`);
  return { width, height: Math.abs(rawHeight), bitsPerPixel, compression, topDown: rawHeight < 0, dataOffset, headerSize };
}

/** RGB u8 HWC of an uncompressed 24/32-bit BMP; the caller has already checked the pixel limit. */
export function decodeBmp(b: Uint8Array, name: string, h: BmpHeader = parseBmpHeader(b, name)): { data: Uint8Array; width: number; height: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const { width, height, bitsPerPixel: bpp } = h;
  const supported = (h.compression === BI_RGB && (bpp === 24 || bpp === 32)) || (h.compression === BI_BITFIELDS && bpp === 32);
  if (!supported) {
    throw new HerdError(
      'invalid_argument',
      `${name}: BMP with ${bpp}-bit pixels and compression ${h.compression} is not supported (only uncompressed 24/32-bit); convert it to PNG`,
    );
  }
  // Channel masks: BI_BITFIELDS stores them after the 40-byte header (or inside V4/V5 headers).
  let masks = [0x00ff0000, 0x0000ff00, 0x000000ff];
  if (h.compression === BI_BITFIELDS) {
    if (b.length < 14 + 40 + 12) throw new HerdError('corrupt_data', `${name}: BMP bit-field masks cut short`);
    masks = [dv.getUint32(54, true), dv.getUint32(58, true), dv.getUint32(62, true)];
  }
  const shifts = masks.map((m) => (m === 0 ? 0 : 31 - Math.clz32(m & -m)));
  const maxes = masks.map((m, i) => (m >>> shifts[i]!) || 1);
  const bytesPP = bpp / 8;
  const stride = Math.ceil((width * bytesPP) / 4) * 4;
  const need = h.dataOffset + stride * height;
  if (h.dataOffset < 14 + 40 || need > b.length) {
    throw new HerdError('corrupt_data', `${name}: BMP truncated (pixel data needs ${need} bytes, file has ${b.length})`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = h.dataOffset + (h.topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const p = row + x * bytesPP;
      if (bpp === 24 || h.compression === BI_RGB) {
        out[o] = b[p + 2]!;
        out[o + 1] = b[p + 1]!;
        out[o + 2] = b[p]!;
      } else {
        const v = dv.getUint32(p, true);
        for (let c = 0; c < 3; c++) out[o + c] = Math.round((((v & masks[c]!) >>> shifts[c]!) * 255) / maxes[c]!);
      }
    }
  }
  return { data: out, width, height };
}

/** A 24-bit bottom-up BMP of RGB u8 HWC pixels (for tests and tools that need one). */
export function encodeBmp(data: Uint8Array, width: number, height: number): Uint8Array {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const out = new Uint8Array(54 + stride * height);
  const dv = new DataView(out.buffer);
  out[0] = 0x42;
  out[1] = 0x4d;
  dv.setUint32(2, out.length, true);
  dv.setUint32(10, 54, true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, width, true);
  dv.setInt32(22, height, true);
  dv.setUint16(26, 1, true);
  dv.setUint16(28, 24, true);
  dv.setUint32(34, stride * height, true);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      out[row + x * 3] = data[i + 2]!;
      out[row + x * 3 + 1] = data[i + 1]!;
      out[row + x * 3 + 2] = data[i]!;
    }
  }
  return out;
}
