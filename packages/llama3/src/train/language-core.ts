/**
 * The recipe that pre-trains a small Llama-3-architecture language core from scratch on a text
 * corpus (for the mini herd: the synthetic world's corpus, as @herd/data shards), then freezes it as
 * a Hugging Face-layout checkpoint: config.json + model.safetensors (f16) + vocab.json (the pruned
 * vocabulary) + MODEL_CARD.md. Reads top to bottom: config → data → model → optimizer → loop →
 * evaluation → save. The data path (tokenize, pack, stream) is `text-data.ts`, the evaluation graph
 * `evaluate.ts`, saving `save-core.ts` and the card `core-card.ts`.
 */
import { join } from 'node:path';
import { HerdError, ProblemList } from '@herd/core';
import { type BatchPosition, ShardBatchReader } from '@herd/data';
import { DEFAULT_DEVICE, type Device, type HostTensor, TrainingRun, hostTensor } from '@herd/runtime';
import { type BatchSource, type LrSchedule, type SimpleSchedule, train } from '@herd/trainer';
import { type LlamaConfig, parameterCount } from '../config.js';
import { type Weights, buildLmTraining, initWeights } from '../model/graphs.js';
import { CORE_GROUP } from '../model/lm-spec.js';
import { type LanguageCore } from '../mini.js';
import { loadPreset } from '../presets/index.js';
import { PrunedVocab } from '../tokenizer/pruned.js';
import { type Llama3Tokenizer } from '../tokenizer/tokenizer.js';
import { LmEvaluator, packedBatches } from './evaluate.js';
import { roundToF16, saveLanguageCore, writeCoreShape } from './save-core.js';
import { type PackTextOptions, packTextDataset, packedRowsCollate, readPackedRows } from './text-data.js';

export interface LanguageCoreRecipe {
  readonly preset: string;
  /** Config keys that replace the preset's (e.g. a smaller model for a quick run). */
  readonly presetOverrides?: Readonly<Record<string, unknown>>;
  /**
   * Optional fine-tuning stage after pre-training (Llama 3's SFT in miniature): dialogues only, the
   * loss on assistant turns only, learning rate re-warmed to `peak`. Off for the mini core: 1000 SFT
   * steps after its 3000 pre-training steps left scene-QA accuracy unchanged (52% vs 53% key-word
   * match, 2026-11-26), so the committed core is pre-trained only.
   */
  readonly sft?: { readonly steps: number; readonly peak: number; readonly warmup: number };
  readonly seed: number;
  readonly seqLen: number;
  readonly batch: number;
  readonly steps: number;
  readonly schedule: SimpleSchedule;
  readonly weightDecay: number;
  readonly evalEvery: number;
  /**
   * Held-out loss during training is measured on the first this-many packed rows (the whole split
   * can be hundreds of thousands of tokens, which would cost more than the training steps between
   * two evaluations); the final figure too, so the card's rows compare. Default: every row.
   */
  readonly heldoutRows?: number;
  /**
   * Training loss of dialogue documents (QA and instructions) only on the assistant's replies;
   * plain-text documents keep it on every token (`PackTextOptions.replyLoss`). The held-out loss
   * stays on every token, so it compares with a run without. Off for the from-scratch mini core.
   */
  readonly replyLoss?: boolean;
  /**
   * Loss weight of the key words' tokens in dialogue replies (`TrainLanguageCoreOptions.keyWords`
   * says which words those are), relative to 1 on the reply's other tokens: the training loss is the
   * weighted mean (`LmTrainingOptions.targetWeights`). Needs `replyLoss`. Absent or 1: the plain mean.
   */
  readonly keyWordWeight?: number;
}

export const MINI_CORE_RECIPE: LanguageCoreRecipe = {
  preset: 'mini',
  seed: 20240723,
  seqLen: 128,
  batch: 16,
  steps: 3000,
  schedule: { kind: 'cosine', peak: 3e-3, warmup: 60, total: 3000, floor: 3e-4 },
  weightDecay: 0.1,
  evalEvery: 500,
  heldoutRows: 512,
};

