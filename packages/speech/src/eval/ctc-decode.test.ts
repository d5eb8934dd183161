/**
 * Joint CTC decoding's prefix scores against a brute-force sum over every alignment of a small
 * utterance (5 frames, 3 tokens + blank): ψ(h) = P(the collapsed alignment starts with h) and
 * P(h) = P(it is exactly h); the scorer's step scores are their log ratios, mixed with the core's
 * log-softmax by the weight.
 */
import { Rng } from '@herd/core';
import { beamSearch } from '@herd/llama3';
import { describe, expect, it } from 'vitest';
import { type CtcPosteriors, CtcPrefixScorer } from './ctc-decode.js';

const A = 5;
const C = 4; // tokens 0, 1, 2; blank 3
const STOP = 3; // the core's stop token id in this test's logits (4 logits: 0, 1, 2 and the stop)

function posteriors(seed: number): CtcPosteriors {
  const rng = new Rng(seed);
  const logp = new Float32Array(A * C);
  for (let t = 0; t < A; t++) {
    const row = Array.from({ length: C }, () => 2 * rng.normal());
    const lz = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
    row.forEach((v, c) => (logp[t * C + c] = v - lz));
  }
  return { logp, frames: A, classes: C };
}

/** Every alignment's probability by its collapsed label sequence. */
function bruteForce(p: CtcPosteriors): Map<string, number> {
  const out = new Map<string, number>();
  for (let code = 0; code < C ** A; code++) {
    let prob = 1;
    const labels: number[] = [];
    let prev = -1;
    for (let t = 0, x = code; t < A; t++, x = Math.floor(x / C)) {
      const c = x % C;
      prob *= Math.exp(p.logp[t * C + c]!);
      if (c !== C - 1 && c !== prev) labels.push(c);
      prev = c;
    }
    const k = labels.join(',');
    out.set(k, (out.get(k) ?? 0) + prob);
  }
  return out;
}

const startsWith = (k: string, h: readonly number[]) => {
  const l = k === '' ? [] : k.split(',').map(Number);
  return h.every((t, i) => l[i] === t);
};

describe('CTC prefix scorer (joint CTC decoding)', () => {
  it('scores each next token by log ψ(h·c) − log ψ(h) and a stop by log P(h) − log ψ(h), as the sum over all alignments gives', () => {
    const p = posteriors(3);
    const all = bruteForce(p);
    const psi = (h: number[]) => [...all].filter(([k]) => startsWith(k, h)).reduce((a, [, v]) => a + v, 0);
    const exact = (h: number[]) => all.get(h.join(',')) ?? 0;
    const scorer = new CtcPrefixScorer(p, { weight: 1, stopTokens: [STOP], topK: 4 });
    const flat = new Float32Array(4); // the core has no opinion: only the CTC part counts at weight 1
    // Prefixes in the order greedy decoding meets them (each one token longer), then a jump back.
    for (const h of [[], [1], [1, 0], [1, 0, 1], [2], [0, 0]]) {
      const s = scorer.score(h, flat);
      for (const c of [0, 1, 2]) expect(s[c]).toBeCloseTo(Math.log(psi([...h, c]) / psi(h)), 4);
      expect(s[STOP]).toBeCloseTo(Math.log(exact(h) / psi(h)), 4);
    }
  });

  it('mixes in the core by weight, scores only the core\'s top candidates and the stop, and leaves the core alone at weight 0', () => {
    const p = posteriors(5);
    const logits = Float32Array.from([0.5, 3, -1, -2]); // the core's 2 best: 1 and 0; the stop (3) is a candidate anyway
    const lz = Math.log(logits.reduce((a, v) => a + Math.exp(v), 0));
    const ctcOnly = new CtcPrefixScorer(p, { weight: 1, stopTokens: [STOP], topK: 2 }).score([0], logits);
    const mixed = new CtcPrefixScorer(p, { weight: 0.3, stopTokens: [STOP], topK: 2 }).score([0], logits);
    for (const c of [0, 1, STOP]) expect(mixed[c]).toBeCloseTo(0.7 * (logits[c]! - lz) + 0.3 * ctcOnly[c]!, 5);
    expect(mixed[2]).toBe(-Infinity); // not among the core's 2 best, not a stop
    const coreOnly = new CtcPrefixScorer(p, { weight: 0, stopTokens: [STOP], topK: 2 }).score([0], logits);
    expect(Array.from(coreOnly)).toEqual([logits[0]! - lz, logits[1]! - lz, -Infinity, logits[3]! - lz].map((v) => Math.fround(v)));
    expect(() => new CtcPrefixScorer(p, { weight: 1.5, stopTokens: [STOP] })).toThrow(/weight must be in \[0, 1\], got 1.5/);
  });

  it('beam search at weight 1 with a core of no opinion finds the most probable transcript (brute force) where greedy does not', async () => {
    const flat = { state: null, logits: new Float32Array(4) };
    const decode = (p: CtcPosteriors, beamWidth: number) =>
      beamSearch(flat, async () => flat, { beamWidth, maxNewTokens: A + 1, stopTokens: [STOP], scorer: new CtcPrefixScorer(p, { weight: 1, stopTokens: [STOP], topK: 4 }) });
    const seeds = [];
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const p = posteriors(seed);
      const [label, prob] = [...bruteForce(p)].reduce((a, b) => (b[1] > a[1] ? b : a));
      const wide = await decode(p, 16);
      expect(wide.tokens.slice(0, -1).join(',')).toBe(label); // ends in the stop
      expect(wide.score).toBeCloseTo(Math.log(prob), 4); // the summed step scores telescope to log P(h)
      const greedy = await decode(p, 1);
      expect(greedy.score).toBeLessThanOrEqual(wide.score + 1e-6);
      if (greedy.score < wide.score - 1e-3) seeds.push(seed);
    }
    expect(seeds.length).toBeGreaterThan(0); // cases where greedy misses the best transcript
  });
});
