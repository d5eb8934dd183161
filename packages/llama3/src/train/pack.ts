/**
 * Packing documents into fixed-length training sequences (§3.4: attention never crosses document
 * boundaries inside a packed sequence). Each sequence carries tokens, next-token targets (−100 where
 * the next token belongs to another document or is padding), positions restarting per document,
 * and document ids for the block-causal mask.
 */
import { HerdError } from '@herd/core';

export interface PackedSequences {
  readonly count: number;
  readonly seqLen: number;
  readonly tokens: Int32Array;
  readonly targets: Int32Array;
  readonly positions: Int32Array;
  readonly docIds: Int32Array;
  /** Each target's loss weight (0 where there is no target), when packed with `weights`. */
  readonly weights?: Float32Array;
}

export const IGNORE_INDEX = -100;

/**
 * First-fit packing: each document goes into the first of the open sequences with room for all of
 * it, so a document is split only when it is longer than a whole sequence — a dialogue never loses
 * its question to the previous sequence. A sequence closes when no document fits; its tail is
 * padding (`pad`, never a target). Documents longer than `seqLen` are cut into `seqLen` pieces,
 * each restarting positions. At most `openLimit` sequences stay open, which bounds the work and
 * keeps the packing order close to the corpus order.
 */
export function packDocuments(docs: readonly ArrayLike<number>[], seqLen: number, pad: number, options: { openLimit?: number; trainable?: readonly (ArrayLike<number> | undefined)[]; weights?: boolean } = {}): PackedSequences {
  const openLimit = options.openLimit ?? 16;
  if (!(seqLen >= 2)) throw new HerdError('invalid_argument', `packDocuments: seqLen must be ≥ 2, got ${seqLen}`);
  interface Bin { tokens: number[]; targets: number[]; weights: number[]; positions: number[]; docIds: number[]; docs: number }
  const done: Bin[] = [];
  const open: Bin[] = [];
  // `trainable[d][i]` = 0 makes token i of document d no target (e.g. the prompt in fine-tuning);
  // any other value is that target's loss weight (`weights`; a document without a mask weighs 1).
  const place = (piece: ArrayLike<number>, mask: ArrayLike<number> | undefined, start: number, end: number) => {
    const len = end - start;
    let bin = open.find((b) => seqLen - b.tokens.length >= len);
    if (!bin) {
      if (open.length >= openLimit) done.push(open.shift()!);
      bin = { tokens: [], targets: [], weights: [], positions: [], docIds: [], docs: 0 };
      open.push(bin);
    }
    for (let i = start; i < end; i++) {
      bin.tokens.push(piece[i]!);
      // The last token of a piece has no next token inside this sequence and document.
      const target = i + 1 < end && (!mask || mask[i + 1]);
      bin.targets.push(target ? piece[i + 1]! : IGNORE_INDEX);
      bin.weights.push(target ? (mask ? mask[i + 1]! : 1) : 0);
      bin.positions.push(i - start);
      bin.docIds.push(bin.docs);
    }
    bin.docs++;
    if (bin.tokens.length === seqLen) {
      open.splice(open.indexOf(bin), 1);
      done.push(bin);
    }
  };
  docs.forEach((doc, d) => {
    for (let at = 0; at < doc.length; at += seqLen) place(doc, options.trainable?.[d], at, Math.min(doc.length, at + seqLen));
  });
  done.push(...open);
  const n = done.length * seqLen;
  const out = { tokens: new Int32Array(n).fill(pad), targets: new Int32Array(n).fill(IGNORE_INDEX), positions: new Int32Array(n), docIds: new Int32Array(n) };
  const weights = options.weights ? new Float32Array(n) : undefined;
  done.forEach((b, k) => {
    const o = k * seqLen;
    out.tokens.set(b.tokens, o);
    out.targets.set(b.targets, o);
    weights?.set(b.weights, o);
    out.positions.set(b.positions, o);
    out.docIds.set(b.docIds, o);
    // Padding is its own document, so no real token attends to it.
    out.docIds.fill(b.docs, o + b.tokens.length, o + seqLen);
  });
  return { count: done.length, seqLen, ...out, ...(weights ? { weights } : {}) };
}
