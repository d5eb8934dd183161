/**
 * `herd text train` (also `herd train text`): pre-trains the language core on the synthetic world's
 * text corpus (train split) and measures held-out perplexity on documents about held-out
 * colour×shape combinations.
 */
import { join } from 'node:path';
import { flag } from '@herd/core';
import { textDoc } from '@herd/datasets';
import { type CorpusDoc, MINI_CORE_DIR, MINI_CORE_RECIPE, loadLlama3Tokenizer, trainLanguageCore } from '@herd/llama3';
import { DEVICE_FLAG, defineCommand } from '../command.js';

/** Seed of the text corpus; the world generator is deterministic given it. */
export const CORPUS_SEED = 7;

export const trainTextCommand = defineCommand({
  words: ['text', 'train'],
  aliases: [['train', 'text']],
  summary: 're-train the language core from scratch on the synthetic text corpus (~15 min on 2 cores)',
  usesDevice: true,
  flags: {
    out: flag.string({ placeholder: 'DIR', description: 'where the model folder is written (default: the built-in mini core, packages/llama3/weights/mini)' }),
    steps: flag.integer({ min: 1, default: MINI_CORE_RECIPE.steps, description: 'pre-training steps' }),
    'sft-steps': flag.integer({ min: 0, default: 0, description: 'fine-tuning steps on the dialogues (loss on assistant turns)' }),
    'sft-lr': flag.number({ above: 0, default: 1e-3, description: 'peak learning rate of the fine-tuning stage' }),
    docs: flag.integer({ min: 1, default: 150_000, description: 'training documents' }),
    'heldout-docs': flag.integer({ min: 1, default: 600, description: 'held-out documents' }),
    batch: flag.integer({ min: 1, default: MINI_CORE_RECIPE.batch, description: 'sequences per step' }),
    seed: flag.integer({ min: 0, max: 0xffff_ffff, default: MINI_CORE_RECIPE.seed, description: 'initialisation and shuffling seed' }),
    resume: flag.boolean({ description: 'continue from the last checkpoint' }),
    ...DEVICE_FLAG,
  },
  async run({ values, io, device }) {
    const out = values.out ?? MINI_CORE_DIR;
    const steps = values.steps;
    const recipe = {
      ...MINI_CORE_RECIPE,
      steps,
      batch: values.batch,
      seed: values.seed,
      schedule: { ...MINI_CORE_RECIPE.schedule, total: steps, warmup: Math.min(MINI_CORE_RECIPE.schedule.warmup ?? 0, Math.floor(steps / 10)) },
      evalEvery: Math.max(1, Math.min(MINI_CORE_RECIPE.evalEvery, Math.floor(steps / 4))),
    };
    // Optional SFT stage (off by default; see LanguageCoreRecipe.sft for why).
    const sftSteps = values['sft-steps'];
    const withSft = sftSteps > 0 ? { ...recipe, sft: { steps: sftSteps, peak: values['sft-lr'], warmup: Math.min(50, Math.floor(sftSteps / 10)) } } : recipe;
    const train: CorpusDoc[] = [];
    const heldout: CorpusDoc[] = [];
    // Train documents come from the train split; held-out ones from the held-out split further on.
    for (let i = 0; train.length < values.docs || heldout.length < values['heldout-docs']; i++) {
      const d = textDoc(CORPUS_SEED, i);
      const doc: CorpusDoc = d.turns ? { turns: d.turns } : { text: d.text! };
      if (d.split === 'train' && train.length < values.docs) train.push(doc);
      else if (d.split === 'heldout' && heldout.length < values['heldout-docs']) heldout.push(doc);
    }
    const tokenizer = await loadLlama3Tokenizer();
    io.stderr.write(`language core: ${train.length} train / ${heldout.length} held-out documents, ${steps} pre-training + ${sftSteps} fine-tuning steps → ${out}\n`);
    const report = await trainLanguageCore({
      tokenizer,
      train,
      heldout,
      outDir: out,
      recipe: withSft,
      device: device().device,
      checkpointDir: join(out, '..', '.mini-checkpoints'),
      resume: values.resume,
      logPath: join(out, '..', '.mini-checkpoints', 'train.jsonl'),
      dataDescription:
        `The synthetic world's text corpus (@herd/datasets textDoc, seed ${CORPUS_SEED}): scene descriptions, plain sentences, ` +
        `clip narrations and question–answer dialogues in the Llama 3 chat format. Held-out documents are about ` +
        `colour×shape combinations that never occur in training text.`,
    });
    const { heldoutLoss, heldoutPerplexity, finalTrainLoss, seconds, parameters, vocabSize } = report;
    io.stdout.write(`${JSON.stringify({ heldoutLoss, heldoutPerplexity, finalTrainLoss, seconds, parameters, vocabSize }, null, 2)}\n`);
  },
});
