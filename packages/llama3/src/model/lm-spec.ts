/**
 * One description of what the language core's graphs take in, used by training, evaluation and the
 * KV-cache decoder alike: the LM inputs (tokens, targets, positions, document ids; the decoder's
 * cache, mask and lastIndex), the parameter groups (the core, then an extension's encoder/adapter
 * groups) and an extension's own inputs and hooks. A modality (vision, video, speech) writes an
 * `LmExtension`; every graph builder declares its inputs and parameters from it, so nothing is
 * declared twice and a hook never reaches for inputs behind the builder's back.
 *
 * Legend: B batch, T tokens (new tokens in the decoder), P cached tokens, D model dim, V vocabulary.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type DType, type Dim, type ExternalData, type Graph, type HostArray, type KvCache, type ParamSpec, type Params, type Tensor } from '@herd/graph';
import { type LlamaConfig } from '../config.js';
import { type ForwardOutputs, forward } from './llama.js';
import { headDim, llamaParamSpecs } from './weights.js';

/** The name of the Llama weights' group. */
export const CORE_GROUP = 'core';

/** Parameters that train or stay frozen together (the core; a modality's encoder; its adapter). */
export interface ParamGroup {
  readonly name: string;
  readonly specs: readonly ParamSpec[];
}

/**
 * An extension input: dims are numbers, 'B' (batch; symbolic in the decoder), 'T' (token length), or
 * another name: a dim left symbolic (e.g. 'S', image tokens, so one exported decoder takes any count).
 */
export interface LmInputDecl {
  readonly dtype: DType;
  readonly shape: readonly (number | string)[];
}

/** What an extension's functions see. */
export interface LmHookContext {
  /** The extension's declared inputs, by name. */
  readonly inputs: Readonly<Record<string, Tensor>>;
  /** Every parameter (core and extension groups). */
  readonly p: Params;
  /** What `encode` returned (e.g. encoded image features), computed once per graph. */
  readonly encoded: Readonly<Record<string, Tensor>>;
}

/**
 * A modality's part of the graphs: its parameter groups, its inputs and where it acts. Without an
 * extension the graphs are exactly the plain core.
 */
export interface LmExtension {
  readonly groups: readonly ParamGroup[];
  readonly inputs?: Readonly<Record<string, LmInputDecl>>;
  /** Runs once before the decoder (an encoder over the modality's input). */
  readonly encode?: (ctx: Omit<LmHookContext, 'encoded'>) => Record<string, Tensor>;
  /** Replaces the token embeddings [B, T, D] (e.g. splicing speech embeddings in). */
  readonly embed?: (h: Tensor, ctx: LmHookContext) => Tensor;
  /** Called before decoder layer i with the residual stream [B, T, D] (e.g. gated cross-attention at the fusion schedule). */
  readonly beforeLayer?: (i: number, h: Tensor, ctx: LmHookContext) => Tensor;
  /**
   * An extra training objective on the extension's own outputs (e.g. CTC of speech adapter frames
   * against the core's embeddings), added to the next-token loss by the training graph with the
   * weight `auxiliaryWeight` of `buildLmTraining` (not built when that is 0 or absent; evaluation
   * and decoder graphs never build it). Its inputs are extension inputs like any other; `metrics`
   * are logged with each step.
   */
  readonly auxiliaryLoss?: (ctx: LmHookContext) => { readonly loss: Tensor; readonly metrics?: Readonly<Record<string, Tensor>> };
}

/** A core and an optional extension: what every LM graph builder takes. */
export interface LmGraphSpec {
  readonly config: LlamaConfig;
  readonly extension?: LmExtension;
}

/** A plain config is the spec of the core alone. */
export function asLmSpec(spec: LmGraphSpec | LlamaConfig): LmGraphSpec {
  return 'config' in spec ? spec : { config: spec };
}

