/**
 * `herd text train` (also `herd train text`): pre-trains the language core on a text corpus in the
 * shard format (default: the generated tiny world's `text/train` and `text/heldout`, generated when
 * missing) and measures held-out perplexity on documents about held-out colour×shape combinations.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, UsageError, flag, readJsonFile } from '@herd/core';
import { TEXT_SPLITS, generateWorld, textCorpusCommand, textReplyKeyWords } from '@herd/datasets';
import { MINI_CORE_DIR, MINI_CORE_RECIPE, loadLanguageCore, loadLlama3Tokenizer, loadPreset, trainLanguageCore } from '@herd/llama3';
import { DEVICE_FLAG, defineCommand } from '../command.js';

/** Seed of the corpus the committed mini core was trained on (`herd eval text` draws its QA items from it). */
export const CORPUS_SEED = 7;

/** The text corpus `--data` defaults to: the tiny world's (generated here when missing). */
export const DEFAULT_TEXT_DATA = join('out', 'tiny', 'text');

/** The mini preset's config (vocabSize is the pruned vocabulary's; any placeholder does for the other keys). */
const MINI_PRESET = loadPreset(MINI_CORE_RECIPE.preset, { vocabSize: 1 });

/**
 * The preset keys a fresh core's `--kv-heads` / `--rope-theta` replace (undefined: none given), checked
 * against the preset at once (before any packing); refused with `--init`, whose core fixes them.
 */
export function architectureOverrides(kvHeads: number | undefined, ropeTheta: number | undefined, init: string | undefined): Readonly<Record<string, number>> | undefined {
  const given = { ...(kvHeads !== undefined ? { nKvHeads: kvHeads } : {}), ...(ropeTheta !== undefined ? { ropeTheta } : {}) };
  if (!Object.keys(given).length) return undefined;
  const flags = [kvHeads !== undefined ? '--kv-heads' : '', ropeTheta !== undefined ? '--rope-theta' : ''].filter(Boolean).join(' and ');
  if (init !== undefined) throw new UsageError(`${flags} set${flags.includes(' and ') ? '' : 's'} a fresh core's architecture; --init continues its core with that core's own (its config.json); drop ${flags} or --init`);
  if (kvHeads !== undefined && MINI_PRESET.nHeads % kvHeads !== 0) throw new UsageError(`--kv-heads ${kvHeads}: must divide the ${MINI_PRESET.nHeads} query heads of the ${MINI_CORE_RECIPE.preset} preset (${divisors(MINI_PRESET.nHeads).join(', ')})`);
  loadPreset(MINI_CORE_RECIPE.preset, { ...given, vocabSize: 1 });
  return given;
}

function divisors(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
}

