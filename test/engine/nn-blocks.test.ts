/**
 * The shared blocks of @herd/graph's nn/: parameter specs + init, multi-head attention (self, cross,
 * GQA, biases, RoPE, q/k norm, KV cache) against a plain-JavaScript reference, the MLPs and the
 * gated pre-norm block (identity at gate 0, gradients checked in f64).
 */
import { describe, expect, it } from 'vitest';
import { Rng, isHerdError } from '@herd/core';
import * as G from '@herd/graph';
import { Graph, type MultiHeadAttentionOptions, type ParamSpec, type Tensor, type TransformerBlockConfig } from '@herd/graph';
import { type HostTensor, Session, checkGradients, hostTensor } from '@herd/runtime';

function rand(rng: Rng, n: number, scale = 0.5): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

/** Runs `build` with params from `values` and named inputs; returns the outputs as plain arrays. */
async function run(specs: readonly ParamSpec[], values: G.ParamValues, inputs: Record<string, HostTensor>, build: (p: G.Params, x: Record<string, Tensor>, g: Graph) => Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const g = new Graph();
  const p = G.declareParams(g, specs, (n, s) => g.param(n, 'f32', s as number[], { value: values[n]!.data }));
  const xs: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) xs[k] = g.input(k, v.dtype, v.shape);
  const s = await Session.create(G.toOnnx(g, { outputs: build(p, xs, g) }));
  const out = await s.run(inputs);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

// ─── plain-JS reference ─────────────────────────────────────────────────────

/** y[r, o] = Σ_i x[r, i]·w[o, i] + b[o] for x [rows, in], w [out, in]. */
function refLinear(x: Float32Array, rows: number, w: Float32Array, out: number, inp: number, b?: Float32Array): Float64Array {
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++) for (let o = 0; o < out; o++) {
    let s = b ? b[o]! : 0;
    for (let i = 0; i < inp; i++) s += x[r * inp + i]! * w[o * inp + i]!;
    y[r * out + o] = s;
  }
  return y;
}

function refRmsNormRow(v: number[], w: Float32Array, eps: number): number[] {
  const ms = v.reduce((a, x) => a + x * x, 0) / v.length;
  return v.map((x, i) => (x / Math.sqrt(ms + eps)) * w[i]!);
}

/** HF rotate-half RoPE at position `pos` with inverse frequencies `inv` [Dh/2]. */
function refRope(v: number[], pos: number, inv: Float32Array): number[] {
  const h = v.length / 2;
  return v.map((x, i) => {
    const f = pos * inv[i % h]!;
    const rot = i < h ? -v[i + h]! : v[i - h]!;
    return x * Math.cos(f) + rot * Math.sin(f);
  });
}

interface RefCfg { B: number; T: number; S: number; D: number; Dkv: number; H: number; K: number; Dh: number; bias: boolean; qkNormEps?: number; inv?: Float32Array; causal: boolean }

/** Multi-head attention in plain JS: x [B, T, D], src [B, S, Dkv] (keys; values too unless `vsrc`) → [B, T, D]. */
function refAttention(c: RefCfg, w: G.ParamValues, pre: string, x: Float32Array, src: Float32Array, vsrc: Float32Array = src): Float64Array {
  const lin = (name: string, inp: Float32Array, rows: number, out: number, inDim: number) => refLinear(inp, rows, w[`${pre}.${name}.weight`]!.data, out, inDim, c.bias ? w[`${pre}.${name}.bias`]!.data : undefined);
  const q = lin('q_proj', x, c.B * c.T, c.H * c.Dh, c.D);
  const k = lin('k_proj', src, c.B * c.S, c.K * c.Dh, c.Dkv);
  const v = lin('v_proj', vsrc, c.B * c.S, c.K * c.Dh, c.Dkv);
  const head = (a: Float64Array, len: number, n: number, b: number, t: number, h: number, pos: number, role: 'q' | 'k'): number[] => {
    let r = Array.from(a.subarray(((b * len + t) * n + h) * c.Dh, ((b * len + t) * n + h + 1) * c.Dh));
    if (c.qkNormEps !== undefined) r = refRmsNormRow(r, w[`${pre}.${role}_norm.weight`]!.data, c.qkNormEps);
    return c.inv ? refRope(r, pos, c.inv) : r;
  };
  const merged = new Float32Array(c.B * c.T * c.H * c.Dh);
  const R = c.H / c.K;
  for (let b = 0; b < c.B; b++) for (let h = 0; h < c.H; h++) for (let t = 0; t < c.T; t++) {
    const qh = head(q, c.T, c.H, b, t, h, t + (c.S - c.T), 'q');
    const scores: number[] = [];
    for (let s = 0; s < c.S; s++) {
      const kh = head(k, c.S, c.K, b, s, Math.floor(h / R), s, 'k');
      const allowed = !c.causal || s <= t + (c.S - c.T);
      scores.push(allowed ? qh.reduce((a, x, i) => a + x * kh[i]!, 0) / Math.sqrt(c.Dh) : -Infinity);
    }
    const m = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - m));
    const z = e.reduce((a, x) => a + x, 0);
    for (let d = 0; d < c.Dh; d++) {
      let acc = 0;
      for (let s = 0; s < c.S; s++) acc += (e[s]! / z) * v[((b * c.S + s) * c.K + Math.floor(h / R)) * c.Dh + d]!;
      merged[((b * c.T + t) * c.H + h) * c.Dh + d] = acc;
    }
  }
  return refLinear(merged, c.B * c.T, w[`${pre}.o_proj.weight`]!.data, c.D, c.H * c.Dh, c.bias ? w[`${pre}.o_proj.bias`]!.data : undefined);
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect(worst).toBeLessThan(tol);
}

