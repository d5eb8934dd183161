/**
 * Does a language core bind? Teacher-forced answers to binding drills (the datasets' `lookup` documents),
 * on saved cores, with the TypeScript decoder.
 *
 * Each drill is a scene of 3–4 objects of distinct shape, colour and place, described in words, then
 * rounds of "What colour is the square?" / "What shape is on the left?" / "Where is the star?" /
 * "Which shape is red?", each answerable only by finding the named object in the description (the two
 * shape forms are scored apart: the eval asks only the first). The
 * drills are the corpus's own documents (`generateTextCorpus` with only `lookup`, from `--seed`),
 * held-out ones (every drill holds a colour×shape combination no train text has) or train-split ones.
 * For each reply the tokens of its deciding word (`deciding`: the first colour, shape or place word
 * the question does not name, not the reply's first word) are scored teacher-forced: right when every
 * one is the core's top-1 next token. A wrong colour or shape is sorted by what the core put first: another object's of the
 * same drill (a binding error) or something else. Logits come from the decoder, nothing is trained.
 *
 *   node bench/dist/core-lookup.js --models CORE[,CORE2,…] [--drills 150] [--seed 99] [--split heldout|train]
 *
 * Prints a table and writes JSON to bench/results/core-lookup.json. Asserts nothing.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError, writeFileAtomicSync } from '@herd/core';
import { COLOURS, POSITIONS, SHAPES, TEXT_MIX, generateTextCorpus } from '@herd/datasets';
import { Generator, buildDecoder, encodeDialogueForSft, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { benchArgs } from './bench-args.js';

const cli = benchArgs({
  about: 'Binding drills: teacher-forced top-1 accuracy of the word that decides each answer (colour / shape / place of the named object), per core and question form.',
  writes: 'bench/results/core-lookup.json',
  flags: {
    models: { value: 'CORE,CORE2,…', required: true, help: 'the core folders to score (config.json + model.safetensors + vocab.json), comma-separated' },
    drills: { value: 'N', default: '150', help: 'drills (documents of 1–6 rounds) per core' },
    seed: { value: 'N', default: '99', help: "seed of the drills (a corpus's own seed gives its own documents)" },
    split: { value: 'heldout|train', default: 'heldout', help: 'held-out drills (each has a colour×shape combination train text never has) or train-split ones' },
  },
});
const models = cli.flag('models').split(',').filter((m) => m !== '');
const drills = cli.number('drills');
const seed = cli.number('seed');
const split = cli.flag('split');
if (models.length === 0) throw new HerdError('invalid_argument', 'core-lookup: --models names no core folder');
if (!Number.isInteger(drills) || drills < 1) throw new HerdError('invalid_argument', `core-lookup: --drills ${drills}: must be an integer ≥ 1`);
if (split !== 'heldout' && split !== 'train') throw new HerdError('invalid_argument', `core-lookup: --split ${JSON.stringify(split)}: must be heldout or train`);

const KEY_WEIGHT = 2;
const ATTRIBUTE_WORDS = new Set<string>([...COLOURS, ...SHAPES, ...POSITIONS, 'middle']);
// A shape's plural counts as the shape ("squares" → "square"); the world's shapes, not a copy of their names.
const SHAPE_PLURAL = new RegExp(`(?<=(${SHAPES.join('|')}))s$`, 'u');
const attribute = (w: string): string => w.toLowerCase().replace(SHAPE_PLURAL, '');

const docs = [...generateTextCorpus({ seed, count: drills, mix: { ...TEXT_MIX, description: 0, sentence: 0, motion: 0, dialogue: 0, instruction: 0, copy: 0, lookup: 1 }, heldoutFraction: split === 'heldout' ? 1 : 0 })];

interface Tally { right: number; n: number; otherObject: number }
interface Row { model: string; byType: Record<string, Tally>; all: Tally }

const tokenizer = await loadLlama3Tokenizer();
const results: Row[] = [];
for (const dir of models) {
  const core = loadLanguageCore(dir);
  if (!core.vocab) throw new HerdError('invalid_argument', `core-lookup: ${dir} has no vocab.json (a core saved by 'herd text train')`);
  const vocab = core.vocab;
  const gen = await Generator.create(core.config, buildDecoder(core.config, core.weights));
  const byType: Record<string, Tally> = {};
  const all: Tally = { right: 0, n: 0, otherObject: 0 };
  try {
    for (const doc of docs) {
      const questions = doc.turns!.filter((t) => t.role === 'user').map((t) => t.content);
      const replies = doc.turns!.filter((t) => t.role === 'assistant').map((t) => t.content);
      const keys = replies.map((r, i) => deciding(r, questions[i]!));
      const enc = encodeDialogueForSft(tokenizer, doc.turns!, { words: keys, weight: KEY_WEIGHT });
      const rows = vocab.toCompact(enc.ids);
      const unknown = enc.ids.filter((_, i) => rows[i] === vocab.unknown);
      if (unknown.length) throw new HerdError('invalid_argument', `core-lookup: drill ${doc.key} has tokens ${[...new Set(unknown)].join(', ')} that ${dir}'s vocabulary lacks`);
      const logits = await gen.logits([...rows]);
      const objects = doc.scene!.objects;
      // Each reply's key tokens: consecutive runs of weighted positions between its assistant header and its end.
      let reply = -1;
      let run: number[] = [];
      const flush = (): void => {
        if (!run.length) return;
        const t = (byType[formOf(doc.qaTypes![reply]!, questions[reply]!)] ??= { right: 0, n: 0, otherObject: 0 });
        // logits[p - 1] predicts the token at p.
        const top = run.map((p) => argmax(logits[p - 1]!));
        const right = top.every((row, i) => row === rows[run[i]!]);
        const said = tokenizer.decode([vocab.ids[top[0]!]!]).trim().toLowerCase().replace(/s$/u, '');
        const other = !right && objects.some((o) => said === o.colour || said === o.shape);
        for (const tt of [t, all]) {
          tt.n++;
          if (right) tt.right++;
          if (other) tt.otherObject++;
        }
        run = [];
      };
      for (let p = 1; p < enc.ids.length; p++) {
        if (enc.trainable[p] && !enc.trainable[p - 1]) {
          flush();
          reply++;
        }
        if (enc.weights![p] === KEY_WEIGHT) {
          if (run.length && run[run.length - 1] !== p - 1) flush();
          run.push(p);
        }
      }
      flush();
    }
  } finally {
    await gen.release();
  }
  results.push({ model: dir, byType, all });
}

/**
 * The word of a reply that decides it: its first colour, shape or place word that the question does
 * not already name, past the reply's first word. Teacher-forced, every later word can be copied from
 * the description behind it ("On the left there is a big red" → "circle" is the word after "red"),
 * so scoring the shape of "What shape is on the left?" would score a copy; its deciding word is the
 * colour of the object at that place. A short answer ("Blue.") has none and is not scored.
 */