export const trainTextCommand = defineCommand({
  words: ['text', 'train'],
  aliases: [['train', 'text']],
  summary: 're-train the language core on a text corpus in the shard format, from scratch or (--init) continuing a core',
  usesDevice: true,
  flags: {
    data: flag.string({ placeholder: 'DIR', description: `text corpus: a folder with ${TEXT_SPLITS.train}/ and ${TEXT_SPLITS.heldout}/ shard datasets (default ${DEFAULT_TEXT_DATA}, generated when missing)` }),
    out: flag.string({ placeholder: 'DIR', output: 'folder', description: 'where the model folder is written (default: the built-in mini core, packages/llama3/weights/mini)' }),
    steps: flag.integer({ min: 1, default: MINI_CORE_RECIPE.steps, description: 'pre-training steps' }),
    'sft-steps': flag.integer({ min: 0, default: 0, description: 'fine-tuning steps on the dialogues (loss on assistant turns)' }),
    'sft-lr': flag.number({ above: 0, default: 1e-3, description: 'peak learning rate of the fine-tuning stage' }),
    batch: flag.integer({ min: 1, default: MINI_CORE_RECIPE.batch, description: 'sequences per step' }),
    lr: flag.number({ above: 0, default: MINI_CORE_RECIPE.schedule.peak, description: 'peak learning rate (cosine schedule to a tenth of it)' }),
    init: flag.string({ placeholder: 'DIR', description: 'continue from a trained core (same architecture; rows of tokens both vocabularies hold are copied) instead of a fresh init' }),
    'keep-vocab': flag.boolean({ description: "with --init: keep that core's vocabulary exactly (same rows), so its adapters still fit; a corpus token outside it is an error" }),
    'untie-embeddings': flag.boolean({ description: "with --init of a tied core: continue it with separate input and output embeddings (lm_head.weight starts as a copy of the embedding, so step 0 is the same function), as Llama 3 8B/70B are; a core already untied is an error" }),
    'grow-layers': flag.integer({ min: 2, placeholder: 'N', description: "with --init: continue that core as a deeper one of N layers (more than it has): its layers spread evenly among the N, each new layer starting as the identity (zeroed o_proj and down_proj), so step 0 computes that core's function" }),
    'kv-heads': flag.integer({ min: 1, description: `a fresh core's key/value heads (GQA; must divide its query heads; the mini preset has ${MINI_PRESET.nKvHeads} of ${MINI_PRESET.nHeads}); not with --init, which continues that core's architecture` }),
    'rope-theta': flag.number({ above: 0, description: `a fresh core's RoPE base θ (the mini preset has ${MINI_PRESET.ropeTheta}); not with --init` }),
    'reply-loss': flag.boolean({ description: "loss on the assistant's replies only in dialogue documents (plain text keeps it on every token)" }),
    'key-word-weight': flag.number({ above: 0, default: 1, description: "with --reply-loss: loss weight of a QA reply's key-word tokens (its colour, shape, number, position, direction, written word …) against 1 on its other tokens; 1 = the plain mean" }),
    seed: flag.integer({ min: 0, max: 0xffff_ffff, default: MINI_CORE_RECIPE.seed, description: 'initialisation and shuffling seed' }),
    resume: flag.boolean({ description: 'continue from the last checkpoint' }),
    ...DEVICE_FLAG,
  },
  async run({ values, io, device }) {
    if (values['keep-vocab'] && values.init === undefined) throw new UsageError('--keep-vocab keeps the vocabulary of the --init core; pass --init DIR');
    if (values['untie-embeddings'] && values.init === undefined) throw new UsageError('--untie-embeddings unties the tied embedding of the --init core; pass --init DIR (a fresh core is tied or not as its preset says)');
    if (values['grow-layers'] !== undefined && values.init === undefined) throw new UsageError('--grow-layers deepens the --init core; pass --init DIR (a fresh core has its preset\'s depth)');
    const presetOverrides = architectureOverrides(values['kv-heads'], values['rope-theta'], values.init);
    const keyWordWeight = values['key-word-weight'];
    if (keyWordWeight !== 1 && !values['reply-loss']) throw new UsageError('--key-word-weight weighs the key words of dialogue replies; it needs --reply-loss');
    const out = values.out ?? MINI_CORE_DIR;
    const data = values.data ?? DEFAULT_TEXT_DATA;
    const steps = values.steps;
    const recipe = {
      ...MINI_CORE_RECIPE,
      steps,
      batch: values.batch,
      seed: values.seed,
      schedule: { ...MINI_CORE_RECIPE.schedule, peak: values.lr, floor: values.lr / 10, total: steps, warmup: Math.min(MINI_CORE_RECIPE.schedule.warmup ?? 0, Math.floor(steps / 10)) },
      evalEvery: Math.max(1, Math.min(MINI_CORE_RECIPE.evalEvery, Math.floor(steps / 4))),
      ...(presetOverrides ? { presetOverrides } : {}),
      ...(values['reply-loss'] ? { replyLoss: true } : {}),
      ...(keyWordWeight !== 1 ? { keyWordWeight } : {}),
    };
    // Optional SFT stage (off by default; see LanguageCoreRecipe.sft for why).
    const sftSteps = values['sft-steps'];
    const withSft = sftSteps > 0 ? { ...recipe, sft: { steps: sftSteps, peak: values['sft-lr'], warmup: Math.min(50, Math.floor(sftSteps / 10)) } } : recipe;
    // Read first (a missing core fails before any corpus is generated) and before training: --init may name the folder --out overwrites (the committed core).
    const init = values.init !== undefined ? { core: loadLanguageCore(values.init), description: `the core in ${values.init}`, ...(values['keep-vocab'] ? { keepVocabulary: true } : {}), ...(values['untie-embeddings'] ? { untieEmbeddings: true } : {}), ...(values['grow-layers'] !== undefined ? { growLayers: values['grow-layers'] } : {}) } : undefined;
    const splits = { train: join(data, TEXT_SPLITS.train), heldout: join(data, TEXT_SPLITS.heldout) };
    if (!existsSync(join(splits.train, 'manifest.json')) || !existsSync(join(splits.heldout, 'manifest.json'))) {
      if (values.data !== undefined) {
        throw new HerdError('invalid_argument', `--data ${data}: no text corpus there (expected ${splits.train} and ${splits.heldout}, @herd/data datasets); make one with \`node datasets/dist/cli.js generate --size tiny --only text --out DIR\` and pass --data DIR/text`);
      }
      io.stderr.write(`no text corpus at ${data}: generating the tiny world's text (herd-datasets generate --size tiny --only text --out ${join('out', 'tiny')})\n`);
      await generateWorld({ out: join(data, '..'), size: 'tiny', only: ['text'] });
    }
    const tokenizer = await loadLlama3Tokenizer();
    io.stderr.write(`language core: text shards ${data}, ${steps} pre-training + ${sftSteps} fine-tuning steps → ${out}\n`);
    const report = await trainLanguageCore({
      tokenizer,
      data: splits,
      workDir: join(out, '..', '.mini-data'),
      outDir: out,
      recipe: withSft,
      device: device().device,
      checkpointDir: join(out, '..', '.mini-checkpoints'),
      resume: values.resume,
      logPath: join(out, '..', '.mini-checkpoints', 'train.jsonl'),
      ...(init ? { init } : {}),
      ...(keyWordWeight !== 1 ? { keyWords: { of: textReplyKeyWords, name: '@herd/datasets textReplyKeyWords' } } : {}),
      ...corpusCommand(splits.train),
      dataDescription:
        `The synthetic world's text corpus (@herd/datasets, shards at ${data}): scene descriptions, plain sentences, ` +
        `clip narrations, question–answer dialogues about scenes and clips (every question type the image and video evals ask, ` +
        `in their wording) and instruction dialogues (repeat / transcribe a sentence verbatim, translate a French, German or ` +
        `Spanish description into English, with the speech recipe's own instructions) in the Llama 3 chat format. Held-out ` +
        `documents are about colour×shape combinations that never occur in training text.`,
    });
    const { heldoutLoss, heldoutPerplexity, finalTrainLoss, seconds, parameters, vocabSize } = report;
    io.stdout.write(`${JSON.stringify({ heldoutLoss, heldoutPerplexity, finalTrainLoss, seconds, parameters, vocabSize }, null, 2)}\n`);
  },
});

/** How the corpus was made, when its manifest records it (herd-datasets' `info.text`, round 15 on). */
function corpusCommand(trainSplit: string): { dataCommand?: string } {
  const info = (readJsonFile(join(trainSplit, 'manifest.json'), { what: 'dataset manifest' }) as { info?: unknown }).info;
  const command = textCorpusCommand(info);
  return command ? { dataCommand: command } : {};
}
