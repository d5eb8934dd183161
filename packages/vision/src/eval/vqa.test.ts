/** Tallying of graded visual-QA answers, and the loss masks of the mini recipe's sequences (the grading itself: @herd/llama3 typed-grade.test.ts). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGE_TOKEN_ID, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { preprocessImage } from '../data/tiling.js';
import { loadMiniVision } from '../mini.js';
import { describe, expect, it } from 'vitest';
import { type TiledImage } from '../data/tiling.js';
import { type SceneExample, captionSequence, statedCount, cropToCell, dropUnspellableAnswers, miniVisionConfig, qaDialogueSequence, qaSequence, toAdapterSample } from '../train/mini.js';
import { type GradedVqa, evaluateCoreRows, evaluateVqa, tallyVqa, vqaAdapterAccuracy, vqaCountTable, vqaGroupTable, vqaItems } from './vqa.js';

describe('tallyVqa', () => {
  const hit = (adapter: boolean, blind: boolean) => ({ core: false, adapter, blind, described: true });
  it('rates each row by type and splits adapter / blind by one vs several object groups', () => {
    const graded: GradedVqa[] = [
      { type: 'colour', groups: 1, hits: hit(true, false) },
      { type: 'colour', groups: 1, hits: hit(true, false) },
      { type: 'colour', groups: 3, hits: hit(false, false) },
      { type: 'colour', groups: 2, hits: hit(true, true) },
      { type: 'colour', hits: hit(false, true) }, // no scene spec: in the totals, not in the split
      { type: 'count', groups: 2, hits: hit(false, true) },
    ];
    const r = tallyVqa(graded);
    expect(r.n.colour).toBe(5);
    expect(r.accuracy.adapter.colour).toBeCloseTo(3 / 5);
    expect(r.accuracy.blind.colour).toBeCloseTo(2 / 5);
    expect(r.accuracy.described.count).toBe(1);
    expect(r.accuracy.adapter.shape).toBe(0);
    expect(r.byGroups.one).toMatchObject({ n: { colour: 2, count: 0 }, adapter: { colour: 1 }, blind: { colour: 0 } });
    expect(r.byGroups.several).toMatchObject({ n: { colour: 2, count: 1 }, adapter: { colour: 0.5, count: 0 }, blind: { colour: 0.5, count: 1 } });
    const table = vqaGroupTable({ ...r, examples: [] });
    expect(table).toContain('| one object group: adapter / blind (n) | 100% / 0% (2) |');
    expect(table).toContain('| several object groups: adapter / blind (n) | 50% / 50% (2) | 0% / 0% (0) | 0% / 100% (1) |');
  });
});

describe('count by the reference number (round 24)', () => {
  // Scene i: its first count question states 1 (i < 8), 2 (i = 8, 9) or 3 (i = 10); each has "There are no X." after it.
  const scenes = Array.from({ length: 11 }, (_, i) => ({
    key: `s${i}`, split: 'heldout', image: {} as TiledImage, caption: '',
    qa: [
      { type: 'colour', question: 'What colour is the star?', answer: 'Red.' },
      { type: 'count', question: 'How many stars are there?', answer: i < 8 ? 'One.' : i < 10 ? 'There are two stars.' : 'Three.' },
      { type: 'count', question: 'How many circles are there?', answer: 'There are no circles.' },
    ],
  })) as SceneExample[];
  const numbers = (items: readonly { type: string; answer: string }[]) => items.filter((x) => x.type === 'count').map((x) => statedCount(x.answer));

  it('vqaItems: the default draw is unchanged (the first count question per scene); countBalance gives each number an equal share, one item per scene', () => {
    expect(numbers(vqaItems(scenes, 8))).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    expect(vqaItems(scenes, 8, { countBalance: false })).toEqual(vqaItems(scenes, 8));
    const balanced = vqaItems(scenes, 8, { countBalance: true });
    const tally = (ns: readonly (number | undefined)[]) => ns.reduce<Record<string, number>>((m, k) => ({ ...m, [String(k)]: (m[String(k)] ?? 0) + 1 }), {});
    expect(tally(numbers(balanced))).toEqual({ 0: 2, 1: 3, 2: 2, 3: 1 }); // three has one scene: the rounds go on without it (rarest first: 3, 2, 1, 0)
    expect(new Set(balanced.filter((x) => x.type === 'count').map((x) => x.scene.key)).size).toBe(8); // eight scenes, one item each
    // The rare numbers pick first: the one scene of three is not spent on a zero item.
    expect(balanced.some((x) => x.type === 'count' && x.scene.key === 's10' && statedCount(x.answer) === 3)).toBe(true);
    expect(balanced.filter((x) => x.type !== 'count')).toEqual(vqaItems(scenes, 8).filter((x) => x.type !== 'count')); // other types untouched
    expect(numbers(vqaItems(scenes, 4, { countBalance: true })).sort()).toEqual([0, 1, 2, 3]);
  });

  it('tallyVqa splits the count items by reference number, with what the adapter said; vqaCountTable prints it', () => {
    const hit = (adapter: boolean, blind: boolean, described: boolean) => ({ core: false, adapter, blind, described });
    const graded: GradedVqa[] = [
      { type: 'count', count: 1, adapterCount: 1, hits: hit(true, true, true) },
      { type: 'count', count: 1, adapterCount: 1, hits: hit(true, false, true) },
      { type: 'count', count: 2, adapterCount: 1, hits: hit(false, false, true) },
      { type: 'count', count: 2, adapterCount: null, hits: hit(false, false, false) },
      { type: 'count', count: 0, adapterCount: 0, hits: hit(true, false, true) },
      { type: 'colour', hits: hit(true, true, true) },
    ];
    const r = tallyVqa(graded);
    expect(r.byCount).toEqual([
      { number: 0, n: 1, adapter: 1, blind: 0, described: 1, adapterSaid: { 0: 1 } },
      { number: 1, n: 2, adapter: 1, blind: 0.5, described: 1, adapterSaid: { 1: 2 } },
      { number: 2, n: 2, adapter: 0, blind: 0, described: 0.5, adapterSaid: { '1': 1, '?': 1 } },
    ]);
    const table = vqaCountTable(r);
    expect(table).toContain('| 1 | 2 | 100% | 50% | 100% | 1×2 |');
    expect(table).toContain('| 2 | 2 | 0% | 0% | 50% | 1×1, ?×1 |');
    expect(tallyVqa(graded.filter((g) => g.type !== 'count')).byCount).toEqual([]);
  });
});

describe('vqaAdapterAccuracy (the selection\'s cheap score)', () => {
  it('is evaluateVqa\'s adapter row on the same items, answered by the committed checkpoint', async () => {
    const v = loadMiniVision();
    const tok = await loadLlama3Tokenizer();
    const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'heldout-scenes');
    const fixtures = (JSON.parse(readFileSync(join(dir, 'scenes.json'), 'utf8')) as { file: string; caption: string; question: string; answer: string }[]).slice(0, 8);
    const scenes: SceneExample[] = await Promise.all(fixtures.map(async (f, i) => ({ key: `f${i}`, split: 'heldout', image: await preprocessImage(join(dir, f.file), v.config.vision), caption: f.caption, qa: [{ type: 'colour', question: f.question, answer: f.answer }] })));
    const items = vqaItems(scenes, 8);
    const o = { config: v.config, core: v.core, vision: v.weights, tokenizer: tok, items };
    const seen: { question: string; adapter: string; hit: boolean }[] = [];
    const [cheap, full] = [await vqaAdapterAccuracy(o), await evaluateVqa({ ...o, onItem: (item, answers, hits) => seen.push({ question: item.question, adapter: answers.adapter, hit: hits.adapter }) })];
    expect(cheap).toEqual(full.accuracy.adapter);
    // onItem hands over every item's answers in order (the report keeps 10 examples), graded as the tally was.
    expect(seen.map((x) => x.question)).toEqual(items.map((i) => i.question));
    expect(seen.filter((x) => x.hit).length / seen.length).toBe(full.accuracy.adapter.colour);
    expect(seen.slice(0, full.examples.length).map((x) => x.adapter)).toEqual(full.examples.map((e) => e.answers.adapter));
    expect(cheap.colour).toBeGreaterThan(0); // the committed checkpoint names some of these colours: not an all-zero match
  }, 120_000);

  it('evaluateCoreRows is evaluateVqa\'s core-alone and in-words rows on the same items, with no vision checkpoint', async () => {
    const v = loadMiniVision();
    const tok = await loadLlama3Tokenizer();
    const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'heldout-scenes');
    const fixtures = JSON.parse(readFileSync(join(dir, 'scenes.json'), 'utf8')) as { file: string; caption: string; question: string; answer: string }[];
    const scenes: SceneExample[] = await Promise.all(fixtures.map(async (f, i) => ({ key: `f${i}`, split: 'heldout', image: await preprocessImage(join(dir, f.file), v.config.vision), caption: f.caption, qa: [{ type: 'colour', question: f.question, answer: f.answer }] })));
    const items = vqaItems(scenes, fixtures.length);
    const full = await evaluateVqa({ config: v.config, core: v.core, vision: v.weights, tokenizer: tok, items });
    const rows = await evaluateCoreRows({ core: v.core, tokenizer: tok, items });
    expect(rows.n).toEqual(full.n);
    expect(rows.accuracy).toEqual({ core: full.accuracy.core, described: full.accuracy.described });
    expect(rows.accuracy.described.colour).toBeGreaterThan(rows.accuracy.core.colour); // the caption is read: not two copies of one row
  }, 120_000);
});

describe('mini recipe sequences', () => {
  const core = loadLanguageCore();
  const m = miniVisionConfig(core.config);
  const image = { nTiles: 1 } as unknown as TiledImage;

  it('maps <|image|> to the adapter\'s learnable id and trains only on the caption after it', async () => {
    const tok = await loadLlama3Tokenizer();
    const seq = captionSequence(tok, core, m, 'A big red circle on the left.');
    expect(seq.tokens[1]).toBe(m.imageTokenId);
    expect(seq.tokens.filter((t) => t >= core.config.vocabSize)).toEqual([m.imageTokenId]);
    expect(m.imageTokenId).toBe(core.config.vocabSize);
    const s = toAdapterSample(image, seq, 24);
    expect(s.targets.slice(0, 1)).toEqual([-100]); // predicting <|image|> from BOS: no loss
    expect(s.targets[1]).toBe(seq.tokens[2]); // the first caption token, predicted at the image token
    expect(s.targets.slice(seq.tokens.length - 1).every((t) => t === -100)).toBe(true); // padding
    expect(IMAGE_TOKEN_ID).toBeGreaterThan(core.config.vocabSize);
  });

  it('QA: loss only on the assistant reply and its <|eot_id|>', async () => {
    const tok = await loadLlama3Tokenizer();
    const seq = qaSequence(tok, core, m, 'What colour is the circle?', 'Red.');
    const s = toAdapterSample(image, seq, 48);
    const trained = s.targets.map((t, i) => [i, t] as const).filter(([, t]) => t !== -100);
    expect(trained[0]![0]).toBe(seq.trainFrom - 1);
    const reply = tok.decode(Array.from(core.vocab!.toFull(trained.map(([, t]) => t))));
    expect(reply).toBe('Red.<|eot_id|>');
  });

  it('drops QA pairs whose reply the pruned core cannot spell (they would train the unknown id)', async () => {
    const tok = await loadLlama3Tokenizer();
    const qa = (answer: string) => ({ question: 'What colour is the star?', answer, type: 'colour' });
    const scenes = [
      { key: 'a', split: 'train', image, caption: '', qa: [qa('The star is pink.'), qa('Zyzzyva quux.')] },
      { key: 'b', split: 'train', image, caption: '', qa: [qa('Zyzzyva quux.')] },
    ] as SceneExample[];
    const r = dropUnspellableAnswers(tok, core, m, scenes);
    expect(r.dropped).toEqual(['Zyzzyva quux.', 'Zyzzyva quux.']);
    expect(r.scenes.map((s) => [s.key, s.qa.map((q) => q.answer)])).toEqual([['a', ['The star is pink.']]]);
  });

  it('QA dialogue: several turns about one image, loss on every reply, turns past T left out', async () => {
    const tok = await loadLlama3Tokenizer();
    const pairs = [
      { question: 'What colour is the star?', answer: 'The star is pink.' },
      { question: 'How many stars are there?', answer: 'One.' },
      { question: 'Where is the pink star?', answer: 'On the left side.' },
    ];
    const all = qaDialogueSequence(tok, core, m, pairs);
    expect(all.tokens.filter((t) => t === m.imageTokenId)).toHaveLength(1);
    const s = toAdapterSample(image, all, all.tokens.length + 2);
    const trained = s.targets.filter((t) => t !== -100);
    expect(tok.decode(Array.from(core.vocab!.toFull(trained)))).toBe('The star is pink.<|eot_id|>One.<|eot_id|>On the left side.<|eot_id|>');
    // The first turn equals the single-QA sequence.
    const one = qaSequence(tok, core, m, pairs[0]!.question, pairs[0]!.answer);
    expect(all.tokens.slice(0, one.tokens.length)).toEqual(one.tokens);
    expect(all.trainSpans[0]).toEqual([one.trainFrom, one.tokens.length]);
    const cut = qaDialogueSequence(tok, core, m, pairs, all.trainSpans[1]![1]);
    expect(cut.trainSpans).toHaveLength(2);
  });

  it('zoom crop: the object\'s 3×3 grid cell plus a margin', () => {
    const img = { width: 9, height: 9, data: Uint8Array.from({ length: 243 }, (_, i) => Math.floor(i / 3)) }; // pixel value = its index
    const c = cropToCell(img, [1, 1], 0);
    expect([c.width, c.height]).toEqual([3, 3]);
    expect(Array.from(c.data.filter((_, i) => i % 3 === 0))).toEqual([30, 31, 32, 39, 40, 41, 48, 49, 50]);
    const l = cropToCell(img, [0, 1], 1 / 3); // widened by one pixel, clipped at the left edge
    expect([l.width, l.height]).toEqual([4, 5]);
  });
});
