/**
 * Token generation over the incremental decoder: prefill the prompt, then one token at a time with
 * the KV cache; greedy, temperature and top-p sampling with a seed; stops on a stop token; streams
 * tokens through an async iterator. Beam search (`beamSearch`, `Generator.beam`) keeps the best
 * `beamWidth` continuations by their summed step scores, each with its own KV cache.
 */
import { HerdError, Rng } from '@herd/core';
import { type EmittedModel } from '@herd/graph';
import { type Feed, type HostTensor, Session, type SessionOptions, hostTensor } from '@herd/runtime';
import { type LlamaConfig } from '../config.js';
import { headDim } from './weights.js';

export interface SamplingOptions {
  readonly maxNewTokens: number;
  /** 0 = greedy. */
  readonly temperature?: number;
  readonly topP?: number;
  readonly seed?: number;
  /** Generation stops after emitting one of these (it is yielded, then the stream ends). */
  readonly stopTokens?: readonly number[];
  /** Rescores each step's logits before the pick (e.g. joint CTC decoding of speech: `CtcPrefixScorer`). */
  readonly scorer?: NextTokenScorer;
}

/** A second opinion on the next token: given the tokens generated so far and the decoder's logits, the scores to pick from. */
export interface NextTokenScorer {
  score(generated: readonly number[], logits: Float32Array): Float32Array;
}

export interface BeamOptions {
  /** Hypotheses kept per step (1 = greedy decoding, the same tokens as `complete` at temperature 0). */
  readonly beamWidth: number;
  readonly maxNewTokens: number;
  /** A hypothesis ends after one of these (it is part of its tokens). */
  readonly stopTokens?: readonly number[];
  /**
   * The step scores (log-probabilities: ≤ 0, −∞ = not a candidate); without one, the decoder's log-softmax.
   * Called with each hypothesis' own tokens, in any order (a scorer that keeps state must key it by them).
   */
  readonly scorer?: NextTokenScorer;
  /** Stops the search between steps (a client that left): throws the signal's reason, as `AbortSignal.throwIfAborted`. */
  readonly signal?: AbortSignal;
}

export interface BeamResult {
  /** The best hypothesis' tokens (ending in its stop token when it stopped). */
  readonly tokens: number[];
  /** Its summed step scores. */
  readonly score: number;
}

/** log Σ exp(logits), computed stably: what a log-softmax subtracts. */
export function logSumExp(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! - max);
  return max + Math.log(z);
}

/** The decoder's log-softmax of one step's logits. */
export function logSoftmax(logits: Float32Array): Float32Array {
  const lz = logSumExp(logits);
  return logits.map((v) => v - lz);
}

/**
 * Beam search over any next-token model: `first` is the state and logits after the prompt, `advance`
 * the state and logits after one more token. Each step every live hypothesis proposes its `beamWidth`
 * best tokens (ties: the lower id); of all proposals the `beamWidth` best totals are kept (ties: the
 * earlier hypothesis, then the lower id), those ending in a stop token are finished. Step scores are
 * log-probabilities (≤ 0), so a live hypothesis never gains: the search ends when the best finished
 * one is at least as good as every live one, or after `maxNewTokens`. Width 1 is greedy decoding.
 */
export async function beamSearch<S>(
  first: { readonly state: S; readonly logits: Float32Array },
  advance: (state: S, token: number) => Promise<{ readonly state: S; readonly logits: Float32Array }>,
  o: BeamOptions,
): Promise<BeamResult> {
  if (!(Number.isInteger(o.beamWidth) && o.beamWidth >= 1)) throw new HerdError('invalid_argument', `beam search: beamWidth must be an integer ≥ 1, got ${o.beamWidth}`);
  const stops = new Set(o.stopTokens ?? []);
  const B = o.beamWidth;
  const scoreOf = (tokens: readonly number[], logits: Float32Array) => (o.scorer ? o.scorer.score(tokens, logits) : logSoftmax(logits));
  type Hyp = { tokens: number[]; score: number; state: S; logits: Float32Array };
  let live: Hyp[] = [{ tokens: [], score: 0, ...first }];
  let best: BeamResult | undefined;
  for (let n = 0; n < o.maxNewTokens && live.length; n++) {
    o.signal?.throwIfAborted();
    const proposals: { from: Hyp; token: number; score: number }[] = [];
    for (const h of live) {
      const s = scoreOf(h.tokens, h.logits);
      const order = Array.from(s.keys()).filter((c) => s[c]! > -Infinity);
      order.sort((a, b) => s[b]! - s[a]! || a - b);
      for (const c of order.slice(0, B)) proposals.push({ from: h, token: c, score: h.score + s[c]! });
    }
    // Stable sort: equal totals keep the hypothesis order, then the token order.
    proposals.sort((a, b) => b.score - a.score);
    const next: Hyp[] = [];
    for (const p of proposals.slice(0, B)) {
      const tokens = [...p.from.tokens, p.token];
      if (stops.has(p.token)) {
        if (!best || p.score > best.score) best = { tokens, score: p.score };
      } else {
        next.push({ tokens, score: p.score, ...(n + 1 < o.maxNewTokens ? await advance(p.from.state, p.token) : { state: p.from.state, logits: p.from.logits }) });
      }
    }
    live = next;
    if (best && live.every((h) => h.score <= best!.score)) return best;
  }
  const top = live.reduce<Hyp | undefined>((a, h) => (!a || h.score > a.score ? h : a), undefined);
  if (top && (!best || top.score > best.score)) return { tokens: top.tokens, score: top.score };
  return best ?? { tokens: [], score: 0 };
}

