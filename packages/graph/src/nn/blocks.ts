/**
 * Transformer building blocks shared by every model (Llama's decoder, a ViT, Mllama's gated
 * cross-attention, a Conformer's attention and feed-forward modules): multi-head attention, MLPs
 * and a pre-norm block. Each block publishes `…ParamSpecs(prefix, cfg)` beside its forward
 * function, taking the same config, so the declared names are exactly the names the forward reads.
 * Parameter names follow Hugging Face (`{prefix}.q_proj.weight`, `{prefix}.fc1.bias`, …) with
 * every name configurable, so checkpoints load by name.
 *
 * Legend: B batch, T queries (new tokens), S keys (= P cached + T for self-attention, or the
 * length of the kv source for cross-attention), P cached keys, D model dim (query side),
 * Dkv kv-source dim, H query heads, K kv heads (H = K·R, GQA), Dh head dim, F hidden MLP dim.
 */
import { HerdError } from '@herd/core';
import { type Tensor } from '../ir/tensor.js';
import * as o from '../ops.js';
import { attention } from './attention.js';
import { gelu, layerNorm, linear, rmsNorm, silu } from './layers.js';
import { type ParamSpec, type Params } from './params.js';
import { applyRope } from './rope.js';

// ─── attention ──────────────────────────────────────────────────────────────

export interface KvCache {
  readonly k: Tensor; // [B, K, P, Dh]
  readonly v: Tensor; // [B, K, P, Dh]
}

/** Rotary embedding: cos/sin tables broadcastable to [B, 1, T, Dh] (see `ropeTables`), or any function of q/k heads. */
export type Rope = { readonly cos: Tensor; readonly sin: Tensor } | ((x: Tensor, role: 'q' | 'k') => Tensor);

export interface AttentionNames {
  readonly q: string;
  readonly k: string;
  readonly v: string;
  readonly o: string;
  readonly qNorm: string;
  readonly kNorm: string;
}

const ATTENTION_NAMES: AttentionNames = { q: 'q_proj', k: 'k_proj', v: 'v_proj', o: 'o_proj', qNorm: 'q_norm', kNorm: 'k_norm' };

/** The static shape of an attention block (what its parameters look like). */
export interface AttentionConfig {
  /** Query-side model dim D (input of q_proj, output of o_proj). */
  readonly dim: number;
  readonly nHeads: number;
  /** K (GQA); defaults to nHeads. */
  readonly nKvHeads?: number;
  /** Dh; defaults to dim / nHeads. */
  readonly headDim?: number;
  /** Dkv, the dim of the kv source for cross-attention; defaults to dim. */
  readonly kvDim?: number;
  /** Biases on q/k/v/o projections (ViT, Whisper); `{ qkv, o }` to choose separately (Whisper has none on k). */
  readonly bias?: boolean | { readonly q?: boolean; readonly k?: boolean; readonly v?: boolean; readonly o?: boolean };
  /** RMSNorm over each head's Dh on q and k, weights [Dh] (Mllama cross-attention; Qwen3). */
  readonly qkNorm?: { readonly eps: number };
  /** Renames the sub-modules (e.g. `{ o: 'out_proj' }` for CLIP/Whisper). */
  readonly names?: Partial<AttentionNames>;
}

/** The per-call tensors of an attention block. */
export interface AttentionInputs {
  /** Cross-attention: keys and values come from this [B, S, Dkv] instead of x. */
  readonly kv?: Tensor;
  /** Cross-attention: values come from this [B, S, Dkv] instead (keys still from `kv`): what a query reads apart from where it looks. */
  readonly values?: Tensor;
  /** Boolean, broadcastable to [B, H, T, S]: true where a query may see a key. */
  readonly mask?: Tensor;
  /** Applied to q and k heads after the (optional) q/k norm; not applied for cross-attention unless given. */
  readonly rope?: Rope;
  /** Keys/values of earlier steps; new ones are appended along S and returned. */
  readonly cache?: KvCache;
  /** Softmax scale; defaults to 1/√Dh. */
  readonly scale?: number;
}

export type MultiHeadAttentionOptions = AttentionConfig & AttentionInputs;

interface ResolvedAttention {
  readonly H: number;
  readonly K: number;
  readonly Dh: number;
  readonly Dkv: number;
  readonly bias: { q: boolean; k: boolean; v: boolean; o: boolean };
  readonly names: AttentionNames;
}

