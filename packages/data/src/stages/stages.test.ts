import { describe, expect, it } from 'vitest';
import type { Sample } from '../sample.js';
import { checkStages, planPasses } from '../runner/pipeline.js';
import { exactDuplicate, mediaHash } from './exact-duplicate.js';
import { metaFilter } from './meta-filter.js';
import type { SampleStage, StageContext } from './stage.js';
import { fixCapitalisation, textHeuristics } from './text-heuristics.js';
import { textSafety } from './text-safety.js';
import { captionQuality } from './caption-quality.js';
import { languageId } from './language-id.js';
import { Components, starGroups } from './components.js';
import { histogram, HistogramBuilder } from '../report/histogram.js';

const ctx: StageContext = { shard: 'shard-000000.tar', pass: 0, worker: 0 };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);
const sample = (key: string, files: Record<string, Uint8Array>, meta: Record<string, unknown> = {}): Sample => ({ key, files, meta });

describe('textHeuristics', () => {
  const stage = textHeuristics({ minChars: 8, maxChars: 40, minWords: 2 });
  const run = (text: string | Uint8Array) => stage.process(sample('k', { txt: typeof text === 'string' ? enc(text) : text }), ctx);

  it('cleans whitespace and capitalisation and keeps the rest of the sample', async () => {
    const s = sample('k', { txt: enc('  a red   circle.\n two blue squares  '), png: new Uint8Array([1]) }, { a: 1 });
    const res = await stage.process(s, ctx);
    expect(res.keep).toBe(true);
    if (!res.keep) return;
    expect(dec(res.sample.files.txt)).toBe('A red circle. Two blue squares');
    expect(res.sample.files.png).toBe(s.files.png);
    expect(res.sample.meta).toEqual({ a: 1 });
    expect(dec(s.files.txt)).toContain('  a red'); // input untouched
  });

  it('drops with reason and detail', async () => {
    expect(await run('tiny')).toEqual({ keep: false, reason: 'text_too_short: 4 < 8' });
    expect(await run('x'.repeat(41) + ' y')).toEqual({ keep: false, reason: 'text_too_long: 43 > 40' });
    expect(await run('onlyoneword')).toEqual({ keep: false, reason: 'too_few_words: 1 < 2' });
    expect(await run(new Uint8Array([0xff, 0xfe, 0x41]))).toEqual({ keep: false, reason: 'invalid_utf8' });
    expect(await stage.process(sample('k', {}), ctx)).toEqual({ keep: false, reason: 'missing_text: no .txt file' });
  });

  it('fixes capitalisation, lowering text written in capitals', () => {
    expect(fixCapitalisation('THREE RED CIRCLES! ONE SQUARE?')).toBe('Three red circles! One square?');
    expect(fixCapitalisation('the NASA logo. it is blue')).toBe('The NASA logo. It is blue');
    expect(fixCapitalisation('élan vital')).toBe('Élan vital');
    expect(fixCapitalisation('OK')).toBe('OK');
  });
});

describe('textSafety', () => {
  const stage = textSafety({ maxLineChars: 50 });
  const run = (txt: string | Uint8Array, meta: Record<string, unknown> = {}) => stage.process(sample('k', { txt: typeof txt === 'string' ? enc(txt) : txt }, meta), ctx);

  it('keeps ordinary text, tabs and newlines, non-Latin scripts and emoji', async () => {
    expect(await run('A red circle.\tTwo squares.\nÉlan, 三角形, кружок 🔴', { caption: 'ok', tags: ['x', { y: 'fine' }] })).toMatchObject({ keep: true });
  });

  it('flags NUL, control, bidi, invisible and lone-surrogate characters, invalid UTF-8 and megabyte lines, naming where', async () => {
    const cases: [string | Uint8Array, Record<string, unknown>, string][] = [
      ['a\u0000b', {}, 'unsafe_text: .txt: NUL byte at character 1'],
      ['bell\u0007', {}, 'unsafe_text: .txt: control character U+0007 at character 4'],
      ['abc\u202Egnp.exe', {}, 'unsafe_text: .txt: bidi control U+202E at character 3'],
      ['x\u2067y', {}, 'unsafe_text: .txt: bidi control U+2067 at character 1'],
      ['zero\u200Bwidth', {}, 'unsafe_text: .txt: invisible character U+200B at character 4'],
      [new Uint8Array([0x61, 0xc3, 0x28]), {}, 'unsafe_text: .txt: invalid UTF-8'],
      ['x'.repeat(51), {}, 'unsafe_text: .txt: a line of 51 characters (limit 50)'],
      ['fine', { caption: 'ok', nested: { list: ['ok', 'evil\u202Dtext'] } }, 'unsafe_text: meta.nested.list[1]: bidi control U+202D at character 4'],
      ['fine', { caption: '\ud800' }, 'unsafe_text: meta.caption: lone surrogate U+D800 at character 0'],
      ['fine', { ['k\u0000']: 1 }, 'unsafe_text: meta key: NUL byte at character 1'],
    ];
    for (const [txt, meta, reason] of cases) expect(await run(txt, meta)).toEqual({ keep: false, reason });
    const big = await textSafety().process(sample('k', { txt: enc('word '.repeat(300_000)) }), ctx);
    expect(big).toEqual({ keep: false, reason: 'unsafe_text: .txt: 1500000 characters (limit 1000000)' });
  });
});

