/**
 * The whole mini speech recipe, top to bottom: prepare the task items of the generated speech (train
 * split, log-mel once) → fine-tune encoder + adapter against the frozen mini core (`fineTuneSpeech`,
 * i.e. the shared `trainAdapter`) → evaluate on held-out voices (WER/CER, spoken QA in three rows) →
 * save the f16 checkpoint with its eval report and model card.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE } from '@herd/data';
import { type LanguageCore, type Llama3Tokenizer } from '@herd/llama3';
import { type SpeechEvalReport, evaluateSpeech, speechEvalTable } from '../eval/speech-eval.js';
import { loadPretrainedEncoder, saveMiniSpeech } from '../mini.js';
import { SpeechGenerator } from '../model/generate.js';
import { type SpeechFineTuneResult, fineTuneSpeech, miniSpeechModel } from './fine-tune.js';
import { type SpeechItem, pickItems, prepareSpeechSet, readSpeechItems } from './speech-data.js';

export interface MiniSpeechRecipe {
  readonly core: LanguageCore;
  readonly tokenizer: Llama3Tokenizer;
  /** A generated speech dataset (folder or shard files) of the synthetic world: training data (train split). */
  readonly source: string | readonly string[];
  /** Held-out-voice utterances for the eval (default: those of `source`). */
  readonly evalSource?: string | readonly string[];
  readonly workDir: string;
  readonly outDir: string;
  /** The pre-trained encoder (default: the committed BEST-RQ mini encoder). */
  readonly encoderDir?: string;
  readonly maxFrames: number;
  readonly seqLen: number;
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed: number;
  /** Held-out items per eval (ASR utterances, spoken questions). */
  readonly evalAsr: number;
  readonly evalQa: number;
  /** How the data was made, for the card. */
  readonly dataDescription: string;
  /** The command that re-trains this checkpoint, for the card. */
  readonly retrainCommand: string;
  readonly log?: (line: string) => void;
}

export interface MiniSpeechRecipeResult {
  readonly train: SpeechFineTuneResult;
  readonly eval: SpeechEvalReport;
  readonly items: { readonly train: number; readonly byTask: Readonly<Record<string, number>>; readonly heldoutAsr: number; readonly heldoutQa: number };
  readonly evalSeconds: number;
}

