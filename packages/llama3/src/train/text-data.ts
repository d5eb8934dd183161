/**
 * The language core's data path on the shard format: a text dataset (one sample per document: `txt`
 * = its words, `meta.turns` = a dialogue's chat turns) is tokenized with the real Llama 3 tokenizer
 * and packed into fixed-length rows (§3.4), written as a packed shard dataset (one row per sample);
 * training then streams those rows through @herd/data's batch reader (seeded shuffle, resumable
 * position in the checkpoints). Everything streams: documents are packed in chunks, so memory does
 * not grow with the corpus. Rows hold full Llama 3 ids; the batch maps them to the pruned
 * vocabulary, which is known only after the pass (it is the set of ids the training text uses).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HerdError, writeFileAtomic } from '@herd/core';
import { type Sample, ShardWriter, iterateDataset, readDataset } from '@herd/data';
import { type HostTensor, hostTensor } from '@herd/runtime';
import { type Llama3Tokenizer } from '../tokenizer/tokenizer.js';
import { EOT_ID } from '../tokenizer/special.js';
import { type PackedSequences, packDocuments } from './pack.js';

/** A corpus document: plain text, or a dialogue rendered with the Llama 3 chat template. */
export interface CorpusDoc {
  readonly text?: string;
  readonly turns?: readonly { readonly role: 'system' | 'user' | 'assistant'; readonly content: string }[];
}

/** A text-dataset sample as a corpus document: its chat turns when it has them, else its `txt`. */
export function corpusDocOf(sample: Sample): CorpusDoc {
  const turns = sample.meta['turns'];
  if (Array.isArray(turns)) return { turns: turns as CorpusDoc['turns'] & object };
  const txt = sample.files['txt'];
  if (!txt) throw new HerdError('invalid_argument', `text sample "${sample.key}": neither meta.turns nor a txt file`);
  return { text: new TextDecoder().decode(txt) };
}

/**
 * The key words of each assistant reply of a dialogue, in order (`undefined` for a reply without
 * any), e.g. the colour in "The square is red."; the loss on their tokens gets `weight`.
 */
export interface ReplyKeyWords {
  readonly words: readonly (readonly string[] | undefined)[];
  readonly weight: number;
}

/**
 * A dialogue's ids with a 1 on what the assistant says (each reply and its `<|eot_id|>`). With
 * `keys`, also `weights`: 1 on those tokens, `keys.weight` on the tokens of each reply's key words
 * (a token that holds any letter of a whole-word, case-insensitive occurrence), 0 elsewhere.
 * A reply's first token keeps weight 1 even when it opens a key word ("Orange." vs "The square is
 * orange."): that token also chooses the answer's form, and weighting it would push every answer
 * toward the one-word form (round 9: 676 of 1,800 answers became one word at weight 5).
 */
export function encodeDialogueForSft(tok: Llama3Tokenizer, turns: NonNullable<CorpusDoc['turns']>, keys?: ReplyKeyWords): { ids: number[]; trainable: Uint8Array; weights?: Float32Array } {
  const ids = tok.encodeChat(turns, { addGenerationPrompt: false });
  const trainable = new Uint8Array(ids.length);
  const weights = keys ? new Float32Array(ids.length) : undefined;
  let reply = 0;
  for (let k = 0; k < turns.length; k++) {
    if (turns[k]!.role !== 'assistant') continue;
    const start = tok.encodeChat(turns.slice(0, k), { addGenerationPrompt: true }).length; // after the assistant header
    const end = tok.encodeChat(turns.slice(0, k + 1), { addGenerationPrompt: false }).length;
    trainable.fill(1, start, end);
    if (!weights || !keys) continue;
    weights.fill(1, start, end);
    const words = keys.words[reply++];
    if (words?.length) for (const i of keyTokens(tok, ids.slice(start, end - 1), turns[k]!.content, words)) if (i > 0) weights[start + i] = keys.weight;
  }
  return { ids, trainable, ...(weights ? { weights } : {}) };
}

/** Indices of the tokens of `reply` (its ids, spelling `content`) that hold a letter of one of `words`. */
function keyTokens(tok: Llama3Tokenizer, reply: readonly number[], content: string, words: readonly string[]): number[] {
  const pieces = reply.map((id) => tok.decode([id]));
  if (pieces.join('') !== content) throw new HerdError('invalid_argument', `reply ${JSON.stringify(content)}: its tokens do not spell it token by token, so its key words cannot be placed`);
  const keyChars = new Uint8Array(content.length);
  for (const w of words) {
    if (!w) continue;
    const escaped = w.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
    for (const m of content.matchAll(new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'giu'))) keyChars.fill(1, m.index, m.index + m[0].length);
  }
  const out: number[] = [];
  let at = 0;
  pieces.forEach((piece, i) => {
    if (keyChars.subarray(at, at + piece.length).some((c, j) => c === 1 && /[\p{L}\p{N}]/u.test(piece[j]!))) out.push(i);
    at += piece.length;
  });
  return out;
}