function resolveAttention(cfg: AttentionConfig): ResolvedAttention {
  const H = cfg.nHeads;
  const K = cfg.nKvHeads ?? H;
  const Dh = cfg.headDim ?? cfg.dim / H;
  if (!Number.isInteger(Dh) || Dh <= 0) throw new HerdError('invalid_config', `attention: dim ${cfg.dim} is not divisible by ${H} heads; set headDim`);
  if (H % K !== 0) throw new HerdError('invalid_config', `attention: ${H} query heads are not a multiple of ${K} kv heads`);
  const b = cfg.bias ?? false;
  const bias = typeof b === 'boolean' ? { q: b, k: b, v: b, o: b } : { q: !!b.q, k: !!b.k, v: !!b.v, o: !!b.o };
  return { H, K, Dh, Dkv: cfg.kvDim ?? cfg.dim, bias, names: { ...ATTENTION_NAMES, ...cfg.names } };
}

function linearSpecs(name: string, out: number, inp: number, bias: boolean, init: ParamSpec['init']): ParamSpec[] {
  const w: ParamSpec = { name: `${name}.weight`, shape: [out, inp], init };
  return bias ? [w, { name: `${name}.bias`, shape: [out], init: 'zeros' }] : [w];
}

/** Parameters of `multiHeadAttention(p, prefix, …, cfg)`: q/k/v 'normal', o 'residual', biases 0, norms 1. */
export function attentionParamSpecs(prefix: string, cfg: AttentionConfig): ParamSpec[] {
  const r = resolveAttention(cfg);
  const n = r.names;
  const specs = [
    ...linearSpecs(`${prefix}.${n.q}`, r.H * r.Dh, cfg.dim, r.bias.q, 'normal'),
    ...linearSpecs(`${prefix}.${n.k}`, r.K * r.Dh, r.Dkv, r.bias.k, 'normal'),
    ...linearSpecs(`${prefix}.${n.v}`, r.K * r.Dh, r.Dkv, r.bias.v, 'normal'),
    ...linearSpecs(`${prefix}.${n.o}`, cfg.dim, r.H * r.Dh, r.bias.o, 'residual'),
  ];
  if (cfg.qkNorm) specs.push({ name: `${prefix}.${n.qNorm}.weight`, shape: [r.Dh], init: 'ones' }, { name: `${prefix}.${n.kNorm}.weight`, shape: [r.Dh], init: 'ones' });
  return specs;
}

function project(p: Params, name: string, x: Tensor, bias: boolean): Tensor {
  return linear(x, p(`${name}.weight`), bias ? p(`${name}.bias`) : undefined);
}

/** Splits [B, T, n·Dh] into heads [B, n, T, Dh]. */
export function splitHeads(x: Tensor, n: number, dh: number): Tensor {
  const [b, t] = x.shape;
  return o.transpose(o.reshape(x, [b!, t!, n, dh]), [0, 2, 1, 3]);
}

/** Merges heads [B, H, T, Dh] back into [B, T, H·Dh]. */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, dh] = x.shape;
  return o.reshape(o.transpose(x, [0, 2, 1, 3]), [b!, t!, (h as number) * (dh as number)]);
}

function rotate(rope: Rope | undefined, x: Tensor, role: 'q' | 'k'): Tensor {
  if (!rope) return x;
  return typeof rope === 'function' ? rope(x, role) : applyRope(x, rope.cos, rope.sin);
}

/**
 * Multi-head attention, x [B, T, D] → out [B, T, D]. Self-attention by default; with `kv` [B, S, Dkv]
 * it is cross-attention (keys/values from kv). Grouped KV heads (GQA), optional projection biases,
 * RoPE on q/k, RMSNorm on q/k heads and a KV cache (appended, and returned for the next step).
 * Reads `{prefix}.{q,k,v,o}_proj.{weight,bias}` and `{prefix}.{q,k}_norm.weight`.
 */
export function multiHeadAttention(p: Params, prefix: string, x: Tensor, opts: MultiHeadAttentionOptions): { out: Tensor; cache: KvCache } {
  const r = resolveAttention(opts);
  const n = r.names;
  const src = opts.kv ?? x;
  let q = splitHeads(project(p, `${prefix}.${n.q}`, x, r.bias.q), r.H, r.Dh); // [B, H, T, Dh]
  let k = splitHeads(project(p, `${prefix}.${n.k}`, src, r.bias.k), r.K, r.Dh); // [B, K, S, Dh]
  let v = splitHeads(project(p, `${prefix}.${n.v}`, opts.values ?? src, r.bias.v), r.K, r.Dh); // [B, K, S, Dh]
  if (opts.qkNorm) {
    q = rmsNorm(q, p(`${prefix}.${n.qNorm}.weight`), opts.qkNorm.eps);
    k = rmsNorm(k, p(`${prefix}.${n.kNorm}.weight`), opts.qkNorm.eps);
  }
  q = rotate(opts.rope, q, 'q');
  k = rotate(opts.rope, k, 'k');
  if (opts.cache) {
    k = o.concat([opts.cache.k, k], 2); // [B, K, P+T, Dh]
    v = o.concat([opts.cache.v, v], 2);
  }
  const a = attention(q, k, v, { ...(opts.mask ? { mask: opts.mask } : {}), ...(opts.scale !== undefined ? { scale: opts.scale } : {}) }); // [B, H, T, Dh]
  return { out: project(p, `${prefix}.${n.o}`, mergeHeads(a), r.bias.o), cache: { k, v } };
}

