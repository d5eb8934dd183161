/**
 * Resampling (Llama 3 paper §7.1.1, cf. MetaCLIP): captions' 1- and 2-gram frequencies f are counted
 * over the whole set; a pair holding an n-gram rarer than T is kept outright, otherwise it is kept
 * with probability √(T/f) of its rarest n-gram (the paper's rule), which flattens the head of the
 * distribution and keeps the tail. `metaclip` mode instead keeps a pair if any of its n-grams, each
 * drawn with probability min(1, T/f), is chosen (MetaCLIP's balancing). Draws are a hash of (seed,
 * key): the same seed keeps the same pairs, whatever the shard order or worker count.
 *
 * Flat memory: the n-gram counts are gathered by a streaming observer (memory grows with the
 * number of distinct n-grams, not with the dataset) and the per-pair decisions are taken one
 * partition of the features at a time (`partitionBy`); each pair's decision depends only on the
 * counts and (seed, key), so the partitioned result equals the all-at-once one.
 */
import { createHash } from 'node:crypto';
import { HerdError, type OptionRules } from '@herd/core';
import type { FeatureObserver, GlobalStage } from '@herd/data';
import { captionOf } from './meta.js';

export interface ResampleOptions {
  name?: string;
  ext?: string;
  /** The frequency threshold T (counts, not fractions). */
  threshold: number;
  mode?: 'sqrt' | 'metaclip';
  /** Longest n-gram counted: 2 (the paper: 1- and 2-grams, default) or 1. */
  n?: 1 | 2;
  seed?: number;
  /** Called with the n-gram counts the decision used (for the report's head/tail table). */
  onDecided?: (summary: NgramSummary) => void;
}

/** What a config file may set (`checkOptions`; `onDecided` is code only). */
export const RESAMPLE_RULES = { name: 'string', ext: 'string', threshold: 'number', mode: { oneOf: ['sqrt', 'metaclip'] }, n: { oneOf: [1, 2] }, seed: 'int', onDecided: 'function' } satisfies OptionRules<ResampleOptions>;

export interface NgramSummary {
  /** Distinct n-grams and total occurrences (each counted once per caption). */
  distinct: number;
  total: number;
  /** The most frequent n-grams, before and after resampling. */
  headBefore: [string, number][];
  headAfter: [string, number][];
  /** Share of occurrences held by the top 1% of n-grams, before and after. */
  top1pctShareBefore: number;
  top1pctShareAfter: number;
  /** N-grams rarer than T: how many distinct, and their occurrences kept. */
  tailDistinct: number;
  tailOccurrencesBefore: number;
  tailOccurrencesAfter: number;
  pairsBefore: number;
  pairsAfter: number;
}

/** Lower-cased words (letters, digits, apostrophes) of a caption. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}

/** The distinct 1- and (n = 2) 2-grams of a caption ("red", "red circle"). */
export function ngrams(text: string, n: 1 | 2 = 2): string[] {
  const w = words(text);
  const out = new Set<string>(w);
  if (n === 2) for (let i = 0; i + 1 < w.length; i++) out.add(`${w[i]} ${w[i + 1]}`);
  return [...out];
}

/** A uniform number in [0, 1) from (seed, key): deterministic, independent of order. */
export function keyUniform(seed: number, key: string): number {
  const h = createHash('sha256').update(`${seed}\0${key}`).digest();
  return h.readUInt32BE(0) / 2 ** 32;
}

export function countNgrams(lists: Iterable<readonly string[]>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const list of lists) for (const g of list) counts.set(g, (counts.get(g) ?? 0) + 1);
  return counts;
}

function head(counts: Map<string, number>, n: number): [string, number][] {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
}

function topShare(counts: Map<string, number>): number {
  const sorted = [...counts.values()].sort((a, b) => b - a);
  const total = sorted.reduce((s, x) => s + x, 0);
  const top = Math.max(1, Math.ceil(sorted.length / 100));
  return total === 0 ? 0 : sorted.slice(0, top).reduce((s, x) => s + x, 0) / total;
}

