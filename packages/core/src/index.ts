export { HerdError, isHerdError, ProblemList } from './errors.js';
export type { HerdErrorCode } from './errors.js';
export { cardPath, openRegularFileSync, outputPathProblem, readFullySync, writeFileAtomic, writeFileAtomicSync } from './fs.js';
export type { AtomicData, OutputKind } from './fs.js';
export { Rng } from './rng.js';
export { JsonlLog, Progress, formatSeconds } from './log.js';
export { freeLoopbackPort, spawnUntil, stopChild } from './processes.js';
export type { StartedProcess } from './processes.js';
export {
  DTYPES,
  DTYPE_FACTS,
  FLOAT_DTYPES,
  allocHost,
  bf16ToF32,
  bytesPerElement,
  castFloat,
  countNonFinite,
  decodeBf16,
  decodeF16,
  encodeBf16,
  encodeF16,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  holdsDType,
  hostTensor,
  isDType,
  isFloat,
  isInteger,
  isStorageDType,
  numelOf,
  roundToF16,
  toFloat32,
  toFloat64,
} from './tensor/index.js';
export type { DType, DTypeFacts, HostArray, HostTensor, StorageDType } from './tensor/index.js';
export {
  SAFETENSORS_DTYPES,
  SAFETENSORS_DTYPE_BYTES,
  SAFETENSORS_INDEX_NAME,
  SAFETENSORS_SINGLE_NAME,
  SafetensorsFile,
  ShardedSafetensors,
  TO_SAFETENSORS,
  encodeSafetensors,
  openSafetensors,
  writeSafetensors,
  writeSafetensorsSync,
  writeShardedSafetensors,
} from './safetensors/index.js';
export type {
  SafetensorsDtype,
  SafetensorsReadOptions,
  SafetensorsSource,
  SafetensorsTensors,
  ShardedWriteOptions,
  TensorInfo,
} from './safetensors/index.js';
export {
  ConfigCheck,
  DEFAULT_JSON_MAX_BYTES,
  DEFAULT_JSON_MAX_DEPTH,
  JsonProblem,
  checkOptions,
  closestNames,
  didYouMean,
  editDistance,
  isRecord,
  omitOptions,
  parseJson,
  parseJsonText,
  readJsonFile,
  showValue,
} from './config/index.js';
export type { JsonLimits, NumberRule, OptionRule, OptionRules, OptionTable, ReadJsonOptions } from './config/index.js';
export { UsageError, describeAllowed, describeFlags, exitCodeFor, flag, formatCommandError, formatCommandLine, parseCommandLine, parseCounts, parseNumber } from './command-line.js';
export type { BooleanFlag, ChoiceFlag, CommandLine, CountsFlag, FlagSpec, FlagSpecs, FlagValues, NumberFlag, PositionalSpec, StringFlag } from './command-line.js';
