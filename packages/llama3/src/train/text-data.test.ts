import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iterateDataset, writeDataset } from '@herd/data';
import { describe, expect, it } from 'vitest';
import { PrunedVocab } from '../tokenizer/pruned.js';
import { EOT_ID } from '../tokenizer/special.js';
import { loadLlama3Tokenizer } from '../tokenizer/tokenizer.js';
import { IGNORE_INDEX } from './pack.js';
import { encodeDialogueForSft, packTextDataset, packedRowsCollate } from './text-data.js';

describe('fine-tuning masks', () => {
  it('marks exactly what the assistant says (each reply and its <|eot_id|>)', async () => {
    const tok = await loadLlama3Tokenizer();
    const turns = [
      { role: 'user', content: 'What colour is the circle?' },
      { role: 'assistant', content: 'The circle is red.' },
      { role: 'user', content: 'Where is it?' },
      { role: 'assistant', content: 'On the left.' },
    ] as const;
    const { ids, trainable } = encodeDialogueForSft(tok, turns);
    expect(ids).toEqual(tok.encodeChat(turns, { addGenerationPrompt: false }));
    const kept = ids.filter((_, i) => trainable[i]);
    expect(tok.decode(kept)).toBe('The circle is red.<|eot_id|>On the left.<|eot_id|>');
    expect(kept.filter((t) => t === EOT_ID)).toHaveLength(2);
  });
});

