export { parseVisionConfig, supportedAspectRatios, patchesPerTile, visionOutputDim, coreAttachPoints, CLIP_MEAN, CLIP_STD } from './config.js';
export type { VisionConfig, MllamaConfig } from './config.js';
export { loadVisionPreset, VISION_PRESET_NAMES, LLAMA32_VISION_CROSS_LAYERS } from './presets/index.js';
export type { VisionPresetName } from './presets/index.js';
export { resizeBilinear } from './data/resize.js';
export type { RgbImage } from './data/resize.js';
export { optimalCanvas, fitToCanvas, tileImage, packImages } from './data/tiling.js';
export type { Canvas, TiledImage, PackedImages } from './data/tiling.js';
