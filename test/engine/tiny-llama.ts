/** A tiny Llama and one packed batch, shared by the engine tests that train it on several devices. */
import { type LlamaConfig, initWeights, packedBatch, parseLlamaConfig } from '@herd/llama3';
import { type HostTensor, hostTensor } from '@herd/runtime';

export const TINY_LLAMA: LlamaConfig = parseLlamaConfig({ dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, vocabSize: 40, ffnDim: 48, maxSeqLen: 16 });

export function tinyWeights(seed = 9) {
  const w = initWeights(TINY_LLAMA, seed);
  const params = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)]));
  return { w, params };
}

/** Two sequences of 8 tokens (ids `(i·stride) mod V`); `split` starts a second document at that position. */
export function tinyBatch(stride: number, split?: number): Record<string, HostTensor> {
  const ids = Array.from({ length: 16 }, (_, i) => (i * stride) % TINY_LLAMA.vocabSize);
  const seqs = {
    count: 2,
    seqLen: 8,
    tokens: Int32Array.from(ids),
    targets: Int32Array.from(ids, (_, i) => (i % 8 === 7 ? -100 : ids[i + 1]!)),
    positions: Int32Array.from(ids, (_, i) => i % 8),
    docIds: Int32Array.from(ids, (_, i) => (split !== undefined && i % 8 >= split ? 1 : 0)),
  };
  return packedBatch(seqs, [0, 1]);
}
