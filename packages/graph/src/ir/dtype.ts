/**
 * Element types of the IR: the one vocabulary and table live in `@herd/core` (host tensors and
 * checkpoints use them too); re-exported here so graph code keeps one import. ONNX codes live in the
 * lowering.
 */
export { FLOAT_DTYPES, allocHost, bytesPerElement, isFloat, isInteger } from '@herd/core';
export type { DType, HostArray } from '@herd/core';
