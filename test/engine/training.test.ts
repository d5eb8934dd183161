/** Training through compiled step graphs: loss falls, accumulation matches a large batch, resume is exact. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '@herd/core';
import * as G from '@herd/graph';
import { type HostTensor, TrainingRun, hostTensor, toFloat64 } from '@herd/runtime';
import { type BatchSource, averageWeights, loadCheckpoint, train } from '@herd/trainer';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'herd-train-'));
  dirs.push(d);
  return d;
};

/** A 2-layer MLP regressing y = sin(3x0) + x1² on batches of `batch` points. */
function mlp(batch: number, accumulation = false) {
  const rng = new Rng(3);
  const g = new G.Graph();
  const init = (shape: number[], scale: number) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * scale);
  const w1 = g.param('w1', 'f32', [32, 2], { trainable: true, value: init([32, 2], 0.7) });
  const b1 = g.param('b1', 'f32', [32], { trainable: true, value: new Float32Array(32) });
  const w2 = g.param('w2', 'f32', [1, 32], { trainable: true, value: init([1, 32], 0.2) });
  const x = g.input('x', 'f32', [batch, 2]);
  const y = g.input('y', 'f32', [batch, 1]);
  const pred = G.linear(G.tanh(G.linear(x, w1, b1)), w2);
  const d = G.sub(pred, y);
  const loss = G.mean(G.mul(d, d));
  const graphs = G.buildTraining(g, { loss, optimizer: { weightDecay: 0, clipNorm: 0 }, accumulation });
  const params = Object.fromEntries(g.trainableParams.map((p) => [p.name!, hostTensor('f32', p.shape as number[], p.attrs['value'] as Float32Array)]));
  return { graphs, params };
}

function points(batch: number): BatchSource {
  return {
    batchSize: batch,
    batch(index) {
      const r = new Rng(1000 + index);
      const x = Float32Array.from({ length: batch * 2 }, () => r.next() * 2 - 1);
      const y = Float32Array.from({ length: batch }, (_, i) => Math.sin(3 * x[2 * i]!) + x[2 * i + 1]! ** 2);
      return { x: hostTensor('f32', [batch, 2], x), y: hostTensor('f32', [batch, 1], y) };
    },
  };
}

describe('training', () => {
  it('a tiny MLP learns (loss falls by 5×)', async () => {
    const { graphs, params } = mlp(64);
    const run = await TrainingRun.create(graphs, params);
    const res = await train({ run, data: points(64), schedule: { kind: 'cosine', peak: 3e-2, warmup: 10, total: 300 }, steps: 300, seed: 1 });
    const first = res.losses.get(1)!;
    const last = [...res.losses.values()].slice(-10).reduce((a, b) => a + b) / 10;
    expect(last).toBeLessThan(first / 5);
  });

  it('two accumulated micro-batches equal one step on their union', async () => {
    const big = mlp(64);
    const runBig = await TrainingRun.create(big.graphs, big.params);
    const b0 = points(32).batch(0, 0) as Record<string, HostTensor>;
    const b1 = points(32).batch(1, 0) as Record<string, HostTensor>;
    const cat = (k: string) => hostTensor('f32', [64, k === 'x' ? 2 : 1], Float32Array.from([...(b0[k]!.data as Float32Array), ...(b1[k]!.data as Float32Array)]));
    await runBig.trainStep({ x: cat('x'), y: cat('y') }, 1e-2);

    const small = mlp(32, true);
    const runSmall = await TrainingRun.create(small.graphs, small.params);
    await runSmall.accumulate(b0);
    await runSmall.accumulate(b1);
    await runSmall.applyAccumulated(1e-2);

    const pa = await runBig.readParams();
    const pb = await runSmall.readParams();
    for (const k of Object.keys(pa)) {
      const a = toFloat64(pa[k]!);
      const b = toFloat64(pb[k]!);
      a.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 5));
    }
  });

  it('resume after an interruption continues exactly (same losses as an uninterrupted run)', async () => {
    const schedule = { kind: 'cosine', peak: 2e-2, warmup: 3, total: 20 } as const;
    const ref = mlp(16);
    const straight = await train({ run: await TrainingRun.create(ref.graphs, ref.params), data: points(16), schedule, steps: 20, seed: 7 });

    const dir = tmp();
    const a = mlp(16);
    const first = await train({ run: await TrainingRun.create(a.graphs, a.params), data: points(16), schedule, steps: 20, seed: 7, checkpointDir: dir, checkpointEvery: 4, stopAfter: 10 });
    expect(first.finalStep).toBe(10);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const b = mlp(16); // fresh process state: the initial params are overwritten by the checkpoint
    const second = await train({ run: await TrainingRun.create(b.graphs, b.params), data: points(16), schedule, steps: 20, seed: 7, checkpointDir: dir, checkpointEvery: 4, resume: true });
    expect(second.resumedFrom).toMatch(/step-00000008/);
    for (let s = 9; s <= 20; s++) expect(second.losses.get(s)).toBe(straight.losses.get(s));
  });

  it('stops with a clear error on a non-finite loss', async () => {
    const { graphs, params } = mlp(8);
    const run = await TrainingRun.create(graphs, params);
    const bad: BatchSource = { batchSize: 8, batch: () => ({ x: hostTensor('f32', [8, 2], new Float32Array(16).fill(NaN)), y: hostTensor('f32', [8, 1]) }) };
    await expect(train({ run, data: bad, schedule: { kind: 'constant', peak: 1e-3 }, steps: 3, seed: 1 })).rejects.toThrow(/step 1: loss NaN/);
  });

  it('model soup averages checkpoints element-wise', async () => {
    const dir = tmp();
    const { graphs, params } = mlp(8);
    await train({ run: await TrainingRun.create(graphs, params), data: points(8), schedule: { kind: 'constant', peak: 1e-2 }, steps: 4, seed: 1, checkpointDir: dir, checkpointEvery: 2 });
    const files = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort().map((f) => join(dir, f));
    expect(files.length).toBe(2);
    const models = files.map((f) => loadCheckpoint(f).tensors);
    const soup = averageWeights(models.map((m) => ({ w1: m['w1']!, w2: m['w2']! })));
    const [a, b] = models.map((m) => toFloat64(m['w1']!));
    toFloat64(soup['w1']!).forEach((v, i) => expect(v).toBeCloseTo((a![i]! + b![i]!) / 2, 6));
  });
});