describe('metaFilter', () => {
  it('keeps what passes and drops the rest with a fixed or computed reason', async () => {
    const en = metaFilter('lang', (m) => m.lang === 'en', 'non_english_caption');
    expect(await en.process(sample('a', {}, { lang: 'en' }), ctx)).toMatchObject({ keep: true });
    expect(await en.process(sample('b', {}, { lang: 'de' }), ctx)).toEqual({ keep: false, reason: 'non_english_caption' });
    const wide = metaFilter('w', (m) => (m.width as number) >= 32, (s) => `too_small: ${s.meta.width} < 32`);
    expect(await wide.process(sample('c', {}, { width: 8 }), ctx)).toEqual({ keep: false, reason: 'too_small: 8 < 32' });
  });
});

describe('exactDuplicate', () => {
  it('hashes only the chosen files, framed by extension and length', () => {
    const a = sample('a', { png: enc('xy'), txt: enc('one') });
    const b = sample('b', { png: enc('xy'), txt: enc('two') });
    expect(mediaHash(a, ['png'])).toBe(mediaHash(b, ['png']));
    expect(mediaHash(a)).not.toBe(mediaHash(b));
    expect(mediaHash(sample('c', { txt: enc('x') }), ['png'])).toBeNull();
    // "ab"+"c" and "a"+"bc" must not collide.
    expect(mediaHash(sample('d', { a: enc('ab'), b: enc('c') }))).not.toBe(mediaHash(sample('e', { a: enc('a'), b: enc('bc') })));
  });

  it('keeps the first occurrence in dataset order and names it in the reason', async () => {
    const stage = exactDuplicate({ exts: ['png'] });
    const samples = [
      sample('a', { png: enc('1') }),
      sample('b', { png: enc('2') }),
      sample('c', { png: enc('1') }),
      sample('d', { txt: enc('no image') }),
      sample('e', { png: enc('1') }),
      sample('f', { txt: enc('no image') }),
    ];
    const features = new Map<string, string | null>();
    for (const s of samples) features.set(s.key, await stage.prepare!(s, ctx));
    const drops = await stage.decide(features);
    expect([...drops]).toEqual([
      ['c', 'exact_duplicate: same bytes as a'],
      ['e', 'exact_duplicate: same bytes as a'],
    ]);
  });
});

describe('pipeline checks', () => {
  const s = (name: string): SampleStage => ({ kind: 'sample', name, process: (x) => ({ keep: true, sample: x }) });

  it('reports every problem at once', () => {
    const bad = [s('a'), s('a'), s('read'), { kind: 'weird', name: 'w' }, { kind: 'global', name: 'g' }];
    let message = '';
    try {
      checkStages(bad, 'test');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/stage 1 "a": name used twice/);
    expect(message).toMatch(/"read" is reserved/);
    expect(message).toMatch(/kind must be "sample" or "global", got "weird"/);
    expect(message).toMatch(/stage 4 "g": a global stage needs decide/);
  });

  it('splits the pipeline into passes at global stages', () => {
    const g = exactDuplicate({ name: 'g' });
    const h = exactDuplicate({ name: 'h' });
    const passes = planPasses([s('a'), s('b'), g, s('c'), h]);
    expect(passes.map((p) => [p.applies?.name ?? null, p.stages.map((x) => x.name), p.prepares?.name ?? null])).toEqual([
      [null, ['a', 'b'], 'g'],
      ['g', ['c'], 'h'],
      ['h', [], null],
    ]);
    expect(planPasses([]).length).toBe(1);
  });
});

