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
}

export const IGNORE_INDEX = -100;

/**
 * Greedy packing in order: documents are appended to the current sequence; a document longer than
 * the space left is split across sequences (its continuation restarts positions at the split,
 * which keeps every sequence self-contained). `pad` fills the tail of the last sequence.
 */
export function packDocuments(docs: readonly ArrayLike<number>[], seqLen: number, pad: number): PackedSequences {
  if (!(seqLen >= 2)) throw new HerdError('invalid_argument', `packDocuments: seqLen must be ≥ 2, got ${seqLen}`);
  const tokens: number[] = [];
  const targets: number[] = [];
  const positions: number[] = [];
  const docIds: number[] = [];
  let used = 0; // tokens in the current sequence
  let docInSeq = 0;
  for (const doc of docs) {
    let at = 0;
    while (at < doc.length) {
      if (used === seqLen) {
        used = 0;
        docInSeq = 0;
      }
      const take = Math.min(doc.length - at, seqLen - used);
      for (let i = 0; i < take; i++) {
        tokens.push(doc[at + i]!);
        // The last token of a piece has no next token inside this sequence and document.
        targets.push(i + 1 < take ? doc[at + i + 1]! : IGNORE_INDEX);
        positions.push(i);
        docIds.push(docInSeq);
      }
      at += take;
      used += take;
      docInSeq++;
    }
  }
  while (used > 0 && used < seqLen) {
    tokens.push(pad);
    targets.push(IGNORE_INDEX);
    positions.push(0);
    docIds.push(docInSeq);
    used++;
  }
  const count = tokens.length / seqLen;
  return { count, seqLen, tokens: Int32Array.from(tokens), targets: Int32Array.from(targets), positions: Int32Array.from(positions), docIds: Int32Array.from(docIds) };
}
