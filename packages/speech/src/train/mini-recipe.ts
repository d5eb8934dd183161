/**
 * The whole mini speech recipe, top to bottom: prepare the task items of the generated speech (train
 * split, log-mel once) → fine-tune encoder + adapter against the frozen mini core (`fineTuneSpeech`,
 * i.e. the shared `trainAdapter`) → evaluate on held-out voices (WER/CER, spoken QA in three rows) →
 * save the f16 checkpoint with its eval report and model card.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE, readDataset } from '@herd/data';
import { type LanguageCore, type Llama3Tokenizer, isMiniCoreDir } from '@herd/llama3';
import { DEFAULT_DEVICE, type Device, deviceDescription } from '@herd/runtime';
import { type SpecAugmentConfig } from '../data/spec-augment.js';
import { type SpeechEvalReport, evaluateSpeech, speechEvalTable } from '../eval/speech-eval.js';
import { ctcHeadOf, loadMiniSpeech, loadPretrainedEncoder, saveMiniSpeech } from '../mini.js';
import { SpeechGenerator } from '../model/generate.js';
import { type SpeechFineTuneResult, fineTuneSpeech, miniSpeechModel } from './fine-tune.js';
import { type SpeechItem, type TaskRepeat, checkPreparedTaskRepeat, pickItems, prepareSpeechSet, readSpeechItems, speechSequence } from './speech-data.js';

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
  /** Warm start: a speech checkpoint folder (`saveMiniSpeech`) whose encoder and adapter values start this run instead. */
  readonly initDir?: string;
  /** Longest audio the checkpoint takes at inference, in 10 ms frames (its decoder is padded to it). */
  readonly maxFrames: number;
  /** Longest utterance trained on, and the training graph's padding (default `maxFrames`; shorter is cheaper). */
  readonly trainFrames?: number;
  /** Warm-up steps of the cosine schedule (default 5% of the steps). */
  readonly warmup?: number;
  readonly seqLen: number;
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed: number;
  /** Held-out items per eval (ASR utterances, spoken questions). */
  readonly evalAsr: number;
  readonly evalQa: number;
  /** Held-out speech-translation items (the training source's held-out split: unseen colour×shape scenes; default 0 = no AST row). */
  readonly evalAst?: number;
  /** How the data was made, for the card. */
  readonly dataDescription: string;
  /** The command that re-trains this checkpoint, for the card. */
  readonly retrainCommand: string;
  /** The CTC alignment objective (`fineTuneSpeech`'s `ctc`): weight and the longest transcript in tokens. */
  readonly ctc?: { readonly weight: number; readonly maxLabels: number };
  /** SpecAugment of the training utterances (`fineTuneSpeech`'s `specAugment`; default none). */
  readonly specAugment?: SpecAugmentConfig;
  /** The task mixture: how many times each task's train items are written into the prepared set (default once each). */
  readonly taskRepeat?: TaskRepeat;
  /** Where every ONNX session of the run (training, eval) runs; resolved by the app (default DEFAULT_DEVICE); stated in the card. */
  readonly device?: Device;
  readonly log?: (line: string) => void;
}

export interface MiniSpeechRecipeResult {
  readonly train: SpeechFineTuneResult;
  readonly eval: SpeechEvalReport;
  readonly items: { readonly train: number; readonly byTask: Readonly<Record<string, number>>; readonly tooLong: number; readonly heldoutAsr: number; readonly heldoutQa: number; readonly heldoutAst: number };
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
  const init = o.initDir ? loadMiniSpeech(o.initDir, o.core).weights : encoder.weights;
  const trainFrames = o.trainFrames ?? o.maxFrames;
  // An item trains only when its prompt, audio and reply fit the training sequence.
  const fits = (item: SpeechItem) => item.frames <= trainFrames && speechSequence(o.tokenizer, o.core, item, model.encoder).ids.length <= o.seqLen;

