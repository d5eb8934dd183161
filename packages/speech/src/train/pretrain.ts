/**
 * The BEST-RQ pre-training recipe (Llama 3 paper §7.1 Speech), top to bottom: config → data (log-mel
 * features and frozen quantizer targets, computed once per utterance) → model → optimizer → loop
 * (`@herd/trainer`'s `train` over a `TrainingRun`) → held-out evaluation against the code-entropy
 * baseline → save. The paper's run is 500K steps of 2,048 utterances; the mini recipe is a few hundred
 * steps of 8 on a laptop CPU, which is enough to show the encoder learns to predict masked speech.
 */
import { join } from 'node:path';
import { HerdError, Rng, writeFileAtomic, writeSafetensors } from '@herd/core';
import * as G from '@herd/graph';
import { DEFAULT_DEVICE, type Device, type HostTensor, Session, TrainingRun, hostTensor } from '@herd/runtime';
import { type SimpleSchedule, train } from '@herd/trainer';
import { type SpeechConfig } from '../config.js';
import { LogMel } from '../data/log-mel.js';
import { bestRqHeadSpecs, conformerParamSpecs, countParams, initSpeechWeights } from '../model/params.js';
import { loadSpeechPreset } from '../presets/index.js';
import { type BestRqItem, type BestRqShape, bestRqBatch, buildBestRqEval, buildBestRqTraining } from './best-rq.js';
import { RandomProjectionQuantizer, codeEntropy } from './quantizer.js';

export interface BestRqRecipe {
  readonly preset: string;
  /** Overrides of the preset (e.g. a smaller codebook). */
  readonly overrides?: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly batch: number;
  /** Input frames per training crop (10 ms each; the paper crops at 6,000 = 60 s). */
  readonly frames: number;
  readonly steps: number;
  readonly schedule: SimpleSchedule;
  readonly weightDecay: number;
  readonly evalEvery: number;
}

export const MINI_BEST_RQ_RECIPE: BestRqRecipe = {
  preset: 'mini',
  seed: 20240723,
  batch: 8,
  frames: 400,
  steps: 400,
  schedule: { kind: 'cosine', peak: 2e-3, warmup: 30, total: 400, floor: 2e-4 },
  weightDecay: 0.01,
  evalEvery: 100,
};

/** One utterance of 16 kHz mono audio. */
export interface Utterance {
  readonly key: string;
  readonly samples: Float32Array;
}

export interface BestRqReport {
  readonly config: SpeechConfig;
  readonly parameters: number;
  readonly trainUtterances: number;
  readonly heldoutUtterances: number;
  readonly trainSeconds: number;
  readonly steps: number;
  readonly seconds: number;
  readonly featureSeconds: number;
  /** Held-out masked-frame loss (nats, mean over codebooks) at each evaluation, and at the end. */
  readonly curve: readonly { step: number; trainLoss: number; heldoutLoss?: number; heldoutAccuracy?: number }[];
  readonly heldoutLoss: number;
  readonly heldoutAccuracy: number;
  /** Entropy of the held-out masked targets' code distribution: the loss of the best constant predictor. */
  readonly entropyBaseline: number;
  /** 1 / codebookSize: the accuracy of chance. */
  readonly chanceAccuracy: number;
  readonly device: string;
}

export interface PretrainOptions {
  readonly train: readonly Utterance[];
  readonly heldout: readonly Utterance[];
  readonly recipe?: BestRqRecipe;
  readonly device?: Device;
  readonly outDir?: string;
  readonly logPath?: string;
  readonly checkpointDir?: string;
  readonly resume?: boolean;
}

/** Features and quantizer targets for each utterance (skipping none: bad audio throws with its key). */
export function prepareItems(cfg: SpeechConfig, utterances: readonly Utterance[], quantizer: RandomProjectionQuantizer, frontend = new LogMel()): BestRqItem[] {
  return utterances.map((u) => {
    const features = frontend.compute(u.samples, u.key);
    return { key: u.key, features, targets: quantizer.targets(features, u.key) };
  });
}

/** Held-out loss and accuracy on masked frames with fixed masks (seeded per batch), parameters fed in. */
export class BestRqEvaluator {
  private constructor(private readonly cfg: SpeechConfig, private readonly session: Session, private readonly batches: readonly Record<string, HostTensor>[]) {}

