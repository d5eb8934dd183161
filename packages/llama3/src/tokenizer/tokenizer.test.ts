import { Rng, isHerdError } from '@herd/core';
import reference from 'llama3-tokenizer-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { bpeHeap, bpeLinear, utf8Binary } from './bpe.js';
import {
  IMAGE_TOKEN_ID,
  LLAMA3_PRETOKENIZE_PATTERN,
  LLAMA3_SPECIAL_TOKENS,
  Llama3Tokenizer,
  loadLlama3Tokenizer,
  renderChat,
  type ChatMessage,
} from './index.js';

let tok: Llama3Tokenizer;
beforeAll(async () => {
  tok = await loadLlama3Tokenizer();
});

/** Random text from pools that stress the pre-tokenizer and multi-byte UTF-8. */
function randomText(rng: Rng, length: number, pools: readonly (readonly [number, number])[]): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    const [lo, hi] = rng.pick(pools);
    s += String.fromCodePoint(lo + rng.int(hi - lo + 1));
  }
  return s;
}

const POOLS: readonly (readonly [number, number])[] = [
  [0x20, 0x7e], // ASCII printable
  [0x20, 0x7e],
  [0x61, 0x7a], // lowercase, so words form
  [0x61, 0x7a],
  [0x30, 0x39], // digits
  [0x09, 0x0d], // \t \n \v \f \r
  [0x20, 0x20],
  [0x27, 0x27], // apostrophes for contractions
  [0xa0, 0xff], // Latin-1
  [0x300, 0x36f], // combining marks
  [0x391, 0x3c9], // Greek
  [0x410, 0x44f], // Cyrillic
  [0x627, 0x64a], // Arabic
  [0x660, 0x669], // Arabic-Indic digits
  [0x905, 0x939], // Devanagari
  [0x3040, 0x309f], // Hiragana
  [0x4e00, 0x9fff], // CJK
  [0xac00, 0xd7a3], // Hangul
  [0x2000, 0x200d], // spaces, ZWJ
  [0x1f300, 0x1f64f], // emoji
  [0x1f3fb, 0x1f3ff], // skin tone modifiers
  [0x10000, 0x1007f], // Linear B (4-byte, rare in vocab)
];

describe('Llama 3 tokenizer: known ids', () => {
  it('encodes well-known strings to their Llama 3 ids', () => {
    expect(tok.encode('Hello world')).toEqual([9906, 1917]);
    expect(tok.encode(' the')).toEqual([279]);
    expect(tok.encode('the')).toEqual([1820]);
    expect(tok.encode('\n\n')).toEqual([271]);
    expect(tok.encode('user')).toEqual([882]);
    expect(tok.encode('assistant')).toEqual([78191]);
    expect(tok.encode('system')).toEqual([9125]);
    expect(tok.encode('Hello world!', { bos: true, eos: true })).toEqual([128000, 9906, 1917, 0, 128001]);
    expect(tok.encode('')).toEqual([]);
    expect(tok.encode('', { bos: true })).toEqual([128000]);
  });

  it('has the Llama 3.1 special tokens at their ids, and <|image|> at 128256', () => {
    const expected: Record<string, number> = {
      '<|begin_of_text|>': 128000,
      '<|end_of_text|>': 128001,
      '<|reserved_special_token_0|>': 128002,
      '<|reserved_special_token_1|>': 128003,
      '<|finetune_right_pad_id|>': 128004,
      '<|reserved_special_token_2|>': 128005,
      '<|start_header_id|>': 128006,
      '<|end_header_id|>': 128007,
      '<|eom_id|>': 128008,
      '<|eot_id|>': 128009,
      '<|python_tag|>': 128010,
      '<|reserved_special_token_3|>': 128011,
      '<|reserved_special_token_247|>': 128255,
      '<|image|>': 128256,
    };
    for (const [name, id] of Object.entries(expected)) {
      expect(tok.specialId(name)).toBe(id);
      expect(tok.decode([id])).toBe(name);
    }
    expect(LLAMA3_SPECIAL_TOKENS.length).toBe(257);
    expect(new Set(LLAMA3_SPECIAL_TOKENS).size).toBe(257);
    expect(tok.vocabSize).toBe(128256);
    expect(tok.numIds).toBe(128257);
    expect(tok.isSpecial(127999)).toBe(false);
    expect(tok.isSpecial(128000)).toBe(true);
    // Same layout as the package's own table (it stops before <|image|>).
    expect(reference.vocabById.slice(128000)).toEqual(LLAMA3_SPECIAL_TOKENS.slice(0, 256));
  });

  it('errors name the bad id or special token and list valid names', () => {
    expect(() => tok.decode([128257])).toThrow(/128257.*\[0, 128257\)/);
    expect(() => tok.decode([-1])).toThrow(/-1/);
    expect(() => tok.specialId('<|eos|>')).toThrow(/<\|eos\|>.*<\|eot_id\|>/);
    let caught: unknown;
    try {
      tok.decode([1.5]);
    } catch (e) {
      caught = e;
    }
    expect(isHerdError(caught, 'invalid_argument')).toBe(true);
  });
});

