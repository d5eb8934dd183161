/**
 * The WebGPU path: the same training steps on `webgpu` and `cpu` give the same losses and
 * parameters. Parameters and optimizer state stay in GPU buffers between steps and are read back
 * through a host-output session. In CI this runs on Mesa's software Vulkan driver (lavapipe from
 * bookworm-backports, installed by .ci/run); on a machine without a Vulkan loader it is skipped.
 */
import { describe, expect, it } from 'vitest';
import { buildLmTraining } from '@herd/llama3';
import { type HostTensor, TrainingRun, toFloat64, webgpuMissing } from '@herd/runtime';
import { TINY_LLAMA as cfg, tinyBatch, tinyWeights } from './tiny-llama.js';

const missing = webgpuMissing();
/** WebGPU's f16 matrix products accumulate in f16 (the CPU provider's in f32), so the f16 run drifts more there. */
const F16_WEBGPU_REL_TOL = 3e-2;

describe.skipIf(missing !== undefined)(`webgpu${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('a tiny Llama trains identically on webgpu and cpu', async () => {
    const { w, params } = tinyWeights();
    const graphs = buildLmTraining(cfg, w, { batch: 2, seqLen: 8 });
    const batch = tinyBatch(7, 5);
    const results: { losses: number[]; params: Record<string, HostTensor>; device: string }[] = [];
    for (const device of ['cpu', 'webgpu'] as const) {
      const run = await TrainingRun.create(graphs, params, { device });
      const losses: number[] = [];
      for (let i = 0; i < 4; i++) losses.push((await run.trainStep(batch, 1e-2)).loss);
      results.push({ losses, params: await run.readParams(), device: run.device });
      await run.release();
    }
    const [cpu, gpu] = results as [(typeof results)[0], (typeof results)[0]];
    expect(gpu.device).toBe('webgpu');
    gpu.losses.forEach((l, i) => expect(l).toBeCloseTo(cpu.losses[i]!, 4));
    expect(cpu.losses[3]).toBeLessThan(cpu.losses[0]!);
    for (const k of Object.keys(cpu.params)) {
      const a = toFloat64(cpu.params[k]!);
      const b = toFloat64(gpu.params[k]!);
      let worst = 0;
      a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]!))));
      expect(worst, k).toBeLessThan(1e-4);
    }
  });

  it('mixed precision (f16 compute, f32 masters, loss scaling) runs on webgpu and follows f32', async () => {
    const { w, params } = tinyWeights();
    const batch = tinyBatch(5);
    const ref = await TrainingRun.create(buildLmTraining(cfg, w, { batch: 2, seqLen: 8 }), params, { device: 'cpu' });
    const gpu = await TrainingRun.create(buildLmTraining(cfg, w, { batch: 2, seqLen: 8, computeDtype: 'f16' }), params, { device: 'webgpu', lossScaler: { initial: 1024 } });
    for (let i = 0; i < 4; i++) {
      const a = await ref.trainStep(batch, 1e-2);
      const b = await gpu.trainStep(batch, 1e-2);
      expect(b.skipped).toBe(false);
      expect(Math.abs(b.loss - a.loss) / a.loss).toBeLessThan(F16_WEBGPU_REL_TOL);
    }
    await ref.release();
    await gpu.release();
  });
});
