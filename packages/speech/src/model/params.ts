/**
 * Parameter names, shapes and initialisation of the Conformer encoder. Names follow NeMo's
 * ConformerEncoder (`layers.{i}.feed_forward1.linear1`, `norm_self_att`, `conv.depthwise_conv`, …) so
 * a reader of either finds the other; linear weights are [out, in] (herd's one linear), and the
 * pointwise convolutions are stored as linears [out, in] (a kernel-1 convolution is a linear map).
 * The convolution module's norm is a LayerNorm (NeMo's `conv_norm_type: layer_norm`): BatchNorm's
 * batch statistics would mix padded frames into real ones.
 */
import { Rng } from '@herd/core';
import { type SpeechConfig } from '../config.js';

export interface SpeechParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** normal(std), or constant ones/zeros. */
  readonly init: { readonly kind: 'normal'; readonly std: number } | { readonly kind: 'ones' } | { readonly kind: 'zeros' };
}

const normal = (std: number) => ({ kind: 'normal' as const, std });
const ones = { kind: 'ones' as const };
const zeros = { kind: 'zeros' as const };

function linear(name: string, out: number, inp: number, std = 0.02): SpeechParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [out, inp], init: normal(std) },
    { name: `${name}.bias`, shape: [out], init: zeros },
  ];
}

function norm(name: string, d: number): SpeechParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [d], init: ones },
    { name: `${name}.bias`, shape: [d], init: zeros },
  ];
}

export function conformerLayerSpecs(cfg: SpeechConfig, i: number): SpeechParamSpec[] {
  const p = `encoder.layers.${i}`;
  const d = cfg.dim;
  // Residual branches end in a smaller init (GPT-2 style 1/√(2·layers)) so deep stacks start near identity.
  const out = 0.02 / Math.sqrt(2 * cfg.nLayers);
  return [
    ...norm(`${p}.norm_feed_forward1`, d),
    ...linear(`${p}.feed_forward1.linear1`, cfg.ffnDim, d),
    ...linear(`${p}.feed_forward1.linear2`, d, cfg.ffnDim, out),
    ...norm(`${p}.norm_self_att`, d),
    ...linear(`${p}.self_attn.linear_q`, d, d),
    ...linear(`${p}.self_attn.linear_k`, d, d),
    ...linear(`${p}.self_attn.linear_v`, d, d),
    ...linear(`${p}.self_attn.linear_out`, d, d, out),
    ...norm(`${p}.norm_conv`, d),
    ...linear(`${p}.conv.pointwise_conv1`, 2 * d, d),
    { name: `${p}.conv.depthwise_conv.weight`, shape: [d, 1, cfg.convKernel], init: normal(1 / Math.sqrt(cfg.convKernel)) },
    { name: `${p}.conv.depthwise_conv.bias`, shape: [d], init: zeros },
    ...norm(`${p}.conv.norm`, d),
    ...linear(`${p}.conv.pointwise_conv2`, d, d, out),
    ...norm(`${p}.norm_feed_forward2`, d),
    ...linear(`${p}.feed_forward2.linear1`, cfg.ffnDim, d),
    ...linear(`${p}.feed_forward2.linear2`, d, cfg.ffnDim, out),
    ...norm(`${p}.norm_out`, d),
  ];
}

/** The encoder: frame stacking + linear, the Conformer layers. */
export function conformerParamSpecs(cfg: SpeechConfig): SpeechParamSpec[] {
  const specs = linear('encoder.pre_encode', cfg.dim, cfg.stack * cfg.nMels);
  for (let i = 0; i < cfg.nLayers; i++) specs.push(...conformerLayerSpecs(cfg, i));
  return specs;
}

/** BEST-RQ's prediction heads: one softmax over each codebook, as one linear [codebooks·C, dim]. */
export function bestRqHeadSpecs(cfg: SpeechConfig): SpeechParamSpec[] {
  return linear('bestrq.heads', cfg.bestRq.codebooks * cfg.bestRq.codebookSize, cfg.dim);
}

/** Parameter count of the specs. */
export function countParams(specs: readonly SpeechParamSpec[]): number {
  return specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}

/** Fresh values for the specs, a function of the seed. */
export function initSpeechWeights(specs: readonly SpeechParamSpec[], seed: number): Record<string, { shape: number[]; data: Float32Array }> {
  const rng = new Rng(seed);
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (s.init.kind === 'ones') data.fill(1);
    else if (s.init.kind === 'normal') for (let i = 0; i < n; i++) data[i] = rng.normal() * s.init.std;
    out[s.name] = { shape: [...s.shape], data };
  }
  return out;
}
