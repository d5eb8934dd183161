/** `freezeCheckpoint`: any step a run saved becomes a core folder; the last one equals the saved core. */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSafetensors } from '@herd/core';
import { writeDataset } from '@herd/data';
import { loadLanguageCore } from '../mini.js';
import { loadLlama3Tokenizer } from '../tokenizer/tokenizer.js';
import { freezeCheckpoint } from './freeze-checkpoint.js';
import { type LanguageCoreRecipe, trainLanguageCore } from './language-core.js';
import { LANGUAGE_CORE_FILES } from './save-core.js';

const root = mkdtempSync(join(tmpdir(), 'herd-freeze-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function corpus(dir: string, n: number, offset: number): Promise<void> {
  const enc = new TextEncoder();
  const colours = ['red', 'blue', 'green'];
  await writeDataset(dir, Array.from({ length: n }, (_, i) => ({ key: `d${i + offset}`, files: { txt: enc.encode(`The ${colours[(i + offset) % 3]} star is on the ${(i + offset) % 2 ? 'left' : 'right'}.`) }, meta: { kind: 'sentence' } })), { samplesPerShard: 16 });
}

const bytes = (dir: string, name: string) => {
  const st = openSafetensors(join(dir, LANGUAGE_CORE_FILES.weights));
  return Buffer.from(st.read(name).data.buffer as ArrayBuffer);
};

describe('freezeCheckpoint', () => {
  it('writes a checkpoint as a core folder: the last step equals the core the run saved, bit for bit; an earlier one differs', async () => {
    await corpus(join(root, 'text', 'train'), 40, 0);
    await corpus(join(root, 'text', 'heldout'), 8, 1000);
    const recipe: LanguageCoreRecipe = { preset: 'mini', presetOverrides: { dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64 }, seed: 3, seqLen: 32, batch: 2, steps: 8, schedule: { kind: 'constant', peak: 3e-3, warmup: 2 }, weightDecay: 0.1, evalEvery: 4 };
    const ck = join(root, 'ck');
    await trainLanguageCore({ tokenizer: await loadLlama3Tokenizer(), data: { train: join(root, 'text', 'train'), heldout: join(root, 'text', 'heldout') }, dataDescription: 'test sentences', recipe, workDir: join(root, 'data'), outDir: join(root, 'core'), checkpointDir: ck });
    expect(readdirSync(ck).filter((f) => f.startsWith('step-')).sort()).toEqual(['step-00000004.safetensors', 'step-00000008.safetensors']);

    const last = await freezeCheckpoint(join(ck, 'step-00000008.safetensors'), join(root, 'last'));
    expect(last.step).toBe(8);
    for (const f of [LANGUAGE_CORE_FILES.config, LANGUAGE_CORE_FILES.vocab]) expect(readFileSync(join(root, 'last', f), 'utf8')).toBe(readFileSync(join(root, 'core', f), 'utf8'));
    const saved = loadLanguageCore(join(root, 'core'));
    const frozen = loadLanguageCore(join(root, 'last'));
    const names = Object.keys(saved.weights);
    expect(Object.keys(frozen.weights).sort()).toEqual([...names].sort());
    for (const n of names) expect(bytes(join(root, 'last'), n).equals(bytes(join(root, 'core'), n))).toBe(true);

    const early = await freezeCheckpoint(join(ck, 'step-00000004.safetensors'), join(root, 'early'));
    expect(early.step).toBe(4);
    expect(bytes(join(root, 'early'), 'model.norm.weight').equals(bytes(join(root, 'core'), 'model.norm.weight'))).toBe(false);
    expect(JSON.parse(readFileSync(join(root, 'early', LANGUAGE_CORE_FILES.report), 'utf8'))).toMatchObject({ step: 4, recipe: { steps: 8 } });
  });

  it('refuses a checkpoint without the run\'s config beside it, a file that is not a checkpoint, and writing into the run folder', async () => {
    const lone = join(root, 'lone');
    mkdirSync(lone, { recursive: true });
    copyFileSync(join(root, 'ck', 'step-00000004.safetensors'), join(lone, 'step-00000004.safetensors'));
    await expect(freezeCheckpoint(join(lone, 'step-00000004.safetensors'), join(root, 'x'))).rejects.toThrow(/step-00000004\.safetensors: no config\.json beside it/);
    await expect(freezeCheckpoint(join(root, 'ck', 'step-00000099.safetensors'), join(root, 'x'))).rejects.toThrow(/no such checkpoint file/);
    // A core folder's weights carry no training metadata.
    mkdirSync(join(root, 'plain'));
    for (const f of [LANGUAGE_CORE_FILES.config, LANGUAGE_CORE_FILES.vocab, LANGUAGE_CORE_FILES.weights]) copyFileSync(join(root, 'core', f), join(root, 'plain', f));
    await expect(freezeCheckpoint(join(root, 'plain', LANGUAGE_CORE_FILES.weights), join(root, 'x'))).rejects.toThrow(/not a herd checkpoint/);
    await expect(freezeCheckpoint(join(root, 'ck', 'step-00000004.safetensors'), join(root, 'ck'))).rejects.toThrow(/is the checkpoint folder itself/);
  });
});
