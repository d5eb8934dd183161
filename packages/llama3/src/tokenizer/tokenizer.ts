/**
 * The Llama 3 tokenizer: tiktoken-style byte-level BPE over 128,000 ranked tokens, the Llama 3
 * pre-tokenizer regex, and 256 special tokens (+ `<|image|>` for Llama 3.2 Vision).
 *
 * The ranks come from the `llama3-tokenizer-js` package (MIT), which ships Meta's vocabulary as
 * Hugging Face byte-level strings in id order; id = tiktoken rank for the first 128,000.
 */
import { HerdError } from '@herd/core';
import { bpe, byteLevelToBytes, bytesToBinary, utf8Binary, type Ranks } from './bpe.js';
import { encodeChat, type ChatMessage, type EncodeChatOptions } from './chat.js';
import { BEGIN_OF_TEXT_ID, END_OF_TEXT_ID, LLAMA3_NUM_BPE_TOKENS, LLAMA3_SPECIAL_TOKENS, LLAMA3_VOCAB_SIZE } from './special.js';

/**
 * Llama 3's split pattern, `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, in JavaScript. Two translations matter:
 * JS has no `(?i:...)`, so the contractions list both cases (and `ſ`, which Unicode case folding
 * maps to `s` in tiktoken's Rust regex); and JS `\s` differs from Rust's Unicode `\s` (JS adds
 * U+FEFF, lacks U+0085), so `\p{White_Space}` is spelled out.
 */
export const LLAMA3_PRETOKENIZE_PATTERN =
  "(?:'[sSſ]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n]*|\\p{White_Space}*[\\r\\n]+|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

export interface EncodeOptions {
  /** Prepend `<|begin_of_text|>`. Default false. */
  readonly bos?: boolean;
  /** Append `<|end_of_text|>`. Default false. */
  readonly eos?: boolean;
  /**
   * Which special token names written in the text become special ids: true for all, or a list.
   * Default none: `<|eot_id|>` in user text is encoded as ordinary text, as in Meta's tokenizer.
   */
  readonly allowSpecial?: boolean | readonly string[];
}

export interface DecodeOptions {
  /** Leave special tokens out of the text. Default false. */
  readonly skipSpecial?: boolean;
}

