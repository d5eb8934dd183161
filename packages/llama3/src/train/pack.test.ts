import { describe, expect, it } from 'vitest';
import { IGNORE_INDEX, packDocuments } from './pack.js';

const PAD = 99;

/** The documents each sequence holds: tokens grouped by (sequence, docId), padding left out. */
function unpack(p: ReturnType<typeof packDocuments>): number[][] {
  const groups = new Map<string, number[]>();
  for (let i = 0; i < p.count * p.seqLen; i++) {
    const isPad = p.tokens[i] === PAD && p.targets[i] === IGNORE_INDEX;
    if (isPad) continue;
    const key = `${Math.floor(i / p.seqLen)}:${p.docIds[i]}`;
    groups.set(key, [...(groups.get(key) ?? []), p.tokens[i]!]);
  }
  return [...groups.values()];
}

describe('packDocuments', () => {
  it('never splits a document that fits in a sequence, and fills gaps first-fit', () => {
    const docs = [[1, 2, 3], [4, 5, 6, 7, 8], [9, 10], [11, 12, 13]];
    const p = packDocuments(docs, 6, PAD);
    // [1,2,3] + [9,10] share a sequence (the 5-token doc does not fit after [1,2,3]); [4..8] alone; [11,12,13] next.
    expect(p.count).toBe(3);
    expect(Array.from(p.tokens.slice(0, 6))).toEqual([1, 2, 3, 9, 10, PAD]);
    expect(Array.from(p.positions.slice(0, 6))).toEqual([0, 1, 2, 0, 1, 0]);
    expect(Array.from(p.docIds.slice(0, 6))).toEqual([0, 0, 0, 1, 1, 2]);
    expect(Array.from(p.targets.slice(0, 6))).toEqual([2, 3, IGNORE_INDEX, 10, IGNORE_INDEX, IGNORE_INDEX]);
    expect(unpack(p).map((d) => d.join(',')).sort()).toEqual(docs.map((d) => d.join(',')).sort());
  });

  it('masks targets that are not trainable (fine-tuning on answers only)', () => {
    const p = packDocuments([[1, 2, 3, 4, 5]], 6, PAD, { trainable: [Uint8Array.from([0, 0, 0, 1, 1])] });
    expect(Array.from(p.targets.slice(0, 5))).toEqual([IGNORE_INDEX, IGNORE_INDEX, 4, 5, IGNORE_INDEX]);
  });

  it('carries each target\'s weight with `weights` (the mask\'s value; 1 without a mask; 0 where no target), and none without', () => {
    const docs = [[1, 2, 3, 4, 5], [6, 7, 8]];
    const trainable = [Float32Array.from([0, 0, 1, 5, 1]), undefined];
    const p = packDocuments(docs, 8, PAD, { trainable, weights: true });
    // Target i is token i + 1, so it takes token i + 1's weight.
    expect(Array.from(p.targets)).toEqual([IGNORE_INDEX, 3, 4, 5, IGNORE_INDEX, 7, 8, IGNORE_INDEX]);
    expect(Array.from(p.weights!)).toEqual([0, 1, 5, 1, 0, 1, 1, 0]);
    const plain = packDocuments(docs, 8, PAD, { trainable });
    expect(plain.weights).toBeUndefined();
    expect(Array.from(plain.targets)).toEqual(Array.from(p.targets));
  });

  it('cuts only documents longer than a sequence, restarting positions per piece', () => {
    const p = packDocuments([[1, 2, 3, 4, 5, 6, 7]], 4, PAD);
    expect(p.count).toBe(2);
    expect(Array.from(p.tokens)).toEqual([1, 2, 3, 4, 5, 6, 7, PAD]);
    expect(Array.from(p.positions)).toEqual([0, 1, 2, 3, 0, 1, 2, 0]);
    expect(Array.from(p.targets)).toEqual([2, 3, 4, IGNORE_INDEX, 6, 7, IGNORE_INDEX, IGNORE_INDEX]);
  });
});
