/**
 * The adapter-training recipe every modality uses (Llama 3 §7–8: image, video and speech adapters
 * trained against a frozen language core). Reads top to bottom: config → data → graphs → run →
 * eval → save. The caller names the parameter groups that train (a modality's encoder, its
 * adapter); every other group — the core, and later e.g. the image weights under a video adapter —
 * is frozen: an initializer (or external data) of the graphs, with no gradient and no optimizer
 * state. Trained groups are saved one file per group, so a modality's checkpoint is small and
 * separate from the core.
 *
 * A modality writes only its `LmExtension` (encoder, adapter, their inputs and hooks) and a
 * `collate` from dataset samples to a batch: `tokens`/`targets`/`positions`/`docIds` [batch, seqLen]
 * i32 plus the extension's inputs.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, openSafetensors, writeSafetensors } from '@herd/core';
import { type BatchPosition, MANIFEST_FILE, type Sample, ShardBatchReader } from '@herd/data';
import * as G from '@herd/graph';
import { DEFAULT_DEVICE, type Device, type HostTensor, TrainingRun, hostTensor } from '@herd/runtime';
import { type BatchSource, type LrSchedule, train } from '@herd/trainer';
import { type FrozenWeights, buildLmTraining } from '../model/graphs.js';
import { type LmGraphSpec, type ParamGroup, lmParamGroups } from '../model/lm-spec.js';
import { LmEvaluator } from './evaluate.js';

export type Batch = Record<string, HostTensor>;

export interface AdapterRecipe {
  // 1. Config: the core and the modality's extension; which groups train.
  readonly spec: LmGraphSpec;
  /** Groups that train; every other group is frozen. */
  readonly train: readonly string[];
  /**
   * Values of the frozen groups (the core's may be external data) and, optionally, starting values
   * of trained groups; a trained group without values starts from `initParams` with `seed`.
   */
  readonly weights: FrozenWeights;
  /** The folder that frozen weights' external data (`external.path`) is relative to (the core's folder). */
  readonly modelDir?: string;
  readonly seed: number;
  readonly batch: number;
  readonly seqLen: number;
  readonly steps: number;
  readonly schedule: LrSchedule;
  readonly optimizer?: Partial<G.AdamWConfig>;
  /** Weight of the extension's `auxiliaryLoss` added to the next-token loss (default 0: not built). */
  readonly auxiliaryWeight?: number;
  // 2. Data: a dataset in the shard format and the modality's collate, or a ready batch source
  // (e.g. in-memory batches of decoded images reused across stages; it must serve `batch` examples).
  readonly data: ShardData | { readonly source: BatchSource };
  /** Fixed held-out batches, evaluated every `evalEvery` steps and at the end. */
  readonly evalBatches?: readonly Batch[];
  readonly evalEvery?: number;
  /**
   * Checkpoint selection on a validation set: every `every` steps and at the last step, `score` grades the
   * trained values (higher is better). The result's `trained` values (and the saved files) are then the
   * best-scoring step's (the earliest on a tie), not the last step's: a run that collapses late keeps its
   * best point. Only the steps of one call compete, so it does not combine with `resume`.
   */
  readonly select?: AdapterSelection;
  readonly device?: Device;
  readonly checkpointDir?: string;
  readonly checkpointEvery?: number;
  readonly resume?: boolean;
  readonly logPath?: string;
  /** Where to save the trained groups (`<group>.safetensors` each). */
  readonly outDir?: string;
  /** Stop after this many steps in this call (to simulate an interruption). */
  readonly stopAfter?: number;
  readonly label?: string;
}

export interface AdapterSelection {
  readonly every: number;
  readonly score: (trained: Readonly<Record<string, HostTensor>>, step: number) => Promise<number>;
}

/** Which step `AdapterRecipe.select` kept, and the score of every step it graded. */
export interface AdapterSelected {
  readonly step: number;
  readonly score: number;
  readonly curve: readonly { readonly step: number; readonly score: number }[];
}