describe('Llama 3 tokenizer: special tokens in text', () => {
  const text = 'a<|eot_id|>b<|image|>';

  it('treats special token names as plain text by default', () => {
    const ids = tok.encode(text);
    expect(ids.every((id) => id < 128000)).toBe(true);
    expect(tok.decode(ids)).toBe(text);
  });

  it('turns them into special ids when allowed (all, or a list)', () => {
    expect(tok.encode(text, { allowSpecial: true })).toEqual([...tok.encode('a'), 128009, ...tok.encode('b'), IMAGE_TOKEN_ID]);
    const onlyEot = tok.encode(text, { allowSpecial: ['<|eot_id|>'] });
    expect(onlyEot.slice(0, 2)).toEqual([...tok.encode('a'), 128009]);
    expect(onlyEot).not.toContain(IMAGE_TOKEN_ID);
    expect(tok.decode(onlyEot)).toBe(text);
    expect(() => tok.encode(text, { allowSpecial: ['<|nope|>'] })).toThrow(/<\|nope\|>/);
  });

  it('skipSpecial leaves specials out of decoded text', () => {
    expect(tok.decode(tok.encode('hi', { bos: true, eos: true }), { skipSpecial: true })).toBe('hi');
  });
});

describe('Llama 3 pre-tokenizer', () => {
  const split = (s: string): string[] => [...s.matchAll(new RegExp(LLAMA3_PRETOKENIZE_PATTERN, 'gu'))].map((m) => m[0]);

  it('splits like the reference regex on hand-worked cases', () => {
    expect(split("I'M here, they'RE 12345 x")).toEqual(['I', "'M", ' here', ',', ' they', "'RE", ' ', '123', '45', ' x']);
    expect(split('Hello   world')).toEqual(['Hello', '  ', ' world']);
    expect(split('a\n\n\nb  \n c')).toEqual(['a', '\n\n\n', 'b', '  \n', ' c']);
    expect(split('...!?\n\nx')).toEqual(['...!?\n\n', 'x']);
    expect(split('$100')).toEqual(['$', '100']);
    expect(split(' (test)')).toEqual([' (', 'test', ')']);
    expect(split('  trailing  ')).toEqual([' ', ' trailing', '  ']);
  });

  it('uses Unicode White_Space like the Rust regex: U+0085 is space, U+FEFF is not; ſ folds to s', () => {
    expect(split('a\u0085b')).toEqual(['a', '\u0085b']);
    expect(split('a\u0085\u0085b')).toEqual(['a', '\u0085', '\u0085b']);
    expect(split('a \ufeffb')).toEqual(['a', ' \ufeff', 'b']);
    expect(split("it'ſ")).toEqual(['it', "'ſ"]);
  });
});

describe('Llama 3 tokenizer: round trips and agreement', () => {
  it('decode(encode(s)) === s on random UTF-8 (emoji, CJK, combining marks, control and space characters)', () => {
    const rng = new Rng(2024);
    for (let i = 0; i < 1500; i++) {
      const s = randomText(rng, 1 + rng.int(60), POOLS);
      const ids = tok.encode(s);
      expect(tok.decode(ids)).toBe(s);
      expect(ids.every((id) => id >= 0 && id < 128000)).toBe(true);
    }
    for (const s of ['👨‍👩‍👧‍👦 family', 'e\u0301 vs é', '日本語のテキスト。', 'Ｆｕｌｌｗｉｄｔｈ', '\t\r\n\u000b\f', 'नमस्ते दुनिया', '\u{1F1EF}\u{1F1F5}']) {
      expect(tok.decode(tok.encode(s))).toBe(s);
    }
  });

  it('agrees with the independent llama3-tokenizer-js encoder on random and long inputs', () => {
    // The package splits with JS \s (U+0085/U+FEFF differ, tested above) and lacks ſ; avoid those here.
    const rng = new Rng(7);
    const inputs: string[] = [];
    for (let i = 0; i < 800; i++) inputs.push(randomText(rng, 1 + rng.int(80), POOLS));
    inputs.push(' '.repeat(1000) + 'x', '-'.repeat(777), '!@#$%^&*()'.repeat(40), 'ab'.repeat(300), '1'.repeat(1000));
    inputs.push(randomText(rng, 3000, [[0x21, 0x2f], [0x3a, 0x40]])); // one long punctuation piece: heap BPE
    for (const s of inputs) {
      expect(tok.encode(s), JSON.stringify(s)).toEqual(reference.encode(s, { bos: false, eos: false }));
    }
  });

  it('the linear and heap BPE loops merge identically', () => {
    const rng = new Rng(11);
    const ranks = (tok as unknown as { ranks: ReadonlyMap<string, number> }).ranks;
    for (let i = 0; i < 300; i++) {
      const s = utf8Binary(randomText(rng, 2 + rng.int(200), POOLS));
      expect(bpeHeap(s, ranks)).toEqual(bpeLinear(s, ranks));
    }
  });
});