function deciding(reply: string, question: string): string[] {
  const asked = new Set(question.slice(question.lastIndexOf('.') + 1).split(/[^A-Za-z]+/u).map(attribute));
  const words = reply.split(/[^A-Za-z]+/u).filter(Boolean);
  const w = words.slice(1).find((x) => ATTRIBUTE_WORDS.has(attribute(x)) && !asked.has(attribute(x)));
  return w ? [w] : [];
}

/** A shape question names a place ("What shape is on the left?", the eval's form) or a colour ("Which shape is red?"). */
function formOf(type: string, question: string): string {
  if (type !== 'shape') return type;
  return /Which shapes? (is|are) [a-z]+\?$/u.test(question) ? 'shape of a colour' : 'shape at a place';
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
  return best;
}

const pct = (t: Tally | undefined): string => (t && t.n ? `${((100 * t.right) / t.n).toFixed(1)}% (${t.right}/${t.n}; other object ${t.otherObject})` : '—');
const types = ['colour', 'shape at a place', 'shape of a colour', 'position'];
console.log(`Binding drills: ${drills} ${split} drills, seed ${seed}; teacher-forced top-1 on each reply's deciding word (right/scored; wrong answers that name another object of the drill)`);
console.log(`| core | ${types.join(' | ')} | all |`);
console.log(`|---|${types.map(() => '---|').join('')}---|`);
for (const r of results) console.log(`| ${r.model} | ${types.map((t) => pct(r.byType[t])).join(' | ')} | ${pct(r.all)} |`);
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
mkdirSync(out, { recursive: true });
writeFileAtomicSync(join(out, 'core-lookup.json'), JSON.stringify({ drills, seed, split, results }, null, 2));