/** Random values for every spec (norm gains near 1) so biases and norms matter in the checks. */
function randomValues(specs: readonly ParamSpec[], seed: number): G.ParamValues {
  const rng = new Rng(seed);
  const v = G.initParams(specs, seed, { std: 0.3, layers: 1 });
  for (const s of specs) if (s.init === 'zeros' || s.init === 'ones') v[s.name]!.data = Float32Array.from(v[s.name]!.data, (x) => x + rng.normal() * 0.3);
  return v;
}

// ─── tests ──────────────────────────────────────────────────────────────────

describe('parameter specs and init', () => {
  const specs: ParamSpec[] = [
    { name: 'a.weight', shape: [64, 32], init: 'normal' },
    { name: 'a.bias', shape: [64], init: 'zeros' },
    { name: 'n.weight', shape: [32], init: 'ones' },
    { name: 'o.weight', shape: [32, 64], init: 'residual' },
    { name: 'x.weight', shape: [16, 16], init: { normal: 1 } },
  ];
  const std = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);

  it('initialises each kind with its statistics, deterministically per seed', () => {
    const v = G.initParams(specs, 7, { layers: 8 });
    expect(v['a.weight']!.shape).toEqual([64, 32]);
    expect(std(v['a.weight']!.data)).toBeCloseTo(0.02, 2);
    expect(std(v['o.weight']!.data)).toBeCloseTo(0.02 / 4, 3); // 0.02/√(2·8)
    expect(std(v['x.weight']!.data)).toBeGreaterThan(0.85);
    expect(std(v['x.weight']!.data)).toBeLessThan(1.15);
    expect([...v['a.bias']!.data].every((x) => x === 0)).toBe(true);
    expect([...v['n.weight']!.data].every((x) => x === 1)).toBe(true);
    expect(G.initParams(specs, 7, { layers: 8 })['o.weight']!.data).toEqual(v['o.weight']!.data);
    expect(G.initParams(specs, 8, { layers: 8 })['a.weight']!.data).not.toEqual(v['a.weight']!.data);
  });

  it('refuses a residual init without the depth, a duplicated name and an undeclared lookup', () => {
    expect(() => G.initParams(specs, 1)).toThrow(/residual.*options\.layers/);
    const g = new Graph();
    expect(() => G.declareParams(g, [specs[0]!, specs[0]!], (n, s) => g.param(n, 'f32', s as number[]))).toThrow(/listed twice/);
    const p = G.declareParams(new Graph(), [], () => { throw new Error('unused'); });
    try {
      p('missing.weight');
      expect.unreachable();
    } catch (e) {
      expect(isHerdError(e) && e.code).toBe('checkpoint_mismatch');
    }
  });

  it('names attention, MLP and block parameters the Hugging Face way', () => {
    const block: TransformerBlockConfig = {
      norm: { kind: 'layer', eps: 1e-5 },
      attention: { dim: 8, nHeads: 2, bias: true, names: { o: 'out_proj' } },
      mlp: { kind: 'gelu', dim: 8, hidden: 16 },
      gated: true,
      names: { attnNorm: 'layer_norm1', mlpNorm: 'layer_norm2', attnGate: 'gate_attn', mlpGate: 'gate_ffn' },
    };
    expect(G.transformerBlockParamSpecs('vision.layers.0', block).map((s) => `${s.name}:${s.shape.join('x')}:${typeof s.init === 'string' ? s.init : 'n'}`)).toEqual([
      'vision.layers.0.layer_norm1.weight:8:ones', 'vision.layers.0.layer_norm1.bias:8:zeros',
      'vision.layers.0.self_attn.q_proj.weight:8x8:normal', 'vision.layers.0.self_attn.q_proj.bias:8:zeros',
      'vision.layers.0.self_attn.k_proj.weight:8x8:normal', 'vision.layers.0.self_attn.k_proj.bias:8:zeros',
      'vision.layers.0.self_attn.v_proj.weight:8x8:normal', 'vision.layers.0.self_attn.v_proj.bias:8:zeros',
      'vision.layers.0.self_attn.out_proj.weight:8x8:residual', 'vision.layers.0.self_attn.out_proj.bias:8:zeros',
      'vision.layers.0.gate_attn:1:zeros',
      'vision.layers.0.layer_norm2.weight:8:ones', 'vision.layers.0.layer_norm2.bias:8:zeros',
      'vision.layers.0.mlp.fc1.weight:16x8:normal', 'vision.layers.0.mlp.fc1.bias:16:zeros',
      'vision.layers.0.mlp.fc2.weight:8x16:residual', 'vision.layers.0.mlp.fc2.bias:8:zeros',
      'vision.layers.0.gate_ffn:1:zeros',
    ]);
    const cross = G.attentionParamSpecs('x', { dim: 8, nHeads: 4, nKvHeads: 2, headDim: 4, kvDim: 6, qkNorm: { eps: 1e-5 } });
    expect(cross.map((s) => `${s.name}:${s.shape.join('x')}`)).toEqual(['x.q_proj.weight:16x8', 'x.k_proj.weight:8x6', 'x.v_proj.weight:8x6', 'x.o_proj.weight:8x16', 'x.q_norm.weight:4', 'x.k_norm.weight:4']);
    expect(() => G.attentionParamSpecs('y', { dim: 10, nHeads: 4 })).toThrow(/headDim/);
    expect(() => G.attentionParamSpecs('y', { dim: 12, nHeads: 3, nKvHeads: 2 })).toThrow(/multiple/);
  });
});

