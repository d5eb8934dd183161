export { HerdError, isHerdError, ProblemList } from './errors.js';
export type { HerdErrorCode } from './errors.js';
export { writeFileAtomic, writeFileAtomicSync } from './fs.js';
export type { AtomicData } from './fs.js';
export { Rng } from './rng.js';
export { JsonlLog, Progress, formatSeconds } from './log.js';
export {
  SAFETENSORS_DTYPE_BYTES,
  SAFETENSORS_INDEX_NAME,
  SAFETENSORS_SINGLE_NAME,
  SafetensorsFile,
  ShardedSafetensors,
  bf16ToF32,
  decodeBf16,
  decodeF16,
  encodeBf16,
  encodeF16,
  encodeSafetensors,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  openSafetensors,
  writeSafetensors,
  writeSafetensorsSync,
  writeShardedSafetensors,
} from './safetensors.js';
export type {
  DecodedArray,
  DecodedTensor,
  SafetensorsDtype,
  SafetensorsSource,
  ShardedWriteOptions,
  TensorInfo,
  TensorToWrite,
} from './safetensors.js';
export { UsageError, describeAllowed, describeFlags, exitCodeFor, flag, formatCommandError, parseCommandLine } from './command-line.js';
export type { BooleanFlag, ChoiceFlag, CommandLine, FlagSpec, FlagSpecs, FlagValues, NumberFlag, PositionalSpec, StringFlag } from './command-line.js';