  static async create(cfg: SpeechConfig, items: readonly BestRqItem[], shape: BestRqShape, seed: number, device: Device = DEFAULT_DEVICE): Promise<BestRqEvaluator> {
    if (items.length === 0) throw new HerdError('invalid_argument', 'BEST-RQ evaluation needs at least one held-out utterance');
    const batches: Record<string, HostTensor>[] = [];
    for (let start = 0; start < items.length; start += shape.batch) {
      const rows = Array.from({ length: shape.batch }, (_, i) => items[Math.min(start + i, items.length - 1)]!);
      const b = bestRqBatch(cfg, rows, shape, seed + start);
      // Rows repeated to fill the last batch count for nothing.
      const t = b['targets']!.data as Int32Array;
      const per = t.length / shape.batch;
      rows.forEach((_, i) => start + i >= items.length && t.fill(-100, i * per, (i + 1) * per));
      batches.push(b);
    }
    return new BestRqEvaluator(cfg, await Session.create(buildBestRqEval(cfg, shape), { device }, 'bestrq_eval'), batches);
  }

  /** The masked targets the evaluation scores, for the entropy baseline. */
  targets(): Int32Array[] {
    return this.batches.map((b) => Int32Array.from(b['targets']!.data as Int32Array).filter((x) => x !== -100));
  }

  async evaluate(params: Readonly<Record<string, HostTensor>>): Promise<{ loss: number; accuracy: number }> {
    let sum = 0;
    let count = 0;
    let correct = 0;
    for (const b of this.batches) {
      const out = await this.session.run({ ...params, ...b });
      sum += (out['lossSum']!.data as Float32Array)[0]!;
      count += (out['count']!.data as Float32Array)[0]!;
      correct += (out['correct']!.data as Float32Array)[0]!;
    }
    return { loss: sum / Math.max(count, 1), accuracy: correct / Math.max(count, 1) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export async function pretrainBestRq(o: PretrainOptions): Promise<BestRqReport> {
  const r = o.recipe ?? MINI_BEST_RQ_RECIPE;
  const started = Date.now();

  // 1. Config and data: features and frozen targets once per utterance.
  const config = loadSpeechPreset(r.preset, r.overrides ?? {});
  const quantizer = new RandomProjectionQuantizer(config, r.seed);
  const t0 = Date.now();
  const trainItems = prepareItems(config, o.train, quantizer).filter((it) => it.targets.length > 0);
  const heldItems = prepareItems(config, o.heldout, quantizer);
  const featureSeconds = (Date.now() - t0) / 1000;
  if (trainItems.length < r.batch) throw new HerdError('invalid_argument', `BEST-RQ: ${trainItems.length} training utterances, fewer than one batch of ${r.batch}`);
  const shape: BestRqShape = { batch: r.batch, frames: r.frames };

  // 2. Model and optimizer.
  const specs = [...conformerParamSpecs(config), ...bestRqHeadSpecs(config)];
  const weights = initSpeechWeights(config, specs, r.seed);
  const graphs = buildBestRqTraining(config, weights, shape, { weightDecay: r.weightDecay });
  const host = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data)]));
  const run = await TrainingRun.create(graphs, host, { device: o.device ?? 'cpu' });
  const evaluator = await BestRqEvaluator.create(config, heldItems, shape, r.seed + 1, o.device ?? 'cpu');
  const entropyBaseline = codeEntropy(evaluator.targets(), config.bestRq.codebooks, config.bestRq.codebookSize);

  // 3. The loop: each epoch visits the utterances in a seeded order; crops and masks vary per batch seed.
  const perEpoch = Math.floor(trainItems.length / r.batch);
  const orders = new Map<number, BestRqItem[]>();
  const result = await train({
    run,
    seed: r.seed,
    steps: r.steps,
    schedule: r.schedule,
    data: {
      batchSize: r.batch,
      batch: (index, seed) => {
        const epoch = Math.floor(index / perEpoch);
        let ord = orders.get(epoch);
        if (!ord) orders.set(epoch, (ord = new Rng(r.seed + epoch).shuffle([...trainItems])));
        const at = (index % perEpoch) * r.batch;
        return bestRqBatch(config, ord.slice(at, at + r.batch), shape, seed);
      },
    },
    evalEvery: r.evalEvery,
    evaluate: async (rn) => {
      const e = await evaluator.evaluate(await rn.readParams());
      return { heldoutLoss: e.loss, heldoutAccuracy: e.accuracy };
    },
    ...(o.checkpointDir ? { checkpointDir: o.checkpointDir, checkpointEvery: r.evalEvery } : {}),
    ...(o.resume ? { resume: true } : {}),
    ...(o.logPath ? { logPath: o.logPath } : {}),
    label: 'best-rq',
    info: { recipe: r },
  });
  const curve: { step: number; trainLoss: number; heldoutLoss?: number; heldoutAccuracy?: number }[] = [];
  for (const [step, loss] of result.losses) {
    const e = result.evals.get(step);
    if (step % 20 === 0 || e) curve.push({ step, trainLoss: loss, ...(e ? { heldoutLoss: e['heldoutLoss']!, heldoutAccuracy: e['heldoutAccuracy']! } : {}) });
  }

  // 4. Final held-out evaluation and save.
  const params = await run.readParams();
  const final = await evaluator.evaluate(params);
  const report: BestRqReport = {
    config,
    parameters: countParams(conformerParamSpecs(config)),
    trainUtterances: trainItems.length,
    heldoutUtterances: heldItems.length,
    trainSeconds: trainItems.reduce((a, it) => a + it.features.frames / 100, 0),
    steps: result.finalStep,
    seconds: (Date.now() - started) / 1000,
    featureSeconds,
    curve,
    heldoutLoss: final.loss,
    heldoutAccuracy: final.accuracy,
    entropyBaseline,
    chanceAccuracy: 1 / config.bestRq.codebookSize,
    device: run.device,
  };
  if (o.outDir) await saveEncoder(o.outDir, config, params, report, r);
  await evaluator.release();
  await run.release();
  return report;
}

