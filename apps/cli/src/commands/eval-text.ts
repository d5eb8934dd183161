/**
 * `herd text eval` (also `herd eval text`): held-out perplexity is in the model card; this measures
 * what a user sees, on documents the core never saw (corpus indices past the training range):
 *   - scene QA: exact-match answers to questions about scenes described in words, for train and
 *     held-out colour×shape combinations;
 *   - per question type: the image eval's and the video eval's own grading (`gradeSceneQa`,
 *     `gradeVideoQa`: the type's key word) on scenes / clips given in words — the upper bound every
 *     adapter of this core has (its `described` row);
 *   - instructions: repeat / transcribe (the reply must be the sentence verbatim) and translate (a
 *     foreign description → English; graded on the scene's colours, shapes and numbers).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, flag, writeFileAtomic } from '@herd/core';
import { COLOURS, NUMBER_WORDS, SHAPES, type TextDoc, textDoc } from '@herd/datasets';
import { Generator, MINI_CORE_DIR, type QaAnswer, type QaItem, type QaReport, type QaScore, buildDecoder, evaluateChatQa, gradeSceneQa, keywordMatch, normaliseAnswer } from '@herd/llama3';
import { VIDEO_QA_TYPES, gradeVideoQa } from '@herd/video';
import { VQA_TYPES } from '@herd/vision';
import { DEVICE_FLAG, defineCommand } from '../command.js';
import { openLanguageCore } from '../model-folder.js';
import { MODEL_FLAG } from './generate.js';
import { CORPUS_SEED } from './train-text.js';

/** Far past any training range, so these documents are unseen. */
const EVAL_START = 10_000_000;

export const evalTextCommand = defineCommand({
  words: ['text', 'eval'],
  aliases: [['eval', 'text']],
  summary: "scene-QA accuracy of a language core, per question type and instruction task (and, with --update-card, write it into the model's card)",
  usesDevice: true,
  flags: {
    ...MODEL_FLAG,
    n: flag.integer({ min: 1, default: 100, description: 'questions per group (train and held-out colour×shape combinations)' }),
    'per-type': flag.integer({ min: 0, default: 40, description: 'questions per question type and instructions per task (0: scene QA only)' }),
    answers: flag.string({ placeholder: 'FILE', output: 'file', description: 'also write every graded answer to FILE (JSON lines: type, group, question, reference, answer, graded), e.g. to read the wrong ones' }),
    'update-card': flag.boolean({ description: "write eval-text.json and the scene-QA section of the model folder's MODEL_CARD.md" }),
    ...DEVICE_FLAG,
  },
  async run({ values, io, device }) {
    const dir = values.model ?? MINI_CORE_DIR;
    const { core, tok } = await openLanguageCore(dir, io.stderr);
    const items = [...sceneQaItems(values.n), ...typedItems(values['per-type'])];
    const gen = await Generator.create(core.config, buildDecoder(core.config, core.weights), { device: device().device });
    let report: QaReport;
    const answers: string[] = [];
    const keep = (a: QaAnswer) => {
      answers.push(JSON.stringify({ type: a.item.type ?? null, group: a.item.group, question: a.item.question, reference: a.item.answer, answer: a.answer, exact: a.exact, graded: a.graded }));
    };
    try {
      // Long enough for the longest sentence to repeat (a four-shape description with a word).
      report = await evaluateChatQa(gen, tok, core.vocab, items, 96, values.answers === undefined ? undefined : keep);
    } finally {
      await gen.release();
    }
    if (values.answers !== undefined) await writeFileAtomic(values.answers, answers.map((l) => `${l}\n`).join(''));
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    // The model folder is only written when asked (it may be the committed mini core), and never
    // from an empty measurement: zeros would replace the recorded results.
    if (values['update-card']) {
      if (report.n === 0) throw new HerdError('invalid_argument', `no questions were evaluated; ${core.dir}'s model card is left as it is`);
      await writeFileAtomic(join(core.dir, 'eval-text.json'), JSON.stringify({ corpusSeed: CORPUS_SEED, start: EVAL_START, ...report }, null, 2) + '\n');
      await updateModelCard(join(core.dir, 'MODEL_CARD.md'), report, pct);
    }
    const out = (line: string) => io.stdout.write(`${line}\n`);
    const scene = sceneRow(report);
    out(`scene QA on ${scene.n} unseen dialogues: exact ${pct(scene.exact)}, key words ${pct(scene.keywords)}`);
    for (const [g, r] of Object.entries(report.byGroup)) out(`  ${g}: exact ${pct(r.exact)}, key words ${pct(r.keywords)}, graded ${pct(r.graded)} (n = ${r.n})`);
    for (const [t, r] of Object.entries(report.byType)) out(`  type ${t}: graded ${pct(r.graded)}, exact ${pct(r.exact)} (n = ${r.n})`);
    for (const e of report.examples) out(`  ${e.keywords ? '✓' : '✗'} ${e.question} → ${e.answer} (reference: ${e.reference})`);
  },
});