/** The core group, then the extension's groups; names must be unique across groups. */
export function lmParamGroups(spec: LmGraphSpec): ParamGroup[] {
  const groups = [{ name: CORE_GROUP, specs: llamaParamSpecs(spec.config) }, ...(spec.extension?.groups ?? [])];
  const seenGroups = new Set<string>();
  const owner = new Map<string, string>();
  const problems: string[] = [];
  for (const g of groups) {
    if (seenGroups.has(g.name)) problems.push(`group '${g.name}' is declared twice`);
    seenGroups.add(g.name);
    for (const s of g.specs) {
      const prev = owner.get(s.name);
      if (prev) problems.push(`parameter '${s.name}' is in groups '${prev}' and '${g.name}'`);
      owner.set(s.name, g.name);
    }
  }
  if (problems.length) throw new HerdError('invalid_config', `LM graph spec:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return groups;
}

/** Host values of parameters by name; frozen ones may instead point into their file (ONNX external data). */
export type ParamValuesByName = Readonly<Record<string, { readonly shape: readonly number[]; readonly data?: HostArray; readonly external?: ExternalData }>>;

export interface DeclaredParams {
  readonly p: Params;
  /** The tensors of each group, by group name. */
  readonly byGroup: ReadonlyMap<string, readonly Tensor[]>;
}

/**
 * Declares every group's parameters. Groups in `train` are trainable (values required); groups in
 * `fed` get their values at run time (graph inputs, no values needed); the rest are frozen
 * initializers (values or external data required). With `compute` f16 the f32 parameters are master
 * copies cast to f16 (mixed precision).
 */
export function declareLmParams(g: Graph, spec: LmGraphSpec, weights: ParamValuesByName, o: { train?: readonly string[]; fed?: readonly string[]; compute?: 'f32' | 'f16' } = {}): DeclaredParams {
  const groups = lmParamGroups(spec);
  const train = new Set(o.train ?? []);
  const fed = new Set(o.fed ?? []);
  const known = new Set(groups.map((x) => x.name));
  const problems: string[] = [];
  for (const n of [...train, ...fed]) if (!known.has(n)) problems.push(`no parameter group '${n}' (groups: ${[...known].join(', ')})`);
  for (const n of train) if (fed.has(n)) problems.push(`group '${n}' cannot be both trained and fed`);
  const byGroup = new Map<string, Tensor[]>();
  const tensors = new Map<string, Tensor>();
  for (const grp of groups) {
    const list: Tensor[] = [];
    for (const s of grp.specs) {
      const w = weights[s.name];
      const trainable = train.has(grp.name);
      if (!fed.has(grp.name)) {
        if (!w) {
          problems.push(`missing '${s.name}' (group '${grp.name}')`);
          continue;
        }
        if (w.shape.join() !== s.shape.join()) problems.push(`'${s.name}' has shape [${w.shape}], the spec needs [${s.shape}]`);
        if (trainable && !w.data) problems.push(`'${s.name}' is in trained group '${grp.name}' but has no values in memory (load without external data to train)`);
      }
      const value = !fed.has(grp.name) && w?.data ? { value: w.data } : {};
      const external = !fed.has(grp.name) && w?.external ? { external: w.external } : {};
      const t = g.param(s.name, 'f32', s.shape as number[], { trainable, ...value, ...external });
      list.push(t);
      tensors.set(s.name, o.compute === 'f16' ? G.cast(t, 'f16') : t);
    }
    byGroup.set(grp.name, list);
  }
  if (problems.length) {
    const shown = problems.slice(0, 12);
    throw new HerdError('checkpoint_mismatch', `LM parameters: ${problems.length} problem(s):\n${shown.map((p) => `  - ${p}`).join('\n')}${problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : ''}`);
  }
  const p: Params = (name) => {
    const t = tensors.get(name);
    if (!t) throw new HerdError('checkpoint_mismatch', `no parameter '${name}' in the LM spec's groups (${[...known].join(', ')})`);
    return t;
  };
  return { p, byGroup };
}

/** The LM inputs of one graph. */
export interface LmInputs {
  readonly tokens: Tensor;
  /** Training and evaluation: next-token targets (−100 = ignore). */
  readonly targets?: Tensor;
  readonly positions: Tensor;
  /** Boolean [B, 1, T, S]. */
  readonly mask: Tensor;
  /** Decoder only. */
  readonly cache?: readonly KvCache[];
  readonly lastIndex?: Tensor;
  /** The extension's inputs. */
  readonly extra: Readonly<Record<string, Tensor>>;
}

export const CACHE_LEN = 'P';
export const NEW_LEN = 'T';
export const KEY_LEN = 'P+T';

/**
 * Declares a graph's inputs. `train`/`eval` ([batch, seqLen] static): `tokens`, `targets`,
 * `positions` (restarting per document) and `docIds`, all i32; the mask keeps attention causal and
 * inside documents. `decode` (dynamic B, T, P): `tokens`, `positions` [B, T] i32, `past.k.{i}` /
 * `past.v.{i}` [B, K, P, Dh] f32, `mask` [B, 1, T, P+T] bool, `lastIndex` [1] i32. Then the
 * extension's inputs, with 'B'/'T' resolved for this graph.
 */
