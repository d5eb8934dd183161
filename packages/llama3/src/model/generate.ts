/**
 * Token generation over the incremental decoder: prefill the prompt, then one token at a time with
 * the KV cache; greedy, temperature and top-p sampling with a seed; stops on a stop token; streams
 * tokens through an async iterator.
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
    if (prompt.length === 0) throw new HerdError('invalid_argument', 'generate: empty prompt');
    if (prompt.length + o.maxNewTokens > this.cfg.maxSeqLen) {
      throw new HerdError('context_overflow', `generate: prompt (${prompt.length} tokens) + maxNewTokens (${o.maxNewTokens}) exceeds the model's context of ${this.cfg.maxSeqLen} tokens; shorten the prompt or ask for fewer tokens`);
    }
    const rng = new Rng(o.seed ?? 0);
    const stops = new Set(o.stopTokens ?? []);
    const dh = headDim(this.cfg);
    let cache: Record<string, Feed> = {};
    for (let i = 0; i < this.cfg.nLayers; i++) {
      cache[`past.k.${i}`] = hostTensor('f32', [1, this.cfg.nKvHeads, 0, dh]);
      cache[`past.v.${i}`] = hostTensor('f32', [1, this.cfg.nKvHeads, 0, dh]);
    }
    let past = 0;
    let step: readonly number[] = prompt;
    const generated: number[] = [];
    for (let n = 0; n < o.maxNewTokens; n++) {
      const t = step.length;
      const s = past + t;
      const mask = new Uint8Array(t * s);
      for (let i = 0; i < t; i++) for (let j = 0; j < s; j++) mask[i * s + j] = j <= past + i ? 1 : 0;
      const out = await this.session.runRaw({
        ...Generator.extra(extraFeeds, past, t),
        ...cache,
        tokens: hostTensor('i32', [1, t], Int32Array.from(step)),
        positions: hostTensor('i32', [1, t], Int32Array.from({ length: t }, (_, i) => past + i)),
        mask: hostTensor('bool', [1, 1, t, s], mask),
        lastIndex: hostTensor('i32', [1], [t - 1]),
      });
      const logits = out['logits']!.data as Float32Array;
      const next = sampleToken(o.scorer ? o.scorer.score(generated, logits) : logits, o, rng);
      generated.push(next);
      cache = {};
      for (let i = 0; i < this.cfg.nLayers; i++) {
        cache[`past.k.${i}`] = out[`present.k.${i}`]!;
        cache[`past.v.${i}`] = out[`present.v.${i}`]!;
      }
      past = s;
      yield next;
      if (stops.has(next)) return;
      step = [next];
    }
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
