/** ONNX emission details: external data pointing into safetensors, dynamic dims, device choice errors. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isHerdError, openSafetensors, writeSafetensors } from '@herd/core';
import * as G from '@herd/graph';
import { Session, SessionCache, resolveDevice, cudaMissing, hostTensor } from '@herd/runtime';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('ONNX emission', () => {
  it('frozen weights can point straight into a .safetensors file (no copy)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herd-ext-'));
    dirs.push(dir);
    const w = Float32Array.from([1, 2, 3, 4, 5, 6]);
    await writeSafetensors(join(dir, 'w.safetensors'), { other: { dtype: 'f32', shape: [3], data: new Float32Array(3) }, w: { dtype: 'f32', shape: [2, 3], data: w } });
    const info = openSafetensors(join(dir, 'w.safetensors')).info('w');
    const g = new G.Graph();
    const x = g.input('x', 'f32', [1, 2]);
    const wp = g.param('w', 'f32', [2, 3], { external: { path: 'w.safetensors', offset: info.byteOffset, length: info.byteLength } });
    const model = G.toOnnx(g, { outputs: { y: G.matmul(x, wp) } });
    expect(model.externalFiles).toEqual(['w.safetensors']);
    expect(model.bytes.length).toBeLessThan(1000); // the weights are not inside the model
    const s = await Session.create(model, { modelDir: dir });
    const out = await s.run({ x: hostTensor('f32', [1, 2], [1, 1]) });
    expect(Array.from(out['y']!.data as Float32Array)).toEqual([5, 7, 9]);
  });

  it('symbolic dims run at several sizes in one session', async () => {
    const g = new G.Graph();
    const x = g.input('x', 'f32', ['B', 'T', 4]);
    const y = G.reshape(G.transpose(G.reshape(x, ['B', 'T', 2, 2]), [0, 2, 1, 3]), ['B', 2, -1]);
    expect(y.shape).toEqual(['B', 2, 'T*2']);
    const s = await Session.create(G.toOnnx(g, { outputs: { y } }));
    for (const [b, t] of [[1, 3], [2, 5]] as const) {
      const data = Float32Array.from({ length: b * t * 4 }, (_, i) => i);
      const out = await s.run({ x: hostTensor('f32', [b, t, 4], data) });
      expect(out['y']!.shape).toEqual([b, 2, 2 * t]);
      // y[0, 1, :2] = x[0, 0, 2:4]: the second half-head of the first token.
      expect(Array.from((out['y']!.data as Float32Array).slice(2 * t, 2 * t + 2))).toEqual([2, 3]);
    }
  });

  it('shape errors name the op and both shapes when the graph is built', () => {
    const g = new G.Graph();
    const a = g.input('a', 'f32', [2, 3]);
    const b = g.input('b', 'f32', [4, 5]);
    expect(() => G.matmul(a, b)).toThrow(/matmul: inner dims differ: input 'a'#\d+ f32\[2, 3\] × input 'b'#\d+ f32\[4, 5\]/);
    expect(() => G.add(a, b)).toThrow(/add: shapes \[2, 3\] and \[4, 5\] do not broadcast/);
  });

  it('reports all missing and mistyped inputs at once', async () => {
    const g = new G.Graph();
    const a = g.input('a', 'f32', [2]);
    const b = g.input('b', 'i32', [2]);
    const s = await Session.create(G.toOnnx(g, { outputs: { y: G.add(a, G.cast(b, 'f32')) } }));
    await expect(s.run({ a: hostTensor('f32', [3], [1, 2, 3]) })).rejects.toThrow(/input 'a': expected shape \[2\], got \[3\][\s\S]*missing input 'b'/);
  });

  it('caches sessions by graph and options', async () => {
    const g = new G.Graph();
    const model = G.toOnnx(g, { outputs: { y: G.exp(g.input('x', 'f32', [1])) } });
    const cache = new SessionCache();
    const [s1, s2] = await Promise.all([cache.get(model), cache.get(model)]);
    expect(s1).toBe(s2);
    await cache.get(model, { threads: 1 });
    expect(cache.size).toBe(2);
    await cache.clear();
  });
});

describe('device choice', () => {
  it('cpu is always available, unknown devices list the choices', () => {
    expect(resolveDevice('cpu').device).toBe('cpu');
    expect(() => resolveDevice('tpu' as never)).toThrow(/choose one of cpu, webgpu, cuda, auto/);
  });

  it('sessions take a resolved device: a request such as auto is refused, not resolved again', async () => {
    const g = new G.Graph();
    const x = g.input('x', 'f32', [1]);
    const model = G.toOnnx(g, { outputs: { y: G.add(x, x) } });
    await expect(Session.create(model, { device: 'auto' as never })).rejects.toThrow(/device 'auto' is not one of cpu, webgpu, cuda; resolve requests such as 'auto' with resolveDevice first/);
    const s = await Session.create(model);
    expect(s.device).toBe('cpu'); // the one default
  });

  it('asking for a missing CUDA provider says what is missing and how to get it', () => {
    if (cudaMissing() === undefined) return; // a machine with the provider installed has nothing to report
    try {
      resolveDevice('cuda');
      expect.unreachable();
    } catch (e) {
      expect(isHerdError(e, 'device_unavailable')).toBe(true);
      expect((e as Error).message).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
    }
  });

  it('auto says which device it picked and why', () => {
    const c = resolveDevice('auto');
    expect(['cpu', 'webgpu', 'cuda']).toContain(c.device);
    expect(c.reason).toMatch(/^auto: /);
  });
});
