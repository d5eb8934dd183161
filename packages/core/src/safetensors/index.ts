export {
  SAFETENSORS_DTYPES,
  SAFETENSORS_DTYPE_BYTES,
  SAFETENSORS_INDEX_NAME,
  SAFETENSORS_SINGLE_NAME,
  TO_SAFETENSORS,
} from './format.js';
export type { SafetensorsDtype } from './format.js';
export { SafetensorsFile } from './read.js';
export type { SafetensorsReadOptions, SafetensorsSource, TensorInfo } from './read.js';
export { encodeSafetensors, writeSafetensors, writeSafetensorsSync } from './write.js';
export type { SafetensorsTensors } from './write.js';
export { ShardedSafetensors, openSafetensors, writeShardedSafetensors } from './sharded.js';
export type { ShardedWriteOptions } from './sharded.js';
