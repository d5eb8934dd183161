// @herd/video — video understanding on top of the image model (Llama 3 paper §7.4 / SPEC.md "Video"):
// frames sampled through @herd/media, a temporal aggregator (perceiver resampler) and video
// cross-attention layers trained with the core, the image encoder and the image adapter frozen.
export const VIDEO_PACKAGE = '@herd/video';
export { parseVideoConfig, effectiveFrames, videoTokenCount, videoBeforeImageLayers, MAX_FRAMES } from './config.js';
export type { VideoConfig, ResamplerConfig, ClipSampling } from './config.js';
export { loadVideoPreset, VIDEO_PRESET_NAMES } from './presets/index.js';
export type { VideoPresetName } from './presets/index.js';
export { perceiverResampler, videoTokens, motionTokens, lookTokens, addLook, lookParamSpecs, LOOK_PROJ, resamplerParamSpecs, centreFrameNorms, motionFeatures, tokenPlaces, canvasPlaces, VIDEO_ASPECT_RATIO_ID, MOTION_FEATURES, RESAMPLER_PREFIX, type TileGrid, type FramePlaces } from './model/resampler.js';
export { placeRead, videoLayerLook, videoCrossAttentionLayer, videoCrossAttentionSpecs, videoLayerPrefix, rowsWithVideo, type VideoLayerShape } from './model/video-cross-attention.js';
export { VIDEO_AGGREGATOR_GROUP, VIDEO_CROSS_ATTENTION_GROUP, VIDEO_GROUPS, videoCrossAttentionParamSpecs, frameTokens, lookTokenCount, middleFrame, videoLayers, videoParamSpecs, videoExtension, videoModelSpec, lookupLoss, LOOKUP_ROWS, videoLookLoss, VIDEO_LOOK_TOKENS, VIDEO_LOOK_ROWS, checkFrameImage, buildFrameGraph, buildVideoTokensGraph, buildVideoDecoder } from './model/graphs.js';
export type { VideoModelConfig, VideoAuxiliary } from './model/graphs.js';
export { readClipFrames, packClip } from './data/frames.js';
export type { TiledClip } from './data/frames.js';
export { FrameEncoder, blindClip, clipFeeds, clipCanvasFeeds, videoTokensFeeds, withLook, extractClipFeatures, readVideoExamples } from './data/features.js';
export type { ClipFeatures, VideoExample, ExtractOptions } from './data/features.js';
export { VIDEO_QA_TYPES, videoQuestions, gradeVideoQa } from './data/qa.js';
export type { VideoQa, VideoQaType } from './data/qa.js';
export { writeClipWorld } from './data/world.js';
export type { ClipWorldOptions } from './data/world.js';
export { VideoGenerator } from './model/generate.js';
export type { ClipContext } from './model/generate.js';
export { videoBatch, videoSequence } from './train/batch.js';
export type { VideoSequence } from './train/batch.js';
export type { LayerOverrides, QaRepeat, ResamplerOverrides, RecipeSequenceOptions } from './train/mini.js';
export { miniVideoConfig, recipeSequences, lookTarget, type LookMarks, LOOK_ROWS, type LookRow, trainMiniVideo, freshVideoWeights, videoTokensOf } from './train/mini.js';
export type { MiniVideoOptions, MiniVideoResult, AggregatorReadout, VideoLookLoss } from './train/mini.js';
export { pretrainAggregator, aggregatorWordScores, captionedClips, buildAggregatorTraining, buildAggregatorHead, aggregatorHeadSpecs, motionClass, MOTION_CLASSES } from './train/aggregator.js';
export type { AggregatorPretrainOptions, AggregatorPretrainResult, CaptionedClip } from './train/aggregator.js';
export { runMiniVideoRecipe, videoFeatures } from './train/mini-recipe.js';
export type { MiniVideoRecipe, MiniVideoRecipeResult } from './train/mini-recipe.js';
export { VIDEO_QA_ROWS, videoQaItems, evaluateVideoQa, videoQaAnswerLine, videoQaTable } from './eval/video-qa.js';
export type { VideoQaRow, VideoQaItem, VideoQaReport, VideoQaEvalOptions } from './eval/video-qa.js';
export { videoTokenSpread } from './eval/token-spread.js';
export type { TokenSpread } from './eval/token-spread.js';
export { MINI_VIDEO_DIR, MINI_VIDEO_IMAGE_DIR, MINI_VIDEO_FILES, saveMiniVideo, loadMiniVideo, videoImageDir, recordedImageDir, imageCheckpointSha, frameFeaturesSha } from './mini.js';
export type { MiniVideo } from './mini.js';