/** Full Llama 3 ids of a document: `<|begin_of_text|>` text `<|end_of_text|>`, or a chat transcript. */
export function encodeDoc(tok: Llama3Tokenizer, doc: CorpusDoc): number[] {
  if (doc.turns) return tok.encodeChat(doc.turns, { addGenerationPrompt: false });
  if (doc.text === undefined) throw new HerdError('invalid_argument', 'corpus document has neither text nor turns');
  return tok.encode(doc.text, { bos: true, eos: true });
}

/**
 * The file of a packed row: tokens, targets, positions, docIds, each seqLen i32 (little-endian);
 * packed with key words, a fifth block holds each target's loss weight (f32).
 */
const ROW_FILE = 'row.i32';
const PACKING_FILE = 'packing.json';

export interface PackedTextDataset {
  readonly dir: string;
  readonly rows: number;
  readonly docs: number;
  readonly tokens: number;
  /** Every full Llama 3 id the packed text uses (for the pruned vocabulary). */
  readonly ids: readonly number[];
}

export interface PackTextOptions {
  readonly tokenizer: Llama3Tokenizer;
  readonly seqLen: number;
  /** Dialogues only, with targets only on what the assistant says (fine-tuning). */
  readonly sft?: boolean;
  /**
   * Every document, but a dialogue's targets only on what the assistant says (its prompt is context,
   * not something to predict); plain-text documents keep a target on every token. The SFT-style
   * continuation of a pre-trained core: each step's gradient goes to the answers and copies.
   */
  readonly replyLoss?: boolean;
  /**
   * A dialogue's key words per reply (`ReplyKeyWords.words`, read from its sample, e.g. its question
   * types and ground truth; `undefined`: none), whose tokens' loss gets `weight` (with `sft` or
   * `replyLoss`). The rows then carry each target's weight; `name` identifies `of` in the packing's settings.
   */
  readonly keyWords?: { readonly of: (sample: Sample) => readonly (readonly string[] | undefined)[] | undefined; readonly weight: number; readonly name: string };
  /** Documents packed together (default 4096). */
  readonly chunkDocs?: number;
  readonly rowsPerShard?: number;
}

/**
 * Tokenizes and packs a text dataset into a packed-row dataset at `out`. When `out` already holds
 * the packing of the same source with the same settings (a resumed run), it is reused.
 */
export async function packTextDataset(src: string, out: string, o: PackTextOptions): Promise<PackedTextDataset> {
  const source = await readDataset(src);
  const key = o.keyWords;
  if (key && !(o.sft || o.replyLoss)) throw new HerdError('invalid_argument', `packing ${src}: key-word weights need the loss on replies (sft or replyLoss)`);
  if (key && !(Number.isFinite(key.weight) && key.weight > 0)) throw new HerdError('invalid_argument', `packing ${src}: the key-word weight must be a finite number > 0, got ${key.weight}`);
  // replyStartWeight: a reply's first token is never key-weighted (packings made before that rule are not reused).
  const settings = { source: src, sourceCreatedAt: source.createdAt, sourceCount: source.totalCount, seqLen: o.seqLen, sft: o.sft ?? false, ...(o.replyLoss ? { replyLoss: true } : {}), ...(key ? { keyWords: key.name, keyWordWeight: key.weight, replyStartWeight: 1 } : {}) };
  const prior = await readDataset(out).then(() => readFile(join(out, PACKING_FILE), 'utf8')).then((t) => JSON.parse(t) as { settings: unknown; stats: Omit<PackedTextDataset, 'dir'> }).catch(() => undefined);
  if (prior && JSON.stringify(prior.settings) === JSON.stringify(settings)) return { dir: out, ...prior.stats };
  const writer = new ShardWriter(out, { samplesPerShard: o.rowsPerShard ?? 2048, name: 'packed-text', info: { settings } });
  const chunkDocs = o.chunkDocs ?? 4096;
  const seen = new Set<number>();
  let docs = 0, tokens = 0, rows = 0;
  let ids: number[][] = [];
  let masks: (ArrayLike<number> | undefined)[] = [];
  const flush = async () => {
    if (!ids.length) return;
    const packed = packDocuments(ids, o.seqLen, EOT_ID, { trainable: masks, ...(key ? { weights: true } : {}) });
    for (let r = 0; r < packed.count; r++) await writer.write({ key: `row-${String(rows++).padStart(9, '0')}`, files: { [ROW_FILE]: rowBytes(packed, r) }, meta: {} });
    ids = [];
    masks = [];
  };
  for await (const sample of iterateDataset(src)) {
    const doc = corpusDocOf(sample);
    if (o.sft && !doc.turns) continue;
    const words = key && doc.turns ? key.of(sample) : undefined;
    const enc = (o.sft || o.replyLoss) && doc.turns ? encodeDialogueForSft(o.tokenizer, doc.turns, key ? { words: words ?? [], weight: key.weight } : undefined) : { ids: encodeDoc(o.tokenizer, doc), trainable: undefined };
    for (const id of enc.ids) seen.add(id);
    ids.push(enc.ids);
    masks.push(('weights' in enc ? enc.weights : undefined) ?? enc.trainable);
    docs++;
    tokens += enc.ids.length;
    if (ids.length >= chunkDocs) await flush();
  }
  await flush();
  if (rows === 0) throw new HerdError('invalid_argument', `text dataset ${src}: no ${o.sft ? 'dialogues' : 'documents'} to pack`);
  const stats = { rows, docs, tokens, ids: [...seen].sort((a, b) => a - b) };
  await writer.close();
  // Settings and stats beside the rows, so a resumed run reuses the packing without re-reading the text.
  await writeFileAtomic(join(out, PACKING_FILE), JSON.stringify({ settings, stats }) + '\n');
  return { dir: out, ...stats };
}

