import { mkdtempSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isHerdError, openSafetensors, writeShardedSafetensors, writeSafetensors } from '@herd/core';
import * as G from '@herd/graph';
import { Session, hostTensor } from '@herd/runtime';
import { Generator } from './generate.js';
import { buildDecoder } from './graphs.js';
import { loadHfLlama } from './load.js';
import { embed, forward, lmHead } from './llama.js';
import { llamaParamSpecs } from './weights.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'hf-tiny-gqa-untied');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'herd-load-'));
  dirs.push(d);
  return d;
};

describe('loading Hugging Face checkpoints', () => {
  it('a sharded checkpoint (model.safetensors.index.json) loads the same weights, in bf16 too', async () => {
    const src = openSafetensors(join(FIXTURE, 'model.safetensors'));
    const tensors = Object.fromEntries(src.names().map((n) => [n, { dtype: 'F32' as const, shape: src.info(n).shape, data: src.readFloat32(n) }]));
    const dir = tmp();
    copyFileSync(join(FIXTURE, 'config.json'), join(dir, 'config.json'));
    await writeShardedSafetensors(dir, tensors, { maxShardBytes: 120_000 });
    const a = loadHfLlama(FIXTURE);
    const b = loadHfLlama(dir);
    for (const k of Object.keys(a.weights)) expect(Array.from(b.weights[k]!.data as Float32Array)).toEqual(Array.from(a.weights[k]!.data as Float32Array));

    const { encodeBf16, decodeBf16 } = await import('@herd/core');
    const bdir = tmp();
    copyFileSync(join(FIXTURE, 'config.json'), join(bdir, 'config.json'));
    await writeSafetensors(join(bdir, 'model.safetensors'), Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, { dtype: 'BF16' as const, shape: t.shape, data: encodeBf16(t.data) }])));
    const c = loadHfLlama(bdir);
    const name = 'model.layers.0.mlp.up_proj.weight';
    expect(Array.from(c.weights[name]!.data as Float32Array)).toEqual(Array.from(decodeBf16(encodeBf16(a.weights[name]!.data as Float32Array))));
  });

  it('external loading runs f32 weights in place from the safetensors file (same logits, tiny model file)', async () => {
    const dir = tmp();
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(FIXTURE, f), join(dir, f));
    const inMemory = loadHfLlama(dir);
    const inPlace = loadHfLlama(dir, { external: true });
    expect(Object.values(inPlace.weights).every((w) => w.external && !w.data)).toBe(true);
    const model = buildDecoder(inPlace.config, inPlace.weights);
    expect(model.bytes.length).toBeLessThan(100_000); // the 400 KB of weights stay in the safetensors file
    const a = await Generator.create(inMemory.config, buildDecoder(inMemory.config, inMemory.weights));
    const b = await Generator.create(inPlace.config, model, { modelDir: dir });
    expect(await b.logits([5, 9, 2])).toEqual(await a.logits([5, 9, 2]));
    await a.release();
    await b.release();
  });

  it('a checkpoint that does not match the config names every bad tensor', async () => {
    const src = openSafetensors(join(FIXTURE, 'model.safetensors'));
    const dir = tmp();
    copyFileSync(join(FIXTURE, 'config.json'), join(dir, 'config.json'));
    const tensors = Object.fromEntries(
      src.names().filter((n) => n !== 'model.norm.weight').map((n) => [n, { dtype: 'F32' as const, shape: n === 'lm_head.weight' ? [64, 128] : src.info(n).shape, data: src.readFloat32(n) }]),
    );
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    try {
      loadHfLlama(dir);
      expect.unreachable();
    } catch (e) {
      expect(isHerdError(e, 'checkpoint_mismatch')).toBe(true);
      expect((e as Error).message).toMatch(/missing tensor 'model.norm.weight'/);
      expect((e as Error).message).toMatch(/'lm_head.weight' has shape \[64,128\], the config needs \[128,64\]/);
    }
  });

  it('the embeddings input path (speech splices here) equals the token path', async () => {
    const { config, weights } = loadHfLlama(FIXTURE);
    const g = new G.Graph();
    const p = G.declareParams(g, llamaParamSpecs(config), (n, s) => g.param(n, 'f32', s as number[], { value: weights[n]!.data as Float32Array }));
    const tokens = g.input('tokens', 'i32', [1, 5]);
    const positions = g.input('positions', 'i32', [1, 5]);
    const mask = G.unsqueeze(G.causalMask(g, 5), 0);
    const viaTokens = lmHead(config, p, forward(config, p, { tokens, positions, mask }).hidden);
    const viaEmb = lmHead(config, p, forward(config, p, { embeddings: embed(p, tokens), positions, mask }).hidden);
    const hooked = lmHead(config, p, forward(config, p, { tokens, positions, mask }, { beforeLayer: (_, h) => h }).hidden);
    const s = await Session.create(G.toOnnx(g, { outputs: { a: viaTokens, b: viaEmb, c: hooked } }));
    const out = await s.run({ tokens: hostTensor('i32', [1, 5], [5, 9, 2, 100, 7]), positions: hostTensor('i32', [1, 5], [0, 1, 2, 3, 4]) });
    expect(Array.from(out['b']!.data as Float32Array)).toEqual(Array.from(out['a']!.data as Float32Array));
    expect(Array.from(out['c']!.data as Float32Array)).toEqual(Array.from(out['a']!.data as Float32Array));
  });
});