export interface LanguageCoreReport {
  readonly config: LlamaConfig;
  readonly parameters: number;
  readonly vocabSize: number;
  readonly trainDocs: number;
  readonly trainTokens: number;
  readonly heldoutTokens: number;
  readonly steps: number;
  readonly seconds: number;
  readonly finalTrainLoss: number;
  /** Mean next-token loss and perplexity on held-out documents, with the saved (f16) weights. */
  readonly heldoutLoss: number;
  readonly heldoutPerplexity: number;
  readonly curve: readonly { step: number; trainLoss: number; heldoutLoss?: number }[];
  readonly device: string;
  /** Where the weights started, when the run continued a trained core (`TrainLanguageCoreOptions.init`). */
  readonly initialisedFrom?: string;
  /** The init core's vocabulary was kept exactly (`init.keepVocabulary`). */
  readonly keptVocabulary?: boolean;
  /** A tied init core was continued with separate input and output embeddings (`init.untieEmbeddings`). */
  readonly untiedEmbeddings?: boolean;
  /** The init core was continued as a deeper one (`init.growLayers`): its layer count and where its layers went. */
  readonly grown?: GrownLayers;
}

/** How a trained core's layers were spread through a deeper one (`grownLayerPositions`). */
export interface GrownLayers {
  /** The trained core's layer count. */
  readonly from: number;
  /** The deeper core's layer count. */
  readonly to: number;
  /** `positions[i]`: the layer of the deeper core that trained layer i became. */
  readonly positions: readonly number[];
}

function toHost(w: Weights): Record<string, HostTensor> {
  return Object.fromEntries(Object.entries(w).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data as Float32Array)]));
}

export interface TrainLanguageCoreOptions {
  readonly tokenizer: Llama3Tokenizer;
  /** Text datasets in the shard format (e.g. @herd/datasets' `text/train` and `text/heldout`). */
  readonly data: { readonly train: string; readonly heldout: string };
  /** Where the packed rows are written (reused by a resumed run). */
  readonly workDir: string;
  readonly outDir: string;
  readonly recipe?: LanguageCoreRecipe;
  readonly device?: Device;
  readonly checkpointDir?: string;
  readonly resume?: boolean;
  readonly logPath?: string;
  /** Text describing the data, for the model card. */
  readonly dataDescription: string;
  /** The command that re-makes the corpus (e.g. @herd/datasets' `textCorpusCommand`), for the card's Re-train section. */
  readonly dataCommand?: string;
  /**
   * Continue from a trained core instead of a fresh init (continued pre-training on a new mix): the
   * same architecture but for the vocabulary; rows of tokens both vocabularies hold are copied,
   * tokens new to this corpus start from the fresh init. `description` names it for the card.
   */
  readonly init?: {
    readonly core: LanguageCore;
    readonly description: string;
    /**
     * Keep the trained core's pruned vocabulary exactly (same ids, same rows), so adapters trained
     * on it still fit the new weights; a corpus token outside it is refused (`invalid_argument`).
     * Default: the vocabulary of the training text, rows copied by Llama 3 id.
     */
    readonly keepVocabulary?: boolean;
    /**
     * Continue a tied core (`tieEmbeddings`) as an untied one, as Llama 3 8B/70B are: `lm_head.weight`
     * starts as a copy of the embedding, so before the first step the new core computes exactly the
     * old one's function; from then on the output rows and the input rows train apart. A core that
     * is already untied is refused (`checkpoint_mismatch`): continue it without this option.
     */
    readonly untieEmbeddings?: boolean;
    /**
     * Continue the core as a deeper one of this many layers (more than it has; Net2Net-style growth):
     * its layers are spread evenly through the new stack (`grownLayerPositions`), each new layer is a
     * fresh one whose output projections (o_proj, down_proj) are zero, so it adds nothing to the
     * residual stream and step 0 computes exactly the trained core's function; from then on every
     * layer trains. Absent: the init core's own depth.
     */
    readonly growLayers?: number;
  };
  /** Which words of a dialogue's replies are its key words (`PackTextOptions.keyWords`), for `recipe.keyWordWeight`. */
  readonly keyWords?: { readonly of: NonNullable<PackTextOptions['keyWords']>['of']; readonly name: string };
}

/** The init core's vocabulary, after checking that it holds every token of the training text. */
function keptVocabulary(from: LanguageCore, corpusIds: readonly number[], tok: Llama3Tokenizer, corpus: string): PrunedVocab {
  if (!from.vocab) throw new HerdError('checkpoint_mismatch', `cannot keep the vocabulary of ${from.dir}: it has no pruned vocabulary (vocab.json)`);
  const held = new Set(from.vocab.ids);
  const missing = corpusIds.filter((id) => !held.has(id));
  if (missing.length) {
    const shown = missing.slice(0, 20).map((id) => `${id} ${JSON.stringify(tok.decode([id]))}`).join(', ');
    throw new HerdError('invalid_argument', `${corpus} uses ${missing.length} token(s) that ${from.dir}'s ${from.vocab.size}-entry vocabulary lacks (${shown}${missing.length > 20 ? ', …' : ''}); train without keeping the vocabulary, or on text it covers`);
  }
  return from.vocab;
}

