/**
 * The one host tensor of herd: a dtype, a shape and the values in a typed array. The runtime feeds
 * and returns these, checkpoints read and write them, models take their weights as them.
 */
import { HerdError } from '../errors.js';
import { type DType, type HostArray, type StorageDType, DTYPE_FACTS, allocHost, holdsDType, isFloat } from './dtype.js';
import { decodeBf16, decodeF16, encodeBf16, encodeF16, f16ToF32 } from './f16.js';

/**
 * A tensor in host memory. `D` defaults to the compute dtypes; `HostTensor<StorageDType>` may also be
 * bf16 (a checkpoint's tensor before it is decoded).
 */
export interface HostTensor<D extends StorageDType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: HostArray;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * A host tensor, checked: the data's typed array must be the one `dtype` is held in (f16/bf16 as
 * Uint16Array bits) and hold exactly as many values as the shape needs. Without data the values are
 * zeros; a plain number list is converted (BigInt for i64; for f16/bf16 the numbers are values, encoded).
 */
export function hostTensor<D extends StorageDType>(dtype: D, shape: readonly number[], data?: HostArray | readonly number[]): HostTensor<D> {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new HerdError('shape_mismatch', `hostTensor: shape must be non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const n = numelOf(shape);
  let arr: HostArray;
  if (data === undefined) arr = allocHost(dtype, n);
  else if (Array.isArray(data)) {
    const values = data as readonly number[];
    if (dtype === 'f16') arr = encodeF16(values);
    else if (dtype === 'bf16') arr = encodeBf16(values);
    else {
      arr = allocHost(dtype, values.length);
      if (arr instanceof BigInt64Array) values.forEach((v, i) => ((arr as BigInt64Array)[i] = BigInt(v)));
      else (arr as Float32Array).set(values);
    }
  } else {
    arr = data as HostArray;
    if (!holdsDType(dtype, arr)) {
      throw new HerdError('dtype_mismatch', `hostTensor: ${dtype} values are held in a ${DTYPE_FACTS[dtype].array}, got a ${(arr as object).constructor.name}`);
    }
  }
  if (arr.length !== n) throw new HerdError('shape_mismatch', `hostTensor: ${arr.length} values for ${dtype}${formatShape(shape)} (needs ${n})`);
  return { dtype, shape: [...shape], data: arr };
}

/** The values as f32 (f16/bf16 decoded, f64 rounded, integers converted); a copy unless already f32. */
export function toFloat32(t: HostTensor<StorageDType>): Float32Array {
  switch (t.dtype) {
    case 'f32':
      return t.data as Float32Array;
    case 'f16':
      return decodeF16(t.data as Uint16Array);
    case 'bf16':
      return decodeBf16(t.data as Uint16Array);
    case 'i64':
      return Float32Array.from(t.data as BigInt64Array, (v) => Number(v));
    default:
      return Float32Array.from(t.data as Float64Array);
  }
}

/** The values as f64 (exact for every dtype but i64 beyond 2^53), for metrics and tests. */
export function toFloat64(t: HostTensor<StorageDType>): Float64Array {
  switch (t.dtype) {
    case 'f16':
      return Float64Array.from(t.data as Uint16Array, f16ToF32);
    case 'bf16':
      return Float64Array.from(decodeBf16(t.data as Uint16Array));
    case 'i64':
      return Float64Array.from(t.data as BigInt64Array, (v) => Number(v));
    default:
      return Float64Array.from(t.data as Float32Array);
  }
}

/**
 * A float tensor in another float dtype (f32 ↔ f16 / bf16 / f64), rounding to nearest even.
 * Returns `t` itself when it already has that dtype.
 */
export function castFloat<D extends StorageDType>(t: HostTensor<StorageDType>, dtype: D): HostTensor<D> {
  if (!isFloat(t.dtype) || !isFloat(dtype)) {
    throw new HerdError('dtype_mismatch', `castFloat: only float dtypes convert (f32, f16, bf16, f64); got ${t.dtype} → ${dtype}`);
  }
  if (t.dtype === dtype) return t as HostTensor<D>;
  const f = t.dtype === 'f64' && dtype !== 'f32' ? (t.data as Float64Array) : toFloat32(t);
  const data = dtype === 'f16' ? encodeF16(f) : dtype === 'bf16' ? encodeBf16(f) : dtype === 'f64' ? Float64Array.from(f) : Float32Array.from(f);
  return { dtype, shape: [...t.shape], data };
}

/** How many values are NaN or ±Infinity (0 for integer dtypes). f16/bf16 are checked on their bits. */
export function countNonFinite(t: HostTensor<StorageDType>): number {
  let bad = 0;
  switch (t.dtype) {
    case 'f16':
      for (const b of t.data as Uint16Array) if ((b & 0x7c00) === 0x7c00) bad++;
      return bad;
    case 'bf16':
      for (const b of t.data as Uint16Array) if ((b & 0x7f80) === 0x7f80) bad++;
      return bad;
    case 'f32':
    case 'f64':
      for (const v of t.data as Float32Array) if (!Number.isFinite(v)) bad++;
      return bad;
    default:
      return 0;
  }
}