/** Pre-token cache entries beyond this are dropped wholesale (cheap, keeps memory bounded). */
const CACHE_LIMIT = 1 << 17;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class Llama3Tokenizer {
  /** Ids below this are text tokens; `<|image|>` (128256) is the one id at or above it. */
  readonly vocabSize = LLAMA3_VOCAB_SIZE;
  /** Every id this tokenizer can produce is below this (vocabSize + `<|image|>`). */
  readonly numIds: number;

  private readonly ranks: Ranks;
  private readonly bytesById: Uint8Array[];
  private readonly specialIds: ReadonlyMap<string, number>;
  private readonly pretokenize = new RegExp(LLAMA3_PRETOKENIZE_PATTERN, 'gu');
  private readonly cache = new Map<string, number | readonly number[]>();
  private readonly specialPatterns = new Map<string, RegExp>();

  private constructor(bpeTokens: readonly Uint8Array[]) {
    const ranks = new Map<string, number>();
    const bytesById: Uint8Array[] = [];
    bpeTokens.forEach((bytes, id) => {
      ranks.set(bytesToBinary(bytes), id);
      bytesById.push(bytes);
    });
    this.ranks = ranks;
    const specialIds = new Map<string, number>();
    const enc = new TextEncoder();
    LLAMA3_SPECIAL_TOKENS.forEach((name, i) => {
      specialIds.set(name, LLAMA3_NUM_BPE_TOKENS + i);
      bytesById.push(enc.encode(name));
    });
    this.specialIds = specialIds;
    this.bytesById = bytesById;
    this.numIds = bytesById.length;
  }

  /**
   * Builds the tokenizer from the 128,000 BPE tokens as Hugging Face byte-level strings, index = id
   * = rank (the order of `tokenizer.json`'s `model.vocab`, or of Meta's `tokenizer.model` lines).
   */
  static fromByteLevelVocab(vocab: readonly string[]): Llama3Tokenizer {
    if (vocab.length !== LLAMA3_NUM_BPE_TOKENS) {
      throw new HerdError('corrupt_data', `Llama 3 BPE vocab must have ${LLAMA3_NUM_BPE_TOKENS} tokens, got ${vocab.length}`);
    }
    const tokens = vocab.map(byteLevelToBytes);
    const seen = new Set<string>();
    for (const t of tokens) seen.add(bytesToBinary(t));
    if (seen.size !== tokens.length) {
      throw new HerdError('corrupt_data', `Llama 3 BPE vocab has ${tokens.length - seen.size} duplicate tokens`);
    }
    for (let b = 0; b < 256; b++) {
      if (!seen.has(String.fromCharCode(b))) throw new HerdError('corrupt_data', `Llama 3 BPE vocab lacks the single byte ${b}`);
    }
    return new Llama3Tokenizer(tokens);
  }

  /** Id of a special token by name, e.g. `<|eot_id|>`. */
  specialId(name: string): number {
    const id = this.specialIds.get(name);
    if (id === undefined) {
      throw new HerdError(
        'invalid_argument',
        `unknown special token ${JSON.stringify(name)}; valid: <|begin_of_text|>, <|end_of_text|>, <|start_header_id|>, <|end_header_id|>, <|eom_id|>, <|eot_id|>, <|python_tag|>, <|finetune_right_pad_id|>, <|image|>, <|reserved_special_token_N|> (N = 0..247)`,
      );
    }
    return id;
  }

  isSpecial(id: number): boolean {
    return id >= LLAMA3_NUM_BPE_TOKENS && id < this.numIds;
  }

  /** Encodes text; special token names in it are plain text unless `allowSpecial` says otherwise. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (options.bos === true) out.push(BEGIN_OF_TEXT_ID);
    const allow = options.allowSpecial ?? false;
    if (allow === false || (Array.isArray(allow) && allow.length === 0)) {
      this.encodeOrdinaryInto(text, out);
    } else {
      const re = this.specialPattern(allow === true ? [...this.specialIds.keys()] : (allow as readonly string[]));
      let last = 0;
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        this.encodeOrdinaryInto(text.slice(last, m.index), out);
        out.push(this.specialIds.get(m[0]) as number);
        last = m.index + m[0].length;
      }
      this.encodeOrdinaryInto(text.slice(last), out);
    }
    if (options.eos === true) out.push(END_OF_TEXT_ID);
    return out;
  }

  /** Encodes text with no special tokens at all (no bos/eos, specials' names are text). */
  encodeOrdinary(text: string): number[] {
    const out: number[] = [];
    this.encodeOrdinaryInto(text, out);
    return out;
  }

  /** The Llama 3 chat template as ids; see `encodeChat` in chat.ts. */
  encodeChat(messages: readonly ChatMessage[], options: EncodeChatOptions): number[] {
    return encodeChat(this, messages, options);
  }

  private encodeOrdinaryInto(text: string, out: number[]): void {
    if (text.length === 0) return;
    const re = this.pretokenize;
    const ranks = this.ranks;
    const cache = this.cache;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const piece = m[0];
      // ASCII pieces are their own byte keys, so most words are one map lookup. (Only ASCII: "é" as a
      // string would collide with the key of the lone byte 0xE9.)
      if (isAscii(piece)) {
        const direct = ranks.get(piece);
        if (direct !== undefined) {
          out.push(direct);
          continue;
        }
      }
      let ids = cache.get(piece);
      if (ids === undefined) {
        const toks = bpe(utf8Binary(piece), ranks);
        ids = toks.length === 1 ? (toks[0] as number) : toks;
        if (cache.size >= CACHE_LIMIT) cache.clear();
        cache.set(piece, ids);
      }
      if (typeof ids === 'number') out.push(ids);
      else for (const id of ids) out.push(id);
    }
  }

  private specialPattern(names: readonly string[]): RegExp {
    const key = names.join('\u0000');
    let re = this.specialPatterns.get(key);
    if (re === undefined) {
      for (const n of names) this.specialId(n);
      // Longest first so no name shadows a longer one that starts the same way.
      const sorted = [...names].sort((a, b) => b.length - a.length);
      re = new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
      this.specialPatterns.set(key, re);
    }
    return re;
  }

  /** Bytes of one token (a special token's bytes are its name in UTF-8). */
  tokenBytes(id: number): Uint8Array {
    const b = Number.isInteger(id) ? this.bytesById[id] : undefined;
    if (b === undefined) {
      throw new HerdError('invalid_argument', `token id ${id} is outside the Llama 3 vocabulary [0, ${this.numIds})`);
    }
    return b;
  }

  decodeBytes(ids: ArrayLike<number>, options: DecodeOptions = {}): Uint8Array {
    const skip = options.skipSpecial === true;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      const b = this.tokenBytes(id);
      if (skip && id >= LLAMA3_NUM_BPE_TOKENS) continue;
      parts.push(b);
      total += b.length;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** Text of the ids; byte sequences that are not valid UTF-8 become U+FFFD. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    return new TextDecoder('utf-8').decode(this.decodeBytes(ids, options));
  }

  /** A decoder for generation: feed ids one at a time, get text as soon as its bytes are complete. */
  streamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder(this, options);
  }
}