/** Why `from` cannot be untied (it already is), or undefined. */
function alreadyUntied(from: LanguageCore): string | undefined {
  return from.config.tieEmbeddings ? undefined : `untying the embeddings: ${from.dir} is already untied (it has its own lm_head.weight); continue it without untying`;
}

/**
 * Where the `from` layers of a trained core go in a deeper core of `to` layers: spread evenly, the
 * first and the last kept first and last (4 → 6: 0, 2, 3, 5), so the new layers sit between trained
 * ones rather than piled at one end.
 */
export function grownLayerPositions(from: number, to: number): number[] {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to <= from) throw new HerdError('invalid_argument', `growing a core from ${from} to ${to} layers: the new depth must be an integer above the old one`);
  if (from === 1) return [0];
  return Array.from({ length: from }, (_, i) => Math.round((i * (to - 1)) / (from - 1)));
}

/** A new layer's tensors that write into the residual stream: zero, so the layer starts as the identity. */
const RESIDUAL_OUTPUTS = ['self_attn.o_proj.weight', 'mlp.down_proj.weight'];

/**
 * The fresh weights with the trained core's values put in: every tensor but the embedding must match
 * in shape; embedding rows are copied by full Llama 3 id, so a token keeps what it learned. With
 * `untie` (a tied `from`, an untied `config`) the new `lm_head.weight` gets the old embedding's rows.
 * With `grow` (a `config` deeper than `from`) the trained layers go to `grownLayerPositions` and the
 * others keep their fresh values with `RESIDUAL_OUTPUTS` zeroed.
 */
export function warmStartWeights(fresh: Weights, config: LlamaConfig, vocab: PrunedVocab, from: LanguageCore, opts: { readonly untie?: boolean; readonly grow?: boolean } = {}): Weights {
  const problems = new ProblemList();
  if (opts.untie) {
    const already = alreadyUntied(from);
    if (already) problems.add(already);
    if (config.tieEmbeddings) problems.add('untying the embeddings: the new core\'s config is tied');
  }
  if (opts.grow && config.nLayers <= from.config.nLayers) problems.add(`growing: the new core has ${config.nLayers} layers, not more than ${from.dir}'s ${from.config.nLayers}`);
  for (const k of ['dim', ...(opts.grow ? [] : ['nLayers' as const]), 'nHeads', 'nKvHeads', 'headDim', 'ffnDim', ...(opts.untie ? [] : ['tieEmbeddings' as const])] as const) {
    if (config[k] !== from.config[k]) problems.add(`${k}: the new core has ${String(config[k])}, ${from.dir} has ${String(from.config[k])}`);
  }
  if (!from.vocab) problems.add(`${from.dir} has no pruned vocabulary (vocab.json), so its rows cannot be matched to this corpus' tokens`);
  problems.throwIfAny('checkpoint_mismatch', `cannot continue training from ${from.dir}`);
  // The new core's layer j holds the trained layer trainedAt[j], or a new one (undefined).
  const trainedAt: (number | undefined)[] = Array.from({ length: config.nLayers }, (_, j) => (opts.grow ? undefined : j));
  if (opts.grow) grownLayerPositions(from.config.nLayers, config.nLayers).forEach((j, i) => (trainedAt[j] = i));
  const out: Record<string, Weights[string]> = {};
  const D = config.dim;
  for (const [name, t] of Object.entries(fresh)) {
    const layer = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
    if (layer && trainedAt[Number(layer[1])] === undefined) {
      out[name] = RESIDUAL_OUTPUTS.includes(layer[2]!) ? { ...t, data: new Float32Array(t.data.length) } : t;
      continue;
    }
    const source = layer ? `model.layers.${trainedAt[Number(layer[1])]!}.${layer[2]!}` : name;
    const old = from.weights[opts.untie && name === 'lm_head.weight' ? 'model.embed_tokens.weight' : source];
    if (!old) throw new HerdError('checkpoint_mismatch', `cannot continue training from ${from.dir}: it has no tensor ${source}`);
    if (name === 'model.embed_tokens.weight' || name === 'lm_head.weight') {
      const data = Float32Array.from(t.data as Float32Array);
      const src = old.data as Float32Array;
      vocab.ids.forEach((fullId, row) => {
        const oldRow = from.vocab!.ids.indexOf(fullId);
        if (oldRow >= 0) data.set(src.subarray(oldRow * D, (oldRow + 1) * D), row * D);
      });
      out[name] = { ...t, data };
    } else {
      if (old.shape.join() !== t.shape.join()) throw new HerdError('checkpoint_mismatch', `cannot continue training from ${from.dir}: ${source} is [${old.shape.join(', ')}], the new core's ${name} is [${t.shape.join(', ')}]`);
      out[name] = { ...t, data: Float32Array.from(old.data as Float32Array) };
    }
  }
  return out as Weights;
}

