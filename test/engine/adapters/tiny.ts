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
 * Returns the worst normalised error (≤ 1 passes).
 */
export function expectGradientsMatch(cs: readonly GradComparison[], rtol: number, atol: number): number {
  const scored = cs.map((c) => ({ ...c, err: gradError(c, rtol, atol) })).sort((a, b) => b.err - a.err);
  const bad = scored.filter((c) => !(c.err <= 1));
  expect(bad.map((c) => `${c.tensor} ${c.kind}: analytic ${c.analytic.toExponential(4)} numeric ${c.numeric.toExponential(4)}`)).toEqual([]);
  return scored[0]?.err ?? 0;
}

/** Largest |x| of a gradient. */
export const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);
