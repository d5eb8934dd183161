export { FileType, GGUF_DEFAULT_ALIGNMENT, GGUF_VERSION, GgmlType, GgufType, TokenType } from './format.js';
export type { GgmlTypeName, GgufScalarType, GgufTensorInfo, GgufValue } from './format.js';
export { readGguf, readGgufTensor } from './read.js';
export type { GgufFile, GgufReadTensorInfo } from './read.js';
export { encodeGgufHeader, ggufTensorName, llama3RopeFactors, llamaGgufMetadata, permuteRopeRows, syntheticVocab, writeLlamaGguf } from './write.js';
export type { GgufVocab, WriteGgufOptions, WriteGgufReport } from './write.js';
