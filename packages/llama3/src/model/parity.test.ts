/**
 * Parity with Hugging Face transformers: tiny random-weight Llama models (GQA, MQA with tied
 * embeddings and Llama 3.1 RoPE scaling, plain MHA) saved by fixtures/make_hf_fixtures.py, with
 * reference logits and greedy generations. Our logits must match to 1e-4 (f32) and greedy
 * generation must produce the same tokens.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Generator } from './generate.js';
import { buildDecoder } from './graphs.js';
import { loadHfLlama } from './load.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures');
const MAX_ABS_ERR = 1e-4;

interface Reference {
  cases: { tokens: number[]; logits: number[][]; greedy: number[] }[];
}

const variants = readdirSync(FIXTURES).filter((d) => d.startsWith('hf-tiny-'));

describe('parity with Hugging Face transformers', () => {
  it('has fixtures to compare against', () => {
    expect(variants.length).toBeGreaterThanOrEqual(3);
  });

  for (const v of variants) {
    it(`${v}: logits within ${MAX_ABS_ERR} and identical greedy tokens`, async () => {
      const dir = join(FIXTURES, v);
      const { config, weights } = loadHfLlama(dir);
      const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
      const gen = await Generator.create(config, buildDecoder(config, weights));
      try {
        for (const c of ref.cases) {
          const rows = await gen.logits(c.tokens);
          let maxErr = 0;
          rows.forEach((row, t) => row.forEach((x, j) => (maxErr = Math.max(maxErr, Math.abs(x - c.logits[t]![j]!)))));
          expect(maxErr).toBeLessThan(MAX_ABS_ERR);
          const greedy = await gen.complete(c.tokens, { maxNewTokens: c.greedy.length, temperature: 0 });
          expect(greedy).toEqual(c.greedy);
        }
      } finally {
        await gen.release();
      }
    });
  }
});
