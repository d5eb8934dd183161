/** The language-core recipe from text shards: it trains, saves a loadable core, and resumes exactly. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDataset } from '@herd/data';
import { loadLlama3Tokenizer } from '../tokenizer/tokenizer.js';
import { type LanguageCoreRecipe, trainLanguageCore } from './language-core.js';
import { LANGUAGE_CORE_FILES } from './save-core.js';

const root = mkdtempSync(join(tmpdir(), 'herd-core-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const COLOURS = ['red', 'blue', 'green', 'pink'];
const SHAPES = ['circle', 'square', 'star'];
async function corpus(dir: string, n: number, offset: number): Promise<void> {
  const enc = new TextEncoder();
  await writeDataset(dir, Array.from({ length: n }, (_, i) => {
    const k = i + offset;
    const text = `The ${COLOURS[k % 4]} ${SHAPES[k % 3]} is on the ${k % 2 ? 'left' : 'right'}.`;
    return k % 5 === 0
      ? { key: `d${k}`, files: { txt: enc.encode(text) }, meta: { kind: 'dialogue', turns: [{ role: 'user', content: `Where is the ${SHAPES[k % 3]}?` }, { role: 'assistant', content: text }] } }
      : { key: `d${k}`, files: { txt: enc.encode(text) }, meta: { kind: 'sentence' } };
  }), { samplesPerShard: 16 });
}

describe('trainLanguageCore', () => {
  it('trains from text shards, saves the core, and a resumed run continues exactly', async () => {
    await corpus(join(root, 'text', 'train'), 60, 0);
    await corpus(join(root, 'text', 'heldout'), 8, 1000);
    const tokenizer = await loadLlama3Tokenizer();
    const recipe: LanguageCoreRecipe = { preset: 'mini', presetOverrides: { dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64 }, seed: 5, seqLen: 32, batch: 2, steps: 10, schedule: { kind: 'constant', peak: 2e-3, warmup: 2 }, weightDecay: 0.1, evalEvery: 3 };
    const base = { tokenizer, data: { train: join(root, 'text', 'train'), heldout: join(root, 'text', 'heldout') }, dataDescription: 'test sentences' };
    const run = (name: string, steps: number, resume = false) =>
      trainLanguageCore({ ...base, recipe: { ...recipe, steps }, workDir: join(root, name, 'data'), outDir: join(root, name, 'core'), checkpointDir: join(root, name, 'ck'), logPath: join(root, name, 'log.jsonl'), resume });
    const a = await run('a', 10);
    expect(a.steps).toBe(10);
    expect(a.trainDocs).toBe(60);
    expect(a.curve.at(-1)!.trainLoss).toBeLessThan(a.curve[0]?.trainLoss ?? Infinity);
    for (const f of Object.values(LANGUAGE_CORE_FILES)) expect(existsSync(join(root, 'a', 'core', f))).toBe(true);
    await run('b', 6);
    const b = await run('b', 10, true);
    // Same held-out loss to the last bit: same weights after the same batches.
    expect(b.heldoutLoss).toBe(a.heldoutLoss);
    expect(b.finalTrainLoss).not.toBeNaN();
  });
});