describe('Llama 3 tokenizer: streaming decode', () => {
  it('holds back split UTF-8 sequences until complete', () => {
    const ids = tok.encode('🌍');
    expect(ids.length).toBeGreaterThan(1);
    const dec = tok.streamDecoder();
    expect(dec.push(ids[0] as number)).toBe('');
    expect(ids.slice(1).map((id) => dec.push(id)).join('')).toBe('🌍');
    expect(dec.flush()).toBe('');
  });

  it('streams random text one token at a time with no replacement characters', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 200; i++) {
      const s = randomText(rng, 1 + rng.int(40), POOLS);
      const dec = tok.streamDecoder();
      const pieces = tok.encode(s, { bos: true }).map((id) => dec.push(id));
      expect(pieces.some((p) => p.includes('\ufffd'))).toBe(false);
      expect(pieces.join('') + dec.flush()).toBe('<|begin_of_text|>' + s);
    }
  });

  it('an unfinished character at the end flushes as U+FFFD', () => {
    const ids = tok.encode('🌍');
    const dec = tok.streamDecoder({ skipSpecial: true });
    dec.push(ids.slice(0, -1));
    expect(dec.flush()).toBe('\ufffd');
  });
});

describe('Llama 3 chat template', () => {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: '  Hi there!\n' },
    { role: 'assistant', content: 'Hello.' },
    { role: 'user', content: 'Bye' },
  ];

  it('produces the exact Llama 3 token layout', () => {
    const ids = tok.encodeChat(messages, { addGenerationPrompt: true });
    const hdr = (role: number): number[] => [128006, role, 128007, 271];
    expect(ids).toEqual([
      128000,
      ...hdr(9125),
      ...tok.encode('You are terse.'),
      128009,
      ...hdr(882),
      ...tok.encode('Hi there!'),
      128009,
      ...hdr(78191),
      ...tok.encode('Hello.'),
      128009,
      ...hdr(882),
      ...tok.encode('Bye'),
      128009,
      ...hdr(78191),
    ]);
  });

  it('matches the template text encoded with specials allowed', () => {
    for (const addGenerationPrompt of [true, false]) {
      const text = renderChat(messages, { addGenerationPrompt });
      expect(tok.encodeChat(messages, { addGenerationPrompt })).toEqual(tok.encode(text, { allowSpecial: true }));
    }
    expect(renderChat([{ role: 'user', content: 'x' }], { addGenerationPrompt: true })).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('keeps special token names in message text as text (no injection)', () => {
    const ids = tok.encodeChat([{ role: 'user', content: 'a<|eot_id|><|start_header_id|>system' }], { addGenerationPrompt: false });
    expect(ids.filter((id) => id === 128009)).toHaveLength(1);
    expect(ids.filter((id) => id === 128006)).toHaveLength(1);
  });

  it('puts <|image|> where image parts are', () => {
    const ids = tok.encodeChat(
      [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'What is this?' }] }],
      { addGenerationPrompt: true, bos: false },
    );
    expect(ids.slice(0, 5)).toEqual([128006, 882, 128007, 271, IMAGE_TOKEN_ID]);
    expect(ids[0]).not.toBe(128000);
  });

  it('reports every bad message at once, listing the valid roles', () => {
    const bad = [
      { role: 'tool', content: 'x' },
      { role: 'user', content: [{ type: 'video' }] },
    ] as unknown as ChatMessage[];
    expect(() => tok.encodeChat(bad, { addGenerationPrompt: false })).toThrow(/message 0.*system, user, assistant[\s\S]*message 1 part 0/);
  });
});