async function collect(it: AsyncIterable<SpeechItem>): Promise<SpeechItem[]> {
  const out: SpeechItem[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export async function runMiniSpeechRecipe(o: MiniSpeechRecipe): Promise<MiniSpeechRecipeResult> {
  const log = o.log ?? (() => {});
  const encoder = loadPretrainedEncoder(o.encoderDir);
  const model = miniSpeechModel(encoder.config, o.core.config);

  // 1. Data: train items prepared once (re-used by a resumed run); held-out voices for eval.
  const trainDir = join(o.workDir, 'train-items');
  let prepared = { items: -1, byTask: {} as Record<string, number> };
  if (!existsSync(join(trainDir, MANIFEST_FILE))) {
    const t = performance.now();
    prepared = await prepareSpeechSet(o.source, trainDir, { maxFrames: o.maxFrames });
    log(`prepared ${prepared.items} train items ${JSON.stringify(prepared.byTask)} in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  }
  // Held-out voices of the training source give the eval loss during training; the eval set is read after.
  const heldSource = (await collect(readSpeechItems(o.source, { split: 'heldout', maxFrames: o.maxFrames }))).filter((i) => i.heldoutVoice);

  // 2. Train.
  const lossItems = pickItems(heldSource, 2 * o.batch, o.seed + 1);
  const train = await fineTuneSpeech({
    core: o.core, tokenizer: o.tokenizer, model, encoderInit: encoder.weights, dataDir: trainDir, frames: o.maxFrames, seqLen: o.seqLen,
    batch: o.batch, steps: o.steps, lr: o.lr, seed: o.seed, heldout: lossItems, evalEvery: Math.max(1, Math.round(o.steps / 6)), workDir: o.workDir, resume: true,
  });
  log(`trained ${train.finalStep} steps in ${train.seconds.toFixed(0)} s; held-out loss ${train.finalEvalLoss?.toFixed(3)}`);

  // 3. Eval on held-out voices.
  const held = o.evalSource ? (await collect(readSpeechItems(o.evalSource, { split: 'heldout', maxFrames: o.maxFrames }))).filter((i) => i.heldoutVoice) : heldSource;
  const asrItems = pickItems(held.filter((i) => i.task === 'asr'), o.evalAsr, o.seed);
  const qaItems = pickItems(held.filter((i) => i.task === 'qa'), o.evalQa, o.seed);
  log(`held-out voices: ${asrItems.length} ASR, ${qaItems.length} spoken-QA items`);
  const t = performance.now();
  const gen = await SpeechGenerator.create(o.core.config, model, { ...o.core.weights, ...train.weights }, o.maxFrames);
  let report: SpeechEvalReport;
  try {
    report = await evaluateSpeech({ core: o.core, tokenizer: o.tokenizer, speech: gen, asr: asrItems, qa: qaItems });
  } finally {
    await gen.release();
  }
  const evalSeconds = (performance.now() - t) / 1000;
  log(`\n${speechEvalTable(report)}`);

  // 4. Save.
  const result = { train, eval: report, items: { train: prepared.items, byTask: prepared.byTask, heldoutAsr: asrItems.length, heldoutQa: qaItems.length }, evalSeconds };
  await saveMiniSpeech(o.outDir, model, o.maxFrames, o.core, train.weights, { eval: report, card: miniSpeechCard(o, result) });
  return result;
}

function miniSpeechCard(o: MiniSpeechRecipe, r: MiniSpeechRecipeResult): string {
  const m = miniSpeechModel(loadPretrainedEncoder(o.encoderDir).config, o.core.config);
  const losses = [...r.train.losses.values()];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const evals = [...r.train.evals.entries()].map(([s, e]) => `${s}: ${Number(e['evalLoss']).toFixed(3)}`).join(', ');
  return `# Mini speech adapter

The mini herd's ears: the BEST-RQ pre-trained mini Conformer (packages/speech/weights/mini-encoder) and
the speech adapter (Llama 3 §7.1: conv k3 s2 → one rotary Transformer layer → linear to the core's
width), fine-tuned by \`runMiniSpeechRecipe\` (packages/speech/src/train/mini-recipe.ts) through the
shared adapter recipe \`trainAdapter\` against the frozen committed mini language core
(packages/llama3/weights/mini, not copied here). Only the groups \`speechEncoder\` and
\`speechAdapter\` trained; every core weight was a frozen initializer (no gradient, no optimizer state).
The adapter's outputs are spliced into the core's input embeddings between two learnt marker rows.

## Architecture
Encoder: 80-bin log-mel → stack ${m.encoder.stack} + linear (40 ms) → ${m.encoder.nLayers} Conformer blocks, dim ${m.encoder.dim}, ${m.encoder.nHeads} heads, FFN ${m.encoder.ffnDim}, kernel ${m.encoder.convKernel}.
Adapter: conv k3 s2 (80 ms frames) → width ${m.adapter.dim}, one rotary layer (${m.adapter.nHeads} heads, FFN ${m.adapter.ffnDim}) → linear to ${m.adapter.coreDim}.
Audio up to ${o.maxFrames / 100} s (${o.maxFrames} frames). Stored as f16.

## Data
${o.dataDescription}
Train items (≤ ${o.maxFrames / 100} s): ${r.items.train >= 0 ? `${r.items.train} (${Object.entries(r.items.byTask).map(([k, v]) => `${k} ${v}`).join(', ')})` : 'prepared by an earlier run'}.
Tasks: ASR ("Transcribe the audio." → transcript, statements and questions), spoken QA (scene in text +
spoken question → answer), AST (French/German/Spanish scene descriptions → an English description of the
same scene). Eval on held-out voices only (speakers never heard in training).

## Training
${r.train.finalStep} steps, batch ${o.batch} × ${o.seqLen} tokens, AdamW (weight decay 0.01), cosine peak ${o.lr} with 5% warm-up, floor 10%; seed ${o.seed}.
Train loss ${losses.length ? `${losses[0]!.toFixed(3)} → ${mean(losses.slice(-20)).toFixed(3)}` : '—'} (first step → mean of the last 20); held-out loss by step: ${evals || '—'}.
Training took ${r.train.seconds.toFixed(0)} s on CPU (2 cores shared with other jobs, niced).

## Eval (held-out voices; eval took ${r.evalSeconds.toFixed(0)} s)
WER/CER: corpus-level Levenshtein over normalised text (NFKC, lower case, punctuation → space;
packages/speech/src/eval/wer.ts). Spoken QA graded by the core's chat-QA grader (every content word of
the reference in the greedy answer).

${speechEvalTable(r.eval)}
Issue targets for the mini herd: WER ≤ 10% on unseen voices, spoken-QA accuracy ≥ 85%.

## Re-train
\`${o.retrainCommand}\`
`;
}
