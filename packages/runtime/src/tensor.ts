import { HerdError, type HostTensor, f16ToF32, hostTensor } from '@herd/core';
import { type DType, type HostArray, type Shape } from '@herd/graph';
import ort from 'onnxruntime-node';

const ORT_TYPE: Record<DType, ort.Tensor.Type> = { f32: 'float32', f16: 'float16', f64: 'float64', i32: 'int32', i64: 'int64', bool: 'bool', u8: 'uint8' };
const FROM_ORT: Partial<Record<string, DType>> = Object.fromEntries(Object.entries(ORT_TYPE).map(([k, v]) => [v, k as DType]));

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

/** f16 bits to a number: the one codec of `@herd/core`, under the name runtime code has used. */
export const f16BitsToNumber: (bits: number) => number = f16ToF32;

// The host tensor and its helpers are defined once in @herd/core; runtime code and callers import them from here too.
export { hostTensor, toFloat64 } from '@herd/core';
export type { HostTensor, Shape };
