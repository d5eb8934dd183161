/**
 * `herd text eval` (also `herd eval text`): held-out perplexity is in the model card; this measures
 * what a user sees — exact-match answers to questions about scenes described in words, on dialogues
 * the core never saw (corpus indices past the training range), for train and held-out colour×shape
 * combinations.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, flag, writeFileAtomic } from '@herd/core';
import { textDoc } from '@herd/datasets';
import { Generator, MINI_CORE_DIR, type QaItem, type QaReport, buildDecoder, evaluateChatQa } from '@herd/llama3';
import { DEVICE_FLAG, defineCommand } from '../command.js';
import { openLanguageCore } from '../model-folder.js';
import { MODEL_FLAG } from './generate.js';
import { CORPUS_SEED } from './train-text.js';

/** Far past any training range, so these documents are unseen. */
const EVAL_START = 10_000_000;

export const evalTextCommand = defineCommand({
  words: ['text', 'eval'],
  aliases: [['eval', 'text']],
  summary: "scene-QA accuracy of a language core (and, with --update-card, write it into the model's card)",
  usesDevice: true,
  flags: {
    ...MODEL_FLAG,
    n: flag.integer({ min: 1, default: 100, description: 'questions per group (train and held-out colour×shape combinations)' }),
    'update-card': flag.boolean({ description: "write eval-text.json and the scene-QA section of the model folder's MODEL_CARD.md" }),
    ...DEVICE_FLAG,
  },
  async run({ values, io, device }) {
    const dir = values.model ?? MINI_CORE_DIR;
    const { core, tok } = await openLanguageCore(dir, io.stderr);
    const perGroup = values.n;
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
    const gen = await Generator.create(core.config, buildDecoder(core.config, core.weights), { device: device().device });
    let report: QaReport;
    try {
      report = await evaluateChatQa(gen, tok, core.vocab, items);
    } finally {
      await gen.release();
    }
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    // The model folder is only written when asked (it may be the committed mini core), and never
    // from an empty measurement: zeros would replace the recorded results.
    if (values['update-card']) {
      if (report.n === 0) throw new HerdError('invalid_argument', `no questions were evaluated; ${core.dir}'s model card is left as it is`);
      await writeFileAtomic(join(core.dir, 'eval-text.json'), JSON.stringify({ corpusSeed: CORPUS_SEED, start: EVAL_START, ...report }, null, 2) + '\n');
      await updateModelCard(join(core.dir, 'MODEL_CARD.md'), report, pct);
    }
    const out = (line: string) => io.stdout.write(`${line}\n`);
    out(`scene QA on ${report.n} unseen dialogues: exact ${pct(report.exact)}, key words ${pct(report.keywords)}`);
    for (const [g, r] of Object.entries(report.byGroup)) out(`  ${g}: exact ${pct(r.exact)}, key words ${pct(r.keywords)} (n = ${r.n})`);
    for (const e of report.examples) out(`  ${e.keywords ? '✓' : '✗'} ${e.question} → ${e.answer} (reference: ${e.reference})`);
  },
});

const CARD_START = '<!-- herd eval text -->';
const CARD_END = '<!-- /herd eval text -->';

/** Writes (or replaces) the scene-QA section of a model card, so the card shows the latest measurement. */
async function updateModelCard(path: string, r: QaReport, pct: (x: number) => string): Promise<void> {
  if (!existsSync(path)) return;
  const card = readFileSync(path, 'utf8');
  const rows = Object.entries(r.byGroup).map(([g, v]) => `| ${g} | ${v.n} | ${pct(v.exact)} | ${pct(v.keywords)} |`);
  const section = `${CARD_START}
## Scene QA (\`herd eval text --update-card\`)
Greedy answers to the first question of ${r.n} dialogues the core never saw (corpus indices from ${EVAL_START.toLocaleString('en-US')}),
about scenes described in words. Exact: equal after normalising case and punctuation. Key words: every content word of the
reference appears in the answer (the corpus phrases one fact several ways).

| combinations | n | exact | key words |
|---|---|---|---|
${rows.join('\n')}
| all | ${r.n} | ${pct(r.exact)} | ${pct(r.keywords)} |
${CARD_END}
`;
  const i = card.indexOf(CARD_START);
  const j = card.indexOf(CARD_END);
  const next = i >= 0 && j > i ? card.slice(0, i) + section + card.slice(j + CARD_END.length + 1) : `${card.trimEnd()}\n\n${section}`;
  await writeFileAtomic(path, next);
}