function rowBytes(p: PackedSequences, r: number): Uint8Array {
  const T = p.seqLen;
  const row = new Int32Array((p.weights ? 5 : 4) * T);
  if (p.weights) new Float32Array(row.buffer, 16 * T).set(p.weights.subarray(r * T, (r + 1) * T));
  row.set(p.tokens.subarray(r * T, (r + 1) * T), 0);
  row.set(p.targets.subarray(r * T, (r + 1) * T), T);
  row.set(p.positions.subarray(r * T, (r + 1) * T), 2 * T);
  row.set(p.docIds.subarray(r * T, (r + 1) * T), 3 * T);
  return new Uint8Array(row.buffer);
}

function rowOf(s: Sample, seqLen: number): Int32Array {
  const b = s.files[ROW_FILE];
  if (!b || (b.byteLength !== 16 * seqLen && b.byteLength !== 20 * seqLen)) throw new HerdError('corrupt_data', `packed row "${s.key}": expected ${16 * seqLen} bytes (or ${20 * seqLen} with target weights) in ${ROW_FILE}, got ${b?.byteLength ?? 'none'}`);
  return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/**
 * The collate for packed rows: stacks them into `tokens`/`targets`/`positions`/`docIds` [B, T],
 * with token ids (and targets other than −100) mapped to the pruned vocabulary by `toCompact`; with
 * `targetWeights`, also `targetWeights` [B, T] f32 (a row without weights: 1 on each target).
 */
export function packedRowsCollate(seqLen: number, toCompact: (fullIds: ArrayLike<number>) => Int32Array, o: { targetWeights?: boolean } = {}): (samples: readonly Sample[]) => Record<string, HostTensor> {
  return (samples) => {
    const B = samples.length, T = seqLen;
    const tokens = new Int32Array(B * T), targets = new Int32Array(B * T), positions = new Int32Array(B * T), docIds = new Int32Array(B * T);
    const weights = o.targetWeights ? new Float32Array(B * T) : undefined;
    samples.forEach((s, b) => {
      const row = rowOf(s, T);
      if (weights) {
        if (row.length === 5 * T) weights.set(new Float32Array(row.buffer, 16 * T, T), b * T);
        else for (let t = 0; t < T; t++) weights[b * T + t] = row[T + t]! < 0 ? 0 : 1;
      }
      tokens.set(toCompact(row.subarray(0, T)), b * T);
      const tg = row.subarray(T, 2 * T);
      const mapped = toCompact(tg.map((x) => (x < 0 ? 0 : x)));
      for (let t = 0; t < T; t++) targets[b * T + t] = tg[t]! < 0 ? tg[t]! : mapped[t]!;
      positions.set(row.subarray(2 * T, 3 * T), b * T);
      docIds.set(row.subarray(3 * T, 4 * T), b * T);
    });
    return { tokens: hostTensor('i32', [B, T], tokens), targets: hostTensor('i32', [B, T], targets), positions: hostTensor('i32', [B, T], positions), docIds: hostTensor('i32', [B, T], docIds), ...(weights ? { targetWeights: hostTensor('f32', [B, T], weights) } : {}) };
  };
}

/** Every row of a (small) packed dataset in memory, ids mapped by `toCompact`: the held-out set. */
export async function readPackedRows(dir: string, seqLen: number, toCompact: (fullIds: ArrayLike<number>) => Int32Array, maxRows = Infinity): Promise<PackedSequences> {
  const collate = packedRowsCollate(seqLen, toCompact);
  const rows: Sample[] = [];
  for await (const s of iterateDataset(dir)) {
    if (rows.length >= maxRows) break;
    rows.push(s);
  }
  const b = collate(rows);
  return { count: rows.length, seqLen, tokens: b['tokens']!.data as Int32Array, targets: b['targets']!.data as Int32Array, positions: b['positions']!.data as Int32Array, docIds: b['docIds']!.data as Int32Array };
}