export function declareLmInputs(g: Graph, spec: LmGraphSpec, kind: 'train' | 'eval' | 'decode', shape?: { batch: number; seqLen: number }): LmInputs {
  const cfg = spec.config;
  const B: Dim = kind === 'decode' ? 'B' : shape!.batch;
  const T: Dim = kind === 'decode' ? NEW_LEN : shape!.seqLen;
  const tokens = g.input('tokens', 'i32', [B, T]);
  const targets = kind === 'decode' ? undefined : g.input('targets', 'i32', [B, T]);
  const positions = g.input('positions', 'i32', [B, T]);
  let mask: Tensor;
  let cache: KvCache[] | undefined;
  let lastIndex: Tensor | undefined;
  if (kind === 'decode') {
    const dh = headDim(cfg);
    cache = Array.from({ length: cfg.nLayers }, (_, i) => ({
      k: g.input(`past.k.${i}`, 'f32', [B, cfg.nKvHeads, CACHE_LEN, dh]),
      v: g.input(`past.v.${i}`, 'f32', [B, cfg.nKvHeads, CACHE_LEN, dh]),
    }));
    mask = g.input('mask', 'bool', [B, 1, NEW_LEN, KEY_LEN]);
    lastIndex = g.input('lastIndex', 'i32', [1]);
  } else {
    mask = G.documentCausalMask(g.input('docIds', 'i32', [B, T]));
  }
  const extra: Record<string, Tensor> = {};
  for (const [name, d] of Object.entries(spec.extension?.inputs ?? {})) {
    extra[name] = g.input(name, d.dtype, d.shape.map((x) => (x === 'B' ? B : x === 'T' ? T : x)));
  }
  return { tokens, ...(targets ? { targets } : {}), positions, mask, ...(cache ? { cache } : {}), ...(lastIndex ? { lastIndex } : {}), extra };
}

/** What the extension's hooks see in one graph: its inputs, the parameters and what `encode` returned (run here, once). */
export function lmHookContext(spec: LmGraphSpec, p: Params, inputs: LmInputs): LmHookContext {
  const base = { inputs: inputs.extra, p };
  return { ...base, encoded: spec.extension?.encode?.(base) ?? {} };
}

/** The decoder stack with the extension's encoder and hooks applied (`ctx`: a context already made for this graph, so `encode` runs once). */
export function lmForward(spec: LmGraphSpec, p: Params, inputs: LmInputs, ctx: LmHookContext = lmHookContext(spec, p, inputs)): ForwardOutputs {
  const ext = spec.extension;
  const embeddings = ext?.embed ? ext.embed(G.gather(p('model.embed_tokens.weight'), inputs.tokens), ctx) : undefined;
  return forward(
    spec.config,
    p,
    { ...(embeddings ? { embeddings } : { tokens: inputs.tokens }), positions: inputs.positions, mask: inputs.mask, ...(inputs.cache ? { cache: inputs.cache } : {}) },
    ext?.beforeLayer ? { beforeLayer: (i, h) => ext.beforeLayer!(i, h, ctx) } : {},
  );
}

/**
 * Several extensions acting on one core as one (e.g. the video adapter composed with the image
 * adapter, §7.4: video cross-attention layers interleaved with the image ones). Groups and inputs are
 * the parts' together (a group, parameter or input declared by two parts is an error); each part's
 * `encode` runs once and only that part's hooks see what it returned; `embed` and `beforeLayer` run
 * in the order the parts are given (so before a shared core layer the first part acts first).
 */