// ─── MLP ────────────────────────────────────────────────────────────────────

/**
 * `gelu`: fc2(act(fc1 x)) with biases (ViT, CLIP, Whisper, Mllama's vision encoder);
 * `silu`: fc2(silu(fc1 x)) with biases (the Conformer's Macaron FFN: "swish");
 * `swiglu`: down(silu(gate x) ⊙ up x) without biases (Llama, Mllama's text layers).
 */
export interface MlpConfig {
  readonly kind: 'gelu' | 'silu' | 'swiglu';
  readonly dim: number;
  readonly hidden: number;
  /** Linear biases; default true for gelu and silu, false for swiglu. */
  readonly bias?: boolean;
  /** `gelu` only: 'exact' (erf, default) or 'tanh' (the approximation GPT-2/SigLIP use). */
  readonly approximate?: 'exact' | 'tanh';
  /** Sub-module names; defaults fc1/fc2 (gelu, silu) or gate_proj/up_proj/down_proj (swiglu). */
  readonly names?: { readonly fc1?: string; readonly fc2?: string; readonly gate?: string; readonly up?: string; readonly down?: string };
}

function mlpNames(cfg: MlpConfig) {
  return { fc1: 'fc1', fc2: 'fc2', gate: 'gate_proj', up: 'up_proj', down: 'down_proj', ...cfg.names };
}

/** Parameters of `mlp(p, prefix, …, cfg)`: inner projections 'normal', the output 'residual'. */
export function mlpParamSpecs(prefix: string, cfg: MlpConfig): ParamSpec[] {
  const n = mlpNames(cfg);
  const bias = cfg.bias ?? cfg.kind !== 'swiglu';
  if (cfg.kind !== 'swiglu') return [...linearSpecs(`${prefix}.${n.fc1}`, cfg.hidden, cfg.dim, bias, 'normal'), ...linearSpecs(`${prefix}.${n.fc2}`, cfg.dim, cfg.hidden, bias, 'residual')];
  return [
    ...linearSpecs(`${prefix}.${n.gate}`, cfg.hidden, cfg.dim, bias, 'normal'),
    ...linearSpecs(`${prefix}.${n.up}`, cfg.hidden, cfg.dim, bias, 'normal'),
    ...linearSpecs(`${prefix}.${n.down}`, cfg.dim, cfg.hidden, bias, 'residual'),
  ];
}

/** GELU with the tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
export function geluTanh(x: Tensor): Tensor {
  const inner = o.mul(o.add(x, o.mul(o.mul(o.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return o.mul(o.mul(x, 0.5), o.add(o.tanh(inner), 1));
}

/** The feed-forward network, x [B, T, D] → [B, T, D] (hidden [B, T, F]). */
export function mlp(p: Params, prefix: string, x: Tensor, cfg: MlpConfig): Tensor {
  const n = mlpNames(cfg);
  const bias = cfg.bias ?? cfg.kind !== 'swiglu';
  if (cfg.kind !== 'swiglu') {
    const h = project(p, `${prefix}.${n.fc1}`, x, bias); // [B, T, F]
    const act = cfg.kind === 'silu' ? silu(h) : cfg.approximate === 'tanh' ? geluTanh(h) : gelu(h);
    return project(p, `${prefix}.${n.fc2}`, act, bias);
  }
  const gate = silu(project(p, `${prefix}.${n.gate}`, x, bias)); // [B, T, F]
  return project(p, `${prefix}.${n.down}`, o.mul(gate, project(p, `${prefix}.${n.up}`, x, bias)), bias);
}

// ─── pre-norm Transformer block ─────────────────────────────────────────────

export interface NormConfig {
  /** 'rms': weight only (Llama); 'layer': weight and bias (ViT, Whisper). */
  readonly kind: 'rms' | 'layer';
  readonly eps: number;
}

