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
