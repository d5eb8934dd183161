/**
 * Shared pieces of the composed-adapter checks: a tiny random language core frozen the way the real
 * cores are (stored as f16 safetensors, read back to f32 initializers), the analytic gradient of a
 * training loss w.r.t. an extension input (for the finite-difference check of injected features),
 * and small helpers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { castFloat, openSafetensors, writeSafetensors } from '@herd/core';
import * as G from '@herd/graph';
import { Graph } from '@herd/graph';
import { type FrozenWeights, type LlamaConfig, type LmGraphSpec, declareLmInputs, declareLmParams, lmForward, lmHead, llamaParamSpecs, parseLlamaConfig, readLlamaWeights } from '@herd/llama3';
import { type HostTensor, Session, hostTensor, toFloat64 } from '@herd/runtime';
import { expect } from 'vitest';
import { type GradComparison, gradError } from '@herd/runtime';

/** A 4-layer core: the adapters attach before layers 1 and 3 (cross-attention stack [1, 4]). */
export const TINY_TEXT: LlamaConfig = parseLlamaConfig({ dim: 32, nLayers: 4, nHeads: 4, nKvHeads: 2, vocabSize: 48, ffnDim: 64, maxSeqLen: 64 });

/**
 * Random core weights (std 0.2 so the head can be confident), written as f16 safetensors and read
 * back through `readLlamaWeights` — the f16 → f32 path of a committed core. Returns the loaded
 * weights and the f32 values before storage.
 */
export async function frozenTinyCore(cfg: LlamaConfig = TINY_TEXT, seed = 11): Promise<{ weights: FrozenWeights; original: G.ParamValues }> {
  const original = G.initParams(llamaParamSpecs(cfg), seed, { std: 0.2, layers: cfg.nLayers });
  const dir = mkdtempSync(join(tmpdir(), 'herd-tiny-core-'));
  try {
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, Object.fromEntries(Object.entries(original).map(([k, v]) => [k, castFloat(hostTensor('f32', v.shape, v.data), 'f16')])));
    const source = openSafetensors(path);
    expect(source.info('model.embed_tokens.weight').dtype).toBe('F16');
    return { weights: readLlamaWeights(source, cfg, 'tiny core'), original };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function hostValues(values: Readonly<Record<string, { shape: readonly number[]; data: ArrayLike<number> }>>): Record<string, HostTensor> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, hostTensor('f32', v.shape, Float32Array.from(v.data))]));
}

/** Names of tanh gates (`…gate`, `…gate_attn`, `…gate_ffn`). */
export const GATE = /gate(_attn|_ffn)?$/;

/** Sets every gate parameter to `value`. */
export function setGates(values: Record<string, HostTensor>, value: number): Record<string, HostTensor> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, GATE.test(k) ? hostTensor('f32', v.shape, new Float32Array(v.data.length).fill(value)) : v]));
}

/**
 * d loss / d input for an extension input, from a graph built exactly as `buildLmTraining` builds its
 * forward pass (same params, inputs, hooks, head and loss), differentiated w.r.t. that input.
 */
export async function lmInputGradient(spec: LmGraphSpec, weights: FrozenWeights, train: readonly string[], batch: Readonly<Record<string, HostTensor>>, input: string): Promise<Float64Array> {
  const g = new Graph();
  const { p } = declareLmParams(g, spec, weights, { train });
  const b = batch['tokens']!.shape;
  const inputs = declareLmInputs(g, spec, 'train', { batch: b[0]!, seqLen: b[1]! });
  const ce = G.crossEntropy(lmHead(spec.config, p, lmForward(spec, p, inputs).hidden), inputs.targets!, -100);
  const [dx] = G.grad(ce.loss, [inputs.extra[input]!]);
  const s = await Session.create(G.toOnnx(g, { outputs: { dx: dx! } }));
  try {
    return toFloat64((await s.run(batch))['dx']!);
  } finally {
    await s.release();
  }
}

/**
 * Asserts every comparison within rtol·max(|a|, |n|) + atol, naming the worst ones on failure.
 * Returns a one-line summary: the worst normalised error (≤ 1 passes) and, over comparisons with
 * max(|a|, |n|) ≥ 100·atol, the median and largest relative error.
 */
export function expectGradientsMatch(cs: readonly GradComparison[], rtol: number, atol: number): string {
  const scored = cs.map((c) => ({ ...c, err: gradError(c, rtol, atol) })).sort((a, b) => b.err - a.err);
  const bad = scored.filter((c) => !(c.err <= 1));
  expect(bad.map((c) => `${c.tensor} ${c.kind}: analytic ${c.analytic.toExponential(4)} numeric ${c.numeric.toExponential(4)}`)).toEqual([]);
  const rel = cs.filter((c) => Math.max(Math.abs(c.analytic), Math.abs(c.numeric)) >= 100 * atol).map((c) => Math.abs(c.analytic - c.numeric) / Math.max(Math.abs(c.analytic), Math.abs(c.numeric))).sort((a, b) => a - b);
  const med = rel[Math.floor(rel.length / 2)] ?? 0;
  return `${cs.length} comparisons, worst ${(scored[0]?.err ?? 0).toFixed(3)} of tolerance; ${rel.length} with |g| ≥ ${100 * atol}: median rel. error ${med.toExponential(1)}, max ${(rel[rel.length - 1] ?? 0).toExponential(1)}`;
}

/** Largest |x| of a gradient. */
export const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** Logits [B, T, V] of the LM graph (every weight an initializer), for reading what a trained model answers. */
export async function lmLogits(spec: LmGraphSpec, weights: FrozenWeights, batch: Readonly<Record<string, HostTensor>>): Promise<{ data: Float32Array; V: number; T: number }> {
  const g = new Graph();
  const { p } = declareLmParams(g, spec, weights);
  const b = batch['tokens']!.shape;
  const inputs = declareLmInputs(g, spec, 'eval', { batch: b[0]!, seqLen: b[1]! });
  const logits = lmHead(spec.config, p, lmForward(spec, p, inputs).hidden);
  const s = await Session.create(G.toOnnx(g, { outputs: { logits } }));
  try {
    // Inputs the graph does not read (targets) are left out of the feeds.
    const wanted = new Set(s.inputs.map((i) => i.name));
    const feeds = Object.fromEntries(Object.entries(batch).filter(([k]) => wanted.has(k)));
    return { data: (await s.run(feeds))['logits']!.data as Float32Array, V: spec.config.vocabSize, T: b[1]! };
  } finally {
    await s.release();
  }
}

/** argmax over the vocabulary at (b, t). */
export function answerAt(l: { data: Float32Array; V: number; T: number }, b: number, t: number): number {
  const row = l.data.subarray((b * l.T + t) * l.V, (b * l.T + t + 1) * l.V);
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}
