import { describe, expect, it } from 'vitest';
import { runsInProcess, splitCurateConfig } from './curation-run.js';

describe('splitCurateConfig', () => {
  it('separates how the run is spread from the stages\' options, and leaves the import\'s shard size out of both', () => {
    const controller = new AbortController();
    const { mode, stageConfig } = splitCurateConfig({ workers: 2, merge: false, signal: controller.signal, samplesPerShard: 50, minWords: 3, ocr: false as const });
    expect(mode).toMatchObject({ workers: 2, merge: false, signal: controller.signal });
    // The stage options become the workers' pipeline options and the run fingerprint: the folder
    // import's shard size must not be among them (it was, for images, before this split was shared).
    expect(stageConfig).toEqual({ minWords: 3, ocr: false });
    expect(runsInProcess(mode)).toBe(false);
    expect(runsInProcess(splitCurateConfig({ samplesPerShard: 10 }).mode)).toBe(true);
  });
});
