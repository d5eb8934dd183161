/**
 * `herd train text`: pre-trains the language core on the synthetic world's text corpus (train
 * split) and measures held-out perplexity on documents about held-out colour×shape combinations.
 */
import { join } from 'node:path';
import { textDoc } from '@herd/datasets';
import { type CorpusDoc, MINI_CORE_DIR, MINI_CORE_RECIPE, loadLlama3Tokenizer, trainLanguageCore } from '@herd/llama3';
import { type DeviceRequest } from '@herd/runtime';
import { type Args } from '../args.js';

export const TRAIN_TEXT_OPTIONS = { out: 'value', 'sft-steps': 'value', 'sft-lr': 'value', docs: 'value', 'heldout-docs': 'value', steps: 'value', seed: 'value', device: 'value', resume: 'switch', batch: 'value' } as const;

/** Seed of the text corpus; the world generator is deterministic given it. */
export const CORPUS_SEED = 7;

export async function trainTextCommand(args: Args, device: DeviceRequest): Promise<void> {
  const out = args.str('out', MINI_CORE_DIR);
  const nDocs = args.num('docs', 150_000);
  const nHeld = args.num('heldout-docs', 600);
  const steps = args.num('steps', MINI_CORE_RECIPE.steps);
  const recipe = {
    ...MINI_CORE_RECIPE,
    steps,
    batch: args.num('batch', MINI_CORE_RECIPE.batch),
    seed: args.num('seed', MINI_CORE_RECIPE.seed),
    schedule: { ...MINI_CORE_RECIPE.schedule, total: steps, warmup: Math.min(MINI_CORE_RECIPE.schedule.warmup ?? 0, Math.floor(steps / 10)) },
    evalEvery: Math.max(1, Math.min(MINI_CORE_RECIPE.evalEvery, Math.floor(steps / 4))),
  };
  // Optional SFT stage (off by default; see LanguageCoreRecipe.sft for why).
  const sftSteps = args.num('sft-steps', 0);
  const withSft = sftSteps > 0 ? { ...recipe, sft: { steps: sftSteps, peak: args.num('sft-lr', 1e-3), warmup: Math.min(50, Math.floor(sftSteps / 10)) } } : recipe;
  const train: CorpusDoc[] = [];
  const heldout: CorpusDoc[] = [];
  // Train documents come from the train split; held-out ones from the held-out split further on.
  for (let i = 0; train.length < nDocs || heldout.length < nHeld; i++) {
    const d = textDoc(CORPUS_SEED, i);
    const doc: CorpusDoc = d.turns ? { turns: d.turns } : { text: d.text! };
    if (d.split === 'train' && train.length < nDocs) train.push(doc);
    else if (d.split === 'heldout' && heldout.length < nHeld) heldout.push(doc);
  }
  const tokenizer = await loadLlama3Tokenizer();
  console.error(`language core: ${train.length} train / ${heldout.length} held-out documents, ${steps} pre-training + ${sftSteps} fine-tuning steps → ${out}`);
  const report = await trainLanguageCore({
    tokenizer,
    train,
    heldout,
    outDir: out,
    recipe: withSft,
    device,
    checkpointDir: join(out, '..', '.mini-checkpoints'),
    resume: args.has('resume'),
    logPath: join(out, '..', '.mini-checkpoints', 'train.jsonl'),
    dataDescription:
      `The synthetic world's text corpus (@herd/datasets textDoc, seed ${CORPUS_SEED}): scene descriptions, plain sentences, ` +
      `clip narrations and question–answer dialogues in the Llama 3 chat format. Held-out documents are about ` +
      `colour×shape combinations that never occur in training text.`,
  });
  console.log(JSON.stringify({ heldoutLoss: report.heldoutLoss, heldoutPerplexity: report.heldoutPerplexity, finalTrainLoss: report.finalTrainLoss, seconds: report.seconds, parameters: report.parameters, vocabSize: report.vocabSize }, null, 2));
}
