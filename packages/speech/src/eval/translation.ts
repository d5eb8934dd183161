/**
 * Translation metrics for the speech-translation (AST) eval, corpus level, the usual definitions:
 *
 * chrF (Popović 2015; sacreBLEU's `chrF` defaults: character n-grams n = 1..6, β = 2, whitespace
 * removed, no word n-grams): for each order n, the n-gram counts of hypothesis and reference are
 * clipped-matched per sentence and the three totals (hypothesis n-grams, reference n-grams, matches)
 * summed over the corpus; P_n = matches / hyp, R_n = matches / ref, F_n = (1+β²)P_nR_n / (β²P_n + R_n);
 * chrF = 100 · mean over the orders that have n-grams on both sides.
 *
 * BLEU (Papineni et al. 2002; corpus BLEU-4, one reference, uniform weights, no smoothing): clipped
 * n-gram precisions p_1..p_4 from corpus totals, brevity penalty exp(1 − r/c) when the hypothesis
 * corpus length c is shorter than the reference length r; 0 when some p_n is 0.
 *
 * Both compare text after `normaliseTranscript` (NFKC, lower case, punctuation → space): the world's
 * English descriptions vary in punctuation only by template, which is not what is being measured.
 */
import { normaliseTranscript } from './wer.js';

export interface TranslationPair {
  readonly reference: string;
  readonly hypothesis: string;
}

function ngramCounts<T>(seq: readonly T[], n: number, key: (xs: readonly T[]) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i + n <= seq.length; i++) {
    const k = key(seq.slice(i, i + n));
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

/** Clipped matches and totals of n-grams of one sentence pair. */
function ngramStats<T>(ref: readonly T[], hyp: readonly T[], n: number, key: (xs: readonly T[]) => string): { hyp: number; ref: number; match: number } {
  const r = ngramCounts(ref, n, key);
  const h = ngramCounts(hyp, n, key);
  let match = 0;
  for (const [k, c] of h) match += Math.min(c, r.get(k) ?? 0);
  return { hyp: Math.max(0, hyp.length - n + 1), ref: Math.max(0, ref.length - n + 1), match };
}

/** Corpus chrF (0–100). */
export function chrF(pairs: readonly TranslationPair[], o: { order?: number; beta?: number } = {}): number {
  const order = o.order ?? 6;
  const b2 = (o.beta ?? 2) ** 2;
  const chars = (s: string) => Array.from(normaliseTranscript(s).replace(/\s+/gu, ''));
  const totals = Array.from({ length: order }, () => ({ hyp: 0, ref: 0, match: 0 }));
  for (const p of pairs) {
    const ref = chars(p.reference);
    const hyp = chars(p.hypothesis);
    for (let n = 1; n <= order; n++) {
      const s = ngramStats(ref, hyp, n, (xs) => xs.join(''));
      const t = totals[n - 1]!;
      t.hyp += s.hyp;
      t.ref += s.ref;
      t.match += s.match;
    }
  }
  let sum = 0;
  let orders = 0;
  for (const t of totals) {
    if (t.hyp === 0 || t.ref === 0) continue;
    orders++;
    const prec = t.match / t.hyp;
    const rec = t.match / t.ref;
    sum += prec + rec > 0 ? ((1 + b2) * prec * rec) / (b2 * prec + rec) : 0;
  }
  return orders ? (100 * sum) / orders : 0;
}

/** Corpus BLEU-4 (0–100). */
export function bleu(pairs: readonly TranslationPair[], o: { order?: number } = {}): number {
  const order = o.order ?? 4;
  const words = (s: string) => normaliseTranscript(s).split(' ').filter(Boolean);
  const match = new Array<number>(order).fill(0);
  const total = new Array<number>(order).fill(0);
  let refLen = 0;
  let hypLen = 0;
  for (const p of pairs) {
    const ref = words(p.reference);
    const hyp = words(p.hypothesis);
    refLen += ref.length;
    hypLen += hyp.length;
    for (let n = 1; n <= order; n++) {
      const s = ngramStats(ref, hyp, n, (xs) => xs.join(' '));
      match[n - 1] = match[n - 1]! + s.match;
      total[n - 1] = total[n - 1]! + s.hyp;
    }
  }
  if (hypLen === 0 || match.some((m) => m === 0)) return 0;
  const logPrecision = match.reduce((a, m, i) => a + Math.log(m / total[i]!), 0) / order;
  const brevity = hypLen < refLen ? 1 - refLen / hypLen : 0;
  return 100 * Math.exp(brevity + logPrecision);
}
