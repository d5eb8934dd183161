/**
 * The committed mini core reads the same in another Llama implementation as in herd: reference
 * logits for its files match ours.
 *
 * What made the reference (fixtures/mini-hf-reference.json, `_made_by`): transformers 5.17.0's own
 * loader and LlamaForCausalLM (fixtures/make_mini_hf_reference.py, run on the GPU machine's CPU in f32,
 * round 27), for the current core. The independent float32 PyTorch forward used before
 * (fixtures/make_mini_torch_reference.py, for machines without transformers) agreed with it to 1.1e-5.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadLanguageCore } from './mini.js';
import { Generator } from './model/generate.js';
import { buildDecoder } from './model/graphs.js';

const REFERENCE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'mini-hf-reference.json');
/** The reference was rounded to 6 decimals when saved. */
const MAX_ABS_ERR = 1e-4;

describe('the committed mini core', () => {
  it('loads with its pruned vocabulary and matches Hugging Face transformers on the same files', async () => {
    const core = loadLanguageCore();
    expect(core.vocab?.size).toBe(core.config.vocabSize);
    const ref = JSON.parse(readFileSync(REFERENCE, 'utf8')) as { cases: { tokens: number[]; logits: number[][] }[] };
    const gen = await Generator.create(core.config, buildDecoder(core.config, core.weights));
    for (const c of ref.cases) {
      const rows = await gen.logits(c.tokens);
      let worst = 0;
      rows.forEach((row, t) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - c.logits[t]![j]!)))));
      expect(worst).toBeLessThan(MAX_ABS_ERR);
    }
    await gen.release();
  });
});
