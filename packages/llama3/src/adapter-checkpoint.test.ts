import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HerdError, hostTensor, writeSafetensors } from '@herd/core';
import { adapterCheckpointFiles, openAdapterCheckpoint, readCheckpointTensors, trainedAgainst, weightsSha256, writeAdapterCheckpoint, type TrainedAgainstCore } from './adapter-checkpoint.js';
import { type LlamaConfig } from './config.js';
import { type LanguageCore } from './mini.js';

const root = mkdtempSync(join(tmpdir(), 'herd-adapter-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A stand-in core: only its folder's weights file and its shape matter here. */
async function fakeCore(name: string, fill: number, shape = { dim: 8, nLayers: 2, vocabSize: 16 }): Promise<LanguageCore> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  await writeSafetensors(join(dir, 'model.safetensors'), { w: hostTensor('f32', [4], new Float32Array(4).fill(fill)) }, { format: 'pt' });
  return { dir, config: shape as unknown as LlamaConfig, weights: {}, warnings: [] };
}

interface Stored {
  readonly format: 'herd-test-adapter';
  readonly core: TrainedAgainstCore;
}
const FILES = adapterCheckpointFiles('adapter.safetensors');
const SPECS = [{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [3] }] as const;
const values = { a: { shape: [2, 3], data: Float32Array.from([0.1, -2, 3.5, 1e-3, 0, 7]) }, b: { shape: [3], data: Float32Array.from([1, 2, 3]) } };
const open = (dir: string, core?: LanguageCore) => openAdapterCheckpoint<Stored>(dir, FILES, 'herd-test-adapter', 'test', "make one with 'herd test train'", core);

describe('adapter checkpoints', () => {
  it('round-trips the named tensors as f16 and records the core it was trained against', async () => {
    const core = await fakeCore('core-a', 1);
    const dir = join(root, 'ckpt');
    await writeAdapterCheckpoint(dir, FILES, ['a', 'b'], values, { format: 'herd-test-adapter', core: trainedAgainst(core) }, { eval: { ok: 1 }, card: '# card\n' });
    const ckpt = open(dir, core);
    expect(ckpt.stored.core).toEqual({ dim: 8, nLayers: 2, vocabSize: 16, weightsSha256: weightsSha256(core.dir) });
    expect(ckpt.coreMatches).toBe(true);
    const got: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
    readCheckpointTensors(ckpt.weights, SPECS, ckpt.problems, got);
    expect(ckpt.problems.size).toBe(0);
    expect(got['a']!.shape).toEqual([2, 3]);
    // f16 keeps 11 significant bits.
    got['a']!.data.forEach((v, i) => expect(v).toBeCloseTo(values.a.data[i]!, 2));
    expect([...got['b']!.data]).toEqual([1, 2, 3]);
    await expect(writeAdapterCheckpoint(dir, FILES, ['a', 'c'], values, {}, {}, 'saveTest')).rejects.toThrow(/saveTest: no value for c/);
  });

  it('a continued core of the same shape is reported (coreMatches false), another shape refused; no record means unknown', async () => {
    const core = await fakeCore('core-b', 1);
    const continued = await fakeCore('core-b2', 2);
    const dir = join(root, 'ckpt-b');
    await writeAdapterCheckpoint(dir, FILES, ['a', 'b'], values, { format: 'herd-test-adapter', core: trainedAgainst(core) });
    expect(weightsSha256(continued.dir)).not.toBe(weightsSha256(core.dir));
    expect(open(dir, continued).coreMatches).toBe(false);
    const wider = await fakeCore('core-c', 1, { dim: 16, nLayers: 2, vocabSize: 16 });
    expect(() => open(dir, wider)).toThrow(/trained against a core with dim 8, 2 layers, vocabulary 16; the core at .*core-c has dim 16, 2 layers, vocabulary 16/);
    // A checkpoint saved before the hash was recorded: its shape is still checked, the match is unknown.
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ format: 'herd-test-adapter', core: { dim: 8, nLayers: 2, vocabSize: 16 } }));
    expect(open(dir, continued).coreMatches).toBeUndefined();
    expect(open(dir).coreMatches).toBeUndefined();
  });

  it('names a missing folder with how to make one, a wrong format, and missing or mis-shaped tensors', async () => {
    expect(() => open(join(root, 'nowhere'))).toThrow(HerdError);
    expect(() => open(join(root, 'nowhere'))).toThrow(/no test checkpoint at .*nowhere: expected config.json \+ adapter.safetensors \(make one with 'herd test train'\)/);
    const core = await fakeCore('core-d', 1);
    const dir = join(root, 'ckpt-d');
    await writeAdapterCheckpoint(dir, FILES, ['a'], values, { format: 'herd-other', core: trainedAgainst(core) });
    expect(() => open(dir, core)).toThrow(/format is "herd-other", expected "herd-test-adapter"/);
    await writeAdapterCheckpoint(dir, FILES, ['a'], values, { format: 'herd-test-adapter', core: trainedAgainst(core) });
    const ckpt = open(dir, core);
    readCheckpointTensors(ckpt.weights, [{ name: 'a', shape: [3, 2] }, { name: 'b', shape: [3] }], ckpt.problems, {});
    expect(ckpt.problems.size).toBe(2);
    expect(() => ckpt.problems.throwIfAny('checkpoint_mismatch', 'ckpt')).toThrow(/- tensor a: shape \[2, 3\], expected \[3, 2\]\n  - missing tensor b/);
  });
});
