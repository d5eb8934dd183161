/**
 * Can a language core copy? The textbook induction test, on saved cores, with the TypeScript decoder.
 *
 * Each probe sequence is `<|begin_of_text|>`, a list of distinct random whole-word tokens, optional
 * random filler words, then the same list again. Nothing but a copy predicts the second pass: a core
 * with a previous-token + induction circuit ("find the earlier occurrence of this token, read what
 * followed it") gets its next-token top-1 accuracy near 1 there, a core without stays at its first-pass
 * (chance) level. Words are the core's own vocabulary rows that are a space and 2+ letters; lists are
 * drawn with @herd/core's `Rng` from `--seed`, so every core of a run is scored on the same lists when
 * their vocabularies agree. Logits come from the decoder (`Generator.logits`), nothing is trained.
 *
 *   node bench/dist/core-induction.js --models CORE[,CORE2,…] [--lists 30] [--length 20] [--filler 0,15] [--words w1,w2,…]
 *
 * Prints a table and writes JSON to bench/results/core-induction.json. Asserts nothing.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, Rng, writeFileAtomicSync } from '@herd/core';
import { BEGIN_OF_TEXT_ID, Generator, buildDecoder, loadLanguageCore, loadLlama3Tokenizer, logSoftmax } from '@herd/llama3';
import { benchArgs } from './bench-args.js';

const cli = benchArgs({
  about: 'Induction test: next-token top-1 accuracy on the second pass of a repeated random word list (vs the first pass), per core.',
  writes: 'bench/results/core-induction.json',
  flags: {
    models: { value: 'CORE,CORE2,…', required: true, help: 'the core folders to score (config.json + model.safetensors + vocab.json), comma-separated' },
    lists: { value: 'N', default: '30', help: 'random lists per filler length' },
    length: { value: 'L', default: '20', help: 'words per list (distinct)' },
    filler: { value: 'F,F2,…', default: '0,15', help: 'random filler words between the list and its repeat, one measurement each' },
    seed: { value: 'N', default: '1', help: 'seed of the lists' },
    words: { value: 'w1,w2,…', help: "draw the lists from these words only (each one token ' word' in every core's vocabulary), e.g. the datasets' COPY_WORDS; default: every whole-word row" },
  },
});
const models = cli.flag('models').split(',').filter((m) => m !== '');
const lists = cli.number('lists');
const length = cli.number('length');
const seed = cli.number('seed');
const fillers = cli.flag('filler').split(',').map((f) => {
  const n = Number(f);
  if (!Number.isInteger(n) || n < 0) throw new HerdError('invalid_argument', `core-induction: --filler ${JSON.stringify(cli.flag('filler'))}: each filler length must be an integer ≥ 0`);
  return n;
});
const only = cli.flag('words')?.split(',').map((w) => w.trim()).filter((w) => w !== '');
if (only && only.length === 0) throw new HerdError('invalid_argument', 'core-induction: --words names no word');
if (models.length === 0) throw new HerdError('invalid_argument', 'core-induction: --models names no core folder');
if (!Number.isInteger(lists) || lists < 1) throw new HerdError('invalid_argument', `core-induction: --lists ${lists}: must be an integer ≥ 1`);
if (!Number.isInteger(length) || length < 2) throw new HerdError('invalid_argument', `core-induction: --length ${length}: must be an integer ≥ 2`);

interface Row { model: string; filler: number; firstPass: number; secondPass: number; secondPassLoss: number; predictions: number }

/** The fraction of `targets` that are the argmax of their logits row, and their mean loss (nats). */
function score(rows: readonly Float32Array[], targets: readonly number[]): { hits: number; loss: number } {
  let hits = 0, loss = 0;
  rows.forEach((logits, i) => {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
    if (best === targets[i]) hits++;
    loss -= logSoftmax(logits)[targets[i]!]!;
  });
  return { hits, loss };
}

const tokenizer = await loadLlama3Tokenizer();
const results: Row[] = [];
for (const dir of models) {
  const core = loadLanguageCore(dir);
  if (!core.vocab) throw new HerdError('invalid_argument', `core-induction: ${dir} has no vocab.json (a core saved by 'herd text train')`);
  const vocab = core.vocab;
  const words: number[] = [];
  if (only) {
    const missing: string[] = [];
    for (const w of only) {
      const ids = tokenizer.encode(` ${w}`, { bos: false, eos: false });
      const row = ids.length === 1 ? vocab.toCompact(ids)[0]! : vocab.unknown;
      if (row === vocab.unknown) missing.push(w);
      else words.push(row);
    }
    if (missing.length) throw new HerdError('invalid_argument', `core-induction: --words: ${missing.map((w) => `'${w}'`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not one token of ${dir}'s vocabulary`);
  } else vocab.ids.forEach((id, row) => /^ [a-z]{2,}$/u.test(tokenizer.decode([id])) && words.push(row));
  if (words.length < length) throw new HerdError('invalid_argument', `core-induction: ${dir}'s vocabulary has ${words.length} whole-word rows, fewer than --length ${length}`);
  const bos = vocab.toCompact([BEGIN_OF_TEXT_ID])[0]!;
  const gen = await Generator.create(core.config, buildDecoder(core.config, core.weights));
  try {
    for (const filler of fillers) {
      const rng = new Rng(seed * 1000 + filler);
      let first = 0, second = 0, secondLoss = 0, n = 0;
      for (let k = 0; k < lists; k++) {
        const list = rng.shuffle([...words]).slice(0, length);
        const fill = Array.from({ length: filler }, () => rng.pick(words));
        const seq = [bos, ...list, ...fill, ...list];
        if (seq.length > core.config.maxSeqLen) throw new HerdError('invalid_argument', `core-induction: a probe of ${seq.length} tokens exceeds ${dir}'s context of ${core.config.maxSeqLen}`);
        const logits = await gen.logits(seq);
        const next = list.slice(1);
        // logits[p] predicts seq[p + 1]: list[i] sits at 1 + i (first pass) and at 1 + L + F + i (second pass).
        const a = score(next.map((_, i) => logits[1 + i]!), next);
        const b = score(next.map((_, i) => logits[1 + length + filler + i]!), next);
        first += a.hits;
        second += b.hits;
        secondLoss += b.loss;
        n += next.length;
      }
      results.push({ model: dir, filler, firstPass: first / n, secondPass: second / n, secondPassLoss: secondLoss / n, predictions: n });
    }
  } finally {
    await gen.release();
  }
}
console.log(`Induction test: ${lists} lists of ${length} distinct words (${only ? `from ${only.length} given` : 'from every whole-word row'}), seed ${seed}; top-1 next-token accuracy`);
console.log('| core | filler | first pass | second pass | second-pass loss (nats) | predictions |');
console.log('|---|---|---|---|---|---|');
for (const r of results) console.log(`| ${r.model} | ${r.filler} | ${r.firstPass.toFixed(2)} | ${r.secondPass.toFixed(2)} | ${r.secondPassLoss.toFixed(2)} | ${r.predictions} |`);
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
mkdirSync(out, { recursive: true });
const file = join(out, 'core-induction.json');
writeFileAtomicSync(file, JSON.stringify({ lists, length, fillers, seed, ...(only ? { words: only } : {}), results }, null, 2));
