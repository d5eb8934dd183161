/**
 * The WebGPU path: the same training steps on `webgpu` and `cpu` give the same losses and
 * parameters. Parameters and optimizer state stay in GPU buffers between steps and are read back
 * through a host-output session. In CI this runs on Mesa's software Vulkan driver (lavapipe from
 * bookworm-backports, installed by .ci/run); on a machine without a Vulkan loader it is skipped.
 */
import { describe, expect, it } from 'vitest';
import { parseLlamaConfig, buildLmTraining, initWeights } from '@herd/llama3';
import { type HostTensor, TrainingRun, hostTensor, toFloat64, webgpuMissing } from '@herd/runtime';

const missing = webgpuMissing();

describe.skipIf(missing !== undefined)(`webgpu${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('a tiny Llama trains identically on webgpu and cpu', async () => {
    const cfg = parseLlamaConfig({ dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, vocabSize: 40, ffnDim: 48, maxSeqLen: 16 });
    const w = initWeights(cfg, 9);
    const graphs = buildLmTraining(cfg, w, { batch: 2, seqLen: 8 });
    const params = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)]));
    const ids = Array.from({ length: 16 }, (_, i) => (i * 7) % 40);
    const batch: Record<string, HostTensor> = {
      tokens: hostTensor('i32', [2, 8], ids),
      targets: hostTensor('i32', [2, 8], ids.map((t, i) => (i % 8 === 7 ? -100 : ids[i + 1]!))),
      positions: hostTensor('i32', [2, 8], ids.map((_, i) => i % 8)),
      docIds: hostTensor('i32', [2, 8], ids.map((_, i) => (i % 8 < 5 ? 0 : 1))),
    };
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
});