/** Picks the next token from logits. */
export function sampleToken(logits: Float32Array, o: { temperature?: number; topP?: number }, rng: Rng): number {
  const temp = o.temperature ?? 0;
  if (temp <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const probs = Array.from(logits, (v, i) => ({ i, p: Math.exp((v - max) / temp) }));
  const z = probs.reduce((a, b) => a + b.p, 0);
  probs.forEach((x) => (x.p /= z));
  probs.sort((a, b) => b.p - a.p);
  const topP = o.topP ?? 1;
  let kept = probs;
  if (topP < 1) {
    let acc = 0;
    const cut = probs.findIndex((x) => ((acc += x.p), acc >= topP));
    kept = probs.slice(0, cut + 1);
  }
  const total = kept.reduce((a, b) => a + b.p, 0);
  let u = rng.next() * total;
  for (const x of kept) {
    u -= x.p;
    if (u <= 0) return x.i;
  }
  return kept[kept.length - 1]!.i;
}

/**
 * Extra feeds of a decoder built with hooks (e.g. an adapter's image keys/values): the same for every
 * call, or made per call for the positions [start, start + count) it computes (e.g. the rows of a
 * cross-attention mask).
 */
export type ExtraFeeds = Readonly<Record<string, HostTensor>> | ((start: number, count: number) => Readonly<Record<string, HostTensor>>);

/** One hypothesis' KV cache: the decoder's present keys/values and how many positions they hold. */
interface DecoderState {
  readonly cache: Readonly<Record<string, Feed>>;
  readonly past: number;
}

export class Generator {
  private constructor(
    readonly cfg: LlamaConfig,
    private readonly session: Session,
    private readonly extraFeeds: ExtraFeeds,
  ) {}

  static async create(cfg: LlamaConfig, decoder: EmittedModel, options: SessionOptions = {}, extraFeeds: ExtraFeeds = {}): Promise<Generator> {
    return new Generator(cfg, await Session.create(decoder, options, 'llama_decoder'), extraFeeds);
  }

  private static extra(feeds: ExtraFeeds, start: number, count: number): Readonly<Record<string, HostTensor>> {
    return typeof feeds === 'function' ? feeds(start, count) : feeds;
  }

  get device(): string {
    return this.session.device;
  }

  /**
   * Streams generated token ids (batch 1). `extraFeeds` replaces the generator's own for this call
   * (e.g. one prompt's image keys/values), so one decoder session serves many prompts.
   */
  async *generate(prompt: readonly number[], o: SamplingOptions, extraFeeds: ExtraFeeds = this.extraFeeds): AsyncGenerator<number> {
    this.checkLength(prompt, o.maxNewTokens);
    const rng = new Rng(o.seed ?? 0);
    const stops = new Set(o.stopTokens ?? []);
    let state = this.emptyCache();
    let step: readonly number[] = prompt;
    const generated: number[] = [];
    for (let n = 0; n < o.maxNewTokens; n++) {
      const { logits, state: after } = await this.step(state, step, extraFeeds);
      const next = sampleToken(o.scorer ? o.scorer.score(generated, logits) : logits, o, rng);
      generated.push(next);
      state = after;
      yield next;
      if (stops.has(next)) return;
      step = [next];
    }
  }

  /**
   * Beam search (`beamSearch`): the best continuation of `prompt` by summed step scores (the scorer's,
   * or the decoder's log-softmax); each hypothesis carries its own KV cache. Width 1 = `complete` at temperature 0.
   */
  async beam(prompt: readonly number[], o: BeamOptions, extraFeeds: ExtraFeeds = this.extraFeeds): Promise<BeamResult> {
    this.checkLength(prompt, o.maxNewTokens);
    const first = await this.step(this.emptyCache(), prompt, extraFeeds);
    return beamSearch(first, (state, token) => this.step(state, [token], extraFeeds), o);
  }

  private checkLength(prompt: readonly number[], maxNewTokens: number): void {
    if (prompt.length === 0) throw new HerdError('invalid_argument', 'generate: empty prompt');
    if (prompt.length + maxNewTokens > this.cfg.maxSeqLen) {
      throw new HerdError('context_overflow', `generate: prompt (${prompt.length} tokens) + maxNewTokens (${maxNewTokens}) exceeds the model's context of ${this.cfg.maxSeqLen} tokens; shorten the prompt or ask for fewer tokens`);
    }
  }

  private emptyCache(): DecoderState {
    const dh = headDim(this.cfg);
    const cache: Record<string, Feed> = {};
    for (let i = 0; i < this.cfg.nLayers; i++) {
      cache[`past.k.${i}`] = hostTensor('f32', [1, this.cfg.nKvHeads, 0, dh]);
      cache[`past.v.${i}`] = hostTensor('f32', [1, this.cfg.nKvHeads, 0, dh]);
    }
    return { cache, past: 0 };
  }

  /** `tokens` through the decoder after the cached positions: the last one's logits and the grown cache. */
  private async step(state: DecoderState, tokens: readonly number[], extraFeeds: ExtraFeeds): Promise<{ logits: Float32Array; state: DecoderState }> {
    const { past } = state;
    const t = tokens.length;
    const s = past + t;
    const mask = new Uint8Array(t * s);
    for (let i = 0; i < t; i++) for (let j = 0; j < s; j++) mask[i * s + j] = j <= past + i ? 1 : 0;
    const out = await this.session.runRaw({
      ...Generator.extra(extraFeeds, past, t),
      ...state.cache,
      tokens: hostTensor('i32', [1, t], Int32Array.from(tokens)),
      positions: hostTensor('i32', [1, t], Int32Array.from({ length: t }, (_, i) => past + i)),
      mask: hostTensor('bool', [1, 1, t, s], mask),
      lastIndex: hostTensor('i32', [1], [t - 1]),
    });
    const cache: Record<string, Feed> = {};
    for (let i = 0; i < this.cfg.nLayers; i++) {
      cache[`past.k.${i}`] = out[`present.k.${i}`]!;
      cache[`past.v.${i}`] = out[`present.v.${i}`]!;
    }
    return { logits: out['logits']!.data as Float32Array, state: { cache, past: s } };
  }

  /** Collects a whole generation. */
  async complete(prompt: readonly number[], o: SamplingOptions, extraFeeds: ExtraFeeds = this.extraFeeds): Promise<number[]> {
    const out: number[] = [];
    for await (const t of this.generate(prompt, o, extraFeeds)) out.push(t);
    return out;
  }

  /** The logits after a whole prompt (the distribution of the first generated token), in one decoder call (probes, tests). */
  async nextLogits(prompt: readonly number[], extraFeeds: ExtraFeeds = this.extraFeeds): Promise<Float32Array> {
    const t = prompt.length;
    if (t === 0 || t > this.cfg.maxSeqLen) throw new HerdError('context_overflow', `nextLogits: a prompt of ${t} tokens; the model takes 1..${this.cfg.maxSeqLen}`);
    return (await this.logitsAt(prompt, [t - 1], extraFeeds))[0]!;
  }

  /**
   * Logits at every position of a sequence, for parity tests: the decoder returns one position's
   * logits per call (`lastIndex`), so the sequence is run once per position — fine for short inputs.
   */
  async logits(tokens: readonly number[], extraFeeds: ExtraFeeds = this.extraFeeds): Promise<Float32Array[]> {
    return this.logitsAt(tokens, tokens.map((_, i) => i), extraFeeds);
  }

  /** The whole sequence through the decoder with an empty cache and a causal mask, once per requested position. */
  private async logitsAt(tokens: readonly number[], positions: readonly number[], extraFeeds: ExtraFeeds): Promise<Float32Array[]> {
    const t = tokens.length;
    const dh = headDim(this.cfg);
    const cache: Record<string, HostTensor> = {};
    for (let i = 0; i < this.cfg.nLayers; i++) {
      cache[`past.k.${i}`] = hostTensor('f32', [1, this.cfg.nKvHeads, 0, dh]);
      cache[`past.v.${i}`] = hostTensor('f32', [1, this.cfg.nKvHeads, 0, dh]);
    }
    const mask = new Uint8Array(t * t);
    for (let i = 0; i < t; i++) for (let j = 0; j <= i; j++) mask[i * t + j] = 1;
    const rows: Float32Array[] = [];
    for (const last of positions) {
      const out = await this.session.run({
        ...Generator.extra(extraFeeds, 0, t),
        ...cache,
        tokens: hostTensor('i32', [1, t], Int32Array.from(tokens)),
        positions: hostTensor('i32', [1, t], Int32Array.from({ length: t }, (_, i) => i)),
        mask: hostTensor('bool', [1, 1, t, t], mask),
        lastIndex: hostTensor('i32', [1], [last]),
      }, ['logits']);
      rows.push(out['logits']!.data as Float32Array);
    }
    return rows;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
