import { describe, expect, it } from 'vitest';
import { isHerdError } from '@herd/core';
import { checkVocabularyFits } from './fit.js';
import { PrunedVocab } from './pruned.js';
import { LLAMA3_VOCAB_SIZE } from './special.js';

const TOKENIZER_IDS = LLAMA3_VOCAB_SIZE + 1; // herd's tokenizer: Llama 3's ids plus the image token

function refusal(f: () => void): string {
  try {
    f();
  } catch (e) {
    expect(isHerdError(e, 'checkpoint_mismatch')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected a checkpoint_mismatch');
}

describe('checkVocabularyFits', () => {
  it('a full-vocabulary model needs a row for every text and chat id', () => {
    expect(() => checkVocabularyFits('m', TOKENIZER_IDS, LLAMA3_VOCAB_SIZE)).not.toThrow();
    expect(refusal(() => checkVocabularyFits('m', TOKENIZER_IDS, 256))).toMatch(/^m: the model has 256 token rows \(vocab_size\) but the Llama 3 tokenizer produces ids up to 128,255; .*herd_vocab/);
  });

  it('a pruned model needs its view to match its rows and the tokenizer', () => {
    const json = { format: 'herd.pruned-vocab', version: 1, tokenizer: 'llama3', fullIdLimit: TOKENIZER_IDS, unknownId: 128_002, ids: [0, 1, 128_002] } as const;
    const vocab = PrunedVocab.fromJSON(json);
    expect(() => checkVocabularyFits('m', TOKENIZER_IDS, 3, vocab)).not.toThrow();
    expect(refusal(() => checkVocabularyFits('m', TOKENIZER_IDS, 4, vocab))).toMatch(/the pruned vocabulary has 3 entries but the model's vocab_size is 4/);
    const bigger = PrunedVocab.fromJSON({ ...json, fullIdLimit: 200_000, ids: [0, 128_002, 150_000] });
    expect(refusal(() => checkVocabularyFits('m', TOKENIZER_IDS, 3, bigger))).toMatch(/made for a tokenizer with 200,000 ids, this one has 128,257 \(ids 150000 do not exist\)/);
  });
});
