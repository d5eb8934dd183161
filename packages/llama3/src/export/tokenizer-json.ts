/**
 * The Llama 3 tokenizer as one JSON file an exported model carries, so a runtime with no herd code
 * (a web page, Python) can tokenize and detokenize: the 128,000 BPE tokens as Hugging Face
 * byte-level strings in rank order (id = rank; tiktoken's merge rule: repeatedly join the adjacent
 * pair whose joined bytes have the lowest rank), the pre-tokenizer pattern (JavaScript `u` regex),
 * the special tokens by id, and the pruned vocabulary a mini model was trained on (model id = index
 * into `pruned.ids`; every other full id becomes `pruned.unknownId`).
 */
import { HerdError } from '@herd/core';
import { LLAMA3_NUM_BPE_TOKENS, LLAMA3_SPECIAL_TOKENS } from '../tokenizer/special.js';
import { LLAMA3_PRETOKENIZE_PATTERN } from '../tokenizer/tokenizer.js';
import { type PrunedVocab } from '../tokenizer/pruned.js';

export const TOKENIZER_JSON_FORMAT = 'herd.llama3-tokenizer';

export interface TokenizerJson {
  readonly format: typeof TOKENIZER_JSON_FORMAT;
  readonly version: 1;
  /** JavaScript RegExp source, flags 'gu'. */
  readonly pattern: string;
  /** Byte-level strings (GPT-2 byte↔char table) by id for ids < bpe.length. */
  readonly bpe: readonly string[];
  /** Special token names by id, starting at id `bpe.length`. */
  readonly specials: readonly string[];
  /** Present for a model trained on a pruned vocabulary: model id i ↔ full id ids[i]. */
  readonly pruned?: { readonly ids: readonly number[]; readonly unknownId: number };
}

/** Builds the tokenizer file of an export (the BPE table comes from the same package the tokenizer loads). */
export async function llama3TokenizerJson(vocab?: PrunedVocab): Promise<TokenizerJson> {
  let byId: readonly string[];
  try {
    byId = (await import('llama3-tokenizer-js')).default.vocabById;
  } catch (e) {
    throw new HerdError('tool_missing', `cannot load the Llama 3 vocabulary from llama3-tokenizer-js: ${(e as Error).message}`, { cause: e });
  }
  if (byId[LLAMA3_NUM_BPE_TOKENS] !== LLAMA3_SPECIAL_TOKENS[0]) {
    throw new HerdError('corrupt_data', `llama3-tokenizer-js: expected ${LLAMA3_SPECIAL_TOKENS[0]} at id ${LLAMA3_NUM_BPE_TOKENS}, found ${JSON.stringify(byId[LLAMA3_NUM_BPE_TOKENS])}`);
  }
  return {
    format: TOKENIZER_JSON_FORMAT,
    version: 1,
    pattern: LLAMA3_PRETOKENIZE_PATTERN,
    bpe: byId.slice(0, LLAMA3_NUM_BPE_TOKENS),
    specials: LLAMA3_SPECIAL_TOKENS,
    ...(vocab ? { pruned: { ids: vocab.ids, unknownId: vocab.unknownId } } : {}),
  };
}
