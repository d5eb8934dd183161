/**
 * Held-out loss of a language core (with an optional extension) on fixed batches. The evaluation
 * graph is a real one: frozen groups are initializers, and the groups being trained are fed with
 * each call (their current values), so one session evaluates every checkpoint of a run.
 */
import { DEFAULT_DEVICE, type Device, type HostTensor, Session, hostTensor } from '@herd/runtime';
import { type LlamaConfig } from '../config.js';
import { type FrozenWeights, buildLmEval } from '../model/graphs.js';
import { type LmGraphSpec } from '../model/lm-spec.js';
import { IGNORE_INDEX, type PackedSequences } from './pack.js';

export interface LmEvaluatorOptions {
  readonly batch: number;
  readonly seqLen: number;
  /** Groups whose values `loss` is given each call (default: none, all weights frozen in the graph). */
  readonly fed?: readonly string[];
  readonly device?: Device;
  /** Where frozen weights' external data lives. */
  readonly modelDir?: string;
}

export class LmEvaluator {
  private constructor(private readonly session: Session) {}

  static async create(spec: LmGraphSpec | LlamaConfig, frozen: FrozenWeights, o: LmEvaluatorOptions): Promise<LmEvaluator> {
    const model = buildLmEval(spec, frozen, { batch: o.batch, seqLen: o.seqLen, ...(o.fed ? { fed: o.fed } : {}) });
    return new LmEvaluator(await Session.create(model, { device: o.device ?? DEFAULT_DEVICE, ...(o.modelDir ? { modelDir: o.modelDir } : {}) }, 'lm_eval'));
  }

  /** Mean loss per target token over `batches`; `fed` holds the fed groups' current values. */
  async loss(batches: Iterable<Readonly<Record<string, HostTensor>>>, fed: Readonly<Record<string, HostTensor>> = {}): Promise<number> {
    let sum = 0;
    let count = 0;
    // Only what the eval graph reads is fed: a training batch may carry inputs of a training-only
    // objective (an extension's auxiliary loss), and a fed group may have parameters the graph never reads.
    const used = new Set(this.session.inputs.map((i) => i.name));
    const only = (r: Readonly<Record<string, HostTensor>>) => Object.fromEntries(Object.entries(r).filter(([k]) => used.has(k)));
    const params = only(fed);
    for (const b of batches) {
      const out = await this.session.run({ ...params, ...only(b) });
      sum += (out['lossSum']!.data as Float32Array)[0]!;
      count += (out['count']!.data as Float32Array)[0]!;
    }
    return sum / Math.max(count, 1);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Rows of packed sequences as one batch of `tokens`/`targets`/`positions`/`docIds` [rows, T]. */
export function packedBatch(p: PackedSequences, rows: readonly number[]): Record<string, HostTensor> {
  const T = p.seqLen;
  const pick = (a: Int32Array) => {
    const out = new Int32Array(rows.length * T);
    rows.forEach((r, i) => out.set(a.subarray(r * T, (r + 1) * T), i * T));
    return hostTensor('i32', [rows.length, T], out);
  };
  return { tokens: pick(p.tokens), targets: pick(p.targets), positions: pick(p.positions), docIds: pick(p.docIds) };
}

/** All packed sequences as batches of `batch` rows; the last one is filled with repeated rows whose targets are ignored. */
export function* packedBatches(p: PackedSequences, batch: number): Generator<Record<string, HostTensor>> {
  for (let start = 0; start < p.count; start += batch) {
    const rows = Array.from({ length: batch }, (_, i) => Math.min(start + i, p.count - 1));
    const b = packedBatch(p, rows);
    const t = b['targets']!.data as Int32Array;
    rows.forEach((_, i) => start + i >= p.count && t.fill(IGNORE_INDEX, i * p.seqLen, (i + 1) * p.seqLen));
    yield b;
  }
}
