/** Reading the .npy files of the HF fixtures (numpy's format: magic, header length, dict header, raw data). */
import { readFileSync } from 'node:fs';
import { HerdError } from '@herd/core';

/** A little-endian f32 array in C order, with its shape. */
export function readNpyF32(path: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(path);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLen).toString('latin1');
  if (!header.includes("'<f4'") || header.includes("'fortran_order': True")) throw new HerdError('io_error', `${path}: expected little-endian f32 in C order, header ${header}`);
  const shape = [...header.match(/\(([^)]*)\)/)![1]!.matchAll(/\d+/g)].map((m) => Number(m[0]));
  const bytes = buf.subarray(10 + headerLen);
  return { shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
}