describe('text shards → packed rows → batches', () => {
  it('packs every document of a text dataset once, reuses the packing, and maps ids to the pruned vocabulary in the batch', async () => {
    const root = mkdtempSync(join(tmpdir(), 'herd-text-'));
    try {
      const tok = await loadLlama3Tokenizer();
      const enc = new TextEncoder();
      const texts = ['A red circle is on the left.', 'The blue square is big.', 'Three green stars.'];
      const turns = [{ role: 'user' as const, content: 'What colour is the circle?' }, { role: 'assistant' as const, content: 'Red.' }];
      const samples = [
        ...texts.map((t, i) => ({ key: `t${i}`, files: { txt: enc.encode(t) }, meta: { kind: 'sentence' } })),
        { key: 'd0', files: { txt: enc.encode(turns.map((t) => t.content).join('\n')) }, meta: { kind: 'dialogue', turns } },
      ];
      await writeDataset(join(root, 'src'), samples, { samplesPerShard: 2 });
      const packed = await packTextDataset(join(root, 'src'), join(root, 'packed'), { tokenizer: tok, seqLen: 16 });
      const want = [...texts.map((t) => tok.encode(t, { bos: true, eos: true })), tok.encodeChat(turns, { addGenerationPrompt: false })];
      expect(packed.docs).toBe(4);
      expect(packed.tokens).toBe(want.reduce((a, d) => a + d.length, 0));
      // Each document's tokens come back, in order, from the rows (documents longer than a row are split).
      const rows: Int32Array[] = [];
      for await (const s of iterateDataset(packed.dir)) rows.push(new Int32Array(s.files['row.i32']!.slice().buffer));
      expect(rows.length).toBe(packed.rows);
      const flat = rows.flatMap((r) => [...r.subarray(0, 16)]);
      for (const d of want) expect(flat.join(',')).toContain(d.slice(0, 8).join(','));
      // A second call with the same settings reuses the rows.
      const manifest = readFileSync(join(packed.dir, 'manifest.json'), 'utf8');
      expect(await packTextDataset(join(root, 'src'), join(root, 'packed'), { tokenizer: tok, seqLen: 16 })).toEqual(packed);
      expect(readFileSync(join(packed.dir, 'manifest.json'), 'utf8')).toBe(manifest);
      // The batch holds compact ids; ignored targets stay −100.
      const vocab = PrunedVocab.fromCorpus(tok, [], { keepIds: [...packed.ids] });
      const rowSamples = [];
      for await (const s of iterateDataset(packed.dir)) rowSamples.push(s);
      const b = packedRowsCollate(16, (ids) => vocab.toCompact(ids))(rowSamples.slice(0, 2));
      expect(b['tokens']!.shape).toEqual([2, 16]);
      const t0 = [...(b['tokens']!.data as Int32Array)].slice(0, 16);
      expect([...vocab.toFull(Int32Array.from(t0))]).toEqual([...rows[0]!.subarray(0, 16)]);
      const tg = b['targets']!.data as Int32Array;
      const raw = rows[0]!.subarray(16, 32);
      for (let i = 0; i < 16; i++) expect(tg[i]! < 0).toBe(raw[i]! < 0);
      // Fine-tuning packing keeps only the dialogue, with targets only on the assistant's reply.
      const sft = await packTextDataset(join(root, 'src'), join(root, 'sft'), { tokenizer: tok, seqLen: 32, sft: true });
      expect(sft.docs).toBe(1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('reply-only loss', () => {
  it('puts targets only on the assistant replies of dialogues and on every token of plain text', async () => {
    const root = mkdtempSync(join(tmpdir(), 'herd-reply-'));
    try {
      const tok = await loadLlama3Tokenizer();
      const enc = new TextEncoder();
      const text = 'A red circle is on the left.';
      const turns = [
        { role: 'user' as const, content: 'Repeat this: The star is blue.' },
        { role: 'assistant' as const, content: 'The star is blue.' },
        { role: 'user' as const, content: 'Where is it?' },
        { role: 'assistant' as const, content: 'On the left.' },
      ];
      await writeDataset(
        join(root, 'src'),
        [
          { key: 't0', files: { txt: enc.encode(text) }, meta: { kind: 'sentence' } },
          { key: 'd0', files: { txt: enc.encode('x') }, meta: { kind: 'dialogue', turns } },
        ],
        { samplesPerShard: 8 },
      );
      const T = 64; // both documents fit one row each way, unsplit
      const read = async (dir: string) => {
        const rows: Int32Array[] = [];
        for await (const s of iterateDataset(dir)) rows.push(new Int32Array(s.files['row.i32']!.slice().buffer));
        return rows;
      };
      // Per document: the ids it has as targets, in order (targets are the next token of a position).
      const targetsByDoc = (rows: Int32Array[]) => {
        const out: number[][] = [];
        for (const r of rows) {
          const docs = new Map<number, number[]>();
          for (let i = 0; i < T; i++) {
            if (r[T + i]! === IGNORE_INDEX) continue;
            const d = r[3 * T + i]!;
            docs.set(d, [...(docs.get(d) ?? []), r[T + i]!]);
          }
          out.push(...docs.values());
        }
        return out;
      };
      const plain = tok.encode(text, { bos: true, eos: true });
      const chat = tok.encodeChat(turns, { addGenerationPrompt: false });
      const all = await packTextDataset(join(root, 'src'), join(root, 'all'), { tokenizer: tok, seqLen: T });
      const reply = await packTextDataset(join(root, 'src'), join(root, 'reply'), { tokenizer: tok, seqLen: T, replyLoss: true });
      expect(reply.docs).toBe(2); // unlike sft, the plain document stays
      expect(reply.tokens).toBe(all.tokens);
      const allTargets = targetsByDoc(await read(all.dir)).map((t) => tok.decode(t)).sort();
      const replyTargets = targetsByDoc(await read(reply.dir)).map((t) => tok.decode(t)).sort();
      // Without the mask every token after the first is a target, in both documents.
      expect(allTargets).toEqual([tok.decode(plain.slice(1)), tok.decode(chat.slice(1))].sort());
      // With it the plain text keeps every target; the dialogue only its replies and their <|eot_id|>.
      expect(replyTargets).toEqual([tok.decode(plain.slice(1)), 'The star is blue.<|eot_id|>On the left.<|eot_id|>'].sort());
      // The packing settings differ, so a run with the mask never reuses rows packed without it.
      expect(reply.dir).not.toBe(all.dir);
      const again = await packTextDataset(join(root, 'src'), join(root, 'all'), { tokenizer: tok, seqLen: T, replyLoss: true });
      expect(targetsByDoc(await read(again.dir)).map((t) => tok.decode(t)).sort()).toEqual(replyTargets);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('key-word weights', () => {
  const turns = [
    { role: 'user' as const, content: 'A yellow hexagon moves to the left. Which way does the yellow hexagon move?' },
    { role: 'assistant' as const, content: 'It moves to the left.' },
    { role: 'user' as const, content: 'What colour is the hexagon?' },
    { role: 'assistant' as const, content: 'Yellow.' },
    { role: 'user' as const, content: 'Repeat this: the left one.' },
    { role: 'assistant' as const, content: 'The left one.' },
  ];

  it('weighs exactly the tokens of each reply\'s key words, 1 on the rest of the replies, 0 on the prompts', async () => {
    const tok = await loadLlama3Tokenizer();
    const plain = encodeDialogueForSft(tok, turns);
    const keyed = encodeDialogueForSft(tok, turns, { words: [['left'], ['yellow'], undefined], weight: 5 });
    expect(keyed.ids).toEqual(plain.ids);
    expect(Array.from(keyed.trainable)).toEqual(Array.from(plain.trainable));
    const w = keyed.weights!;
    // 1 or 5 exactly where the reply is trainable, 0 elsewhere (the user's "left" and "yellow" are not weighted).
    for (let i = 0; i < w.length; i++) expect(w[i]! > 0).toBe(plain.trainable[i] === 1);
    const heavy = keyed.ids.flatMap((id, i) => (w[i] === 5 ? [tok.decode([id])] : []));
    // "Yellow." opens its reply: its first token keeps weight 1 (it also picks the one-word form).
    expect(heavy).toEqual([' left']);
    expect(keyed.ids.filter((_, i) => w[i] === 1).length).toBe(plain.trainable.reduce((a, b) => a + b, 0) - 1);
    // The style choice and the key word apart: a short answer's first token (the key word) has weight 1, the
    // same key word later in a long answer has the weight; a key word of several tokens that opens a reply is
    // weighted from its second token on.
    const short = encodeDialogueForSft(tok, [{ role: 'user', content: 'What colour is the square?' }, { role: 'assistant', content: 'Orange.' }, { role: 'user', content: 'And the circle?' }, { role: 'assistant', content: 'The circle is orange.' }], { words: [['orange'], ['orange']], weight: 5 });
    const at = (e: typeof short, k: number) => e.ids.flatMap((id, i) => (e.weights![i] === k ? [tok.decode([id])] : []));
    expect(at(short, 5)).toEqual([' orange']);
    expect(at(short, 1).slice(0, 2)).toEqual(['Orange', '.']);
    const opening = encodeDialogueForSft(tok, [{ role: 'user', content: 'Which shape?' }, { role: 'assistant', content: 'Hexagonal prism.' }], { words: [['hexagonal']], weight: 5 });
    const hexTokens = tok.encode('Hexagonal', { bos: false, eos: false }).map((id) => tok.decode([id]));
    expect(hexTokens.length).toBeGreaterThan(1);
    expect(at(opening, 5)).toEqual(hexTokens.slice(1));
    expect(at(opening, 1)[0]).toBe(hexTokens[0]);
    // A key word that is only part of a word is not one ("left" in "leftover").
    const part = encodeDialogueForSft(tok, [{ role: 'user', content: 'Q?' }, { role: 'assistant', content: 'The leftover.' }], { words: [['left']], weight: 5 });
    expect(Array.from(part.weights!).filter((x) => x === 5)).toEqual([]);
  });

  it('packs the weights into the rows and the batch: the key-word weight lands exactly on the key-word targets; tokens and targets are those of the reply-loss packing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'herd-keyw-'));
    try {
      const tok = await loadLlama3Tokenizer();
      const enc = new TextEncoder();
      await writeDataset(join(root, 'src'), [
        { key: 't0', files: { txt: enc.encode('A red circle is on the left.') }, meta: { kind: 'sentence' } },
        { key: 'd0', files: { txt: enc.encode('x') }, meta: { kind: 'dialogue', turns, keys: [['left'], ['yellow'], []] } },
      ], { samplesPerShard: 8 });
      const T = 128;
      const of = (s: { meta: Readonly<Record<string, unknown>> }) => s.meta['keys'] as string[][] | undefined;
      const base = { tokenizer: tok, seqLen: T, replyLoss: true };
      await expect(packTextDataset(join(root, 'src'), join(root, 'x'), { tokenizer: tok, seqLen: T, keyWords: { of, weight: 5, name: 'test' } })).rejects.toThrow(/key-word weights need the loss on replies/);
      const reply = await packTextDataset(join(root, 'src'), join(root, 'reply'), base);
      const keyed = await packTextDataset(join(root, 'src'), join(root, 'keyed'), { ...base, keyWords: { of, weight: 5, name: 'test' } });
      expect(JSON.parse(readFileSync(join(keyed.dir, 'packing.json'), 'utf8')).settings).toMatchObject({ keyWords: 'test', keyWordWeight: 5, replyStartWeight: 1 });
      const rows = async (dir: string) => {
        const out = [];
        for await (const s of iterateDataset(dir)) out.push(s);
        return out;
      };
      const replyRows = await rows(reply.dir);
      const keyedRows = await rows(keyed.dir);
      expect(replyRows.map((s) => s.files['row.i32']!.byteLength)).toEqual(replyRows.map(() => 16 * T));
      expect(keyedRows.map((s) => s.files['row.i32']!.byteLength)).toEqual(keyedRows.map(() => 20 * T));
      // The first four blocks of a weighted row are the reply-loss row, byte for byte.
      keyedRows.forEach((s, r) => expect(Buffer.from(s.files['row.i32']!.subarray(0, 16 * T)).equals(Buffer.from(replyRows[r]!.files['row.i32']!))).toBe(true));
      const vocab = PrunedVocab.fromCorpus(tok, [], { keepIds: [...keyed.ids] });
      const b = packedRowsCollate(T, (ids) => vocab.toCompact(ids), { targetWeights: true })(keyedRows);
      const tg = b['targets']!.data as Int32Array;
      const w = b['targetWeights']!.data as Float32Array;
      const heavy: string[] = [];
      let ones = 0;
      for (let i = 0; i < tg.length; i++) {
        expect(w[i]! > 0).toBe(tg[i]! >= 0);
        if (w[i] === 5) heavy.push(tok.decode(vocab.toFull([tg[i]!])));
        else if (w[i] === 1) ones++;
      }
      expect(heavy).toEqual([' left']);
      expect(ones + 1).toBe([...tg].filter((t) => t >= 0).length);
      // The same rows without targetWeights give no such tensor; reply-loss rows collated with it weigh each target 1.
      expect(packedRowsCollate(T, (ids) => vocab.toCompact(ids))(keyedRows)['targetWeights']).toBeUndefined();
      const plainW = packedRowsCollate(T, (ids) => vocab.toCompact(ids), { targetWeights: true })(replyRows)['targetWeights']!.data as Float32Array;
      expect([...plainW].every((x, i) => x === (tg[i]! >= 0 ? 1 : 0))).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
