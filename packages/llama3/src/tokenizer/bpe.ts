/**
 * Byte-level BPE as tiktoken does it: a token's id is its merge rank, and a pre-token is split by
 * repeatedly merging the adjacent pair whose concatenated bytes have the lowest rank (leftmost on
 * ties) until no adjacent pair is a token.
 *
 * Byte strings are held as "binary strings": one UTF-16 code unit per byte (0..255), so a Map keyed
 * by them gives fast rank lookups and ASCII text is its own key.
 */
import { HerdError } from '@herd/core';

/** GPT-2's byte <-> printable character table used by Hugging Face byte-level vocab files. */
function byteLevelTables(): { byteToChar: string[]; charToByte: Map<string, number> } {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const byteToChar = new Array<string>(256);
  const charToByte = new Map<string, number>();
  bs.forEach((b, i) => {
    const c = String.fromCharCode(cs[i] as number);
    byteToChar[b] = c;
    charToByte.set(c, b);
  });
  return { byteToChar, charToByte };
}

const BYTE_LEVEL = byteLevelTables();

/** Turns a Hugging Face byte-level token string (e.g. "Ġworld") into its bytes. */
export function byteLevelToBytes(token: string): Uint8Array {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = BYTE_LEVEL.charToByte.get(token[i] as string);
    if (b === undefined) {
      throw new HerdError('corrupt_data', `byte-level token ${JSON.stringify(token)} has a character outside the byte table at ${i}`);
    }
    out[i] = b;
  }
  return out;
}

export function bytesToBinary(bytes: Uint8Array): string {
  let s = '';
  // Chunked so very long pieces do not overflow the argument limit of fromCharCode.
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

const utf8 = new TextEncoder();

/** UTF-8 bytes of `text` as a binary string; ASCII text is returned as is. */
export function utf8Binary(text: string): string {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return bytesToBinary(utf8.encode(text));
  }
  return text;
}

export type Ranks = ReadonlyMap<string, number>;

/**
 * tiktoken's merge loop, O(n^2) in the piece length but with tiny constants: the right choice for
 * the short pieces that make up nearly all text.
 */
export function bpeLinear(piece: string, ranks: Ranks): number[] {
  const n = piece.length;
  // starts[i] is where part i begins; starts[m] = n closes the last part.
  const starts: number[] = [];
  for (let i = 0; i <= n; i++) starts.push(i);
  const pairRank = (i: number): number => {
    if (i + 2 >= starts.length) return Infinity;
    return ranks.get(piece.slice(starts[i] as number, starts[i + 2] as number)) ?? Infinity;
  };
  const pr: number[] = [];
  for (let i = 0; i < n - 1; i++) pr.push(pairRank(i));
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i < pr.length; i++) {
      const r = pr[i] as number;
      if (r < best) {
        best = r;
        at = i;
      }
    }
    if (at < 0) break;
    starts.splice(at + 1, 1);
    pr.splice(at, 1);
    if (at < pr.length) pr[at] = pairRank(at);
    if (at > 0) pr[at - 1] = pairRank(at - 1);
  }
  return toIds(piece, starts, ranks);
}

/** The same merges driven by a binary heap: O(n log n), for long pieces (runs of spaces, symbols). */
export function bpeHeap(piece: string, ranks: Ranks): number[] {
  const n = piece.length;
  // Parts form a linked list keyed by start byte; a start never moves while its part lives.
  const next = new Int32Array(n + 1);
  const prev = new Int32Array(n + 1);
  const alive = new Uint8Array(n + 1).fill(1);
  for (let i = 0; i <= n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  // Heap entries: [rank, left start, right start, right end]; ordered by rank then left start.
  const heap: [number, number, number, number][] = [];
  const less = (a: [number, number, number, number], b: [number, number, number, number]): boolean =>
    a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const push = (e: [number, number, number, number]): void => {
    heap.push(e);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i] as [number, number, number, number], heap[p] as [number, number, number, number])) break;
      [heap[i], heap[p]] = [heap[p] as [number, number, number, number], heap[i] as [number, number, number, number]];
      i = p;
    }
  };
  const pop = (): [number, number, number, number] => {
    const top = heap[0] as [number, number, number, number];
    const last = heap.pop() as [number, number, number, number];
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l] as [number, number, number, number], heap[m] as [number, number, number, number])) m = l;
        if (r < heap.length && less(heap[r] as [number, number, number, number], heap[m] as [number, number, number, number])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m] as [number, number, number, number], heap[i] as [number, number, number, number]];
        i = m;
      }
    }
    return top;
  };
  const consider = (left: number): void => {
    if (left < 0) return;
    const right = next[left] as number;
    if (right >= n) return;
    const end = next[right] as number;
    const r = ranks.get(piece.slice(left, end));
    if (r !== undefined) push([r, left, right, end]);
  };
  for (let i = 0; i < n - 1; i++) consider(i);
  while (heap.length > 0) {
    const [, left, right, end] = pop();
    // Stale if either part has merged since the entry was made.
    if (alive[left] === 0 || alive[right] === 0 || next[left] !== right || next[right] !== end) continue;
    alive[right] = 0;
    next[left] = end;
    if (end <= n) prev[end] = left;
    consider(prev[left] as number);
    consider(left);
  }
  const starts: number[] = [];
  for (let i = 0; i < n; i = next[i] as number) starts.push(i);
  starts.push(n);
  return toIds(piece, starts, ranks);
}

function toIds(piece: string, starts: readonly number[], ranks: Ranks): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < starts.length; i++) {
    const part = piece.slice(starts[i] as number, starts[i + 1] as number);
    const id = ranks.get(part);
    if (id === undefined) {
      // Every single byte is a token in a byte-level vocab, so this means a broken vocab.
      throw new HerdError('corrupt_data', `BPE vocab has no token for bytes ${JSON.stringify(part)}; every byte must be a token`);
    }
    out.push(id);
  }
  return out;
}

/** Pieces at most this long use the linear loop. */
const LINEAR_MAX = 128;

/** Token ids of one pre-token given as a binary string. */
export function bpe(piece: string, ranks: Ranks): number[] {
  const whole = ranks.get(piece);
  if (whole !== undefined) return [whole];
  return piece.length <= LINEAR_MAX ? bpeLinear(piece, ranks) : bpeHeap(piece, ranks);
}
