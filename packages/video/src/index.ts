// @herd/video — video understanding on top of the image model (Llama 3 paper §7.4 / SPEC.md "Video"):
// frames sampled through @herd/media, a temporal aggregator (perceiver resampler) and video
// cross-attention layers trained with the core, the image encoder and the image adapter frozen.
export const VIDEO_PACKAGE = '@herd/video';
export { parseVideoConfig, effectiveFrames, videoTokenCount, videoBeforeImageLayers, MAX_FRAMES } from './config.js';
export type { VideoConfig, ResamplerConfig, ClipSampling } from './config.js';
export { loadVideoPreset, VIDEO_PRESET_NAMES } from './presets/index.js';
export type { VideoPresetName } from './presets/index.js';
export { perceiverResampler, resamplerParamSpecs, RESAMPLER_PREFIX } from './model/resampler.js';
export { videoCrossAttentionLayer, videoCrossAttentionSpecs, videoLayerPrefix, rowsWithVideo } from './model/video-cross-attention.js';
export { VIDEO_GROUP, frameTokens, middleFrame, videoLayers, videoParamSpecs, videoExtension, videoModelSpec, buildFrameGraph, buildVideoTokensGraph, buildVideoDecoder } from './model/graphs.js';
export type { VideoModelConfig } from './model/graphs.js';
export { readClipFrames, packClip } from './data/frames.js';
export type { TiledClip } from './data/frames.js';
export { FrameEncoder, clipFeeds, extractClipFeatures, readVideoExamples } from './data/features.js';
export type { ClipFeatures, VideoExample, ExtractOptions } from './data/features.js';
export { VIDEO_QA_TYPES, videoQuestions, gradeVideoQa } from './data/qa.js';
export type { VideoQa, VideoQaType } from './data/qa.js';
export { writeClipWorld } from './data/world.js';
export type { ClipWorldOptions } from './data/world.js';
export { VideoGenerator } from './model/generate.js';
export type { ClipContext } from './model/generate.js';
export { videoBatch, videoSequence } from './train/batch.js';
export type { VideoSequence } from './train/batch.js';
export { miniVideoConfig, recipeSequences, trainMiniVideo } from './train/mini.js';
export type { MiniVideoOptions, MiniVideoResult } from './train/mini.js';
export { runMiniVideoRecipe, videoFeatures } from './train/mini-recipe.js';
export type { MiniVideoRecipe, MiniVideoRecipeResult } from './train/mini-recipe.js';
export { VIDEO_QA_ROWS, videoQaItems, evaluateVideoQa, videoQaTable } from './eval/video-qa.js';
export type { VideoQaRow, VideoQaItem, VideoQaReport, VideoQaEvalOptions } from './eval/video-qa.js';
export { MINI_VIDEO_DIR, MINI_VIDEO_FILES, saveMiniVideo, loadMiniVideo, imageCheckpointSha } from './mini.js';
export type { MiniVideo } from './mini.js';