// Video–text curation (Llama 3 paper §7.1.2): stages in data/stages/, the pipeline in data/curate.ts.
export { VIDEO_EXTS, videoFileOf, clipFrames, frameAt, frameSize, spreadIndices, clipErrorCode, clipErrorReason, resolveFrameOptions } from './data/stages/frames.js';
export type { ClipFrameOptions } from './data/stages/frames.js';
export { captionStages } from './data/stages/caption.js';
export type { CaptionStagesConfig } from './data/stages/caption.js';
export { videoQuality, colourStd } from './data/stages/video-quality.js';
export type { VideoQualityOptions } from './data/stages/video-quality.js';
export { motion, motionScore, greyThumbnails } from './data/stages/motion.js';
export type { MotionOptions } from './data/stages/motion.js';
export { ocrOverlay, textCoverage } from './data/stages/ocr-overlay.js';
export { videoNearDuplicate, colourGrid, inOrderShare, candidatePairs } from './data/stages/near-duplicate.js';
export type { VideoNearDuplicateOptions, VideoNearDuplicateFeature, FrameMatchOptions } from './data/stages/near-duplicate.js';
export type { OcrOverlayOptions, OcrOverlayStage } from './data/stages/ocr-overlay.js';
export { ClipEmbedder, pairedClipEmbedder } from './data/stages/clip-embedder.js';
export type { VideoTextEmbedder, ClipEmbedderOptions, PairedClipModel } from './data/stages/clip-embedder.js';
export { clipFrameScore, clipVideoScore, aggregateClip, cosine } from './data/stages/clip-alignment.js';
export type { ClipAlignmentOptions, ClipVideoOptions, ClipStage } from './data/stages/clip-alignment.js';
export { VIDEO_CURATE_STAGES_RULES, curateVideos, videoCurationStages, videoCurationPipeline, importVideoFolder, videoReportMarkdown, VIDEO_REPORT_FILE, VIDEO_REPORT_MD } from './data/curate.js';
export type { VideoCurateConfig, VideoCurateStagesConfig, VideoClipConfig, VideoCurateReport, VideoCurateResult } from './data/curate.js';
export { scoreCuration, scoreTable, clipLabel, readDrops, thresholdLosing, rocAuc, VIDEO_STAGE_TARGETS } from './data/curate-score.js';
export { MINI_CLIP_VIDEO_THRESHOLDS, checkClipCheckpoint, resolveClipModel, miniClipEmbedder } from './data/stages/mini-clip.js';
export type { ClipModelConfig, ResolvedClipModel } from './data/stages/mini-clip.js';
export type { CurationScore, StageScore, LabelledClip } from './data/curate-score.js';
// Export (herd export): the frame and aggregator graphs, the video cross-attention in the composed decoder
export { VIDEO_IMAGE_PREFIX, videoExportModality } from './export/export.js';
// Where a clip's objects are on the frame grid (the look loss's targets; the video oracle's identity code)
export { patchesAt, sampledFrameIndices, objectPatches, objectTokensPerGroup, readClipTimings, withClipTimings } from './data/object-places.js';
export type { PatchGrid, ClipTiming } from './data/object-places.js';
