/**
 * Llama 3 token id layout: 128,000 BPE tokens (ids = tiktoken ranks), then 256 special tokens, then
 * `<|image|>` which Llama 3.2 Vision adds after the text vocabulary.
 */

/** Number of ordinary (BPE) tokens. */
export const LLAMA3_NUM_BPE_TOKENS = 128_000;
/** Text vocabulary size: BPE tokens + 256 specials (the `vocab_size` of Llama 3 checkpoints). */
export const LLAMA3_VOCAB_SIZE = 128_256;

export const BEGIN_OF_TEXT_ID = 128_000;
export const END_OF_TEXT_ID = 128_001;
export const FINETUNE_RIGHT_PAD_ID = 128_004;
export const START_HEADER_ID = 128_006;
export const END_HEADER_ID = 128_007;
export const EOM_ID = 128_008;
export const EOT_ID = 128_009;
export const PYTHON_TAG_ID = 128_010;
/** Llama 3.2 Vision's image placeholder, one past the text vocabulary. */
export const IMAGE_TOKEN_ID = 128_256;

/** Special token names by id, 128000..128256 (Llama 3.1+ naming; 3.0 called 128004 reserved_2). */
export const LLAMA3_SPECIAL_TOKENS: readonly string[] = (() => {
  const names = [
    '<|begin_of_text|>',
    '<|end_of_text|>',
    '<|reserved_special_token_0|>',
    '<|reserved_special_token_1|>',
    '<|finetune_right_pad_id|>',
    '<|reserved_special_token_2|>',
    '<|start_header_id|>',
    '<|end_header_id|>',
    '<|eom_id|>',
    '<|eot_id|>',
    '<|python_tag|>',
  ];
  for (let i = 3; names.length < LLAMA3_VOCAB_SIZE - LLAMA3_NUM_BPE_TOKENS; i++) names.push(`<|reserved_special_token_${i}|>`);
  names.push('<|image|>');
  return Object.freeze(names);
})();