export async function trainLanguageCore(o: TrainLanguageCoreOptions): Promise<LanguageCoreReport> {
  const r = o.recipe ?? MINI_CORE_RECIPE;
  const started = Date.now();
  const untie = o.init?.untieEmbeddings === true;
  // Before packing (minutes on a big corpus): a core that cannot be untied is refused at once.
  const cannotUntie = untie ? alreadyUntied(o.init!.core) : undefined;
  if (cannotUntie) throw new HerdError('checkpoint_mismatch', `cannot continue training from ${o.init!.core.dir}: ${cannotUntie}`);
  const growTo = o.init?.growLayers;
  if (growTo !== undefined && !(Number.isInteger(growTo) && growTo > o.init!.core.config.nLayers)) throw new HerdError('checkpoint_mismatch', `cannot grow ${o.init!.core.dir} to ${growTo} layers: it has ${o.init!.core.config.nLayers}; the new depth must be an integer above that`);

  // 1. Data: documents → full Llama 3 ids → packed rows (shards) → the pruned vocabulary of the
  // training text → batches streamed in a seeded order, mapped to compact ids.
  const pack = { tokenizer: o.tokenizer, seqLen: r.seqLen };
  const weighted = r.keyWordWeight !== undefined && r.keyWordWeight !== 1;
  if (weighted && !r.replyLoss) throw new HerdError('invalid_argument', `language core: keyWordWeight ${r.keyWordWeight} needs replyLoss (the key words are those of dialogue replies)`);
  if (weighted && !o.keyWords) throw new HerdError('invalid_argument', `language core: keyWordWeight ${r.keyWordWeight} given, but no keyWords says which words of a reply are its key words`);
  const keyWords = weighted ? { keyWords: { ...o.keyWords!, weight: r.keyWordWeight! } } : {};
  const trainRows = await packTextDataset(o.data.train, join(o.workDir, weighted ? 'train-keywords' : 'train'), { ...pack, ...(r.replyLoss ? { replyLoss: true } : {}), ...keyWords });
  const heldRows = await packTextDataset(o.data.heldout, join(o.workDir, 'heldout'), pack);
  const sftRows = r.sft ? await packTextDataset(o.data.train, join(o.workDir, 'sft'), { ...pack, sft: true }) : undefined;
  if (trainRows.rows < r.batch) throw new HerdError('invalid_argument', `language core: ${trainRows.rows} packed sequences in ${o.data.train}, fewer than one batch of ${r.batch}`);
  const vocab = o.init?.keepVocabulary ? keptVocabulary(o.init.core, trainRows.ids, o.tokenizer, o.data.train) : PrunedVocab.fromCorpus(o.tokenizer, [], { keepIds: [...trainRows.ids] });
  const toCompact = (ids: ArrayLike<number>) => vocab.toCompact(ids);
  const held = await readPackedRows(heldRows.dir, r.seqLen, toCompact, r.heldoutRows);
  const heldBatches = [...packedBatches(held, r.batch)];
  // Tokens the held-out loss is measured on (packing leaves -100 at document ends and padding).
  const heldoutTokens = held.targets.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
  const readerOptions = { batchSize: r.batch, seed: r.seed, collate: packedRowsCollate(r.seqLen, toCompact, weighted ? { targetWeights: true } : {}) };
  let pretrain = await ShardBatchReader.open(trainRows.dir, readerOptions);
  let sft = sftRows ? await ShardBatchReader.open(sftRows.dir, { ...readerOptions, seed: r.seed + 1_000_003 }) : undefined;
  const data: BatchSource = {
    batchSize: r.batch,
    // Pre-training batches, then (with an SFT stage) fine-tuning batches.
    batch: (index) => (index < r.steps || !sft ? pretrain.batch(index) : sft.batch(index - r.steps)),
    position: () => ({ pretrain: pretrain.position(), ...(sft ? { sft: sft.position() } : {}) }),
    restore: async (p) => {
      const at = p as { pretrain: BatchPosition; sft?: BatchPosition };
      await pretrain.close();
      pretrain = await ShardBatchReader.open(trainRows.dir, readerOptions, at.pretrain);
      if (sft && sftRows) {
        await sft.close();
        sft = await ShardBatchReader.open(sftRows.dir, { ...readerOptions, seed: r.seed + 1_000_003 }, at.sft);
      }
    },
  };

  // 2. Model and optimizer: the whole core trains.
  // A continued core keeps its own architecture (its config.json: a grown core stays grown), untied when untying now,
  // deeper when growing now; a fresh core is the preset's with the recipe's overrides.
  const config: LlamaConfig = o.init
    ? { ...o.init.core.config, vocabSize: vocab.size, ...(untie ? { tieEmbeddings: false } : {}), ...(growTo !== undefined ? { nLayers: growTo } : {}) }
    : loadPreset(r.preset, { ...r.presetOverrides, vocabSize: vocab.size });
  const fresh = initWeights(config, r.seed);
  const weights = o.init ? warmStartWeights(fresh, config, vocab, o.init.core, { untie, grow: growTo !== undefined }) : fresh;
  const grown: GrownLayers | undefined = growTo !== undefined ? { from: o.init!.core.config.nLayers, to: growTo, positions: grownLayerPositions(o.init!.core.config.nLayers, growTo) } : undefined;
  // What the checkpoints' tensors mean, beside them: `freezeCheckpoint` makes any of them a core folder.
  if (o.checkpointDir) await writeCoreShape(o.checkpointDir, config, vocab);
  const graphs = buildLmTraining(config, weights, { batch: r.batch, seqLen: r.seqLen, train: [CORE_GROUP], optimizer: { weightDecay: r.weightDecay }, ...(weighted ? { targetWeights: true } : {}) });
  const run = await TrainingRun.create(graphs, toHost(weights), { device: o.device ?? DEFAULT_DEVICE });
  const evaluator = await LmEvaluator.create(config, {}, { batch: r.batch, seqLen: r.seqLen, fed: [CORE_GROUP], device: o.device ?? DEFAULT_DEVICE });

  // 3. The loop.
  const schedule: LrSchedule = r.sft
    ? { kind: 'stages', stages: [r.schedule, { kind: 'cosine', peak: r.sft.peak, warmup: r.sft.warmup, total: r.sft.steps, floor: r.sft.peak / 10, offset: r.steps }] }
    : r.schedule;
  const curve: { step: number; trainLoss: number; heldoutLoss?: number }[] = [];
  try {
    const result = await train({
      run,
      seed: r.seed,
      steps: r.steps + (r.sft?.steps ?? 0),
      schedule,
      data,
      evalEvery: r.evalEvery,
      evaluate: async (rn) => ({ heldoutLoss: await evaluator.loss(heldBatches, await rn.readParams()) }),
      ...(o.checkpointDir ? { checkpointDir: o.checkpointDir, checkpointEvery: r.evalEvery } : {}),
      ...(o.resume ? { resume: true } : {}),
      ...(o.logPath ? { logPath: o.logPath } : {}),
      label: 'language-core',
      info: { recipe: r },
    });
    for (const [step, loss] of result.losses) {
      const e = result.evals.get(step);
      if (step % 20 === 0 || e) curve.push({ step, trainLoss: loss, ...(e ? { heldoutLoss: e['heldoutLoss']! } : {}) });
    }

    // 4. Freeze: round to f16, evaluate what is saved, write the checkpoint.
    const saved = roundToF16(await run.readParams());
    const heldoutLoss = await evaluator.loss(heldBatches, saved);
    const report: LanguageCoreReport = {
      config,
      parameters: parameterCount(config),
      vocabSize: vocab.size,
      trainDocs: trainRows.docs,
      trainTokens: trainRows.tokens,
      heldoutTokens,
      steps: result.finalStep,
      seconds: (Date.now() - started) / 1000,
      finalTrainLoss: [...result.losses.values()].slice(-20).reduce((a, b) => a + b, 0) / Math.min(20, result.losses.size),
      heldoutLoss,
      heldoutPerplexity: Math.exp(heldoutLoss),
      curve,
      device: run.device,
      ...(o.init ? { initialisedFrom: o.init.description } : {}),
      ...(o.init?.keepVocabulary ? { keptVocabulary: true } : {}),
      ...(untie ? { untiedEmbeddings: true } : {}),
      ...(grown ? { grown } : {}),
    };
    await saveLanguageCore(o.outDir, config, saved, vocab, report, r, { description: o.dataDescription, ...(o.dataCommand ? { command: o.dataCommand } : {}) });
    return report;
  } finally {
    await pretrain.close();
    await sft?.close();
    await evaluator.release();
    await run.release();
  }
}