export const BEST_RQ_FILES = { config: 'config.json', weights: 'model.safetensors', report: 'training.json', card: 'MODEL_CARD.md' } as const;

/** The encoder (not the BEST-RQ heads, which pre-training alone needs) as f16 safetensors + config + card. */
async function saveEncoder(dir: string, config: SpeechConfig, params: Readonly<Record<string, HostTensor>>, report: BestRqReport, recipe: BestRqRecipe): Promise<void> {
  const tensors = Object.fromEntries(
    Object.entries(params)
      .filter(([k]) => k.startsWith('encoder.'))
      .map(([k, t]) => [k, { dtype: 'f16' as const, shape: t.shape, data: Uint16Array.from(t.data as Float32Array, (x) => G.f32ToF16Bits(x)) }]),
  );
  await writeSafetensors(join(dir, BEST_RQ_FILES.weights), tensors, { format: 'pt' });
  await writeFileAtomic(join(dir, BEST_RQ_FILES.config), JSON.stringify(config, null, 2) + '\n');
  await writeFileAtomic(join(dir, BEST_RQ_FILES.report), JSON.stringify({ recipe, ...report }, null, 2) + '\n');
  await writeFileAtomic(join(dir, BEST_RQ_FILES.card), modelCard(report, recipe));
}

function modelCard(r: BestRqReport, recipe: BestRqRecipe): string {
  const c = r.config;
  const rows = r.curve.filter((p) => p.heldoutLoss !== undefined).map((p) => `| ${p.step} | ${p.trainLoss.toFixed(3)} | ${p.heldoutLoss!.toFixed(3)} | ${(100 * p.heldoutAccuracy!).toFixed(1)}% |`);
  return `# Mini speech encoder (BEST-RQ pre-trained)

A Conformer speech encoder pre-trained from scratch with BEST-RQ by \`pretrainBestRq\`
(packages/speech/src/train/pretrain.ts), Llama 3 paper §7.1 Speech at mini scale.

## Architecture
80-bin log-mel (Whisper definition) → stack ${c.stack} frames + linear (40 ms) → ${c.nLayers} Conformer blocks, dim ${c.dim},
${c.nHeads} rotary attention heads, Macaron FFNs ${c.ffnDim}, depthwise kernel ${c.convKernel}. Parameters: ${r.parameters.toLocaleString('en-US')} (encoder).

## Pre-training
BEST-RQ: ${c.bestRq.codebooks} frozen random codebooks × ${c.bestRq.codebookSize} codes of dim ${c.bestRq.codeDim}; spans of ${c.bestRq.maskSpan}
frames starting with probability ${c.bestRq.maskProb}, masked with N(0, ${c.bestRq.noiseStd}²) noise; multi-softmax loss on masked frames.
${r.trainUtterances} training utterances (${(r.trainSeconds / 60).toFixed(1)} min of synthetic espeak-ng speech), ${r.heldoutUtterances} held-out
(unseen voices or unseen word combinations). ${recipe.steps} steps of batch ${recipe.batch} × ${recipe.frames} frames, AdamW,
${recipe.schedule.kind} schedule peak ${recipe.schedule.peak}; seed ${recipe.seed}; device ${r.device}; ${(r.seconds / 60).toFixed(1)} minutes.

| step | train loss | held-out loss | held-out accuracy |
|---|---|---|---|
${rows.join('\n')}

**Held-out masked loss ${r.heldoutLoss.toFixed(3)} nats vs the code-entropy baseline ${r.entropyBaseline.toFixed(3)}**
(the best a predictor that ignores the audio can do); accuracy ${(100 * r.heldoutAccuracy).toFixed(1)}% vs chance ${(100 * r.chanceAccuracy).toFixed(2)}%.

## Re-train
\`npm run build && npm run train -w @herd/speech\` (generates the synthetic speech set into out/ if absent).
`;
}