/** A dataset in the shard format, read and shuffled by `ShardBatchReader`, collated by the modality. */
export interface ShardData {
  readonly dir: string;
  /** Samples → a batch; `index` is the batch's place in the stream (stable across a resume: seed augmentation with it). */
  readonly collate: (samples: readonly Sample[], index: number) => Batch;
  /** What `collate` does besides decoding (augmentation settings), as JSON: part of the run's identity, so resuming with other settings is refused. */
  readonly collateSettings?: unknown;
  readonly shuffleBuffer?: number;
}

export interface AdapterResult {
  readonly losses: ReadonlyMap<number, number>;
  readonly evals: ReadonlyMap<number, Readonly<Record<string, number>>>;
  readonly finalStep: number;
  readonly resumedFrom?: string;
  /** The trained groups' final values, by parameter name. */
  readonly trained: Readonly<Record<string, HostTensor>>;
  /** Saved files by group (with `outDir`). */
  readonly saved: Readonly<Record<string, string>>;
  readonly finalEvalLoss?: number;
  /** With `select`: the kept step (whose values `trained` holds) and the scores. */
  readonly selected?: AdapterSelected;
}

/**
 * The file a trained group is saved to. Group names are dotted paths (`vision.encoder`): segments of
 * letters, digits, '_' or '-' joined by single dots, so a name can never climb out of the folder
 * ('..'), hide the file (leading '.') or contain a separator.
 */
export function groupFileName(group: string): string {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(group)) throw new HerdError('invalid_argument', `parameter group name '${group}' must be segments of letters, digits, '_' or '-' joined by single dots (it names a file)`);
  return `${group}.safetensors`;
}

/** Starting values: given ones, else a seeded init per trained group (the same seed → the same values). */
function startingValues(groups: readonly ParamGroup[], trained: ReadonlySet<string>, weights: FrozenWeights, seed: number, layers: number): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  groups.forEach((grp, gi) => {
    if (!trained.has(grp.name)) return;
    const missing = grp.specs.filter((s) => !weights[s.name]?.data);
    const fresh = missing.length ? G.initParams(missing, seed + gi, { layers }) : {};
    for (const s of grp.specs) {
      const w = weights[s.name]?.data ? weights[s.name]! : fresh[s.name]!;
      out[s.name] = hostTensor('f32', [...w.shape], Float32Array.from(w.data as ArrayLike<number>));
    }
  });
  return out;
}

/**
 * What a run trains, as one digest for its checkpoints (the trainer refuses to resume a checkpoint of
 * another run): the parameter groups and which train, batch, sequence length, seed, every frozen
 * value (or where its external data points), the starting values, the dataset's manifest and the collate's
 * settings (augmentation). Not the
 * schedule or step count: a finished run may be extended.
 */
function runIdentity(r: AdapterRecipe, groups: readonly ParamGroup[], start: Readonly<Record<string, HostTensor>>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ groups: groups.map((g) => [g.name, g.specs.map((s) => [s.name, s.shape])]), train: r.train, batch: r.batch, seqLen: r.seqLen, seed: r.seed, ...(r.auxiliaryWeight ? { auxiliaryWeight: r.auxiliaryWeight } : {}) }));
  const bytes = (a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (const name of Object.keys(r.weights).sort()) {
    if (name in start) continue;
    const w = r.weights[name]!;
    h.update(`${name}:${w.shape.join('x')}:`);
    if (w.data) h.update(bytes(w.data as Float32Array));
    else if (w.external) {
      // External data: where it points, and the file's size and modification time (a rewritten core file is another run).
      const file = join(r.modelDir ?? '.', w.external.path);
      const st = existsSync(file) ? statSync(file) : undefined;
      h.update(JSON.stringify({ ...w.external, size: st?.size, mtime: st?.mtimeMs }));
    }
  }
  for (const name of Object.keys(start).sort()) h.update(name).update(bytes(start[name]!.data as Float32Array));
  if ('dir' in r.data) {
    const manifest = join(r.data.dir, MANIFEST_FILE);
    h.update(existsSync(manifest) ? readFileSync(manifest) : r.data.dir);
    if (r.data.collateSettings !== undefined) h.update(JSON.stringify(r.data.collateSettings));
  } else h.update('batch source');
  return h.digest('hex');
}