/**
 * Incremental decoding that never emits half a character: a UTF-8 sequence split across tokens (an
 * emoji is often 2–4 byte tokens) is held back until its last byte arrives.
 */
export class StreamDecoder {
  private readonly decoder = new TextDecoder('utf-8');

  constructor(
    private readonly tokenizer: Llama3Tokenizer,
    private readonly options: DecodeOptions = {},
  ) {}

  /** Returns the text completed by these ids (possibly ''). */
  push(ids: number | ArrayLike<number>): string {
    const bytes = this.tokenizer.decodeBytes(typeof ids === 'number' ? [ids] : ids, this.options);
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Ends the stream: held-back bytes of an unfinished character come out as U+FFFD. */
  flush(): string {
    return this.decoder.decode();
  }
}

let loading: Promise<Llama3Tokenizer> | undefined;

/**
 * The real Llama 3 tokenizer. Loads the vocabulary from `llama3-tokenizer-js` on first call (about a
 * second) and returns the same instance afterwards.
 */
export function loadLlama3Tokenizer(): Promise<Llama3Tokenizer> {
  loading ??= import('llama3-tokenizer-js').then(
    (m) => {
      const vocab = m.default.vocabById;
      const bpeTokens = vocab.slice(0, LLAMA3_NUM_BPE_TOKENS);
      // The package appends specials after the BPE tokens; check it still agrees with our table.
      const first = vocab[LLAMA3_NUM_BPE_TOKENS];
      if (first !== LLAMA3_SPECIAL_TOKENS[0]) {
        throw new HerdError(
          'corrupt_data',
          `llama3-tokenizer-js: expected ${LLAMA3_SPECIAL_TOKENS[0]} at id ${LLAMA3_NUM_BPE_TOKENS}, found ${JSON.stringify(first)}; the package's data layout changed`,
        );
      }
      return Llama3Tokenizer.fromByteLevelVocab(bpeTokens);
    },
    (e: unknown) => {
      loading = undefined;
      throw new HerdError('tool_missing', `cannot load the Llama 3 vocabulary from llama3-tokenizer-js: ${(e as Error).message}`, {
        cause: e,
      });
    },
  );
  return loading;
}
