/** Element types of the IR. Names are short; ONNX codes live in the lowering. */
export type DType = 'f32' | 'f16' | 'f64' | 'i32' | 'i64' | 'bool' | 'u8';

export const FLOAT_DTYPES: readonly DType[] = ['f32', 'f16', 'f64'];

export function isFloat(d: DType): boolean {
  return d === 'f32' || d === 'f16' || d === 'f64';
}

export function isInteger(d: DType): boolean {
  return d === 'i32' || d === 'i64' || d === 'u8';
}

/** Host arrays used for constants and parameter values. f16 is carried as raw Uint16 bits. */
export type HostArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

export function bytesPerElement(d: DType): number {
  switch (d) {
    case 'f64':
    case 'i64':
      return 8;
    case 'f32':
    case 'i32':
      return 4;
    case 'f16':
      return 2;
    case 'bool':
    case 'u8':
      return 1;
  }
}

export function allocHost(d: DType, n: number): HostArray {
  switch (d) {
    case 'f32':
      return new Float32Array(n);
    case 'f64':
      return new Float64Array(n);
    case 'f16':
      return new Uint16Array(n);
    case 'i32':
      return new Int32Array(n);
    case 'i64':
      return new BigInt64Array(n);
    case 'bool':
    case 'u8':
      return new Uint8Array(n);
  }
}
