import { HerdError } from '@herd/core';
import { type DType, type HostArray, type Shape, allocHost, formatShape } from '@herd/graph';
import ort from 'onnxruntime-node';

/** A tensor in host memory, the runtime's exchange format with the rest of herd. */
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: HostArray;
}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = { f32: 'float32', f16: 'float16', f64: 'float64', i32: 'int32', i64: 'int64', bool: 'bool', u8: 'uint8' };
const FROM_ORT: Partial<Record<string, DType>> = Object.fromEntries(Object.entries(ORT_TYPE).map(([k, v]) => [v, k as DType]));

export function hostTensor(dtype: DType, shape: readonly number[], data?: HostArray | readonly number[]): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  let arr: HostArray;
  if (data === undefined) arr = allocHost(dtype, n);
  else if (Array.isArray(data)) {
    arr = allocHost(dtype, n);
    if (arr instanceof BigInt64Array) (data as number[]).forEach((v, i) => ((arr as BigInt64Array)[i] = BigInt(v)));
    else (arr as Float32Array).set(data as number[]);
  } else arr = data as HostArray;
  if (arr.length !== n) throw new HerdError('shape_mismatch', `hostTensor: ${arr.length} values for ${dtype}${formatShape(shape)} (needs ${n})`);
  return { dtype, shape: [...shape], data: arr };
}

export function scalarTensor(v: number, dtype: DType = 'f32'): HostTensor {
  return hostTensor(dtype, [], [v]);
}

export function toOrt(t: HostTensor): ort.Tensor {
  // bool tensors are passed to ORT as Uint8Array, which it accepts for 'bool'.
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data as never, t.shape as number[]);
}

export function fromOrt(t: ort.Tensor, name = 'tensor'): HostTensor {
  const dtype = FROM_ORT[t.type];
  if (!dtype) throw new HerdError('unsupported_op', `${name}: ORT type ${t.type} has no herd dtype`);
  if (t.location !== 'cpu' && t.location !== 'cpu-pinned') {
    throw new HerdError('runtime_error', `${name}: data lives on ${t.location}; read it through a session whose outputs are on cpu`);
  }
  return { dtype, shape: [...t.dims], data: t.data as HostArray };
}

export function ortType(d: DType): ort.Tensor.Type {
  return ORT_TYPE[d];
}

/** Float view of a host tensor's values (f16 decoded), for metrics and tests. */
export function toFloat64(t: HostTensor): Float64Array {
  if (t.dtype === 'f16') {
    const u = t.data as Uint16Array;
    return Float64Array.from(u, f16BitsToNumber);
  }
  if (t.data instanceof BigInt64Array) return Float64Array.from(t.data, (v) => Number(v));
  return Float64Array.from(t.data as Float32Array);
}

export function f16BitsToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export type { Shape };
