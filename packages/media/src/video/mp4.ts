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

/**
 * Frames in an MP4's first video track: the sample count of moov/trak/mdia/minf/stbl/stsz in the
 * track whose mdia/hdlr says 'vide' (what ffprobe reports as nb_frames), read without a decoder —
 * the page's in-browser mode needs it to pick the same frames as `sampleFrames`. Undefined when the
 * file has no such track or box (fragmented MP4 keeps samples in moof boxes).
 */
export function mp4VideoFrameCount(bytes: Uint8Array): number | undefined {
  const moov = findBox(bytes, 0, bytes.length, 'moov');
  if (moov === undefined) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Every trak child of moov, in order.
  for (let o = moov.start; o + 8 <= moov.end; ) {
    const trak = findBox(bytes, o, moov.end, 'trak');
    if (trak === undefined) return undefined;
    o = trak.end;
    const mdia = findBox(bytes, trak.start, trak.end, 'mdia');
    const hdlr = mdia && findBox(bytes, mdia.start, mdia.end, 'hdlr');
    // hdlr: version/flags (4), pre_defined (4), handler_type (4).
    if (hdlr === undefined || hdlr.end - hdlr.start < 12) continue;
    if (String.fromCharCode(...bytes.subarray(hdlr.start + 8, hdlr.start + 12)) !== 'vide') continue;
    const minf = findBox(bytes, mdia!.start, mdia!.end, 'minf');
    const stbl = minf && findBox(bytes, minf.start, minf.end, 'stbl');
    const stsz = stbl && (findBox(bytes, stbl.start, stbl.end, 'stsz') ?? findBox(bytes, stbl.start, stbl.end, 'stz2'));
    // stsz: version/flags (4), sample_size (4), sample_count (4); stz2: version/flags, reserved + field_size, sample_count.
    if (stsz === undefined || stsz.end - stsz.start < 12) return undefined;
    const n = dv.getUint32(stsz.start + 8);
    return n > 0 ? n : undefined;
  }
  return undefined;
}
