/**
 * Parameters the one way every model declares and initialises them: a model lists `ParamSpec`s
 * (checkpoint name, shape, how a fresh model initialises it), a graph declares them with
 * `declareParams` (values and trainability come from the caller), and `initParams` makes fresh
 * values. The blocks in `nn/blocks.ts` publish their specs beside their forward functions, so a
 * model's spec list is the concatenation of its blocks' lists and names cannot drift apart.
 */
import { HerdError, Rng } from '@herd/core';
import { type Graph, type Tensor } from '../ir/tensor.js';

/**
 * How a fresh parameter is initialised.
 * - `normal`: N(0, std) with the run's std (0.02 by default, GPT-2/Llama practice);
 * - `residual`: N(0, std/√(2·layers)) for projections that write into the residual stream
 *   (GPT-2 §2.3: keeps the stream's variance flat in depth);
 * - `zeros` / `ones`: biases, tanh gates (start closed), norm gains;
 * - `{ normal: s }`: N(0, s) with an explicit std (e.g. a 1/√fan-in init).
 */
export type ParamInit = 'normal' | 'residual' | 'zeros' | 'ones' | { readonly normal: number };

export interface ParamSpec {
  /** The checkpoint name, Hugging Face style (`model.layers.0.self_attn.q_proj.weight`). */
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: ParamInit;
}

/** Looks up a declared parameter tensor by its checkpoint name. */
export type Params = (name: string) => Tensor;

/** f32 host values of parameters by name. */
export type ParamValues = Record<string, { shape: number[]; data: Float32Array }>;

export interface InitOptions {
  /** Std of `normal` (default 0.02). */
  readonly std?: number;
  /** Depth used by `residual` (its std is std/√(2·layers)); required when a spec uses `residual`. */
  readonly layers?: number;
}

/**
 * Fresh f32 values for `specs`, drawn from one seeded stream in spec order (so the same specs and
 * seed always give the same bytes, and adding a parameter at the end changes no other value).
 */
export function initParams(specs: readonly ParamSpec[], seed: number, options: InitOptions = {}): ParamValues {
  const rng = new Rng(seed);
  const std = options.std ?? 0.02;
  const out: ParamValues = {};
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (s.init === 'ones') data.fill(1);
    else if (s.init !== 'zeros') {
      const sd = s.init === 'normal' ? std : s.init === 'residual' ? residualStd(std, options.layers, s.name) : s.init.normal;
      for (let i = 0; i < n; i++) data[i] = rng.normal() * sd;
    }
    out[s.name] = { shape: [...s.shape], data };
  }
  return out;
}

function residualStd(std: number, layers: number | undefined, name: string): number {
  if (!(layers !== undefined && layers >= 1)) throw new HerdError('invalid_argument', `initParams: '${name}' uses the residual init, pass options.layers (the model's depth), got ${layers}`);
  return std / Math.sqrt(2 * layers);
}

/**
 * Declares `specs` in `g`; `define(name, shape)` makes each tensor (a `g.param` with values and
 * trainability, maybe followed by a cast). Returns the lookup the model's forward uses; a missing
 * name is an error naming a few of the declared ones.
 */
export function declareParams(g: Graph, specs: readonly Pick<ParamSpec, 'name' | 'shape'>[], define: (name: string, shape: readonly number[]) => Tensor): Params {
  const map = new Map<string, Tensor>();
  for (const s of specs) {
    if (map.has(s.name)) throw new HerdError('invalid_argument', `declareParams: '${s.name}' is listed twice`);
    map.set(s.name, define(s.name, s.shape));
  }
  return (name) => {
    const t = map.get(name);
    if (!t) throw new HerdError('checkpoint_mismatch', `no parameter '${name}' (declared ${map.size}: ${[...map.keys()].slice(0, 4).join(', ')}, …)`);
    return t;
  };
}
