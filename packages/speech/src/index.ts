// @herd/speech: the speech path of the Llama 3 paper (§7.1 Speech) — log-mel frontend, Conformer
// encoder, BEST-RQ self-supervised pre-training.

// Config and presets
export { parseSpeechConfig, headDim } from './config.js';
export type { SpeechConfig, BestRqConfig } from './config.js';
export { loadSpeechPreset, SPEECH_PRESET_NAMES } from './presets/index.js';
export type { SpeechPresetName } from './presets/index.js';

// Frontend
export { LogMel, WHISPER_LOG_MEL, hzToMel, melToHz, melFilters } from './data/log-mel.js';
export type { LogMelConfig, LogMelFeatures } from './data/log-mel.js';
export { RealFft } from './data/fft.js';
export { specAugment, SPEC_AUGMENT_DEFAULTS } from './data/spec-augment.js';
export type { SpecAugmentConfig } from './data/spec-augment.js';

// Encoder (one file per block of the paper)
export { conformerEncoder, stackFrames } from './model/conformer.js';
export { conformerBlock } from './model/conformer-block.js';
export type { BlockContext } from './model/conformer-block.js';
export { feedForward } from './model/feed-forward.js';
export { convolutionModule } from './model/convolution.js';
export { rotarySelfAttention } from './model/rotary-attention.js';
export type { AttentionContext } from './model/rotary-attention.js';
export { conformerParamSpecs, conformerLayerSpecs, bestRqHeadSpecs, countParams, initSpeechWeights, attentionConfig } from './model/params.js';

// BEST-RQ pre-training
export { RandomProjectionQuantizer, codeEntropy } from './train/quantizer.js';
export { spanMask, applyMask } from './train/masking.js';
export { buildBestRqTraining, buildBestRqEval, bestRqBatch, IGNORE } from './train/best-rq.js';
export type { BestRqItem, BestRqShape, SpeechWeights } from './train/best-rq.js';
export { pretrainBestRq, prepareItems, BestRqEvaluator, MINI_BEST_RQ_RECIPE, BEST_RQ_FILES } from './train/pretrain.js';
export type { BestRqRecipe, BestRqReport, PretrainOptions, Utterance } from './train/pretrain.js';
export { trainMiniEncoder, readSpeechSplits, MINI_ENCODER_DIR, MINI_SPEECH_DATA_DIR } from './train/mini.js';

// Speech adapter (model only: its fine-tuning recipe is not written yet)
export { speechAdapter, spliceEmbeddings, adapterParamSpecs, adapterFrames } from './model/adapter.js';
export type { SpeechAdapterConfig } from './model/adapter.js';