describe('shared text stages for captions and transcripts', () => {
  it('captionQuality names the subject in its reasons and scores', async () => {
    const stage = captionQuality({ subject: 'transcript', name: 'transcript', minChars: 2, minWords: 1 });
    expect(await stage.process(sample('a', {}), ctx)).toEqual({ keep: false, reason: 'missing_transcript: no .txt file' });
    expect(await stage.process(sample('b', { txt: enc('see http://media.invalid/x for the clip') }), ctx)).toMatchObject({ keep: false, reason: 'url_in_transcript: 1 URL(s)' });
    const ok = await stage.process(sample('c', { txt: enc('Yes.') }), ctx);
    expect(ok.keep && (ok.sample.meta['curation'] as Record<string, unknown>)['transcript']).toMatchObject({ words: 1, chars: 4 });
    // Captions keep their reason words (image curation's tests rely on them).
    expect(await captionQuality().process(sample('d', { txt: enc('ab') }), ctx)).toMatchObject({ keep: false, reason: expect.stringMatching(/^caption_too_short/) });
  });
  it('languageId checks a declared language, accepts any with keep "any", and keeps an unsure guess', async () => {
    const stage = languageId({ keep: 'any', declaredField: 'language', subject: 'transcript' });
    const fr = enc('un grand cercle rouge est au-dessus du petit carré bleu');
    const mismatch = await stage.process(sample('a', { txt: fr }, { language: 'en' }), ctx);
    expect(mismatch.keep === false && mismatch.reason).toMatch(/^language_mismatch: transcript fr p=0\.\d+, declared en$/);
    const match = await stage.process(sample('b', { txt: fr }, { language: 'fr' }), ctx);
    expect(match.keep && (match.sample.meta['curation'] as Record<string, Record<string, unknown>>)['language']!['lang']).toBe('fr');
    expect((await stage.process(sample('c', { txt: fr }), ctx)).keep).toBe(true);
    const sure = languageId({ keep: 'any', declaredField: 'language', minMismatchProbability: 1.01 });
    const unsure = await sure.process(sample('d', { txt: fr }, { language: 'en' }), ctx);
    expect(unsure.keep && (unsure.sample.meta['curation'] as Record<string, Record<string, unknown>>)['language']).toMatchObject({ lang: 'fr', declared: 'en' });
    const english = await languageId({ subject: 'transcript' }).process(sample('e', { txt: fr }), ctx);
    expect(english.keep === false && english.reason).toMatch(/^non_english_transcript: fr/);
  });
  it('Components roots each set at its best member; histogram bins 200 000 values (more than a spread call takes)', () => {
    const q = [1, 5, 5, 2];
    const c = new Components(4, (a, b) => q[a]! > q[b]! || (q[a] === q[b] && a < b));
    c.union(0, 2);
    c.union(3, 1);
    c.union(2, 3);
    expect([0, 1, 2, 3].map((i) => c.find(i))).toEqual([1, 1, 1, 1]);
    const h = histogram('x', Array.from({ length: 200_000 }, (_, i) => i % 10), 10);
    expect(h.n).toBe(200_000);
    expect(h.bins.map((b) => b.count)).toEqual(new Array(10).fill(20_000));
  });
  it('starGroups does not chain: a member is linked to its centre; the kept one is the best of the group', () => {
    // A chain 0–1–2–3–4 (each looks like the next, 0 and 4 nothing alike) and a star 5–{6,7,8}.
    const pairs: [number, number][] = [[0, 1], [1, 2], [2, 3], [3, 4], [5, 6], [5, 7], [5, 8], [6, 7]];
    const q = [0, 0, 0, 0, 0, 1, 2, 0, 0, 0];
    const better = (a: number, b: number): boolean => q[a]! > q[b]! || (q[a] === q[b] && a < b);
    const keep = Array.from(starGroups(10, pairs, better));
    // Union-find would make 0…4 one group; stars: centre 1 takes {0, 2}, then 3 takes {4}.
    expect(keep.slice(0, 5)).toEqual([0, 0, 0, 3, 3]);
    // Centre 5 (three links) takes 6, 7, 8; 6 has the best quality and is kept for all four.
    expect(keep.slice(5)).toEqual([6, 6, 6, 6, 9]);
    const c = new Components(10, better);
    for (const [a, b] of pairs) c.union(a, b);
    expect([0, 1, 2, 3, 4].map((i) => c.find(i))).toEqual([0, 0, 0, 0, 0]);
  });
  it('HistogramBuilder: exact while small; bounded beyond, within one fine bin of the exact counts', () => {
    const vals = Array.from({ length: 50_000 }, (_, i) => Math.sin(i * 0.37) * 3 + (i % 7) * 0.1);
    const small = new HistogramBuilder(100_000);
    const big = new HistogramBuilder(1000); // switches to fine bins after 1000 values; the range then grows
    for (const v of vals) {
      small.add(v);
      big.add(v);
    }
    big.add(Number.NaN);
    big.add(40); // far outside: the fine range doubles until it fits
    const exact = histogram('x', [...vals, 40], 20);
    expect(big.n).toBe(50_001);
    const got = big.build('x', 20);
    expect(got.bins[0]!.lo).toBe(exact.bins[0]!.lo);
    expect(got.bins[19]!.hi).toBeCloseTo(40, 9);
    // A value may move across a plot-bin edge only when it lies within one fine bin of it (the fine
    // range is at most twice the data's, in 4096 bins).
    const fineWidth = (2 * (40 - exact.bins[0]!.lo)) / 4096;
    const nearEdge = (edge: number): number => [...vals, 40].filter((v) => Math.abs(v - edge) <= fineWidth).length;
    got.bins.forEach((b, i) => expect(Math.abs(b.count - exact.bins[i]!.count)).toBeLessThanOrEqual(nearEdge(b.lo) + nearEdge(b.hi)));
    expect(got.bins.reduce((a, b) => a + b.count, 0)).toBe(50_001);
    expect(small.build('x', 20)).toEqual(histogram('x', vals, 20));
  });
});
