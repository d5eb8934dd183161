export { HerdError, isHerdError, ProblemList } from './errors.js';
export type { HerdErrorCode } from './errors.js';
export { writeFileAtomic, writeFileAtomicSync } from './fs.js';
export { Rng } from './rng.js';
export { JsonlLog, Progress, formatSeconds } from './log.js';