/** The first question of the first `perGroup` scene dialogues per combination group (the headline rows). */
function sceneQaItems(perGroup: number): QaItem[] {
  const items: QaItem[] = [];
  const count = { 'train-combos': 0, 'heldout-combos': 0 };
  for (let i = EVAL_START; count['train-combos'] < perGroup || count['heldout-combos'] < perGroup; i++) {
    const d = textDoc(CORPUS_SEED, i);
    if (d.kind !== 'dialogue' || !d.turns || !d.scene) continue;
    const group = d.split === 'heldout' ? 'heldout-combos' : 'train-combos';
    if (count[group] >= perGroup) continue;
    count[group]++;
    items.push({ question: d.turns[0]!.content, answer: d.turns[1]!.content, group });
  }
  return items;
}

const isOneOf = <T extends string>(list: readonly T[], x: string): x is T => (list as readonly string[]).includes(x);

/**
 * Grading of a first-round question: the image eval's for its scene types (the shared `gradeSceneQa`), the video eval's
 * for clip types, else key words (size, exists, total: kept on key words so this eval's figures stay comparable
 * across rounds; spoken QA grades those types with `gradeSceneQa` too).
 */
function graderOf(d: TextDoc, type: string): { type: string; grade: (answer: string, reference: string) => boolean } {
  if (d.scene && isOneOf(VQA_TYPES, type)) return { type, grade: (a, r) => gradeSceneQa(type, a, r) };
  if (d.motion && isOneOf(VIDEO_QA_TYPES, type)) return { type: `clip-${type}`, grade: (a, r) => gradeVideoQa(type, a, r) };
  return { type: d.motion ? `clip-${type}` : type, grade: keywordMatch };
}

/** Scene types (8) + clip types (8) + repeat / transcribe × 4 sources (8) + translate. */
const EXPECTED_TYPES = 25;

/** The scene's facts a translation must carry: its colours, shapes (singular) and numbers. */
function facts(s: string): string {
  const keys = new Set<string>([...COLOURS, ...SHAPES, ...NUMBER_WORDS]);
  const words = normaliseAnswer(s).split(' ').map((w) => (w.endsWith('s') && keys.has(w.slice(0, -1)) ? w.slice(0, -1) : w));
  return [...new Set(words.filter((w) => keys.has(w)).map((w) => (w === 'a' || w === 'an' ? 'one' : w)))].sort().join(' ');
}

/**
 * Up to `perType` unseen first-round questions of each type (scene and clip dialogues; written-word
 * questions only where a word is written, as the image eval asks them) and `perType` instructions
 * of each task (repeat, transcribe, translate).
 */
