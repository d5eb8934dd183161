/**
 * Word and character error rates, the standard definitions (as NIST sclite / jiwer compute them):
 * the minimum number of substitutions, deletions and insertions turning the reference into the
 * hypothesis (Levenshtein, unit costs), divided by the reference length; summed over a corpus before
 * dividing (so long utterances weigh more), not averaged per utterance. WER can exceed 100 % when the
 * hypothesis has many insertions.
 *
 * Normalisation, applied to both sides first (what "the same words" means here):
 *   - Unicode NFKC, lower case;
 *   - every character that is not a letter, a digit or an apostrophe becomes a space (so "top-left",
 *     "circle." and "circle" compare as words; "it's" stays one word);
 *   - runs of spaces collapse, ends are trimmed.
 * Numbers are not rewritten (the synthetic world speaks and writes them as words).
 * CER counts characters of the normalised text including the single spaces between words.
 */

export function normaliseTranscript(s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}']+/gu, ' ').replace(/\s+/g, ' ').trim();
}

export interface EditCounts {
  readonly substitutions: number;
  readonly deletions: number;
  readonly insertions: number;
  /** Reference length (words or characters). */
  readonly reference: number;
}

/** Levenshtein alignment of two sequences with the counts of each edit kind (ties: substitution first). */
export function editCounts<T>(ref: readonly T[], hyp: readonly T[]): EditCounts {
  const n = ref.length;
  const m = hyp.length;
  // cost[i][j] over ref[0..i), hyp[0..j), with the edit counts of one optimal path.
  let prev = Array.from({ length: m + 1 }, (_, j) => ({ c: j, s: 0, d: 0, i: j }));
  for (let i = 1; i <= n; i++) {
    const cur = [{ c: i, s: 0, d: i, i: 0 }];
    for (let j = 1; j <= m; j++) {
      const same = ref[i - 1] === hyp[j - 1];
      const diag = prev[j - 1]!;
      const up = prev[j]!; // deletion of ref[i-1]
      const left = cur[j - 1]!; // insertion of hyp[j-1]
      const sub = { c: diag.c + (same ? 0 : 1), s: diag.s + (same ? 0 : 1), d: diag.d, i: diag.i };
      const del = { c: up.c + 1, s: up.s, d: up.d + 1, i: up.i };
      const ins = { c: left.c + 1, s: left.s, d: left.d, i: left.i + 1 };
      cur.push(sub.c <= del.c && sub.c <= ins.c ? sub : del.c <= ins.c ? del : ins);
    }
    prev = cur;
  }
  const last = prev[m]!;
  return { substitutions: last.s, deletions: last.d, insertions: last.i, reference: n };
}

export function wordEdits(reference: string, hypothesis: string): EditCounts {
  const words = (s: string) => (s ? s.split(' ') : []);
  return editCounts(words(normaliseTranscript(reference)), words(normaliseTranscript(hypothesis)));
}

export function charEdits(reference: string, hypothesis: string): EditCounts {
  return editCounts([...normaliseTranscript(reference)], [...normaliseTranscript(hypothesis)]);
}

function rate(counts: readonly EditCounts[]): number {
  let errors = 0;
  let ref = 0;
  for (const c of counts) {
    errors += c.substitutions + c.deletions + c.insertions;
    ref += c.reference;
  }
  if (ref === 0) return errors === 0 ? 0 : Infinity;
  return errors / ref;
}

/** Corpus WER over (reference, hypothesis) pairs. */
export function wordErrorRate(pairs: readonly { reference: string; hypothesis: string }[]): number {
  return rate(pairs.map((p) => wordEdits(p.reference, p.hypothesis)));
}

/** Corpus CER over (reference, hypothesis) pairs. */
export function charErrorRate(pairs: readonly { reference: string; hypothesis: string }[]): number {
  return rate(pairs.map((p) => charEdits(p.reference, p.hypothesis)));
}
