import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHerdError } from '@herd/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_UNKNOWN_ID, IMAGE_TOKEN_ID, PrunedVocab, loadLlama3Tokenizer, type Llama3Tokenizer } from './index.js';

const corpus = [
  'The cat sat on the mat.',
  'A dog chased the cat around the garden.',
  'Les chats dorment au soleil. 猫が好きです 🐱',
  'Numbers: 1234, 56 and 7.',
];

let tok: Llama3Tokenizer;
let vocab: PrunedVocab;
const dir = mkdtempSync(join(tmpdir(), 'herd-pruned-'));
beforeAll(async () => {
  tok = await loadLlama3Tokenizer();
  vocab = PrunedVocab.fromCorpus(tok, corpus);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PrunedVocab', () => {
  it('keeps exactly the corpus ids, the chat scaffolding and unknown, in ascending full-id order', () => {
    const corpusIds = new Set(corpus.flatMap((t) => tok.encode(t)));
    const chat = [128000, 128001, 128006, 128007, 128008, 128009, 9125, 882, 78191, 271];
    const expected = [...new Set([...corpusIds, ...chat, DEFAULT_UNKNOWN_ID])].sort((a, b) => a - b);
    expect(vocab.ids).toEqual(expected);
    expect(vocab.size).toBe(expected.length);
    expect(vocab.ids[vocab.unknown]).toBe(DEFAULT_UNKNOWN_ID);
    expect(vocab.has(9906)).toBe(false); // "Hello" is not in the corpus
  });

  it('pruned and full tokenization agree on the corpus', () => {
    for (const text of corpus) {
      const full = tok.encode(text, { bos: true, eos: true });
      const compact = vocab.toCompact(full);
      expect(Math.max(...compact)).toBeLessThan(vocab.size);
      expect(compact).not.toContain(vocab.unknown);
      expect(Array.from(vocab.toFull(compact))).toEqual(full);
      expect(tok.decode(vocab.toFull(compact), { skipSpecial: true })).toBe(text);
    }
    const chat = tok.encodeChat([{ role: 'user', content: corpus[0] as string }], { addGenerationPrompt: true });
    expect(Array.from(vocab.toFull(vocab.toCompact(chat)))).toEqual(chat);
  });

  it('maps unseen tokens to unknown', () => {
    const full = tok.encode('The zebra');
    const compact = vocab.toCompact(full);
    expect(compact[0]).not.toBe(vocab.unknown); // "The" was seen
    expect(compact[compact.length - 1]).toBe(vocab.unknown);
    expect(vocab.toFull(compact)[compact.length - 1]).toBe(DEFAULT_UNKNOWN_ID);
  });

  it('minCount drops rare ids; keepIds and unknownId are honoured', () => {
    const strict = PrunedVocab.fromCorpus(tok, corpus, { minCount: 3 });
    expect(strict.has(tok.encode(' the')[0] as number)).toBe(true); // appears 3 times
    expect(strict.has(tok.encode(' garden')[0] as number)).toBe(false);
    const vision = PrunedVocab.fromCorpus(tok, corpus, { keepIds: [IMAGE_TOKEN_ID], unknownId: 128255 });
    expect(vision.has(IMAGE_TOKEN_ID)).toBe(true);
    expect(vision.ids[vision.unknown]).toBe(128255);
    expect(() => PrunedVocab.fromCorpus(tok, corpus, { minCount: 0, keepIds: [999999] })).toThrow(/minCount[\s\S]*999999/);
  });

  it('round trips through JSON and a file', async () => {
    const again = PrunedVocab.fromJSON(JSON.parse(JSON.stringify(vocab)));
    expect(again.ids).toEqual(vocab.ids);
    expect(again.unknown).toBe(vocab.unknown);
    const path = join(dir, 'vocab.json');
    await vocab.save(path);
    const loaded = PrunedVocab.load(path);
    const ids = tok.encode(corpus.join(' '));
    expect(loaded.toCompact(ids)).toEqual(vocab.toCompact(ids));
    expect(JSON.parse(readFileSync(path, 'utf8')).format).toBe('herd.pruned-vocab');
  });

  it('rejects malformed JSON listing every problem, and out-of-range ids', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify({ format: 'x', version: 2, tokenizer: 'llama3', fullIdLimit: 10, unknownId: 3, ids: [1, 1, 20] }));
    let caught: unknown;
    try {
      PrunedVocab.load(path);
    } catch (e) {
      caught = e;
    }
    expect(isHerdError(caught, 'corrupt_data')).toBe(true);
    expect((caught as Error).message).toMatch(/bad\.json[\s\S]*format[\s\S]*version[\s\S]*ascending[\s\S]*ids\[2\][\s\S]*unknownId/);
    expect(() => vocab.toCompact([200000])).toThrow(/200000/);
    expect(() => vocab.toFull([vocab.size])).toThrow(new RegExp(`${vocab.size}`));
  });
});
