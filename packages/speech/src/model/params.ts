/**
 * Parameter names, shapes and initialisation of the Conformer encoder, as `@herd/graph` ParamSpecs
 * built from the shared blocks' spec functions. Names follow NeMo's ConformerEncoder
 * (`layers.{i}.feed_forward1.linear1`, `norm_self_att`, `self_attn.linear_q`, `conv.depthwise_conv`, …)
 * so a reader of either finds the other; linear weights are [out, in] (herd's one linear), and the
 * pointwise convolutions are stored as linears [out, in] (a kernel-1 convolution is a linear map).
 * The convolution module's norm is a LayerNorm (NeMo's `conv_norm_type: layer_norm`): BatchNorm's
 * batch statistics would mix padded frames into real ones.
 */
import * as G from '@herd/graph';
import { type ParamSpec } from '@herd/graph';
import { type SpeechConfig } from '../config.js';

/** The shared attention block's config for the Conformer: biases on all projections, NeMo's names. */
export function attentionConfig(cfg: SpeechConfig): G.AttentionConfig {
  return { dim: cfg.dim, nHeads: cfg.nHeads, bias: true, names: { q: 'linear_q', k: 'linear_k', v: 'linear_v', o: 'linear_out' } };
}

/** The Macaron FFN as the shared MLP block: linear1 → swish → linear2, with biases. */
export function ffnConfig(cfg: SpeechConfig): G.MlpConfig {
  return { kind: 'silu', dim: cfg.dim, hidden: cfg.ffnDim, names: { fc1: 'linear1', fc2: 'linear2' } };
}

export function normConfig(cfg: SpeechConfig): G.NormConfig {
  return { kind: 'layer', eps: cfg.normEps };
}

function linear(name: string, out: number, inp: number, init: ParamSpec['init']): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [out, inp], init },
    { name: `${name}.bias`, shape: [out], init: 'zeros' },
  ];
}

export function conformerLayerSpecs(cfg: SpeechConfig, i: number): ParamSpec[] {
  const p = `encoder.layers.${i}`;
  const d = cfg.dim;
  const n = (name: string) => G.normParamSpecs(name, d, normConfig(cfg));
  return [
    ...n(`${p}.norm_feed_forward1`),
    ...G.mlpParamSpecs(`${p}.feed_forward1`, ffnConfig(cfg)),
    ...n(`${p}.norm_self_att`),
    ...G.attentionParamSpecs(`${p}.self_attn`, attentionConfig(cfg)),
    ...n(`${p}.norm_conv`),
    ...linear(`${p}.conv.pointwise_conv1`, 2 * d, d, 'normal'),
    { name: `${p}.conv.depthwise_conv.weight`, shape: [d, 1, cfg.convKernel], init: { normal: 1 / Math.sqrt(cfg.convKernel) } },
    { name: `${p}.conv.depthwise_conv.bias`, shape: [d], init: 'zeros' },
    ...n(`${p}.conv.norm`),
    ...linear(`${p}.conv.pointwise_conv2`, d, d, 'residual'),
    ...n(`${p}.norm_feed_forward2`),
    ...G.mlpParamSpecs(`${p}.feed_forward2`, ffnConfig(cfg)),
    ...n(`${p}.norm_out`),
  ];
}

/** The encoder: frame stacking + linear, the Conformer layers. */
export function conformerParamSpecs(cfg: SpeechConfig): ParamSpec[] {
  const specs = linear('encoder.pre_encode', cfg.dim, cfg.stack * cfg.nMels, 'normal');
  for (let i = 0; i < cfg.nLayers; i++) specs.push(...conformerLayerSpecs(cfg, i));
  return specs;
}

/** BEST-RQ's prediction heads: one softmax over each codebook, as one linear [codebooks·C, dim]. */
export function bestRqHeadSpecs(cfg: SpeechConfig): ParamSpec[] {
  return linear('bestrq.heads', cfg.bestRq.codebooks * cfg.bestRq.codebookSize, cfg.dim, 'normal');
}

/** Parameter count of the specs. */
export function countParams(specs: readonly ParamSpec[]): number {
  return specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}

/** Fresh values (std 0.02; residual outputs 0.02/√(2·layers)), a function of the seed. */
export function initSpeechWeights(cfg: SpeechConfig, specs: readonly ParamSpec[], seed: number): G.ParamValues {
  return G.initParams(specs, seed, { layers: cfg.nLayers });
}