export function composeExtensions(...parts: readonly LmExtension[]): LmExtension {
  const inputs: Record<string, LmInputDecl> = {};
  const problems: string[] = [];
  const groups = new Set<string>();
  parts.forEach((x, k) => {
    for (const g of x.groups) {
      if (groups.has(g.name)) problems.push(`parameter group '${g.name}' is declared by two extensions (part ${k} and an earlier one)`);
      groups.add(g.name);
    }
    for (const [name, d] of Object.entries(x.inputs ?? {})) {
      if (name in inputs) problems.push(`input '${name}' is declared by two extensions (part ${k} and an earlier one)`);
      inputs[name] = d;
    }
  });
  if (problems.length) throw new HerdError('invalid_config', `composed LM extensions:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  // Each part's encoded values are stored under `<part>:<name>` and handed back to that part alone.
  const own = (k: number, encoded: Readonly<Record<string, Tensor>>): Record<string, Tensor> => {
    const prefix = `${k}:`;
    return Object.fromEntries(Object.entries(encoded).filter(([n]) => n.startsWith(prefix)).map(([n, t]) => [n.slice(prefix.length), t]));
  };
  const ext: LmExtension = {
    groups: parts.flatMap((x) => x.groups),
    inputs,
    encode: (ctx) => Object.fromEntries(parts.flatMap((x, k) => Object.entries(x.encode?.(ctx) ?? {}).map(([n, t]) => [`${k}:${n}`, t]))),
    ...(parts.some((x) => x.embed)
      ? { embed: (h: Tensor, ctx: LmHookContext) => parts.reduce((acc, x, k) => (x.embed ? x.embed(acc, { ...ctx, encoded: own(k, ctx.encoded) }) : acc), h) }
      : {}),
    ...(parts.some((x) => x.beforeLayer)
      ? { beforeLayer: (i: number, h: Tensor, ctx: LmHookContext) => parts.reduce((acc, x, k) => (x.beforeLayer ? x.beforeLayer(i, acc, { ...ctx, encoded: own(k, ctx.encoded) }) : acc), h) }
      : {}),
    // The parts' auxiliary losses add up; their metrics keep their names (a name given by two parts is an error).
    ...(parts.some((x) => x.auxiliaryLoss)
      ? {
          auxiliaryLoss: (ctx: LmHookContext) => {
            const each = parts.flatMap((x, k) => (x.auxiliaryLoss ? [x.auxiliaryLoss({ ...ctx, encoded: own(k, ctx.encoded) })] : []));
            const metrics: Record<string, Tensor> = {};
            for (const r of each) {
              for (const [n, t] of Object.entries(r.metrics ?? {})) {
                if (n in metrics) throw new HerdError('invalid_config', `composed LM extensions: auxiliary metric '${n}' is reported by two extensions`);
                metrics[n] = t;
              }
            }
            return { loss: each.slice(1).reduce((a, r) => G.add(a, r.loss), each[0]!.loss), metrics };
          },
        }
      : {}),
  };
  return ext;
}

/**
 * An extension under a name prefix: its parameters (and groups) and its inputs are `${prefix}${name}`,
 * its hooks see them under their own names. Two instances of one modality's extension can then sit in
 * one decoder — e.g. the video model's own image cross-attention layers (`video.image.`) beside the
 * vision checkpoint's, each reading its own keys, values and mask. Parameters and inputs it does not
 * declare (the core's) pass through unprefixed.
 */
export function prefixedExtension(ext: LmExtension, prefix: string): LmExtension {
  const own = new Set(ext.groups.flatMap((g) => g.specs.map((s) => s.name)));
  const ownInputs = Object.keys(ext.inputs ?? {});
  const view = <C extends Omit<LmHookContext, 'encoded'>>(ctx: C): C => {
    const inputs: Record<string, Tensor> = {};
    for (const n of ownInputs) {
      const t = ctx.inputs[`${prefix}${n}`];
      if (t) inputs[n] = t;
    }
    return { ...ctx, inputs, p: (name: string) => ctx.p(own.has(name) ? `${prefix}${name}` : name) };
  };
  return {
    groups: ext.groups.map((g) => ({ name: `${prefix}${g.name}`, specs: g.specs.map((s) => ({ ...s, name: `${prefix}${s.name}` })) })),
    inputs: Object.fromEntries(Object.entries(ext.inputs ?? {}).map(([n, d]) => [`${prefix}${n}`, d])),
    ...(ext.encode ? { encode: (ctx: Omit<LmHookContext, 'encoded'>) => ext.encode!(view(ctx)) } : {}),
    ...(ext.embed ? { embed: (h: Tensor, ctx: LmHookContext) => ext.embed!(h, view(ctx)) } : {}),
    ...(ext.beforeLayer ? { beforeLayer: (i: number, h: Tensor, ctx: LmHookContext) => ext.beforeLayer!(i, h, view(ctx)) } : {}),
    ...(ext.auxiliaryLoss ? { auxiliaryLoss: (ctx: LmHookContext) => ext.auxiliaryLoss!(view(ctx)) } : {}),
  };
}

/** Parameter values renamed `${prefix}${name}` (the weights of a `prefixedExtension`). */
export function prefixedValues<V>(values: Readonly<Record<string, V>>, prefix: string): Record<string, V> {
  return Object.fromEntries(Object.entries(values).map(([n, v]) => [`${prefix}${n}`, v]));
}