// Curation (stages in data/stages/, one per step; text and language stages are @herd/data's)
export { audioOf, audioFileOf, frameEnergies, AUDIO_EXTS, FRAME_SAMPLES, HOP_SAMPLES, CURATION_SAMPLE_RATE } from './data/stages/audio.js';
export type { AudioResult, AudioOptions } from './data/stages/audio.js';
export { audioDecode } from './data/stages/decode.js';
export type { AudioDecodeOptions } from './data/stages/decode.js';
export { durationBounds } from './data/stages/duration.js';
export type { DurationBoundsOptions } from './data/stages/duration.js';
export { speechActivity, detectSpeech, VAD_DEFAULTS } from './data/stages/vad.js';
export type { SpeechActivityOptions, VadParams, VadResult } from './data/stages/vad.js';
export { clipping, clippingScores } from './data/stages/clipping.js';
export type { ClippingOptions, ClippingScores } from './data/stages/clipping.js';
export { snrEstimate, estimateSnr } from './data/stages/snr.js';
export type { SnrOptions, SnrScores } from './data/stages/snr.js';
export { audioFingerprint, hamming, fingerprintBits, FINGERPRINT_SHAPE, FINGERPRINT_BITS } from './data/stages/fingerprint.js';
export type { Fingerprint, FingerprintShape } from './data/stages/fingerprint.js';
export { duplicateUtterances, duplicatePairs, defaultUtteranceQuality } from './data/stages/duplicate.js';
export type { DuplicateUtterancesOptions, UtteranceFeature } from './data/stages/duplicate.js';
export { SPEECH_CURATE_STAGES_RULES, curateSpeech, speechCurationStages, speechCurationPipeline, importSpeechFolder, speechReportMarkdown, SPEECH_HISTOGRAMS, SPEECH_REPORT_FILE, SPEECH_REPORT_MD } from './data/curate.js';
export type { SpeechCurateConfig, SpeechCurateStagesConfig, SpeechCurateReport, SpeechCurateResult } from './data/curate.js';
export { scoreCuration, STAGE_TARGETS } from './data/curate-score.js';
export type { LabelledSample, Drop, StageScore, CurationScore } from './data/curate-score.js';
// Speech adapter fine-tuning with the core frozen (ASR, AST, spoken QA), evals, the mini checkpoint
export { speechExtension, speechDecodeExtension, speechAudioGraph, speechSpec, spliceSpeech, miniAdapterConfig, speechEncoderSpecs, speechAdapterSpecs, audioTokens, SPEECH_ENCODER_GROUP, SPEECH_ADAPTER_GROUP, KEEP_TOKEN, AUDIO_START, AUDIO_END, MARKER_PARAM, FRAME_MULTIPLE, SPEECH_CTC_GROUP, CTC_BLANK_PARAM, CTC_LOG_SCALE_PARAM, CTC_BASE_SCALE, CORE_EMBEDDING_PARAM, speechCtcSpecs, speechCtcLogits } from './model/extension.js';
export type { SpeechModelConfig, SpeechCtcOptions } from './model/extension.js';
export { SpeechGenerator } from './model/generate.js';
export type { SpeechInput } from './model/generate.js';
export { SPEECH_TASKS, ASR_INSTRUCTION, AST_INSTRUCTION, tasksOf, readSpeechItems, prepareSpeechSet, itemToSample, sampleToItem, speechPromptLayout, speechSequence, paddedFrames, featureFeeds, audioIndexOf, collateSpeech, pickItems, ctcLabelsOf } from './train/speech-data.js';
export type { SpeechTask, SpeechPrompt, SpeechItem, SpeechPromptLayout, SpeechCollateOptions } from './train/speech-data.js';
export { fineTuneSpeech, miniSpeechModel } from './train/fine-tune.js';
export type { SpeechFineTuneOptions, SpeechFineTuneResult } from './train/fine-tune.js';
export { normaliseTranscript, editCounts, wordEdits, charEdits, wordErrorRate, charErrorRate } from './eval/wer.js';
export { chrF, bleu } from './eval/translation.js';
export type { TranslationPair } from './eval/translation.js';
export type { EditCounts } from './eval/wer.js';
export { evaluateSpeech, speechEvalTable, ctcTranscript, questionType, textLayout, SPOKEN_QA_TYPES, SPOKEN_QA_ROWS } from './eval/speech-eval.js';
export type { SpeechEvalReport, SpokenQaReport, AsrReport, AstReport, SpeechEvalOptions, SpokenQaType, SpokenQaRow, SpokenQaAnswer } from './eval/speech-eval.js';
export { CtcPrefixScorer, JOINT_CTC_BEAM, JOINT_CTC_WEIGHT, ctcPosteriors, ctcGreedyText, ctcRows, jointTranscribe } from './eval/ctc-decode.js';
export type { SpeechCtcHead, CtcPosteriors, JointCtcOptions } from './eval/ctc-decode.js';
export { loadMiniSpeech, saveMiniSpeech, ctcHeadOf, loadPretrainedEncoder, miniSpeechGenerator, MINI_SPEECH_DIR, MINI_SPEECH_FILES } from './mini.js';
export type { MiniSpeech } from './mini.js';
export { runMiniSpeechRecipe } from './train/mini-recipe.js';
export type { MiniSpeechRecipe, MiniSpeechRecipeResult } from './train/mini-recipe.js';
export { generateSpeechEvalSet, SPEECH_EVAL_SET } from './train/eval-set.js';
// Export (herd export): the encoder + adapter as one graph, the splice in the composed decoder
export { speechExportModality, speechSpliceExtension, buildSpeechEncoderGraph } from './export/export.js';
