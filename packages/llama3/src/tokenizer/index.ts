export { Llama3Tokenizer, StreamDecoder, loadLlama3Tokenizer, LLAMA3_PRETOKENIZE_PATTERN } from './tokenizer.js';
export type { DecodeOptions, EncodeOptions } from './tokenizer.js';
export { CHAT_ROLES, encodeChat, renderChat } from './chat.js';
export type { ChatContentPart, ChatMessage, ChatRole, EncodeChatOptions } from './chat.js';
export { CHAT_SPECIAL_IDS, DEFAULT_UNKNOWN_ID, PrunedVocab } from './pruned.js';
export { checkVocabularyFits } from './fit.js';
export type { PrunedVocabJson, PrunedVocabOptions } from './pruned.js';
export {
  BEGIN_OF_TEXT_ID,
  END_HEADER_ID,
  END_OF_TEXT_ID,
  EOM_ID,
  EOT_ID,
  FINETUNE_RIGHT_PAD_ID,
  IMAGE_TOKEN_ID,
  LLAMA3_NUM_BPE_TOKENS,
  LLAMA3_SPECIAL_TOKENS,
  LLAMA3_VOCAB_SIZE,
  PYTHON_TAG_ID,
  START_HEADER_ID,
} from './special.js';