describe('multiHeadAttention', () => {
  const rng = new Rng(3);

  it('matches a plain-JS reference: causal GQA self-attention with biases, q/k norm and RoPE', async () => {
    const c: RefCfg = { B: 2, T: 5, S: 5, D: 12, Dkv: 12, H: 4, K: 2, Dh: 4, bias: true, qkNormEps: 1e-5, inv: Float32Array.from([1, 0.1]), causal: true };
    const cfg: MultiHeadAttentionOptions = { dim: c.D, nHeads: c.H, nKvHeads: c.K, headDim: c.Dh, bias: true, qkNorm: { eps: 1e-5 } };
    const specs = G.attentionParamSpecs('attn', cfg);
    const w = randomValues(specs, 11);
    const x = rand(rng, c.B * c.T * c.D);
    const pos = Array.from({ length: c.B * c.T }, (_, i) => i % c.T);
    const out = await run(specs, w, { x: hostTensor('f32', [c.B, c.T, c.D], x), positions: hostTensor('i32', [c.B, c.T], pos) }, (p, xs, g) => {
      const rope = G.ropeTables(xs['positions']!, c.inv!);
      const mask = G.unsqueeze(G.causalMask(g, c.T), 0); // [1, T, T] → broadcast over B, H
      return { y: G.multiHeadAttention(p, 'attn', xs['x']!, { ...cfg, rope, mask: G.unsqueeze(mask, 0) }).out };
    });
    expectClose(out['y']!, refAttention(c, w, 'attn', x, x), 1e-5);
  });

  it('matches the reference for cross-attention from a kv source of another length and width', async () => {
    const c: RefCfg = { B: 2, T: 3, S: 7, D: 8, Dkv: 6, H: 2, K: 1, Dh: 4, bias: false, causal: false };
    const cfg: MultiHeadAttentionOptions = { dim: c.D, kvDim: c.Dkv, nHeads: c.H, nKvHeads: c.K };
    const specs = G.attentionParamSpecs('cross', cfg);
    const w = randomValues(specs, 12);
    const x = rand(rng, c.B * c.T * c.D);
    const feats = rand(rng, c.B * c.S * c.Dkv);
    const out = await run(specs, w, { x: hostTensor('f32', [c.B, c.T, c.D], x), feats: hostTensor('f32', [c.B, c.S, c.Dkv], feats) }, (p, xs) => ({
      y: G.multiHeadAttention(p, 'cross', xs['x']!, { ...cfg, kv: xs['feats']! }).out,
    }));
    expectClose(out['y']!, refAttention(c, w, 'cross', x, feats), 1e-5);
  });

  it('matches the reference for cross-attention with values from another source than the keys (`values`)', async () => {
    const c: RefCfg = { B: 2, T: 3, S: 7, D: 8, Dkv: 6, H: 2, K: 1, Dh: 4, bias: true, causal: false };
    const cfg: MultiHeadAttentionOptions = { dim: c.D, kvDim: c.Dkv, nHeads: c.H, nKvHeads: c.K, bias: true };
    const specs = G.attentionParamSpecs('cross', cfg);
    const w = randomValues(specs, 13);
    const x = rand(rng, c.B * c.T * c.D);
    const keys = rand(rng, c.B * c.S * c.Dkv);
    const vals = rand(rng, c.B * c.S * c.Dkv);
    const out = await run(specs, w, { x: hostTensor('f32', [c.B, c.T, c.D], x), keys: hostTensor('f32', [c.B, c.S, c.Dkv], keys), vals: hostTensor('f32', [c.B, c.S, c.Dkv], vals) }, (p, xs) => ({
      y: G.multiHeadAttention(p, 'cross', xs['x']!, { ...cfg, kv: xs['keys']!, values: xs['vals']! }).out,
    }));
    expectClose(out['y']!, refAttention(c, w, 'cross', x, keys, vals), 1e-5);
    // Not the plain cross-attention on either source alone.
    expect(Math.max(...Array.from(out['y']!, (v, i) => Math.abs(v - refAttention(c, w, 'cross', x, keys)[i]!)))).toBeGreaterThan(1e-3);
  });

  it('gives the same outputs step by step with the KV cache as in one pass', async () => {
    const cfg: MultiHeadAttentionOptions = { dim: 8, nHeads: 2, nKvHeads: 1 };
    const specs = G.attentionParamSpecs('a', cfg);
    const w = randomValues(specs, 13);
    const T = 6, P = 4;
    const x = rand(rng, T * 8);
    const inv = Float32Array.from([1, 0.3]);
    const full = await run(specs, w, { x: hostTensor('f32', [1, T, 8], x) }, (p, xs, g) => {
      const rope = G.ropeTables(g.constant(Int32Array.from({ length: T }, (_, i) => i), 'i32', [1, T]), inv);
      return { y: G.multiHeadAttention(p, 'a', xs['x']!, { ...cfg, rope, mask: G.causalMask(g, T) }).out };
    });
    const first = await run(specs, w, { x: hostTensor('f32', [1, P, 8], x.subarray(0, P * 8)) }, (p, xs, g) => {
      const rope = G.ropeTables(g.constant(Int32Array.from({ length: P }, (_, i) => i), 'i32', [1, P]), inv);
      const r = G.multiHeadAttention(p, 'a', xs['x']!, { ...cfg, rope, mask: G.causalMask(g, P) });
      return { y: r.out, k: r.cache.k, v: r.cache.v };
    });
    const rest = await run(specs, w, {
      x: hostTensor('f32', [1, T - P, 8], x.subarray(P * 8)),
      pk: hostTensor('f32', [1, 1, P, 4], first['k']!),
      pv: hostTensor('f32', [1, 1, P, 4], first['v']!),
    }, (p, xs, g) => {
      const rope = G.ropeTables(g.constant(Int32Array.from({ length: T - P }, (_, i) => P + i), 'i32', [1, T - P]), inv);
      return { y: G.multiHeadAttention(p, 'a', xs['x']!, { ...cfg, rope, mask: G.causalMask(g, T - P, P), cache: { k: xs['pk']!, v: xs['pv']! } }).out };
    });
    expectClose([...first['y']!, ...rest['y']!], full['y']!, 1e-5);
  });
});