  // 1. Data: train items prepared once (re-used by a resumed run); held-out voices for eval.
  const trainDir = join(o.workDir, 'train-items');
  let prepared = { items: -1, byTask: {} as Record<string, number>, dropped: 0 };
  if (!existsSync(join(trainDir, MANIFEST_FILE))) {
    const t = performance.now();
    prepared = await prepareSpeechSet(o.source, trainDir, { maxFrames: trainFrames, keep: fits, ...(o.taskRepeat ? { repeat: o.taskRepeat } : {}) });
    log(`prepared ${prepared.items} train items ${JSON.stringify(prepared.byTask)} (${prepared.dropped} too long for ${o.seqLen} tokens) in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  } else {
    // A resumed run reuses the prepared items: they must hold the mixture this run asks for.
    checkPreparedTaskRepeat(trainDir, (await readDataset(trainDir)).info, o.taskRepeat);
  }
  // Held-out voices of the training source give the eval loss during training; the eval set is read after.
  const heldSource = (await collect(readSpeechItems(o.source, { split: 'heldout', maxFrames: o.maxFrames }))).filter((i) => i.heldoutVoice);

  // 2. Train.
  const lossItems = pickItems(heldSource.filter(fits), 2 * o.batch, o.seed + 1);
  const train = await fineTuneSpeech({
    core: o.core, tokenizer: o.tokenizer, model, encoderInit: init, dataDir: trainDir, frames: trainFrames, seqLen: o.seqLen,
    batch: o.batch, steps: o.steps, lr: o.lr, ...(o.warmup !== undefined ? { warmup: o.warmup } : {}), seed: o.seed, heldout: lossItems, evalEvery: Math.max(1, Math.round(o.steps / 6)), workDir: o.workDir, resume: true,
    ...(o.ctc ? { ctc: o.ctc } : {}), ...(o.specAugment ? { specAugment: o.specAugment } : {}), device: o.device,
  });
  log(`trained ${train.finalStep} steps in ${train.seconds.toFixed(0)} s; held-out loss ${train.finalEvalLoss?.toFixed(3)}`);

  // 3. Eval on held-out voices (with the CTC head, also the encoder + adapter's own transcripts).
  // A warm start's CTC head carries over when this run did not train one.
  const weights = { ...(o.initDir ? init : {}), ...train.weights };
  const ctcHead = ctcHeadOf(weights);
  const held = o.evalSource ? (await collect(readSpeechItems(o.evalSource, { split: 'heldout', maxFrames: o.maxFrames }))).filter((i) => i.heldoutVoice) : heldSource;
  const asrItems = pickItems(held.filter((i) => i.task === 'asr'), o.evalAsr, o.seed);
  const qaItems = pickItems(held.filter((i) => i.task === 'qa'), o.evalQa, o.seed);
  // The world's French/German/Spanish utterances use their own voices, none of them held out: the AST
  // eval takes the held-out split instead (scenes with colour×shape combinations never trained on).
  const astHeld = o.evalAst ? await collect(readSpeechItems(o.source, { split: 'heldout', maxFrames: o.maxFrames, tasks: ['ast'] })) : [];
  const astItems = pickItems(astHeld, o.evalAst ?? 0, o.seed);
  log(`held-out voices: ${asrItems.length} ASR, ${qaItems.length} spoken-QA, ${astItems.length} AST items`);
  const t = performance.now();
  const gen = await SpeechGenerator.create(o.core.config, model, { ...o.core.weights, ...weights }, o.maxFrames, { device: o.device });
  let report: SpeechEvalReport;
  try {
    report = await evaluateSpeech({ core: o.core, tokenizer: o.tokenizer, speech: gen, asr: asrItems, qa: qaItems, ast: astItems, ...(ctcHead ? { ctcHead } : {}), device: o.device });
  } finally {
    await gen.release();
  }
  const evalSeconds = (performance.now() - t) / 1000;
  log(`\n${speechEvalTable(report)}`);

  // 4. Save.
  const result = { train, eval: report, items: { train: prepared.items, byTask: prepared.byTask, tooLong: prepared.dropped, heldoutAsr: asrItems.length, heldoutQa: qaItems.length, heldoutAst: astItems.length }, evalSeconds };
  await saveMiniSpeech(o.outDir, model, o.maxFrames, o.core, weights, { eval: report, card: miniSpeechCard(o, result) });
  return result;
}

/** The core the adapter was fitted to, as the card names it: the committed one, or the folder given with --core. */
function coreNamed(dir: string): string {
  return isMiniCoreDir(dir) ? 'committed mini language core\n(packages/llama3/weights/mini, not copied here)' : `language core ${dir}\n(not copied here; not the committed mini core)`;
}

/** The card's note on the task mixture when some task's items were written more than once. */
function repeatNote(repeat: TaskRepeat | undefined): string {
  const more = Object.entries(repeat ?? {}).filter(([, n]) => n !== 1);
  return more.length ? ` Task mixture: ${more.map(([t, n]) => `each ${t} item written ${n} times`).join(', ')} (counted above with its copies).` : '';
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
shared adapter recipe \`trainAdapter\` against the frozen ${coreNamed(o.core.dir)}. Only the groups \`speechEncoder\` and
\`speechAdapter\` trained; every core weight was a frozen initializer (no gradient, no optimizer state).
The adapter's outputs are spliced into the core's input embeddings between two learnt marker rows.

## Architecture
Encoder: 80-bin log-mel → stack ${m.encoder.stack} + linear (40 ms) → ${m.encoder.nLayers} Conformer blocks, dim ${m.encoder.dim}, ${m.encoder.nHeads} heads, FFN ${m.encoder.ffnDim}, kernel ${m.encoder.convKernel}.
Adapter: conv k3 s2 (80 ms frames) → width ${m.adapter.dim}, one rotary layer (${m.adapter.nHeads} heads, FFN ${m.adapter.ffnDim}) → linear to ${m.adapter.coreDim}.
Audio up to ${o.maxFrames / 100} s (${o.maxFrames} frames) at inference; trained on utterances up to ${(o.trainFrames ?? o.maxFrames) / 100} s. Stored as f16.

## Data
${o.dataDescription}
Train items (≤ ${(o.trainFrames ?? o.maxFrames) / 100} s and ≤ ${o.seqLen} tokens with the reply): ${r.items.train >= 0 ? `${r.items.train} (${Object.entries(r.items.byTask).map(([k, v]) => `${k} ${v}`).join(', ')}; ${r.items.tooLong} more did not fit ${o.seqLen} tokens)` : 'prepared by an earlier run'}.${repeatNote(o.taskRepeat)}
Tasks: ASR ("Transcribe the audio." → transcript, statements and questions), spoken QA (scene in text +
spoken question → answer), AST (French/German/Spanish scene descriptions → an English description of the
same scene). Eval on held-out voices only (speakers never heard in training).

## Training
${o.ctc ? `Loss: next-token loss on the reply + ${o.ctc.weight} × CTC of the adapter's 80 ms frames against the transcript's tokens (classes: the frozen core's embedding rows + a learnt blank row, nearest-row scores; transcripts ≤ ${o.ctc.maxLabels} tokens with no unknown token).\n` : ''}${o.specAugment ? `SpecAugment on every training utterance: ${o.specAugment.freqMasks} frequency masks of 0–${o.specAugment.freqWidth} mel bins, ${o.specAugment.timeMasks} time masks of 0–${o.specAugment.timeWidth} frames and at most ${o.specAugment.timeRatio * 100}% of the utterance each, masked to ${o.specAugment.value}.\n` : 'No SpecAugment.\n'}${r.train.finalStep} steps, batch ${o.batch} × ${o.seqLen} tokens, audio padded to ${(o.trainFrames ?? o.maxFrames) / 100} s, AdamW (weight decay 0.01), cosine peak ${o.lr} with ${o.warmup ?? `${Math.max(1, Math.round(o.steps * 0.05))}`} warm-up steps, floor 10%; seed ${o.seed}.
Train loss ${losses.length ? `${losses[0]!.toFixed(3)} → ${mean(losses.slice(-20)).toFixed(3)}` : '—'} (first step → mean of the last 20); held-out loss by step: ${evals || '—'}.
${o.initDir ? `Warm start: encoder and adapter from the speech checkpoint ${o.initDir} (its steps come on top of these).\n` : ''}Training took ${r.train.seconds.toFixed(0)} s on device ${deviceDescription(o.device ?? DEFAULT_DEVICE)}.

## Eval (held-out voices; eval took ${r.evalSeconds.toFixed(0)} s)
WER/CER: corpus-level Levenshtein over normalised text (NFKC, lower case, punctuation → space;
packages/speech/src/eval/wer.ts). Spoken QA graded by the question's type (@herd/llama3 \`gradeSceneQa\`, as the
image and text evals: the reference's colour / shape / number / position / size / yes-no / written word in the greedy
answer and no other of its kind); "key words" is the older, lenient grade (every content word of the reference
anywhere in the answer: a core that lists the scene passes it without hearing the question).

${speechEvalTable(r.eval)}
Issue targets for the mini herd: WER ≤ 10% on unseen voices, spoken-QA accuracy ≥ 85%.

## Re-train
\`${o.retrainCommand}\`
`;
}
