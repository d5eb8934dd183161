/**
 * The safetensors format's own names and facts (https://github.com/huggingface/safetensors):
 * 8 bytes little-endian u64 N, then N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]},
 * __metadata__?: {string: string}}`, then the data section; offsets are relative to its start and the
 * tensors tile it exactly (no gaps, no overlaps, nothing after the last one).
 */
import { endianness } from 'node:os';
import { HerdError } from '../errors.js';
import { type StorageDType } from '../tensor/dtype.js';

export type SafetensorsDtype =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL'
  | 'F8_E4M3'
  | 'F8_E5M2';

/** Bytes per element of each dtype the format defines. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

export const SAFETENSORS_DTYPES = Object.keys(SAFETENSORS_DTYPE_BYTES) as SafetensorsDtype[];

/** herd dtype → the file's name for it (every herd storage dtype has one). */
export const TO_SAFETENSORS: Readonly<Record<StorageDType, SafetensorsDtype>> = {
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
  f64: 'F64',
  i32: 'I32',
  i64: 'I64',
  u8: 'U8',
  bool: 'BOOL',
};

export function isSafetensorsDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_BYTES, s);
}

export const SAFETENSORS_INDEX_NAME = 'model.safetensors.index.json';
export const SAFETENSORS_SINGLE_NAME = 'model.safetensors';

/** The reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;
/** A header is at most 3 deep (root → tensor → shape); allow room but never enough to hurt. */
export const MAX_HEADER_DEPTH = 16;

export function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') {
    throw new HerdError('unsupported_op', 'safetensors data is little-endian; this host is big-endian');
  }
}
