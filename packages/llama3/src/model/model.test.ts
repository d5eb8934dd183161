/** Behaviour of the Llama core that needs no reference fixtures. */
import { describe, expect, it } from 'vitest';
import { Rng, isHerdError } from '@herd/core';
import * as G from '@herd/graph';
import { Session, TrainingRun, hostTensor } from '@herd/runtime';
import { parseLlamaConfig } from '../config.js';
import { Generator, beamSearch, logSoftmax } from './generate.js';
import { buildDecoder, buildLmTraining, initWeights } from './graphs.js';
import { forward, fusionSchedule, lmHead } from './llama.js';
import { llamaParamSpecs } from './weights.js';

const cfg = parseLlamaConfig({ dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, vocabSize: 50, ffnDim: 48, maxSeqLen: 24 });

describe('llama core', () => {
  it('incremental decoding with the KV cache equals a full forward pass', async () => {
    const w = initWeights(cfg, 5);
    const gen = await Generator.create(cfg, buildDecoder(cfg, w));
    const prompt = [3, 14, 15, 9, 26];
    const tokens = await gen.complete(prompt, { maxNewTokens: 6, temperature: 0 });
    // Recompute each greedy step from scratch (no cache) and compare.
    const seq = [...prompt];
    for (const t of tokens) {
      const rows = await gen.logits(seq);
      const last = rows[rows.length - 1]!;
      expect(last.indexOf(Math.max(...last))).toBe(t);
      seq.push(t);
    }
    await gen.release();
  });

  it('enforces the context length with a clear error', async () => {
    const gen = await Generator.create(cfg, buildDecoder(cfg, initWeights(cfg, 1)));
    const it = gen.generate(new Array(20).fill(1), { maxNewTokens: 10 });
    await expect(it.next()).rejects.toSatisfy((e: unknown) => isHerdError(e, 'context_overflow'));
    await gen.release();
  });

  it('sampling with a seed is reproducible and differs across seeds', async () => {
    const gen = await Generator.create(cfg, buildDecoder(cfg, initWeights(cfg, 2)));
    const a = await gen.complete([1, 2, 3], { maxNewTokens: 12, temperature: 1.5, topP: 0.95, seed: 11 });
    const b = await gen.complete([1, 2, 3], { maxNewTokens: 12, temperature: 1.5, topP: 0.95, seed: 11 });
    const c = await gen.complete([1, 2, 3], { maxNewTokens: 12, temperature: 1.5, topP: 0.95, seed: 12 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    await gen.release();
  });

  it('a scorer sees the tokens generated so far and the raw logits, and its scores pick the token', async () => {
    const gen = await Generator.create(cfg, buildDecoder(cfg, initWeights(cfg, 5)));
    const plain = await gen.complete([3, 14, 15], { maxNewTokens: 4, temperature: 0 });
    const seen: number[][] = [];
    // Forbids whatever the core likes best: every step then takes the runner-up.
    const scorer = {
      score(generated: readonly number[], logits: Float32Array) {
        seen.push([...generated]);
        const best = logits.indexOf(Math.max(...logits));
        return logits.map((v, i) => (i === best ? -Infinity : v));
      },
    };
    const steered = await gen.complete([3, 14, 15], { maxNewTokens: 4, temperature: 0, scorer });
    expect(seen).toEqual([[], steered.slice(0, 1), steered.slice(0, 2), steered.slice(0, 3)]);
    expect(steered[0]).not.toBe(plain[0]);
    const first = (await gen.logits([3, 14, 15]))[2]!;
    expect(steered[0]).toBe([...first.keys()].sort((a, b) => first[b]! - first[a]!)[1]);
    await gen.release();
  });

  it('beam search of width 1 is greedy decoding exactly, with and without a scorer', async () => {
    const gen = await Generator.create(cfg, buildDecoder(cfg, initWeights(cfg, 5)));
    const forbidBest = {
      score(_: readonly number[], logits: Float32Array) {
        const best = logits.indexOf(Math.max(...logits));
        return logits.map((v, i) => (i === best ? -Infinity : v));
      },
    };
    for (const scorer of [undefined, forbidBest]) {
      const greedy = await gen.complete([3, 14, 15], { maxNewTokens: 6, temperature: 0, stopTokens: [7], ...(scorer ? { scorer } : {}) });
      const beam = await gen.beam([3, 14, 15], { beamWidth: 1, maxNewTokens: 6, stopTokens: [7], ...(scorer ? { scorer } : {}) });
      expect(beam.tokens).toEqual(greedy);
    }
    await expect(gen.beam([3], { beamWidth: 0, maxNewTokens: 2 })).rejects.toThrow(/beamWidth must be an integer ≥ 1, got 0/);
    await gen.release();
  });

  it('beam search stops between steps when its signal is aborted (a client that left), throwing the reason', async () => {
    const first = { state: 0, logits: new Float32Array([0, 1, 2, 3]) };
    let advanced = 0;
    const ac = new AbortController();
    const advance = async (state: number) => {
      if (++advanced === 2) ac.abort('cancelled'); // during the first step's expansions
      return { state: state + 1, logits: new Float32Array([3, 2, 1, 0]) };
    };
    await expect(beamSearch(first, advance, { beamWidth: 2, maxNewTokens: 50, signal: ac.signal })).rejects.toBe('cancelled');
    expect(advanced).toBe(2); // the first step finished its two hypotheses; no second step began
    await expect(beamSearch(first, advance, { beamWidth: 2, maxNewTokens: 50, signal: AbortSignal.abort('timeout') })).rejects.toBe('timeout');
    expect(advanced).toBe(2);
    // Without a signal (or one never aborted) the same search runs to its length.
    const full = await beamSearch(first, async (st: number) => ({ state: st + 1, logits: new Float32Array([3, 2, 1, 0]) }), { beamWidth: 2, maxNewTokens: 5, signal: new AbortController().signal });
    expect(full.tokens).toHaveLength(5);
  });

  it('beam search finds the best two-token continuation (brute force over all 50 × 50) where greedy does not', async () => {
    const gen = await Generator.create(cfg, buildDecoder(cfg, initWeights(cfg, 4)));
    const prompt = [3, 14, 15];
    const first = logSoftmax(await gen.nextLogits(prompt));
    let best = { score: -Infinity, tokens: [] as number[] };
    const V = cfg.vocabSize;
    for (let a = 0; a < V; a++) {
      const second = logSoftmax(await gen.nextLogits([...prompt, a]));
      for (let b = 0; b < V; b++) if (first[a]! + second[b]! > best.score) best = { score: first[a]! + second[b]!, tokens: [a, b] };
    }
    const exhaustive = await gen.beam(prompt, { beamWidth: V, maxNewTokens: 2 });
    expect(exhaustive.tokens).toEqual(best.tokens);
    expect(exhaustive.score).toBeCloseTo(best.score, 4);
    const greedy = await gen.beam(prompt, { beamWidth: 1, maxNewTokens: 2 });
    expect(greedy.tokens).toEqual(await gen.complete(prompt, { maxNewTokens: 2, temperature: 0 }));
    expect(greedy.score).toBeLessThan(best.score - 1e-3);
    const narrow = await gen.beam(prompt, { beamWidth: 4, maxNewTokens: 2 });
    expect(narrow.tokens).toEqual(best.tokens); // here width 4 already finds it
    await gen.release();
  });

  it('packed documents do not attend to each other', async () => {
    // The loss of document 2 must not change when document 1's tokens change.
    const w = initWeights(cfg, 3);
    const g = new G.Graph();
    const p = G.declareParams(g, llamaParamSpecs(cfg), (n, s) => g.param(n, 'f32', s as number[], { value: w[n]!.data }));
    const tokens = g.input('tokens', 'i32', [1, 8]);
    const positions = g.input('positions', 'i32', [1, 8]);
    const docIds = g.input('docIds', 'i32', [1, 8]);
    const logits = lmHead(cfg, p, forward(cfg, p, { tokens, positions, mask: G.documentCausalMask(docIds) }).hidden);
    const s = await Session.create(G.toOnnx(g, { outputs: { logits } }));
    const run = (first: number[]) =>
      s.run({
        tokens: hostTensor('i32', [1, 8], [...first, 7, 8, 9, 10]),
        positions: hostTensor('i32', [1, 8], [0, 1, 2, 3, 0, 1, 2, 3]),
        docIds: hostTensor('i32', [1, 8], [0, 0, 0, 0, 1, 1, 1, 1]),
      });
    const a = (await run([1, 2, 3, 4]))['logits']!.data as Float32Array;
    const b = (await run([40, 30, 20, 10]))['logits']!.data as Float32Array;
    const V = cfg.vocabSize;
    expect(Array.from(a.slice(4 * V))).toEqual(Array.from(b.slice(4 * V)));
    expect(Array.from(a.slice(0, 4 * V))).not.toEqual(Array.from(b.slice(0, 4 * V)));
  });

  it('a next-token training step lowers the loss on a repeated batch', async () => {
    const w = initWeights(cfg, 4);
    const graphs = buildLmTraining(cfg, w, { batch: 2, seqLen: 8 });
    const run = await TrainingRun.create(graphs, Object.fromEntries(Object.entries(w).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])));
    const ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    const batch = {
      tokens: hostTensor('i32', [2, 8], ids),
      targets: hostTensor('i32', [2, 8], ids.map((t, i) => (i % 8 === 7 ? -100 : t + 1))),
      positions: hostTensor('i32', [2, 8], ids.map((_, i) => i % 8)),
      docIds: hostTensor('i32', [2, 8], ids.map(() => 0)),
    };
    const first = await run.trainStep(batch, 3e-3);
    let last = first;
    for (let i = 0; i < 30; i++) last = await run.trainStep(batch, 3e-3);
    expect(first.metrics['tokens']).toBe(14);
    expect(last.loss).toBeLessThan(first.loss * 0.5);
  });

  it('learns to copy a random sequence (induction through attention, RoPE and masks working together)', async () => {
    const c = parseLlamaConfig({ dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, vocabSize: 20, ffnDim: 128, maxSeqLen: 32 });
    const w = initWeights(c, 1);
    const [B, T] = [16, 20];
    const run = await TrainingRun.create(buildLmTraining(c, w, { batch: B, seqLen: T, optimizer: { weightDecay: 0 } }), Object.fromEntries(Object.entries(w).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])));
    const rng = new Rng(3);
    let loss = Infinity;
    for (let step = 0; step < 300; step++) {
      // [bos, s₁…s₉, sep, s₁…s₉]: only the copied half is scored, and it is predictable only by looking back.
      const tok: number[] = [];
      const tgt: number[] = [];
      for (let b = 0; b < B; b++) {
        const s = Array.from({ length: 9 }, () => 2 + rng.int(18));
        const seq = [1, ...s, 0, ...s];
        tok.push(...seq);
        tgt.push(...seq.map((_, i) => (i >= 10 && i + 1 < T ? seq[i + 1]! : -100)));
      }
      const batch = { tokens: hostTensor('i32', [B, T], tok), targets: hostTensor('i32', [B, T], tgt), positions: hostTensor('i32', [B, T], tok.map((_, i) => i % T)), docIds: hostTensor('i32', [B, T], tok.map(() => 0)) };
      loss = (await run.trainStep(batch, step < 50 ? (3e-3 * (step + 1)) / 50 : 3e-3)).loss;
    }
    expect(loss).toBeLessThan(0.05); // chance is ln 18 ≈ 2.9
  });

  it('places adapters at every Nth layer from the top (Meta fusion schedule)', () => {
    expect(fusionSchedule(32, 4)).toEqual([3, 7, 11, 15, 19, 23, 27, 31]);
    expect(fusionSchedule(6, 4)).toEqual([1, 5]);
  });
});
