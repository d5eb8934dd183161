/**
 * Mixed precision: f16 compute with f32 master weights and dynamic loss scaling. The f16 run tracks
 * the f32 run closely, and an overflowing loss scale skips updates and halves until they are finite.
 */
import { describe, expect, it } from 'vitest';
import { buildLmTraining } from '@herd/llama3';
import { TrainingRun, toFloat64 } from '@herd/runtime';
import { TINY_LLAMA as cfg, tinyBatch, tinyWeights } from './tiny-llama.js';

const { w, params } = tinyWeights();
const batch = tinyBatch(7);

describe('mixed precision', () => {
  it('f16 compute with f32 master weights follows the f32 run', async () => {
    const f32 = await TrainingRun.create(buildLmTraining(cfg, w, { batch: 2, seqLen: 8 }), params);
    const f16 = await TrainingRun.create(buildLmTraining(cfg, w, { batch: 2, seqLen: 8, computeDtype: 'f16' }), params, { lossScaler: { initial: 1024 } });
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 8; i++) {
      a.push((await f32.trainStep(batch, 1e-2)).loss);
      const r = await f16.trainStep(batch, 1e-2);
      expect(r.skipped).toBe(false);
      b.push(r.loss);
    }
    b.forEach((l, i) => expect(Math.abs(l - a[i]!) / a[i]!).toBeLessThan(1e-2));
    expect(b[7]).toBeLessThan(b[0]! * 0.9);
    // The master weights stay f32.
    const p = await f16.readParams();
    expect(p['model.norm.weight']!.dtype).toBe('f32');
  });

  it('an overflowing loss scale skips the update, keeps the weights, and halves until finite', async () => {
    const run = await TrainingRun.create(buildLmTraining(cfg, w, { batch: 2, seqLen: 8, computeDtype: 'f16' }), params, { lossScaler: { initial: 2 ** 40, growthInterval: 1000 } });
    const before = toFloat64((await run.readParams())['model.layers.0.mlp.up_proj.weight']!);
    const first = await run.trainStep(batch, 1e-2);
    expect(first.skipped).toBe(true);
    expect(run.step).toBe(0);
    expect(run.lossScaler.scale).toBe(2 ** 39);
    expect(Array.from(toFloat64((await run.readParams())['model.layers.0.mlp.up_proj.weight']!))).toEqual(Array.from(before));
    let skips = 1;
    while ((await run.trainStep(batch, 1e-2)).skipped) skips++;
    expect(run.step).toBe(1);
    expect(run.lossScaler.scale).toBe(2 ** (40 - skips));
    expect(run.lossScaler.scale).toBeLessThan(2 ** 24); // f16 gradients of this model overflow above ~2^20
  });
});
