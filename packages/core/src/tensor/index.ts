export { DTYPES, DTYPE_FACTS, FLOAT_DTYPES, allocHost, bytesPerElement, holdsDType, isDType, isFloat, isInteger, isStorageDType } from './dtype.js';
export type { DType, DTypeFacts, HostArray, StorageDType } from './dtype.js';
export { bf16ToF32, decodeBf16, decodeF16, encodeBf16, encodeF16, f16ToF32, f32ToBf16, f32ToF16, roundToF16 } from './f16.js';
export { castFloat, countNonFinite, hostTensor, numelOf, toFloat32, toFloat64 } from './host-tensor.js';
export type { HostTensor } from './host-tensor.js';
