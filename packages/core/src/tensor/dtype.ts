/**
 * The one dtype vocabulary of herd and the one table of facts about it.
 *
 * `DType` is what graphs compute in and what ONNX Runtime exchanges (the IR's element types).
 * `StorageDType` adds `bf16`, which exists only in files: Hugging Face Llama checkpoints ship bf16,
 * but the IR and ORT's WebGPU provider have no bf16, so a bf16 tensor is decoded (to f32) before it
 * reaches a graph. Keeping bf16 out of `DType` means every exhaustive switch over compute dtypes stays
 * honest; `HostTensor<StorageDType>` is the type that may carry it.
 *
 * Format-specific names (safetensors `F16`, ONNX codes, ORT type strings) live with their format.
 */
export type DType = 'f32' | 'f16' | 'f64' | 'i32' | 'i64' | 'bool' | 'u8';
export type StorageDType = DType | 'bf16';

/**
 * Host arrays for tensor values. f16 and bf16 are carried as their raw 16-bit patterns (Uint16Array),
 * bool as 0/1 bytes.
 */
export type HostArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

export interface DTypeFacts {
  readonly bytes: number;
  readonly kind: 'float' | 'int' | 'bool';
  /** The typed array that holds values of this dtype on the host. */
  readonly array: 'Float32Array' | 'Float64Array' | 'Uint16Array' | 'Int32Array' | 'BigInt64Array' | 'Uint8Array';
}

export const DTYPE_FACTS: Readonly<Record<StorageDType, DTypeFacts>> = {
  f32: { bytes: 4, kind: 'float', array: 'Float32Array' },
  f16: { bytes: 2, kind: 'float', array: 'Uint16Array' },
  bf16: { bytes: 2, kind: 'float', array: 'Uint16Array' },
  f64: { bytes: 8, kind: 'float', array: 'Float64Array' },
  i32: { bytes: 4, kind: 'int', array: 'Int32Array' },
  i64: { bytes: 8, kind: 'int', array: 'BigInt64Array' },
  u8: { bytes: 1, kind: 'int', array: 'Uint8Array' },
  bool: { bytes: 1, kind: 'bool', array: 'Uint8Array' },
};

export const DTYPES: readonly DType[] = ['f32', 'f16', 'f64', 'i32', 'i64', 'bool', 'u8'];
export const FLOAT_DTYPES: readonly DType[] = ['f32', 'f16', 'f64'];

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && s !== 'bf16' && Object.hasOwn(DTYPE_FACTS, s);
}

export function isStorageDType(s: unknown): s is StorageDType {
  return typeof s === 'string' && Object.hasOwn(DTYPE_FACTS, s);
}

export function isFloat(d: StorageDType): boolean {
  return DTYPE_FACTS[d].kind === 'float';
}

export function isInteger(d: StorageDType): boolean {
  return DTYPE_FACTS[d].kind === 'int';
}

export function bytesPerElement(d: StorageDType): number {
  return DTYPE_FACTS[d].bytes;
}

/** A zeroed host array for `n` values of `d`. */
export function allocHost(d: StorageDType, n: number): HostArray {
  switch (DTYPE_FACTS[d].array) {
    case 'Float32Array':
      return new Float32Array(n);
    case 'Float64Array':
      return new Float64Array(n);
    case 'Uint16Array':
      return new Uint16Array(n);
    case 'Int32Array':
      return new Int32Array(n);
    case 'BigInt64Array':
      return new BigInt64Array(n);
    case 'Uint8Array':
      return new Uint8Array(n);
  }
}

/** Whether `data` is the typed array `d` is held in. */
export function holdsDType(d: StorageDType, data: ArrayBufferView): data is HostArray {
  return (data as { constructor?: { name?: string } }).constructor?.name === DTYPE_FACTS[d].array;
}
