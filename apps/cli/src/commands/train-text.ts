/**
 * `herd train text`: pre-trains the language core on a text corpus in the shard format (default:
 * the generated tiny world's `text/train` and `text/heldout`, generated when missing) and measures
 * held-out perplexity on documents about held-out colour×shape combinations.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError } from '@herd/core';
import { TEXT_SPLITS, generateWorld } from '@herd/datasets';
import { MINI_CORE_DIR, MINI_CORE_RECIPE, loadLlama3Tokenizer, trainLanguageCore } from '@herd/llama3';
import { type DeviceRequest } from '@herd/runtime';
import { type Args } from '../args.js';

export const TRAIN_TEXT_OPTIONS = { out: 'value', 'sft-steps': 'value', 'sft-lr': 'value', data: 'value', steps: 'value', seed: 'value', device: 'value', resume: 'switch', batch: 'value' } as const;

/** Seed of the corpus the committed mini core was trained on (`herd eval text` draws its QA items from it). */
export const CORPUS_SEED = 7;

/** The text corpus `--data` defaults to: the tiny world's (generated here when missing). */
export const DEFAULT_TEXT_DATA = join('out', 'tiny', 'text');

export async function trainTextCommand(args: Args, device: DeviceRequest): Promise<void> {
  const out = args.str('out', MINI_CORE_DIR);
  const data = args.str('data', DEFAULT_TEXT_DATA);
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
  const splits = { train: join(data, TEXT_SPLITS.train), heldout: join(data, TEXT_SPLITS.heldout) };
  if (!existsSync(join(splits.train, 'manifest.json')) || !existsSync(join(splits.heldout, 'manifest.json'))) {
    if (data !== DEFAULT_TEXT_DATA) {
      throw new HerdError('invalid_argument', `--data ${data}: no text corpus there (expected ${splits.train} and ${splits.heldout}, @herd/data datasets); make one with \`node datasets/dist/cli.js generate --size tiny --only text --out DIR\` and pass --data DIR/text`);
    }
    console.error(`no text corpus at ${data}: generating the tiny world's text (herd-datasets generate --size tiny --only text --out ${join('out', 'tiny')})`);
    await generateWorld({ out: join(data, '..'), size: 'tiny', only: ['text'] });
  }
  const tokenizer = await loadLlama3Tokenizer();
  console.error(`language core: text shards ${data}, ${steps} pre-training + ${sftSteps} fine-tuning steps → ${out}`);
  const report = await trainLanguageCore({
    tokenizer,
    data: splits,
    workDir: join(out, '..', '.mini-data'),
    outDir: out,
    recipe: withSft,
    device,
    checkpointDir: join(out, '..', '.mini-checkpoints'),
    resume: args.has('resume'),
    logPath: join(out, '..', '.mini-checkpoints', 'train.jsonl'),
    dataDescription:
      `The synthetic world's text corpus (@herd/datasets, shards at ${data}): scene descriptions, plain sentences, ` +
      `clip narrations and question–answer dialogues in the Llama 3 chat format. Held-out documents are about ` +
      `colour×shape combinations that never occur in training text.`,
  });
  console.log(JSON.stringify({ heldoutLoss: report.heldoutLoss, heldoutPerplexity: report.heldoutPerplexity, finalTrainLoss: report.finalTrainLoss, seconds: report.seconds, parameters: report.parameters, vocabSize: report.vocabSize }, null, 2));
}
