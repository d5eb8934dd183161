export { learningRate, validateSchedule } from './schedule.js';
export type { LrSchedule, SimpleSchedule } from './schedule.js';
export { saveCheckpoint, loadCheckpoint, checkpointMeta, checkpointName, latestCheckpoint, HERD_META_KEY } from './checkpoint.js';
export type { CheckpointMeta, LoadedCheckpoint } from './checkpoint.js';
export { averageWeights, soupCheckpoints } from './soup.js';
export { train } from './loop.js';
export type { BatchSource, TrainOptions, TrainResult } from './loop.js';
