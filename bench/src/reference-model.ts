/**
 * The engine benchmarks' reference model — a 4-layer Llama-style pre-norm transformer, d=256,
 * 8 heads, SwiGLU 1024, vocab 512, seq 128 × batch 16 — its training run and a fixed batch; plus
 * the flag parsing the benchmark scripts share.
 */
import { Rng } from '@herd/core';
import { type LlamaConfig, buildLmTraining, initWeights, packedBatch, parseLlamaConfig } from '@herd/llama3';
import { type HostTensor, type SessionOptions, TrainingRun, hostTensor } from '@herd/runtime';

export const SHAPE = { dim: 256, nLayers: 4, nHeads: 8, ffnDim: 1024, vocab: 512, batch: 16, seqLen: 128 } as const;

export const REFERENCE_CONFIG: LlamaConfig = parseLlamaConfig({
  dim: SHAPE.dim, nLayers: SHAPE.nLayers, nHeads: SHAPE.nHeads, nKvHeads: SHAPE.nHeads, headDim: SHAPE.dim / SHAPE.nHeads,
  ffnDim: SHAPE.ffnDim, vocabSize: SHAPE.vocab, maxSeqLen: SHAPE.seqLen,
});

/** A training run of the reference model (AdamW, decay 0.01, clip 1.0) and its parameter count. */
export async function referenceRun(compute: 'f32' | 'f16', options: SessionOptions): Promise<{ run: TrainingRun; params: number }> {
  const w = initWeights(REFERENCE_CONFIG, 0);
  const graphs = buildLmTraining(REFERENCE_CONFIG, w, { batch: SHAPE.batch, seqLen: SHAPE.seqLen, optimizer: { weightDecay: 0.01, clipNorm: 1 }, computeDtype: compute });
  const run = await TrainingRun.create(graphs, Object.fromEntries(Object.entries(w).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)])), options);
  return { run, params: Object.values(w).reduce((a, v) => a + v.data.length, 0) };
}

/** One fixed batch of random tokens (seeded), one document per row. */
export function referenceBatch(): Record<string, HostTensor> {
  const rng = new Rng(0);
  const n = SHAPE.batch * SHAPE.seqLen;
  const ids = (f: (i: number) => number) => Int32Array.from({ length: n }, (_, i) => f(i));
  const seqs = { count: SHAPE.batch, seqLen: SHAPE.seqLen, tokens: ids(() => rng.int(SHAPE.vocab)), targets: ids(() => rng.int(SHAPE.vocab)), positions: ids((i) => i % SHAPE.seqLen), docIds: ids(() => 0) };
  return packedBatch(seqs, Array.from({ length: SHAPE.batch }, (_, i) => i));
}
