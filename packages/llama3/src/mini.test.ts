/**
 * The committed mini core reads the same in another Llama implementation as in herd: reference
 * logits for its files match ours.
 *
 * What made the reference (fixtures/mini-hf-reference.json, `_made_by`): for the current core,
 * fixtures/make_mini_torch_reference.py — an independent float32 PyTorch Llama forward written from
 * the transformers LlamaForCausalLM definition, reading config.json + model.safetensors itself (no
 * transformers on this machine, no GPU; Debian's python3-torch 1.13). It was checked against
 * transformers: on the previous core it reproduced the logits that transformers 5.17
 * (`LlamaForCausalLM.from_pretrained`, fixtures/make_mini_hf_reference.py on the GPU machine) had
 * recorded to within 7e-6. When transformers is at hand, remake the reference with
 * make_mini_hf_reference.py, which also checks that HF's own loader reads our files.
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
