/**
 * Held-out loss of saved language cores, on every token and on the assistant's replies only.
 *
 * The core card's held-out loss (`trainLanguageCore`) is the mean over every token of the held-out
 * split. A core continued with `--reply-loss` is trained only on the replies of dialogues (and on
 * plain text), so for an untied core — whose output rows of prompt-only tokens get no training as
 * input rows — that figure is dominated by the user's words, which nothing in the herd predicts.
 * This measures both, with the trainer's own code: the held-out split packed as the trainer packs it
 * (`packTextDataset`, plus `replyLoss` for the second figure), its first `heldoutRows` rows, and
 * `LmEvaluator` over the saved (f16) weights.
 *
 *   node bench/dist/core-heldout-loss.js --data CORPUS/text --work DIR --models CORE[,CORE2,…]
 *
 * Prints a table and writes JSON to bench/results/core-heldout-loss.json. Asserts nothing.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError } from '@herd/core';
import { CORE_GROUP, LmEvaluator, MINI_CORE_RECIPE, loadLanguageCore, loadLlama3Tokenizer, packTextDataset, packedBatches, readPackedRows } from '@herd/llama3';
import { type HostTensor, hostTensor } from '@herd/runtime';
import { benchArgs } from './bench-args.js';

const cli = benchArgs({
  about: 'Held-out loss of saved language cores, on every token and on the assistant replies only (the trainer packing, LmEvaluator over the saved weights).',
  writes: 'bench/results/core-heldout-loss.json',
  flags: {
    data: { value: 'CORPUS/text', required: true, help: 'a text corpus in the shard format, with its heldout/ split' },
    work: { value: 'DIR', required: true, help: 'where the held-out split is packed (every token, and replies only)' },
    models: { value: 'CORE,CORE2,…', required: true, help: 'the core folders to measure (config.json + model.safetensors), comma-separated' },
  },
});
const data = cli.flag('data');
const work = cli.flag('work');
const models = cli.flag('models').split(',').filter((m) => m !== '');
if (models.length === 0) throw new HerdError('invalid_argument', 'core-heldout-loss: --models names no core folder');
const r = MINI_CORE_RECIPE;
const tokenizer = await loadLlama3Tokenizer();
const heldout = join(data, 'heldout');
const packs = {
  every: await packTextDataset(heldout, join(work, 'heldout'), { tokenizer, seqLen: r.seqLen }),
  reply: await packTextDataset(heldout, join(work, 'heldout-reply'), { tokenizer, seqLen: r.seqLen, replyLoss: true }),
};
const rows: { model: string; tied: boolean; everyToken: number; replyOnly: number; tokens: { every: number; reply: number } }[] = [];
for (const dir of models) {
  const core = loadLanguageCore(dir);
  if (!core.vocab) throw new HerdError('invalid_argument', `core-heldout-loss: ${dir} has no vocab.json (a core saved by 'herd train text')`);
  const vocab = core.vocab;
  const toCompact = (ids: ArrayLike<number>) => vocab.toCompact(ids);
  const params: Record<string, HostTensor> = Object.fromEntries(Object.entries(core.weights).map(([k, v]) => [k, hostTensor('f32', v.shape, v.data as Float32Array)]));
  const evaluator = await LmEvaluator.create(core.config, {}, { batch: r.batch, seqLen: r.seqLen, fed: [CORE_GROUP] });
  try {
    const measure = async (dir: string) => {
      const held = await readPackedRows(dir, r.seqLen, toCompact, r.heldoutRows);
      return { loss: await evaluator.loss(packedBatches(held, r.batch), params), tokens: held.targets.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0) };
    };
    const every = await measure(packs.every.dir);
    const reply = await measure(packs.reply.dir);
    rows.push({ model: dir, tied: core.config.tieEmbeddings, everyToken: every.loss, replyOnly: reply.loss, tokens: { every: every.tokens, reply: reply.tokens } });
  } finally {
    await evaluator.release();
  }
}
console.log('| core | embeddings | held-out loss, every token | held-out loss, replies only |');
console.log('|---|---|---|---|');
for (const x of rows) console.log(`| ${x.model} | ${x.tied ? 'tied' : 'untied'} | ${x.everyToken.toFixed(3)} (${x.tokens.every} tokens) | ${x.replyOnly.toFixed(3)} (${x.tokens.reply} tokens) |`);
const results = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
mkdirSync(results, { recursive: true });
const file = join(results, 'core-heldout-loss.json');
writeFileSync(`${file}.tmp`, JSON.stringify({ data, heldoutRows: r.heldoutRows, rows }, null, 2));
renameSync(`${file}.tmp`, file);
