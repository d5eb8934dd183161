export { fromHfConfig, toHfConfig, parameterCount, parseLlamaConfig, ropeFrequencies, ropeFrequenciesFor } from './config.js';
export type { HfConfigOptions, LlamaConfig, RopeScaling } from './config.js';
export { PRESET_NAMES, loadPreset } from './presets/index.js';
export type { PresetName } from './presets/index.js';
export {
  BEGIN_OF_TEXT_ID,
  CHAT_ROLES,
  CHAT_SPECIAL_IDS,
  DEFAULT_UNKNOWN_ID,
  END_HEADER_ID,
  END_OF_TEXT_ID,
  EOM_ID,
  EOT_ID,
  FINETUNE_RIGHT_PAD_ID,
  IMAGE_TOKEN_ID,
  LLAMA3_NUM_BPE_TOKENS,
  LLAMA3_PRETOKENIZE_PATTERN,
  LLAMA3_SPECIAL_TOKENS,
  LLAMA3_VOCAB_SIZE,
  Llama3Tokenizer,
  PYTHON_TAG_ID,
  PrunedVocab,
  START_HEADER_ID,
  StreamDecoder,
  checkVocabularyFits,
  encodeChat,
  loadLlama3Tokenizer,
  renderChat,
} from './tokenizer/index.js';
export type {
  ChatContentPart,
  ChatMessage,
  ChatRole,
  DecodeOptions,
  EncodeChatOptions,
  EncodeOptions,
  PrunedVocabJson,
  PrunedVocabOptions,
} from './tokenizer/index.js';

// Model: graph, weights, compiled graphs, generation.
export { forward, lmHead, embed, decoderLayer, fusionSchedule } from './model/llama.js';
export type { LayerContext, ForwardInputs, ForwardHooks, ForwardOutputs } from './model/llama.js';
export { llamaParamSpecs, layerParamSpecs, llamaBlockConfig, headDim } from './model/weights.js';
export { initWeights, buildLmTraining, buildLmEval, buildDecoder, CACHE_LEN, NEW_LEN, KEY_LEN } from './model/graphs.js';
export type { Weights, FrozenWeights, LmTrainingOptions, LmEvalOptions } from './model/graphs.js';
export { CORE_GROUP, asLmSpec, lmParamGroups, declareLmParams, declareLmInputs, lmForward, lmHookContext, composeExtensions, prefixedExtension, prefixedValues } from './model/lm-spec.js';
export type { LmGraphSpec, LmExtension, LmHookContext, LmInputDecl, LmInputs, ParamGroup, ParamValuesByName, DeclaredParams } from './model/lm-spec.js';
export { LmEvaluator, packedBatch, packedBatches } from './train/evaluate.js';
export { trainAdapter, loadTrainedGroups, groupFileName } from './train/adapter.js';
export type { AdapterRecipe, AdapterResult, AdapterSelected, AdapterSelection, Batch, ShardData } from './train/adapter.js';
export type { LmEvaluatorOptions } from './train/evaluate.js';
export { loadHfLlama, readHfLlamaConfig, readLlamaWeights } from './model/load.js';
export type { LoadHfOptions, LoadedLlama, LoadedLlamaExternal } from './model/load.js';
export { Generator, beamSearch, logSoftmax, logSumExp, sampleToken } from './model/generate.js';
export type { SamplingOptions, ExtraFeeds, NextTokenScorer, BeamOptions, BeamResult } from './model/generate.js';
export { packDocuments, IGNORE_INDEX } from './train/pack.js';
export type { PackedSequences } from './train/pack.js';
export { trainLanguageCore, warmStartWeights, grownLayerPositions, MINI_CORE_RECIPE } from './train/language-core.js';
export type { GrownLayers, LanguageCoreRecipe, LanguageCoreReport, TrainLanguageCoreOptions } from './train/language-core.js';
export { LANGUAGE_CORE_FILES, saveLanguageCore, roundToF16 } from './train/save-core.js';
export { freezeCheckpoint } from './train/freeze-checkpoint.js';
export type { FrozenCheckpoint } from './train/freeze-checkpoint.js';
export { corpusDocOf, encodeDoc, encodeDialogueForSft, packTextDataset, packedRowsCollate, readPackedRows } from './train/text-data.js';
export type { CorpusDoc, PackedTextDataset, PackTextOptions } from './train/text-data.js';
export { MINI_CORE_DIR, isMiniCoreDir, loadLanguageCore } from './mini.js';
export type { LanguageCore } from './mini.js';
export { evaluateChatQa, normaliseAnswer, keywordMatch } from './eval/chat-qa.js';
export type { QaAnswer, QaItem, QaReport, QaScore } from './eval/chat-qa.js';
export { SCENE_QA_TYPES, gradeSceneQa, isSceneQaType, sceneFacts } from './eval/typed-grade.js';
export type { SceneQaType } from './eval/typed-grade.js';
export { writeLlamaGguf, readGguf, readGgufTensor, syntheticVocab, permuteRopeRows } from './gguf/index.js';
export type { GgufVocab, WriteGgufOptions, GgufFile } from './gguf/index.js';
export { EXPORT_FORMAT, EXPORT_FILES, buildExport, checkExportTarget, writeExport, readExportManifest, readExportGraph } from './export/export.js';
export type { BuiltExport, DecoderStep, ExportGraph, ExportManifest, ExportModality } from './export/export.js';
export { TOKENIZER_JSON_FORMAT, llama3TokenizerJson } from './export/tokenizer-json.js';
export type { TokenizerJson } from './export/tokenizer-json.js';
export { curateText, TEXT_CURATE_STAGES_RULES, textCurationStages, textCurationPipeline, textReportMarkdown, TEXT_HISTOGRAMS } from './data/curate.js';
export type { TextCurateConfig, TextCurateStagesConfig, TextCurateReport, TextCurateResult } from './data/curate.js';
export { importDocumentFolder, turnsText, DOCUMENT_EXTS, JSONL_EXTS, IMPORT_ERROR_FIELD } from './data/import-documents.js';
export type { ImportDocumentsOptions } from './data/import-documents.js';
export { documentCheck, turnsProblem } from './data/document.js';
export { decontaminate, referenceHashes } from './data/decontaminate.js';
export type { DecontaminateOptions } from './data/decontaminate.js';
export { adapterCheckpointFiles, filesSha256, openAdapterCheckpoint, readCheckpointTensors, trainedAgainst, weightsSha256, writeAdapterCheckpoint } from './adapter-checkpoint.js';
export type { AdapterCheckpointFiles, OpenedAdapterCheckpoint, TrainedAgainstCore } from './adapter-checkpoint.js';
