/**
 * Partitioned global decisions that need dataset-wide statistics: the observer streams every
 * feature once before any decide() call, decide() then sees one partition at a time (bounded by
 * featuresPerPartition), and the drops equal the all-at-once decision.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSamples, sha256 } from '../fixtures/samples.js';
import { writeDataset } from '../format/write.js';
import type { GlobalStage } from '../stages/stage.js';
import { runPipeline } from './run.js';

const root = mkdtempSync(join(tmpdir(), 'herd-data-observe-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const input = join(root, 'input');
const N = 60;
beforeAll(async () => {
  await writeDataset(input, makeSamples(N, 3), { samplesPerShard: 7 });
});

interface Trace {
  observed: number;
  finishedBeforeFirstDecide: boolean | null;
  sliceSizes: number[];
}

/** Drops every sample whose value is below the dataset mean: a decision that needs all samples. */
function belowMean(trace: Trace, partitioned: boolean): GlobalStage<number, number> {
  let finished = false;
  return {
    kind: 'global',
    name: 'below_mean',
    prepare: (s) => parseInt(sha256(s.key).slice(0, 6), 16) % 1000,
    observe() {
      let sum = 0;
      let n = 0;
      return {
        add(_key, v) {
          trace.observed++;
          sum += v;
          n++;
        },
        finish() {
          finished = true;
          return sum / n;
        },
      };
    },
    ...(partitioned ? { partitionBy: (v: number) => String(v), featuresPerPartition: 15 } : {}),
    decide(features, mean) {
      if (trace.finishedBeforeFirstDecide === null) trace.finishedBeforeFirstDecide = finished;
      trace.sliceSizes.push(features.size);
      const drops = new Map<string, string>();
      for (const [key, v] of features) if (v < (mean as number)) drops.set(key, `below_mean: ${v} < ${(mean as number).toFixed(1)}`);
      return drops;
    },
  };
}

describe('global stages with an observer', () => {
  it('partitioned: every feature observed first, then one bounded partition per decide(); same drops as all-at-once', async () => {
    const part: Trace = { observed: 0, finishedBeforeFirstDecide: null, sliceSizes: [] };
    const whole: Trace = { observed: 0, finishedBeforeFirstDecide: null, sliceSizes: [] };
    const a = await runPipeline({ input, output: join(root, 'part'), stages: [belowMean(part, true)], progress: null });
    const b = await runPipeline({ input, output: join(root, 'whole'), stages: [belowMean(whole, false)], progress: null });
    expect(part.observed).toBe(N);
    expect(part.finishedBeforeFirstDecide).toBe(true);
    expect(part.sliceSizes.length).toBeGreaterThanOrEqual(3); // ceil(60 / 15) = 4 partitions, empty ones skipped
    expect(Math.max(...part.sliceSizes)).toBeLessThan(N);
    expect(part.sliceSizes.reduce((x, y) => x + y, 0)).toBe(N);
    expect(whole.sliceSizes).toEqual([N]);
    expect(whole.observed).toBe(N);
    expect(a.stats.out).toBe(b.stats.out);
    expect(a.stats.out).toBeGreaterThan(0);
    expect(a.stats.out).toBeLessThan(N);
    const drops = (dir: string) => readFileSync(join(root, dir, 'drops.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).key as string).sort();
    expect(drops('part')).toEqual(drops('whole'));
  });
});
