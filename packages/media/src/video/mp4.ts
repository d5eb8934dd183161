/** Reading an MP4's duration from its `mvhd` box, without a decoder (for checks and tests). */
import { HerdError } from '@herd/core';

function findBox(bytes: Uint8Array, start: number, end: number, type: string): { start: number; end: number } | undefined {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = start;
  while (o + 8 <= end) {
    let size = dv.getUint32(o);
    const t = String.fromCharCode(bytes[o + 4]!, bytes[o + 5]!, bytes[o + 6]!, bytes[o + 7]!);
    let header = 8;
    if (size === 1) {
      size = Number(dv.getBigUint64(o + 8));
      header = 16;
    } else if (size === 0) size = end - o;
    if (size < header) return undefined;
    if (t === type) return { start: o + header, end: Math.min(end, o + size) };
    o += size;
  }
  return undefined;
}

/** Duration in seconds from moov/mvhd; throws corrupt_data when the box is missing or cut. */
export function mp4Duration(bytes: Uint8Array, name = 'mp4'): number {
  const moov = findBox(bytes, 0, bytes.length, 'moov');
  const mvhd = moov && findBox(bytes, moov.start, moov.end, 'mvhd');
  if (mvhd === undefined || mvhd.end - mvhd.start < 32) throw new HerdError('corrupt_data', `${name}: no moov/mvhd box`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = bytes[mvhd.start]!;
  if (version === 1) return Number(dv.getBigUint64(mvhd.start + 24)) / dv.getUint32(mvhd.start + 20);
  return dv.getUint32(mvhd.start + 16) / dv.getUint32(mvhd.start + 12);
}