describe('MLP and the pre-norm block', () => {
  it('computes GELU and SiLU fc1/fc2 with biases and SwiGLU gate/up/down as written', async () => {
    const rng = new Rng(5);
    const x = rand(rng, 3 * 4, 1);
    for (const kind of ['gelu', 'silu', 'swiglu'] as const) {
      const cfg = { kind, dim: 4, hidden: 6 };
      const specs = G.mlpParamSpecs('m', cfg);
      const w = randomValues(specs, 21);
      const out = await run(specs, w, { x: hostTensor('f32', [3, 4], x) }, (p, xs) => ({ y: G.mlp(p, 'm', xs['x']!, cfg) }));
      const want = new Float64Array(3 * 4);
      for (let r = 0; r < 3; r++) {
        const row = x.subarray(r * 4, r * 4 + 4);
        const hidden = kind === 'gelu'
          ? [...refLinear(row, 1, w['m.fc1.weight']!.data, 6, 4, w['m.fc1.bias']!.data)].map((h) => 0.5 * h * (1 + erf(h / Math.SQRT2)))
          : kind === 'silu'
          ? [...refLinear(row, 1, w['m.fc1.weight']!.data, 6, 4, w['m.fc1.bias']!.data)].map((h) => h / (1 + Math.exp(-h)))
          : [...refLinear(row, 1, w['m.gate_proj.weight']!.data, 6, 4)].map((g, i) => (g / (1 + Math.exp(-g))) * refLinear(row, 1, w['m.up_proj.weight']!.data, 6, 4)[i]!);
        const y = kind !== 'swiglu' ? refLinear(Float32Array.from(hidden), 1, w['m.fc2.weight']!.data, 4, 6, w['m.fc2.bias']!.data) : refLinear(Float32Array.from(hidden), 1, w['m.down_proj.weight']!.data, 4, 6);
        want.set(y, r * 4);
      }
      expectClose(out['y']!, want, 2e-5);
    }
  });

  const gated: TransformerBlockConfig = {
    norm: { kind: 'rms', eps: 1e-5 },
    attention: { dim: 8, nHeads: 2, kvDim: 6, qkNorm: { eps: 1e-5 } },
    mlp: { kind: 'swiglu', dim: 8, hidden: 12 },
    gated: true,
    names: { attn: 'cross_attn', attnGate: 'cross_attn_attn_gate', mlpGate: 'cross_attn_mlp_gate' },
  };

  it('is exactly the identity at gate 0 (a fresh gated cross-attention layer changes nothing) and not at gate ≠ 0', async () => {
    const specs = G.transformerBlockParamSpecs('l', gated);
    const rng = new Rng(8);
    const x = rand(rng, 2 * 3 * 8, 1);
    const feats = rand(rng, 2 * 5 * 6, 1);
    const inputs = { x: hostTensor('f32', [2, 3, 8], x), feats: hostTensor('f32', [2, 5, 6], feats) };
    const build = (p: G.Params, xs: Record<string, Tensor>) => ({ y: G.transformerBlock(p, 'l', xs['x']!, gated, { kv: xs['feats']! }).out });
    const w = G.initParams(specs, 1, { layers: 1 });
    expect([...w['l.cross_attn_attn_gate']!.data, ...w['l.cross_attn_mlp_gate']!.data]).toEqual([0, 0]);
    expect((await run(specs, w, inputs, build))['y']).toEqual(x);
    w['l.cross_attn_attn_gate']!.data[0] = 0.5;
    const moved = (await run(specs, w, inputs, build))['y']!;
    expect(Math.max(...moved.map((v, i) => Math.abs(v - x[i]!)))).toBeGreaterThan(1e-3);
  });

  it('has correct gradients through a gated LayerNorm/GELU block with biases, RoPE and a mask (f64 gradcheck)', async () => {
    const cfg: TransformerBlockConfig = {
      norm: { kind: 'layer', eps: 1e-5 },
      attention: { dim: 4, nHeads: 2, nKvHeads: 1, bias: true },
      mlp: { kind: 'gelu', dim: 4, hidden: 6, approximate: 'tanh' },
      gated: true,
    };
    const specs = G.transformerBlockParamSpecs('b', cfg);
    const r = await checkGradients([{ name: 'x', shape: [1, 3, 4] }, ...specs.map((s) => ({ name: s.name, shape: [...s.shape] }))], (xs, g) => {
      const p: G.Params = (n) => xs[n]!;
      const positions = g.constant(Int32Array.from([0, 1, 2]), 'i32', [1, 3]);
      const { cos, sin } = G.ropeTables(positions, Float32Array.from([1]));
      return G.transformerBlock(p, 'b', xs['x']!, cfg, { rope: { cos, sin }, mask: G.causalMask(g, 3) }).out;
    });
    expect(r.maxError).toBeLessThan(1e-6);
  });
});

/** erf from its Maclaurin series (exact to double precision for the |x| < 3 of these tests). */
function erf(x: number): number {
  let sum = x, term = x;
  for (let n = 1; n < 60; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