/** A `BatchSource` over shards; its position (the reader's) goes into checkpoints. */
async function shardSource(d: ShardData, batch: number, seed: number): Promise<{ source: BatchSource; close: () => Promise<void> }> {
  const readerOptions = { batchSize: batch, seed, collate: d.collate, ...(d.shuffleBuffer ? { shuffleBuffer: d.shuffleBuffer } : {}) };
  let reader = await ShardBatchReader.open(d.dir, readerOptions);
  const source: BatchSource = {
    batchSize: batch,
    batch: (index) => reader.batch(index),
    position: () => reader.position(),
    restore: async (position) => {
      await reader.close();
      reader = await ShardBatchReader.open(d.dir, readerOptions, position as BatchPosition);
    },
  };
  return { source, close: () => reader.close() };
}

export async function trainAdapter(r: AdapterRecipe): Promise<AdapterResult> {
  if (r.select && !(Number.isInteger(r.select.every) && r.select.every >= 1)) throw new HerdError('invalid_argument', `trainAdapter: select.every must be a positive integer (steps between scores), got ${r.select.every}`);
  if (r.select && r.resume) throw new HerdError('invalid_argument', 'trainAdapter: select keeps the best step of this call only; it cannot be combined with resume (the steps before the resume were never scored here)');
  // 1. Config.
  const groups = lmParamGroups(r.spec);
  const trained = new Set(r.train);
  const start = startingValues(groups, trained, r.weights, r.seed, r.spec.config.nLayers);

  // 2. Data: a streaming reader whose position goes into the checkpoints, or the caller's source.
  const shards = 'source' in r.data ? undefined : await shardSource(r.data, r.batch, r.seed);
  const source = 'source' in r.data ? r.data.source : shards!.source;
  if (source.batchSize !== r.batch) throw new HerdError('invalid_argument', `trainAdapter: the batch source serves ${source.batchSize} examples per batch, the graphs take batch ${r.batch}`);

  // 3. Graphs: the trained groups train, the rest are frozen initializers.
  const weights = { ...r.weights, ...start };
  const graphs = buildLmTraining(r.spec, weights, { batch: r.batch, seqLen: r.seqLen, train: r.train, ...(r.optimizer ? { optimizer: r.optimizer } : {}), ...(r.auxiliaryWeight ? { auxiliaryWeight: r.auxiliaryWeight } : {}) });
  const session = { device: r.device ?? DEFAULT_DEVICE, ...(r.modelDir ? { modelDir: r.modelDir } : {}) };
  const run = await TrainingRun.create(graphs, start, session);
  const frozen = Object.fromEntries(Object.entries(r.weights).filter(([k]) => !(k in start)));
  const evaluator = r.evalBatches?.length ? await LmEvaluator.create(r.spec, frozen, { batch: r.batch, seqLen: r.seqLen, fed: r.train, ...session }) : undefined;

  // Selection: the trainer's eval hook scores the values; a copy of the best-scoring step's is kept.
  const curve: { step: number; score: number }[] = [];
  let best: { step: number; score: number; values: Record<string, HostTensor> } | undefined;
  const score = async (params: Record<string, HostTensor>, step: number): Promise<number> => {
    const s = await r.select!.score(params, step);
    if (!Number.isFinite(s)) throw new HerdError('non_finite', `trainAdapter: the selection score of step ${step} is ${s}, not a finite number`);
    curve.push({ step, score: s });
    if (!best || s > best.score) best = { step, score: s, values: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, hostTensor(v.dtype, [...v.shape], (v.data as Float32Array).slice())])) };
    return s;
  };
  const lossEvery = evaluator && r.evalEvery ? r.evalEvery : 0;
  const selectEvery = r.select?.every ?? 0;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const hookEvery = gcd(lossEvery, selectEvery);
  const evaluate = async (rn: TrainingRun, step: number): Promise<Record<string, number>> => {
    const params = await rn.readParams();
    return {
      ...(lossEvery && step % lossEvery === 0 ? { evalLoss: await evaluator!.loss(r.evalBatches!, params) } : {}),
      ...(selectEvery && step % selectEvery === 0 ? { selectScore: await score(params, step) } : {}),
    };
  };

  // 4. Run.
  try {
    const result = await train({
      run,
      data: source,
      schedule: r.schedule,
      steps: r.steps,
      seed: r.seed,
      ...(hookEvery ? { evalEvery: hookEvery, evaluate } : {}),
      ...(r.checkpointDir ? { checkpointDir: r.checkpointDir, ...(r.checkpointEvery ? { checkpointEvery: r.checkpointEvery } : {}) } : {}),
      ...(r.resume ? { resume: true } : {}),
      ...(r.logPath ? { logPath: r.logPath } : {}),
      ...(r.stopAfter !== undefined ? { stopAfter: r.stopAfter } : {}),
      label: r.label ?? 'adapter',
      ...(r.checkpointDir ? { identity: runIdentity(r, groups, start) } : {}),
      info: { train: r.train, batch: r.batch, seqLen: r.seqLen, seed: r.seed },
    });

    // 5. Select, eval and save.
    const last = await run.readParams();
    if (r.select && result.finalStep % selectEvery !== 0) await score(last, result.finalStep);
    const params = best?.values ?? last;
    const finalEvalLoss = evaluator ? await evaluator.loss(r.evalBatches!, params) : undefined;
    const saved: Record<string, string> = {};
    if (r.outDir && result.finalStep === r.steps) {
      mkdirSync(r.outDir, { recursive: true });
      for (const grp of groups) {
        if (!trained.has(grp.name)) continue;
        const path = join(r.outDir, groupFileName(grp.name));
        await writeSafetensors(path, Object.fromEntries(grp.specs.map((s) => [s.name, { dtype: 'f32' as const, shape: [...s.shape], data: params[s.name]!.data as Float32Array }])), { herd_group: grp.name, herd_steps: String(best?.step ?? result.finalStep) });
        saved[grp.name] = path;
      }
    }
    const selected = best ? { step: best.step, score: best.score, curve } : undefined;
    return { losses: result.losses, evals: result.evals, finalStep: result.finalStep, ...(result.resumedFrom ? { resumedFrom: result.resumedFrom } : {}), trained: params, saved, ...(finalEvalLoss !== undefined ? { finalEvalLoss } : {}), ...(selected ? { selected } : {}) };
  } finally {
    await shards?.close();
    await evaluator?.release();
    await run.release();
  }
}

/** Reads trained groups saved by `trainAdapter` (f32 values by parameter name), checking them against the spec. */
export function loadTrainedGroups(dir: string, spec: LmGraphSpec, names: readonly string[]): Record<string, { shape: number[]; data: Float32Array }> {
  const groups = new Map(lmParamGroups(spec).map((g) => [g.name, g]));
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  const problems: string[] = [];
  for (const name of names) {
    const grp = groups.get(name);
    if (!grp) {
      problems.push(`no group '${name}' in the spec (groups: ${[...groups.keys()].join(', ')})`);
      continue;
    }
    const path = join(dir, groupFileName(name));
    const st = openSafetensors(path);
    for (const s of grp.specs) {
      if (!st.names().includes(s.name)) {
        problems.push(`${path}: missing '${s.name}'`);
        continue;
      }
      const t = st.read(s.name);
      if (t.shape.join() !== s.shape.join()) problems.push(`${path}: '${s.name}' has shape [${t.shape}], the spec needs [${s.shape}]`);
      else out[s.name] = { shape: [...t.shape], data: Float32Array.from(t.data as ArrayLike<number>) };
    }
  }
  if (problems.length) throw new HerdError('checkpoint_mismatch', `trained groups in ${dir}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return out;
}
