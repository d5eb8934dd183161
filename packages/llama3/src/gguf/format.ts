/**
 * The GGUF container (version 3), as llama.cpp's `ggml/include/gguf.h` and `docs/gguf.md` define it:
 *
 *   "GGUF" u32 version, u64 tensorCount, u64 kvCount
 *   kvCount × (string key, u32 valueType, value)
 *   tensorCount × (string name, u32 nDims, u64 ne[nDims], u32 ggmlType, u64 offset)
 *   padding to `general.alignment`, then the tensor data (each offset a multiple of the alignment)
 *
 * All little-endian; a string is a u64 byte length and UTF-8 bytes; `ne[0]` is the fastest-varying
 * dimension, so a row-major PyTorch [out, in] matrix is ne = [in, out].
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (`enum gguf_type`). */
export const GgufType = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
export type GgufScalarType = Exclude<keyof typeof GgufType, 'array'>;

/** One metadata value; arrays are homogeneous (arrays of arrays are not needed here). */
export type GgufValue =
  | { readonly type: Exclude<GgufScalarType, 'string' | 'bool'>; readonly value: number | bigint }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'array'; readonly itemType: GgufScalarType; readonly value: readonly (number | bigint | boolean | string)[] };

/** Tensor element types we write or read (`enum ggml_type`). */
export const GgmlType = { F32: 0, F16: 1 } as const;
export type GgmlTypeName = keyof typeof GgmlType;

/** `llama_token_type` / gguf-py `TokenType`, stored per token in `tokenizer.ggml.token_type`. */
export const TokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** `llama_ftype` values for `general.file_type`. */
export const FileType = { allF32: 0, mostlyF16: 1 } as const;

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order: ne[0] fastest (the reverse of the PyTorch shape). */
  readonly ne: readonly number[];
  readonly type: GgmlTypeName;
  /** Byte offset from the start of the data section. */
  readonly offset: number;
}

export function bytesPerElement(type: GgmlTypeName): number {
  return type === 'F32' ? 4 : 2;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
