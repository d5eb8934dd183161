/**
 * The speech adapter (Llama 3 paper §7.1 Speech, "Speech adapter"): a convolution with kernel 3 and
 * stride 2 (40 ms → 80 ms frames), one rotary Transformer layer, and a linear layer to the language
 * model's embedding width. Its outputs are spliced into the token-embedding sequence between marker
 * tokens (`spliceEmbeddings`), and the frozen core runs on top through `forward({ embeddings })`.
 * Legend: B batch, S encoder frames, E encoder dim, A = ⌈S/2⌉ adapter frames, H adapter dim,
 * D core dim, T tokens, N = B·A.
 */
import { HerdError } from '@herd/core';
import * as G from '@herd/graph';
import { type ParamSpec, type Params, type Tensor } from '@herd/graph';
import { ropeFrequencies } from '@herd/llama3';

export interface SpeechAdapterConfig {
  /** Encoder output width E. */
  readonly encoderDim: number;
  /** Width H of the convolution output and the Transformer layer (3,072 in the paper). */
  readonly dim: number;
  readonly nHeads: number;
  /** FFN width of the Transformer layer (4,096 in the paper). */
  readonly ffnDim: number;
  /** The core's embedding width D. */
  readonly coreDim: number;
  readonly normEps: number;
  readonly ropeTheta: number;
}

const KERNEL = 3;
const STRIDE = 2;

function blockConfig(c: SpeechAdapterConfig): G.TransformerBlockConfig {
  return {
    norm: { kind: 'layer', eps: c.normEps },
    attention: { dim: c.dim, nHeads: c.nHeads, bias: true },
    mlp: { kind: 'gelu', dim: c.dim, hidden: c.ffnDim },
  };
}

export function adapterParamSpecs(c: SpeechAdapterConfig): ParamSpec[] {
  if (c.dim % c.nHeads !== 0 || (c.dim / c.nHeads) % 2 !== 0) throw new HerdError('invalid_config', `speech adapter: dim ${c.dim} must split into ${c.nHeads} heads of even width`);
  return [
    { name: 'adapter.conv.weight', shape: [c.dim, c.encoderDim, KERNEL], init: { normal: 1 / Math.sqrt(KERNEL * c.encoderDim) } },
    { name: 'adapter.conv.bias', shape: [c.dim], init: 'zeros' },
    ...G.transformerBlockParamSpecs('adapter.layer', blockConfig(c)),
    { name: 'adapter.proj.weight', shape: [c.coreDim, c.dim], init: 'normal' },
    { name: 'adapter.proj.bias', shape: [c.coreDim], init: 'zeros' },
  ];
}

/** Adapter frames for S encoder frames: ⌊(S + 2·1 − 3) / 2⌋ + 1 = ⌈S/2⌉. */
export function adapterFrames(S: number): number {
  return Math.floor((S + 2 - KERNEL) / STRIDE) + 1;
}

/** encoder states [B, S, E] and valid [B, S] (bool) → [B, A, D] in the core's embedding space, and valid [B, A]. */
export function speechAdapter(c: SpeechAdapterConfig, p: Params, h: Tensor, valid: Tensor): { out: Tensor; valid: Tensor } {
  const keep = G.unsqueeze(G.cast(valid, h.dtype), -1); // [B, S, 1]: padding enters the conv as zeros
  const x = G.transpose(G.mul(h, keep), [0, 2, 1]); // [B, E, S]
  const y = G.conv(x, p('adapter.conv.weight'), { strides: [STRIDE], pads: [1] }); // [B, H, A]
  let a = G.add(G.transpose(y, [0, 2, 1]), p('adapter.conv.bias')); // [B, A, H]
  const A = a.dim(1);
  const S = valid.dim(1);
  // An adapter frame is real when the centre of its window (encoder frame 2a) is real.
  const centres = h.graph.constant(Int32Array.from({ length: A }, (_, i) => Math.min(STRIDE * i, S - 1)), 'i32', [A]);
  const validA = G.squeeze(G.gather(G.transpose(G.unsqueeze(valid, -1), [1, 0, 2]), centres), -1); // [A, B]
  const vA = G.transpose(validA, [1, 0]); // [B, A]
  const positions = h.graph.constant(Int32Array.from({ length: A }, (_, i) => i), 'i32', [1, A]);
  const rope = G.ropeTables(positions, ropeFrequencies(c.dim / c.nHeads, c.ropeTheta));
  a = G.transformerBlock(p, 'adapter.layer', a, blockConfig(c), { mask: G.paddingMask(vA), rope }).out;
  return { out: G.linear(a, p('adapter.proj.weight'), p('adapter.proj.bias')), valid: vA };
}

/**
 * The core's input embeddings with speech spliced in: `tokenEmbeddings` [B, T, D] (the prompt, whose
 * positions between the audio markers hold placeholders), `audio` [B, A, D] and `audioIndex` [B, T]
 * i32 — for each position, the row b·A + a of the audio frame that goes there, or −1 to keep the
 * token. Audio frames replace exactly the placeholder positions; everything else is untouched.
 */
export function spliceEmbeddings(tokenEmbeddings: Tensor, audio: Tensor, audioIndex: Tensor): Tensor {
  const d = audio.shape[2]!;
  const flat = G.reshape(audio, [-1, d]); // [N, D] (B may be symbolic in the decoder)
  const isAudio = G.unsqueeze(G.greater(audioIndex, -1), -1); // [B, T, 1]
  const picked = G.gather(flat, G.maximum(audioIndex, 0)); // [B, T, D]
  return G.where(isAudio, G.cast(picked, tokenEmbeddings.dtype), tokenEmbeddings);
}
