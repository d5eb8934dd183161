// @herd/video — video understanding on top of the image model (Llama 3 paper §7.6 / SPEC.md "Video"):
// frames sampled through @herd/media, a temporal aggregator (perceiver resampler) and video
// cross-attention layers trained with the core, the image encoder and the image adapter frozen.
// Model, training, evals and curation stages land here; see README.md for what exists.
export const VIDEO_PACKAGE = '@herd/video';

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
export type { OcrOverlayOptions, OcrOverlayStage } from './data/stages/ocr-overlay.js';
export { ClipEmbedder, pairedClipEmbedder } from './data/stages/clip-embedder.js';
export type { VideoTextEmbedder, ClipEmbedderOptions, PairedClipModel } from './data/stages/clip-embedder.js';
export { clipFrameScore, clipVideoScore, aggregateClip, cosine } from './data/stages/clip-alignment.js';
export type { ClipAlignmentOptions, ClipVideoOptions, ClipStage } from './data/stages/clip-alignment.js';
export { curateVideos, videoCurationStages, videoCurationPipeline, importVideoFolder, videoReportMarkdown, VIDEO_REPORT_FILE, VIDEO_REPORT_MD } from './data/curate.js';
export type { VideoCurateConfig, VideoCurateStagesConfig, VideoClipConfig, VideoCurateReport, VideoCurateResult } from './data/curate.js';
export { scoreCuration, scoreTable, clipLabel, readDrops, VIDEO_STAGE_TARGETS } from './data/curate-score.js';
export type { CurationScore, StageScore, LabelledClip } from './data/curate-score.js';