/** Keep probability of a caption's n-grams under frequencies `counts` (1 when any is rarer than T). */
export function keepProbability(grams: readonly string[], counts: ReadonlyMap<string, number>, threshold: number, mode: 'sqrt' | 'metaclip'): { p: number; rarest: string | undefined; f: number } {
  let rarest: string | undefined;
  let f = Infinity;
  for (const g of grams) {
    const c = counts.get(g) ?? 0;
    if (c < f) {
      f = c;
      rarest = g;
    }
  }
  if (rarest === undefined) return { p: 1, rarest, f: 0 };
  if (f < threshold) return { p: 1, rarest, f };
  if (mode === 'sqrt') return { p: Math.sqrt(threshold / f), rarest, f };
  let none = 1;
  for (const g of grams) none *= 1 - Math.min(1, threshold / (counts.get(g) as number));
  return { p: 1 - none, rarest, f };
}

/** What the observer gathers: counts over every caption, and the kept counts the partitions add to. */
export interface NgramState {
  counts: Map<string, number>;
  pairsBefore: number;
  after: Map<string, number>;
  pairsAfter: number;
}

export function resample(options: ResampleOptions & { featuresPerPartition?: number }): GlobalStage<string[] | null, NgramState> {
  if (!(options.threshold > 0)) throw new HerdError('invalid_argument', `resample: threshold must be > 0, got ${options.threshold}`);
  const ext = options.ext ?? 'txt';
  const mode = options.mode ?? 'sqrt';
  const seed = options.seed ?? 0;
  const n = options.n ?? 2;
  const summarise = (st: NgramState): NgramSummary => {
    const tail = [...st.counts].filter(([, c]) => c < options.threshold);
    return {
      distinct: st.counts.size,
      total: [...st.counts.values()].reduce((s, x) => s + x, 0),
      headBefore: head(st.counts, 10),
      headAfter: head(st.after, 10),
      top1pctShareBefore: topShare(st.counts),
      top1pctShareAfter: topShare(st.after),
      tailDistinct: tail.length,
      tailOccurrencesBefore: tail.reduce((s, [, c]) => s + c, 0),
      tailOccurrencesAfter: tail.reduce((s, [g]) => s + (st.after.get(g) ?? 0), 0),
      pairsBefore: st.pairsBefore,
      pairsAfter: st.pairsAfter,
    };
  };
  return {
    kind: 'global',
    name: options.name ?? 'resample',
    version: JSON.stringify([ext, options.threshold, mode, n, seed]),
    ...(options.featuresPerPartition !== undefined ? { featuresPerPartition: options.featuresPerPartition } : {}),
    prepare(sample) {
      const c = captionOf(sample, ext);
      return 'reason' in c ? null : ngrams(c.text, n);
    },
    observe(): FeatureObserver<string[] | null, NgramState> {
      const st: NgramState = { counts: new Map(), pairsBefore: 0, after: new Map(), pairsAfter: 0 };
      return {
        add(_key, grams) {
          if (grams === null) return;
          st.pairsBefore++;
          for (const g of grams) st.counts.set(g, (st.counts.get(g) ?? 0) + 1);
        },
        finish: () => st,
      };
    },
    // Any spread works (a pair's decision needs only the counts); identical captions share a group.
    partitionBy: (grams) => (grams === null ? null : grams.join('\n')),
    decide(features, observed) {
      let st = observed;
      if (st === undefined) {
        // Called directly (not by the runner): count these features first.
        const lists = [...features.values()].filter((l): l is string[] => l !== null);
        st = { counts: countNgrams(lists), pairsBefore: lists.length, after: new Map(), pairsAfter: 0 };
      }
      const drops = new Map<string, string>();
      for (const [key, grams] of features) {
        if (grams === null) continue;
        const { p, rarest, f } = keepProbability(grams, st.counts, options.threshold, mode);
        if (p < 1 && keyUniform(seed, key) >= p) drops.set(key, `resampled_out: rarest n-gram "${rarest}" f=${f} ≥ T=${options.threshold}, p=${p.toFixed(3)}`);
        else {
          st.pairsAfter++;
          for (const g of grams) st.after.set(g, (st.after.get(g) ?? 0) + 1);
        }
      }
      // After each partition: the summary so far (the last call's is the whole set's).
      options.onDecided?.(summarise(st));
      return drops;
    },
  };
}