export function normParamSpecs(name: string, dim: number, cfg: NormConfig): ParamSpec[] {
  const w: ParamSpec = { name: `${name}.weight`, shape: [dim], init: 'ones' };
  return cfg.kind === 'layer' ? [w, { name: `${name}.bias`, shape: [dim], init: 'zeros' }] : [w];
}

/** RMSNorm or LayerNorm over the last axis, reading `{name}.weight` (and `{name}.bias`). */
export function norm(p: Params, name: string, x: Tensor, cfg: NormConfig): Tensor {
  return cfg.kind === 'rms' ? rmsNorm(x, p(`${name}.weight`), cfg.eps) : layerNorm(x, p(`${name}.weight`), p(`${name}.bias`), cfg.eps);
}

export interface BlockNames {
  /** Norm before attention (Llama `input_layernorm`, CLIP `layer_norm1`). */
  readonly attnNorm: string;
  /** Attention sub-module (`self_attn`; Mllama's cross layers: `cross_attn`). */
  readonly attn: string;
  /** Norm before the MLP (Llama `post_attention_layernorm`, CLIP `layer_norm2`). */
  readonly mlpNorm: string;
  readonly mlp: string;
  /** Tanh gate scalars [1] (Mllama's text cross layers: `cross_attn_attn_gate`, `cross_attn_mlp_gate`; its vision encoder: `gate_attn`, `gate_ffn`). */
  readonly attnGate: string;
  readonly mlpGate: string;
}

const BLOCK_NAMES: BlockNames = { attnNorm: 'input_layernorm', attn: 'self_attn', mlpNorm: 'post_attention_layernorm', mlp: 'mlp', attnGate: 'attn_gate', mlpGate: 'mlp_gate' };

export interface TransformerBlockConfig {
  readonly norm: NormConfig;
  readonly attention: AttentionConfig;
  readonly mlp: MlpConfig;
  /**
   * Multiply each residual branch by tanh(gate) with a learnt scalar gate initialised to 0, so a new
   * block starts as the identity (Llama 3 §7.3 / Mllama's gated cross-attention; Flamingo §2.2).
   */
  readonly gated?: boolean;
  readonly names?: Partial<BlockNames>;
}

export function transformerBlockParamSpecs(prefix: string, cfg: TransformerBlockConfig): ParamSpec[] {
  const n = { ...BLOCK_NAMES, ...cfg.names };
  const d = cfg.attention.dim;
  return [
    ...normParamSpecs(`${prefix}.${n.attnNorm}`, d, cfg.norm),
    ...attentionParamSpecs(`${prefix}.${n.attn}`, cfg.attention),
    ...(cfg.gated ? [{ name: `${prefix}.${n.attnGate}`, shape: [1], init: 'zeros' } as const] : []),
    ...normParamSpecs(`${prefix}.${n.mlpNorm}`, d, cfg.norm),
    ...mlpParamSpecs(`${prefix}.${n.mlp}`, cfg.mlp),
    ...(cfg.gated ? [{ name: `${prefix}.${n.mlpGate}`, shape: [1], init: 'zeros' } as const] : []),
  ];
}

function gate(p: Params, name: string, branch: Tensor): Tensor {
  const g = o.tanh(p(name));
  return o.mul(branch, branch.dtype === g.dtype ? g : o.cast(g, branch.dtype));
}

/**
 * Pre-norm block: h = x + [tanh(g_a)·] attn(norm(x)); out = h + [tanh(g_m)·] mlp(norm(h)).
 * x [B, T, D] → [B, T, D]; `inputs` carries the attention's per-call tensors (kv source, mask,
 * rope, cache), and the attention's cache comes back for incremental decoding.
 */
export function transformerBlock(p: Params, prefix: string, x: Tensor, cfg: TransformerBlockConfig, inputs: AttentionInputs = {}): { out: Tensor; cache: KvCache } {
  const n = { ...BLOCK_NAMES, ...cfg.names };
  const attn = multiHeadAttention(p, `${prefix}.${n.attn}`, norm(p, `${prefix}.${n.attnNorm}`, x, cfg.norm), { ...cfg.attention, ...inputs });
  const h = o.add(x, cfg.gated ? gate(p, `${prefix}.${n.attnGate}`, attn.out) : attn.out);
  const f = mlp(p, `${prefix}.${n.mlp}`, norm(p, `${prefix}.${n.mlpNorm}`, h, cfg.norm), cfg.mlp);
  return { out: o.add(h, cfg.gated ? gate(p, `${prefix}.${n.mlpGate}`, f) : f), cache: attn.cache };
}