function typedItems(perType: number): QaItem[] {
  if (perType === 0) return [];
  const items: QaItem[] = [];
  const count = new Map<string, number>();
  const full = (k: string) => (count.get(k) ?? 0) >= perType;
  // Stop when every task and the types that occur are full, or after a bounded scan.
  for (let i = EVAL_START + 1_000_000; i < EVAL_START + 1_200_000; i++) {
    const d = textDoc(CORPUS_SEED, i);
    if (!d.turns) continue;
    const group = d.split === 'heldout' ? 'heldout-combos' : 'train-combos';
    if (d.kind === 'instruction' && d.task) {
      const type = d.task === 'translate' ? 'translate' : `${d.task}-${d.source}`;
      if (full(type)) continue;
      count.set(type, (count.get(type) ?? 0) + 1);
      const grade = d.task === 'translate' ? (a: string, r: string) => facts(a) === facts(r) : (a: string, r: string) => a.trim() === r.trim();
      items.push({ question: d.turns[0]!.content, answer: d.turns[1]!.content, group: d.task, type, grade });
      continue;
    }
    const t = d.qaTypes?.[0];
    if (d.kind !== 'dialogue' || t === undefined || !(d.scene || d.motion)) continue;
    if (t === 'word' && /no word/u.test(d.turns[1]!.content)) continue;
    const g = graderOf(d, t);
    if (full(g.type)) continue;
    count.set(g.type, (count.get(g.type) ?? 0) + 1);
    items.push({ question: d.turns[0]!.content, answer: d.turns[1]!.content, group: `typed-${group}`, ...g });
    if (count.size >= EXPECTED_TYPES && [...count.values()].every((n) => n >= perType)) break;
  }
  return items;
}

const SCENE_GROUPS = ['train-combos', 'heldout-combos'] as const;

const CARD_START = '<!-- herd eval text -->';
const CARD_END = '<!-- /herd eval text -->';

/** The headline scene-QA score: the two combination groups together. */
function sceneRow(r: QaReport): QaScore {
  const groups = SCENE_GROUPS.map((g) => r.byGroup[g]).filter((x): x is QaScore => x !== undefined);
  const n = groups.reduce((a, g) => a + g.n, 0);
  const mean = (k: 'exact' | 'keywords' | 'graded') => (n ? groups.reduce((a, g) => a + g[k] * g.n, 0) / n : 0);
  return { n, exact: mean('exact'), keywords: mean('keywords'), graded: mean('graded') };
}

/** Writes (or replaces) the scene-QA section of a model card, so the card shows the latest measurement. */
async function updateModelCard(path: string, r: QaReport, pct: (x: number) => string): Promise<void> {
  if (!existsSync(path)) return;
  const card = readFileSync(path, 'utf8');
  const rows = SCENE_GROUPS.filter((g) => r.byGroup[g]).map((g) => `| ${g} | ${r.byGroup[g]!.n} | ${pct(r.byGroup[g]!.exact)} | ${pct(r.byGroup[g]!.keywords)} |`);
  const all = sceneRow(r);
  const typeRows = Object.entries(r.byType).sort(([a], [b]) => a.localeCompare(b)).map(([t, v]) => `| ${t} | ${v.n} | ${pct(v.graded)} | ${pct(v.exact)} |`);
  const section = `${CARD_START}
## Scene QA (\`herd eval text --update-card\`)
Greedy answers to the first question of ${all.n} dialogues the core never saw (corpus indices from ${EVAL_START.toLocaleString('en-US')}),
about scenes described in words. Exact: equal after normalising case and punctuation. Key words: every content word of the
reference appears in the answer (the corpus phrases one fact several ways).

| combinations | n | exact | key words |
|---|---|---|---|
${rows.join('\n')}
| all | ${all.n} | ${pct(all.exact)} | ${pct(all.keywords)} |
${
  typeRows.length
    ? `
### By question type and instruction task
Unseen first-round questions of each type (corpus indices from ${(EVAL_START + 1_000_000).toLocaleString('en-US')}), the scene or clip
given in words. Graded: scene types colour / shape / count / position / word by the image eval's \`gradeSceneQa\` and clip types
(\`clip-…\`) direction / moving / which / event / count by the video eval's \`gradeVideoQa\` (the type's key word, as the
adapters are scored; this is the \`described\` upper bound of every adapter on this core); other types by key words.
\`repeat-…\` / \`transcribe-…\`: the reply must equal the sentence verbatim (by what the sentence is); \`translate\`: a French,
German or Spanish description → English, graded on the set of colours, shapes and numbers.

| type | n | graded | exact |
|---|---|---|---|
${typeRows.join('\n')}
`
    : ''
}${CARD_END}
`;
  const i = card.indexOf(CARD_START);
  const j = card.indexOf(CARD_END);
  const next = i >= 0 && j > i ? card.slice(0, i) + section + card.slice(j + CARD_END.length + 1) : `${card.trimEnd()}\n\n${section}`;
  await writeFileAtomic(path, next);
}
