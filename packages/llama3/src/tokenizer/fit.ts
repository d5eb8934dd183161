/**
 * Whether a model's embedding rows can take the tokenizer's ids. Checked before a session runs:
 * an id past the last row makes ONNX Runtime's Gather fail with a log line that names neither the
 * model nor the tokenizer.
 */
import { HerdError } from '@herd/core';
import type { PrunedVocab } from './pruned.js';
import { LLAMA3_VOCAB_SIZE } from './special.js';

/**
 * `numIds`: ids the tokenizer knows (herd's Llama 3 tokenizer: 128,257, the image token included).
 * `vocabSize`: the model's rows. `vocab`: the pruned view the model was trained on, when it has one.
 * Without one, the model needs a row for every id text and chat produce (Llama 3's 128,256; the
 * image token is added by vision models).
 */
export function checkVocabularyFits(label: string, numIds: number, vocabSize: number, vocab?: PrunedVocab): void {
  if (vocab === undefined) {
    const needed = Math.min(numIds, LLAMA3_VOCAB_SIZE);
    if (vocabSize < needed) {
      throw new HerdError(
        'checkpoint_mismatch',
        `${label}: the model has ${vocabSize.toLocaleString('en-US')} token rows (vocab_size) but the Llama 3 tokenizer produces ids up to ` +
          `${(needed - 1).toLocaleString('en-US')}; a smaller model needs the pruned vocabulary it was trained with (config.json "herd_vocab": "vocab.json")`,
      );
    }
    return;
  }
  if (vocab.size !== vocabSize) {
    throw new HerdError('checkpoint_mismatch', `${label}: the pruned vocabulary has ${vocab.size} entries but the model's vocab_size is ${vocabSize}`);
  }
  const beyond = vocab.ids.filter((id) => id >= numIds);
  if (vocab.fullIdLimit > numIds || beyond.length > 0) {
    throw new HerdError(
      'checkpoint_mismatch',
      `${label}: the pruned vocabulary was made for a tokenizer with ${vocab.fullIdLimit.toLocaleString('en-US')} ids, this one has ` +
        `${numIds.toLocaleString('en-US')}${beyond.length ? ` (ids ${beyond.slice(0, 5).join(', ')}${beyond.length > 5 ? ', …' : ''} do not exist)` : ''}`,
    );
  }
}
