import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { qaKeyWords, videoQuestions } from './language.js';
import { CLIP_DRILL, COPY_LIST, COUNT_DRILL_COUNTS, LOOKUP_DRILL, worldWords, TEXT_MIX, TRANSCRIBE_INSTRUCTION, TRANSLATE_INSTRUCTION, checkTextMix, docText, generateTextCorpus, textCorpusStrings, textReplyKeyWords, textSample, type TextDoc } from './text.js';
import { COPY_WORDS } from './copy-words.js';
import { COLOURS, HELDOUT_COMBOS, POSITION_PHRASES, SHAPES, isHeldOutCombo } from './world.js';

const docs = (seed: number, count: number): TextDoc[] => [...generateTextCorpus({ seed, count })];

/** "green triangle", "big green triangles", "green ... triangle" within one noun phrase. */
function mentionsCombo(text: string, colour: string, shape: string): boolean {
  return new RegExp(`\\b${colour}\\s+(?:[a-z-]+\\s+)?${shape}s?\\b`, 'i').test(text);
}

describe('text corpus', () => {
  const corpus = docs(7, 3000);

  it('is deterministic: same seed, same documents; another seed, others', () => {
    expect(JSON.stringify(docs(7, 300))).toBe(JSON.stringify(corpus.slice(0, 300)));
    expect(JSON.stringify(docs(8, 300))).not.toBe(JSON.stringify(corpus.slice(0, 300)));
    // Index-seeded: a later range regenerates alone.
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 10, start: 100 })])).toBe(JSON.stringify(corpus.slice(100, 110)));
  });

  it('draws document kinds by a mix: the default is TEXT_MIX, another mix shifts the shares and keeps the held-out rule', () => {
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 300, mix: TEXT_MIX })])).toBe(JSON.stringify(corpus.slice(0, 300)));
    const heavy = [...generateTextCorpus({ seed: 7, count: 3000, mix: { description: 0, sentence: 0, motion: 0, dialogue: 1, instruction: 1, copy: 0, lookup: 0, drill: 0, place: 0, clipdrill: 0 } })];
    const share = (ds: TextDoc[], k: string) => ds.filter((d) => d.kind === k).length / ds.length;
    expect(share(heavy, 'description') + share(heavy, 'sentence') + share(heavy, 'motion')).toBe(0);
    expect(share(heavy, 'instruction')).toBeGreaterThan(0.45);
    expect(share(heavy, 'instruction')).toBeLessThan(0.55);
    expect(share(corpus, 'instruction')).toBeLessThan(0.22);
    for (const d of heavy.filter((x) => x.split === 'train' && x.scene)) for (const o of d.scene!.objects) expect(isHeldOutCombo(o.colour, o.shape)).toBe(false);
    expect(() => checkTextMix({ description: 1, sentence: 0, motion: 0, dialogue: -1, instruction: 0, copy: 0, lookup: 0, poems: 1 })).toThrow(/unknown kind 'poems'.*'dialogue' must be a number ≥ 0/su);
    expect(() => checkTextMix({ description: 0, sentence: 0, motion: 0, dialogue: 0, instruction: 0, copy: 0, lookup: 0, drill: 0, place: 0, clipdrill: 0 })).toThrow(/every share is 0/u);
    expect(() => [...generateTextCorpus({ seed: 7, count: 1, mix: { dialogue: 1 } as never })]).toThrow(/no share for 'description'/u);
  });

  it('copy documents: a list of 8–40 distinct one-token world words (COPY_WORDS) repeated at once; lengths vary; train split; off by default', () => {
    expect(corpus.some((d) => d.kind === 'copy')).toBe(false);
    const ds = [...generateTextCorpus({ seed: 7, count: 2000, mix: { description: 0, sentence: 0, motion: 0, dialogue: 1, instruction: 0, copy: 1, lookup: 0, drill: 0, place: 0, clipdrill: 0 } })];
    const copies = ds.filter((d) => d.kind === 'copy');
    // Words of the world's own text (so every corpus token stays in the core's vocabulary), not only its one-word names (round 13: 53 were too few).
    const world = worldWords();
    expect(world.length).toBeGreaterThan(150);
    for (const w of ['red', 'circle', 'cat', 'three', 'left', 'the', 'what']) expect(world).toContain(w);
    for (const w of COPY_WORDS) expect(world).toContain(w);
    expect(COPY_WORDS.length).toBeGreaterThan(150);
    expect(copies.length / ds.length).toBeGreaterThan(0.45);
    expect(copies.length / ds.length).toBeLessThan(0.55);
    const lengths = new Set<number>();
    for (const d of copies) {
      expect(d.split).toBe('train');
      expect(d.text!.startsWith(' ')).toBe(true);
      const w = d.text!.trim().split(' ');
      for (const x of w) expect(COPY_WORDS).toContain(x);
      // No filler by default: the list twice, at once.
      expect(w.length % 2).toBe(0);
      const n = w.length / 2;
      expect(w.slice(n)).toEqual(w.slice(0, n));
      expect(new Set(w.slice(0, n)).size).toBe(n);
      lengths.add(n);
    }
    expect(lengths.size).toBe(COPY_LIST.max - COPY_LIST.min + 1);
    expect(Math.min(...lengths)).toBe(COPY_LIST.min);
    // Random lists: hardly any list comes back (a cycling generator would repeat them).
    expect(new Set(copies.map((d) => d.text)).size).toBe(copies.length);
  });

  it('copy documents from given words and with filler (copyWords / copyMaxFiller); explicit defaults give the same documents; bad words refused', () => {
    const mix = { description: 0, sentence: 0, motion: 0, dialogue: 0, instruction: 0, copy: 1, lookup: 0, drill: 0, place: 0, clipdrill: 0 };
    const given = worldWords().filter((w) => w.length <= 4);
    expect(given.length).toBeGreaterThanOrEqual(COPY_LIST.max);
    const ds = [...generateTextCorpus({ seed: 7, count: 600, mix, copyWords: given, copyMaxFiller: 16 })];
    const offsets = new Set<number>();
    let withFiller = 0;
    for (const d of ds) {
      const w = d.text!.trim().split(' ');
      for (const x of w) expect(given).toContain(x);
      // The list is the longest prefix of distinct words that the document ends with.
      let n = 0;
      for (let k = COPY_LIST.max; k >= COPY_LIST.min && !n; k--) if (2 * k <= w.length && w.slice(0, k).join() === w.slice(-k).join() && new Set(w.slice(0, k)).size === k) n = k;
      expect(n, d.text).toBeGreaterThanOrEqual(COPY_LIST.min);
      const filler = w.length - 2 * n;
      expect(filler).toBeLessThanOrEqual(16);
      if (filler > 0) withFiller++;
      offsets.add(n + filler);
    }
    expect(withFiller / ds.length).toBeGreaterThan(0.4);
    expect(withFiller / ds.length).toBeLessThan(0.6);
    expect(offsets.size).toBeGreaterThan(20);
    // Options not given: the same documents as the defaults written out.
    const plain = [...generateTextCorpus({ seed: 7, count: 50, mix })].map((d) => d.text);
    const explicit = [...generateTextCorpus({ seed: 7, count: 50, mix, copyWords: COPY_WORDS, copyMaxFiller: COPY_LIST.maxFiller })].map((d) => d.text);
    expect(explicit).toEqual(plain);
    expect(() => [...generateTextCorpus({ seed: 7, count: 1, mix, copyWords: given.slice(0, 10) })]).toThrow(/10 given, a copy list takes up to 40/u);
    expect(() => [...generateTextCorpus({ seed: 7, count: 1, mix, copyWords: [...given, 'Red'] })]).toThrow(/lowercase letters only.*"Red"/u);
    expect(() => [...generateTextCorpus({ seed: 7, count: 1, mix, copyWords: [...given, given[0]!] })]).toThrow(/distinct; 1 repeated/u);
    expect(() => [...generateTextCorpus({ seed: 7, count: 1, mix, copyMaxFiller: -1 })]).toThrow(/copyMaxFiller must be an integer ≥ 0/u);
  });

  it('with balanceQa asks a different question type in each round, every type about as often, and leaves the default corpus as it is', () => {
    const mix = { description: 0, sentence: 0, motion: 0, dialogue: 1, instruction: 0, copy: 0, lookup: 0, drill: 0, place: 0, clipdrill: 0 };
    const plain = [...generateTextCorpus({ seed: 7, count: 2000, mix })];
    const balanced = [...generateTextCorpus({ seed: 7, count: 2000, mix, balanceQa: true })];
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 300, balanceQa: false })])).toBe(JSON.stringify(corpus.slice(0, 300)));
    const rounds = (ds: TextDoc[]) => ds.flatMap((d) => (d.scene ? (d.qaTypes ?? []) : []));
    for (const d of balanced) expect(new Set(d.qaTypes ?? []).size, d.key).toBe((d.qaTypes ?? []).length);
    // Written-word questions: a scene has one, but one colour / shape / position / size question per object.
    const share = (ds: TextDoc[], t: string) => rounds(ds).filter((x) => x === t).length / rounds(ds).length;
    expect(share(balanced, 'word')).toBeGreaterThan(1.4 * share(plain, 'word'));
    const scene = ['colour', 'shape', 'count', 'position', 'size', 'exists', 'total', 'word'];
    for (const t of scene) expect(share(balanced, t), t).toBeGreaterThan(0.09);
    for (const t of scene) expect(share(balanced, t), t).toBeLessThan(0.16);
    // The answers still come from the scene: the rounds are the same questions, only drawn differently.
    for (const d of balanced.filter((x) => x.scene)) {
      d.qaTypes!.forEach((t, k) => {
        if (t !== 'colour') return;
        expect(d.scene!.objects.some((o) => d.turns![2 * k + 1]!.content.toLowerCase().includes(o.colour)), d.key).toBe(true);
      });
    }
  });

  it('with shapeFirst describes that share of scene dialogues shape first (colour and word in their answers\' words), and leaves the default corpus as it is', () => {
    const mix = { description: 0, sentence: 0, motion: 0, dialogue: 1, instruction: 0, copy: 0, lookup: 0, drill: 0, place: 0, clipdrill: 0 };
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 300, shapeFirst: 0 })])).toBe(JSON.stringify(corpus.slice(0, 300)));
    const all = [...generateTextCorpus({ seed: 7, count: 600, mix, shapeFirst: 1 })].filter((d) => d.scene && d.turns);
    expect(all.length).toBeGreaterThan(300);
    for (const d of all) {
      const content = d.turns![0]!.content.toLowerCase();
      const intro = content.slice(0, content.lastIndexOf('. ') + 1); // the description, without the question
      for (const o of d.scene!.objects) {
        const shape = o.count === 1 ? o.shape : `${o.shape}s`;
        expect(intro, d.key).toContain(`the ${shape} ${o.count === 1 ? 'is' : 'are'} ${o.colour}`);
        expect(mentionsCombo(intro, o.colour, o.shape), d.key).toBe(false); // never "a red circle" here
      }
      if (d.scene!.word) expect(intro, d.key).toContain(`the word is ${d.scene!.word.text},`);
    }
    const half = [...generateTextCorpus({ seed: 7, count: 1000, mix, shapeFirst: 0.5 })].filter((d) => d.scene && d.turns);
    const first = half.filter((d) => /; the [a-z]+ (is|are) /.test(d.turns![0]!.content)).length / half.length;
    expect(first).toBeGreaterThan(0.4);
    expect(first).toBeLessThan(0.6);
    expect(() => [...generateTextCorpus({ seed: 7, count: 1, shapeFirst: 1.5 })]).toThrow(/shapeFirst must be a share between 0 and 1, got 1.5/);
  });

  it('with qaTypes asks only those question types, and a scene or clip with none of them keeps its questions', () => {
    const ds = [...generateTextCorpus({ seed: 7, count: 1000, mix: { description: 0, sentence: 0, motion: 0, dialogue: 1, instruction: 0, copy: 0, lookup: 0, drill: 0, place: 0, clipdrill: 0 }, qaTypes: ['word', 'direction'] })];
    const scenes = ds.filter((d) => d.scene);
    expect(scenes.length).toBeGreaterThan(400);
    for (const d of scenes) expect(d.qaTypes, d.key).toEqual(['word']); // a scene has one word question (its word, or "no word")
    const clips = ds.filter((d) => d.motion);
    const withMove = clips.filter((d) => d.motion!.some((m) => m.motion.kind === 'move'));
    expect(withMove.length).toBeGreaterThan(100);
    for (const d of withMove) for (const t of d.qaTypes!) expect(t, d.key).toBe('direction');
    for (const d of clips.filter((x) => !withMove.includes(x))) expect(d.qaTypes!.length, d.key).toBeGreaterThan(0);
    expect(() => [...generateTextCorpus({ seed: 7, count: 1, qaTypes: ['word', 'wrod'] })]).toThrow(/question types must be some of .*; got 'wrod'/);
    // The word answered is the scene's.
    for (const d of scenes.filter((x) => x.scene!.word)) expect(d.turns![1]!.content.toLowerCase(), d.key).toContain(d.scene!.word!.text);
  });

  it('mixes all document kinds and both splits', () => {
    const kinds = new Set(corpus.map((d) => d.kind));
    expect([...kinds].sort()).toEqual(['description', 'dialogue', 'instruction', 'motion', 'sentence']);
    const heldout = corpus.filter((d) => d.split === 'heldout').length / corpus.length;
    expect(heldout).toBeGreaterThan(0.03);
    expect(heldout).toBeLessThan(0.15);
  });

  it('never shows a held-out colour×shape combination in train, by meta or by text', () => {
    for (const d of corpus.filter((x) => x.split === 'train')) {
      for (const o of d.scene?.objects ?? []) expect(isHeldOutCombo(o.colour, o.shape), d.key).toBe(false);
      for (const o of d.motion ?? []) expect(isHeldOutCombo(o.colour, o.shape), d.key).toBe(false);
      const text = docText(d);
      for (const [c, s] of HELDOUT_COMBOS) expect(mentionsCombo(text, c, s), `${d.key}: ${text}`).toBe(false);
    }
    // ... and every held-out scene document does contain one.
    for (const d of corpus.filter((x) => x.split === 'heldout')) {
      const objs = [...(d.scene?.objects ?? []), ...(d.motion ?? [])];
      expect(objs.some((o) => isHeldOutCombo(o.colour, o.shape)), d.key).toBe(true);
    }
  });

  it('still uses every colour and every shape in train text', () => {
    const train = corpus.filter((d) => d.split === 'train').map(docText).join('\n');
    for (const c of COLOURS) expect(train).toContain(c);
    for (const s of SHAPES) expect(train).toContain(s);
  });

  it('writes dialogues as alternating user/assistant turns that end with the assistant', () => {
    const dialogues = corpus.filter((d) => d.kind === 'dialogue');
    expect(dialogues.length).toBeGreaterThan(500);
    for (const d of dialogues) {
      expect(d.text).toBeUndefined();
      const turns = d.turns ?? [];
      expect(turns.length % 2).toBe(0);
      turns.forEach((t, i) => {
        expect(t.role).toBe(i % 2 === 0 ? 'user' : 'assistant');
        expect(t.content.length).toBeGreaterThan(0);
      });
    }
  });

  it('answers colour questions with the colour in the scene', () => {
    for (const d of corpus) {
      if (d.kind !== 'dialogue' || d.scene === undefined) continue;
      const turns = d.turns ?? [];
      for (let i = 0; i + 1 < turns.length; i += 2) {
        const m = /What colour (?:is|are) the (\w+?)s?\?$/.exec(turns[i]!.content);
        if (!m) continue;
        const o = d.scene.objects.find((x) => x.shape === m[1]);
        expect(o, turns[i]!.content).toBeDefined();
        expect(turns[i + 1]!.content.toLowerCase()).toContain(o!.colour);
      }
    }
  });

  it('names the key words of every QA reply: the fact the question asks (colour, place, written word, direction …), never the words the reply copies from the question', () => {
    expect(qaKeyWords('colour', 'The squares are red.')).toEqual(['red']);
    expect(qaKeyWords('position', 'The star is in the middle.')).toEqual(['middle']);
    expect(qaKeyWords('shape', 'On the left there are two small pink triangles.')).toEqual(['triangles']);
    expect(qaKeyWords('word', 'The word is rose.', 'rose')).toEqual(['rose']);
    expect(qaKeyWords('word', 'There is no word in the picture.')).toEqual(['no']);
    expect(qaKeyWords('direction', 'It moves to the left.')).toEqual(['left']);
    expect(qaKeyWords('which', 'The yellow circle moves.')).toEqual(['yellow', 'circle']);
    expect(() => qaKeyWords('mood', 'Happy.')).toThrow(/unknown question type 'mood'/u);
    const mix = { description: 0, sentence: 0, motion: 0, dialogue: 1, instruction: 1, copy: 0, lookup: 0, drill: 0, place: 0, clipdrill: 0 };
    let rounds = 0;
    for (const d of generateTextCorpus({ seed: 7, count: 1500, mix, balanceQa: true })) {
      const keys = textReplyKeyWords(textSample(d));
      if (!d.qaTypes) {
        expect(keys, d.key).toBeUndefined();
        continue;
      }
      d.qaTypes.forEach((t, k) => {
        const reply = d.turns![2 * k + 1]!.content;
        const question = d.turns![2 * k]!.content; // (the first one after the scene's words)
        rounds++;
        // Every reply has a key word, and it is in the reply.
        expect(keys![k]!.length, `${d.key} ${t}: ${reply}`).toBeGreaterThan(0);
        for (const w of keys![k]!) expect(reply.toLowerCase()).toMatch(new RegExp(`\\b${w}\\b`, 'u'));
        // The fact itself: the asked object's colour, the scene's written word.
        if (t === 'colour' && d.scene) expect(d.scene.objects.map((o) => o.colour)).toContain(keys![k]![0]);
        if (t === 'word' && d.scene?.word) expect(keys![k]).toEqual([d.scene.word.text]);
        if (t === 'colour' || t === 'position') for (const w of keys![k]!) expect(question.slice(question.lastIndexOf('. ') + 1).toLowerCase().split(/\W+/u)).not.toContain(w);
      });
    }
    expect(rounds).toBeGreaterThan(1000);
    const bad = textSample({ key: 'x', kind: 'dialogue', split: 'train', turns: [{ role: 'user', content: 'Q?' }, { role: 'assistant', content: 'Red.' }], qaTypes: ['colour', 'shape'] });
    expect(() => textReplyKeyWords(bad)).toThrow(/text sample "x": 2 question types for 1 replies/u);
  });

  it('asks the video eval questions of narrated clips, with its answers', () => {
    let asked = 0;
    for (const d of corpus) {
      if (d.kind !== 'dialogue' || !d.motion) continue;
      const wanted = new Map(videoQuestions(d.motion).map((q) => [q.question, q.answer]));
      const turns = d.turns ?? [];
      for (let i = 0; i + 1 < turns.length; i += 2) {
        const q = i === 0 ? [...wanted.keys()].find((x) => turns[0]!.content.endsWith(x)) : turns[i]!.content;
        if (q === undefined || !wanted.has(q)) continue;
        asked++;
        expect(turns[i + 1]!.content, q).toBe(wanted.get(q));
      }
    }
    expect(asked).toBeGreaterThan(100);
  });

  it('has instructions that get the sentence back verbatim, or a translation of the same scene', () => {
    const instructions = corpus.filter((d) => d.kind === 'instruction');
    expect(new Set(instructions.map((d) => d.task))).toEqual(new Set(['repeat', 'transcribe', 'translate']));
    let transcribe = 0;
    for (const d of instructions) {
      const [user, reply] = d.turns ?? [];
      expect(user!.role).toBe('user');
      if (d.task === 'translate') {
        // The English reply names every object's colour and shape; the prompt is not English.
        for (const o of d.scene!.objects) expect(reply!.content.toLowerCase(), reply!.content).toContain(o.colour);
        expect(user!.content).not.toContain(reply!.content);
        continue;
      }
      expect(user!.content, d.key).toContain(reply!.content);
      expect(user!.content.length).toBeGreaterThan(reply!.content.length);
      if (user!.content === `${reply!.content} ${TRANSCRIBE_INSTRUCTION}`) transcribe++;
    }
    // The speech recipe's own instruction wording is there, in the place it has after the audio.
    expect(transcribe).toBeGreaterThan(10);
    expect(instructions.some((d) => d.turns![0]!.content.endsWith(` ${TRANSLATE_INSTRUCTION}`))).toBe(true);
  });

  it('gives plain strings for vocabulary building, train only unless asked', () => {
    const strings = [...textCorpusStrings({ seed: 7, count: 300 })];
    const trainCount = corpus.slice(0, 300).filter((d) => d.split === 'train').length;
    expect(strings.length).toBe(trainCount);
    expect([...textCorpusStrings({ seed: 7, count: 300, includeHeldout: true })].length).toBe(300);
    expect(strings.every((s) => typeof s === 'string' && s.length > 0)).toBe(true);
  });
});

describe('lookup documents (binding drills)', () => {
  const mix = { description: 0, sentence: 0, motion: 0, dialogue: 0, instruction: 0, copy: 0, lookup: 1, drill: 0, place: 0, clipdrill: 0 };
  const drills = [...generateTextCorpus({ seed: 7, count: 1500, mix })];
  const hashOf = (ds: Iterable<TextDoc>): string => {
    const h = createHash('sha256');
    for (const d of ds) h.update(`${JSON.stringify(textSample(d).meta)}${docText(d)}\n`);
    return h.digest('hex').slice(0, 16);
  };

  it('are off by default, and adding the kind left every existing corpus byte-identical', () => {
    expect(TEXT_MIX.lookup).toBe(0);
    expect(docs(7, 3000).some((d) => d.kind === 'lookup')).toBe(false);
    // Digests of 2,000 documents made before the kind existed (round 15's tree): the default corpus and
    // round 15's copier mix with balanced QA (its --text-mix, lookup left out = 0).
    expect(hashOf(generateTextCorpus({ seed: 7, count: 2000 }))).toBe('78ee6fd91469c61b');
    const cop15 = { description: 0.05, sentence: 0.05, motion: 0.04, dialogue: 0.56, instruction: 0.3, copy: 0.3, lookup: 0, drill: 0, place: 0, clipdrill: 0 };
    expect(hashOf(generateTextCorpus({ seed: 7, count: 2000, mix: cop15, balanceQa: true }))).toBe('885ee6b16aafdcd0');
    const some = [...generateTextCorpus({ seed: 7, count: 2000, mix: { ...cop15, lookup: 0.3 } })];
    expect(some.filter((d) => d.kind === 'lookup').length / some.length).toBeGreaterThan(0.15);
    expect(() => checkTextMix({ ...cop15, lookup: -1 })).toThrow(/share of 'lookup' must be a number ≥ 0/u);
    expect(() => checkTextMix({ ...cop15, lookup: Number.NaN })).toThrow(/share of 'lookup'/u);
  });

  it('are deterministic and index-seeded', () => {
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 200, mix })])).toBe(JSON.stringify(drills.slice(0, 200)));
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 20, start: 300, mix })])).toBe(JSON.stringify(drills.slice(300, 320)));
    expect(JSON.stringify([...generateTextCorpus({ seed: 8, count: 200, mix })])).not.toBe(JSON.stringify(drills.slice(0, 200)));
  });

  it('hold 3–4 objects (at most 4 shapes, as scenes) of distinct shape, colour and place, described in the scene caption, and only binding questions', () => {
    const sizes = new Set<number>();
    for (const d of drills) {
      expect(d.kind).toBe('lookup');
      const objs = d.scene!.objects;
      sizes.add(objs.length);
      expect(objs.length).toBeGreaterThanOrEqual(LOOKUP_DRILL.minObjects);
      expect(objs.length).toBeLessThanOrEqual(LOOKUP_DRILL.maxObjects);
      for (const key of ['shape', 'colour', 'position'] as const) expect(new Set(objs.map((o) => o[key])).size).toBe(objs.length);
      expect(d.scene!.word).toBeNull();
      expect(objs.reduce((n, o) => n + o.count, 0)).toBeLessThanOrEqual(LOOKUP_DRILL.maxShapes);
      const user = d.turns![0]!.content;
      for (const o of objs) expect(mentionsCombo(user, o.colour, o.shape)).toBe(true);
      // Alternating turns, one reply per round, each round a colour / shape / position look-up.
      expect(d.turns!.map((t) => t.role)).toEqual(d.qaTypes!.flatMap(() => ['user', 'assistant']));
      expect(d.qaTypes!.length).toBeGreaterThanOrEqual(1);
      expect(d.qaTypes!.length).toBeLessThanOrEqual(LOOKUP_DRILL.maxRounds);
      for (const t of d.qaTypes!) expect(['colour', 'shape', 'position']).toContain(t);
    }
    expect([...sizes].sort()).toEqual([3, 4]);
    expect(drills.some((d) => d.scene!.objects.some((o) => o.count > 1))).toBe(true);
    // Most drills have several rounds (the point of a drill), and every question kind occurs.
    expect(drills.filter((d) => d.qaTypes!.length >= 3).length / drills.length).toBeGreaterThan(0.5);
    const qs = drills.flatMap((d) => d.turns!.filter((t) => t.role === 'user').map((t) => t.content));
    for (const form of [/What colour is the (circle|square|triangle|star|hexagon|diamond)\?$/u, /Which shapes? (is|are) [a-z]+\?$/u, /Where (is|are) the /u, /What (shape )?is (on|at|near|in) the /u]) expect(qs.some((q) => form.test(q))).toBe(true);
  });

  it("answer every question with the asked object's attribute, never another object's", () => {
    for (const d of drills) {
      const objs = d.scene!.objects;
      const replies = d.turns!.filter((t) => t.role === 'assistant').map((t) => t.content.toLowerCase());
      const questions = d.turns!.filter((t) => t.role === 'user').map((t) => t.content.toLowerCase().split(/(?<=[.?]) /u).pop()!);
      questions.forEach((q, i) => {
        const type = d.qaTypes![i]!;
        const keys = textReplyKeyWords(textSample(d))![i]!;
        // The object the question names: by its shape, its colour ("which shape is red") or its place.
        const asked = objs.filter((o) => q.includes(` ${o.shape}`) || q.endsWith(` ${o.colour}?`) || (type === 'shape' && !q.startsWith('which') && POSITION_PHRASES[o.position].some((p) => q.includes(p))));
        expect(asked).toHaveLength(1);
        const o = asked[0]!;
        if (type === 'colour') expect(keys).toEqual([o.colour]);
        if (type === 'shape') expect(keys.map((k) => k.replace(/s$/u, ''))).toEqual([o.shape]);
        if (type === 'position') expect(POSITION_PHRASES[o.position].some((p) => replies[i]!.includes(p))).toBe(true);
        // No other object's colour or shape in the reply.
        for (const other of objs.filter((x) => x !== o)) {
          expect(replies[i]!.split(/[^a-z]+/u)).not.toContain(other.colour);
          expect(replies[i]!.split(/[^a-z]+/u)).not.toContain(other.shape);
        }
      });
    }
  });

  it('keep the held-out rule: train drills never hold a held-out combination, held-out drills always do', () => {
    const train = drills.filter((d) => d.split === 'train');
    const held = [...generateTextCorpus({ seed: 7, count: 300, mix, heldoutFraction: 1 })];
    expect(train.length).toBeGreaterThan(1200);
    for (const d of train) {
      for (const o of d.scene!.objects) expect(isHeldOutCombo(o.colour, o.shape)).toBe(false);
      for (const [c, s] of HELDOUT_COMBOS) expect(mentionsCombo(docText(d), c, s)).toBe(false);
    }
    expect(held.every((d) => d.split === 'heldout' && d.scene!.objects.some((o) => isHeldOutCombo(o.colour, o.shape)))).toBe(true);
  });
});

describe('drill documents (count, place and size drills)', () => {
  const mix = { description: 0, sentence: 0, motion: 0, dialogue: 0, instruction: 0, copy: 0, lookup: 0, drill: 1, place: 0, clipdrill: 0 };
  const drills = [...generateTextCorpus({ seed: 7, count: 1500, mix })];

  it('are off by default and leave the corpora made before them byte-identical (the digests of the lookup block)', () => {
    expect(TEXT_MIX.drill).toBe(0);
    const cop15 = { description: 0.05, sentence: 0.05, motion: 0.04, dialogue: 0.56, instruction: 0.3, copy: 0.3, lookup: 0, drill: 0, place: 0, clipdrill: 0 };
    // Stage 3's corpus of the core card (lookup drills among the rest, seed 11, balanced QA): its digest made
    // on the tree before the kind existed (round 17's main), so the committed recipe re-makes the same corpus.
    const stage3 = { description: 0.01, sentence: 0.01, motion: 0.01, dialogue: 0.1, instruction: 0.05, copy: 0.02, lookup: 0.8, drill: 0, place: 0, clipdrill: 0 };
    const h = createHash('sha256');
    for (const d of generateTextCorpus({ seed: 11, count: 1000, mix: stage3, balanceQa: true })) h.update(`${JSON.stringify(textSample(d).meta)}${docText(d)}\n`);
    expect(h.digest('hex').slice(0, 16)).toBe('079e81f1ff7f9e13');
    const some = [...generateTextCorpus({ seed: 7, count: 2000, mix: { ...cop15, lookup: 0.3, drill: 0.3 } })];
    expect(some.filter((d) => d.kind === 'drill').length / some.length).toBeGreaterThan(0.1);
    expect(some.filter((d) => d.kind === 'lookup').length / some.length).toBeGreaterThan(0.1);
    expect(() => checkTextMix({ ...cop15, drill: -1 })).toThrow(/share of 'drill' must be a number ≥ 0/u);
    const { drill: _, ...noDrill } = cop15;
    expect(() => checkTextMix(noDrill)).toThrow(/no share for 'drill'/u);
  });

  it('are deterministic and index-seeded', () => {
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 100, mix })])).toBe(JSON.stringify(drills.slice(0, 100)));
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 20, start: 300, mix })])).toBe(JSON.stringify(drills.slice(300, 320)));
    expect(JSON.stringify([...generateTextCorpus({ seed: 8, count: 100, mix })])).not.toBe(JSON.stringify(drills.slice(0, 100)));
  });

  it('hold 2–3 groups of distinct shape, colour and place of unequal counts (within 4 shapes), every size said, and only count / shape / size questions', () => {
    const groupCounts = new Set<string>();
    for (const d of drills) {
      expect(d.kind).toBe('drill');
      const objs = d.scene!.objects;
      groupCounts.add(objs.map((o) => o.count).join(','));
      for (const key of ['shape', 'colour', 'position'] as const) expect(new Set(objs.map((o) => o[key])).size).toBe(objs.length);
      expect(d.scene!.word).toBeNull();
      expect(objs.reduce((n, o) => n + o.count, 0)).toBeLessThanOrEqual(LOOKUP_DRILL.maxShapes);
      expect(objs.some((o) => o.count > 1)).toBe(true);
      const user = d.turns![0]!.content;
      for (const o of objs) expect(mentionsCombo(user, o.colour, o.shape)).toBe(true);
      // Every size said: as many size words as groups.
      expect(user.match(/\b(small|little|tiny|medium|medium-sized|big|large)\b/gu)?.length ?? 0).toBeGreaterThanOrEqual(objs.length);
      expect(d.turns!.map((t) => t.role)).toEqual(d.qaTypes!.flatMap(() => ['user', 'assistant']));
      expect(d.qaTypes!.length).toBeLessThanOrEqual(LOOKUP_DRILL.maxRounds);
      for (const t of d.qaTypes!) expect(['count', 'shape', 'size']).toContain(t);
    }
    expect([...groupCounts].sort()).toEqual(COUNT_DRILL_COUNTS.map((c) => c.join(',')).sort());
    expect(drills.filter((d) => d.qaTypes!.length >= 3).length / drills.length).toBeGreaterThan(0.5);
    const types = drills.flatMap((d) => d.qaTypes!);
    for (const t of ['count', 'shape', 'size']) expect(types.filter((x) => x === t).length / types.length).toBeGreaterThan(0.2);
    // The eval's wording (sceneQuestions): "How many circles are there?", "What shape is at the top?", "Is the star big or small?".
    const qs = drills.flatMap((d) => d.turns!.filter((t) => t.role === 'user').map((t) => t.content));
    for (const form of [/How many [a-z]+s are there\?$/u, /What (shape )?is (on|at|near|in) the /u, /(Is|Are) the [a-z]+ big or small\?$/u]) expect(qs.some((q) => form.test(q))).toBe(true);
  });

  it("answer with the named group's count (zero for an absent shape), the placed group's shape and the named group's size", () => {
    let zeros = 0;
    let counts = 0;
    for (const d of drills) {
      const objs = d.scene!.objects;
      const questions = d.turns!.filter((t) => t.role === 'user').map((t) => t.content.toLowerCase().split(/(?<=[.?]) /u).pop()!);
      const keysOf = textReplyKeyWords(textSample(d))!;
      questions.forEach((q, i) => {
        const type = d.qaTypes![i]!;
        const keys = keysOf[i]!;
        const named = objs.filter((o) => (type === 'shape' ? POSITION_PHRASES[o.position].some((p) => q.includes(p)) : new RegExp(`\\b${o.shape}s?\\b`, 'u').test(q)));
        if (type === 'count' && named.length === 0) {
          zeros++;
          // "Zero." or "There are no stars." (the grader takes "no" for zero).
          expect([['zero'], ['no']]).toContainEqual(keys);
          return;
        }
        expect(named).toHaveLength(1);
        const o = named[0]!;
        if (type === 'count') {
          counts++;
          expect(keys).toEqual([['one', 'two', 'three'][o.count - 1]]);
        }
        if (type === 'shape') expect(keys.map((k) => k.replace(/s$/u, ''))).toEqual([o.shape]);
        if (type === 'size') expect(keys).toEqual([o.size]);
      });
    }
    expect(zeros).toBeGreaterThan(100);
    expect(counts).toBeGreaterThan(zeros);
  });

  it('with qaTypes ask only those types (shape: a pure shape-by-place drill, every placed group asked), the same scenes as without', () => {
    const shapeOnly = [...generateTextCorpus({ seed: 7, count: 300, mix, qaTypes: ['shape'] })];
    for (const d of shapeOnly) {
      expect(d.kind).toBe('drill');
      expect(d.qaTypes!.every((t) => t === 'shape'), d.key).toBe(true);
      // One shape-by-place question per group at most (as many as the token budget holds), each about another group.
      const keys = textReplyKeyWords(textSample(d))!.map((k) => k[0]!.replace(/s$/u, ''));
      expect(new Set(keys).size, d.key).toBe(keys.length);
      for (const k of keys) expect(d.scene!.objects.map((o) => o.shape), d.key).toContain(k);
    }
    expect(shapeOnly.filter((d) => d.qaTypes!.length >= 2).length / shapeOnly.length).toBeGreaterThan(0.9);
    // The filter draws after the scene, so each document's scene is the one the unfiltered drill has.
    shapeOnly.forEach((d, i) => expect(d.scene).toEqual(drills[i]!.scene));
    // Lookup drills too; a type a drill never asks (word) leaves its rounds as they are.
    const lookupMix = { ...mix, drill: 0, lookup: 1 };
    for (const d of generateTextCorpus({ seed: 7, count: 100, mix: lookupMix, qaTypes: ['position'] })) expect(new Set(d.qaTypes)).toEqual(new Set(['position']));
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 50, mix, qaTypes: ['word'] })])).toBe(JSON.stringify(drills.slice(0, 50)));
  });

  it('keep the held-out rule: train drills never hold a held-out combination, held-out drills always do (two-shape scenes too)', () => {
    const train = drills.filter((d) => d.split === 'train');
    expect(train.length).toBeGreaterThan(1200);
    for (const d of train) {
      for (const o of d.scene!.objects) expect(isHeldOutCombo(o.colour, o.shape)).toBe(false);
      for (const [c, s] of HELDOUT_COMBOS) expect(mentionsCombo(docText(d), c, s)).toBe(false);
    }
    const held = [...generateTextCorpus({ seed: 7, count: 400, mix, heldoutFraction: 1 })];
    expect(held.some((d) => d.scene!.objects.length === 2)).toBe(true);
    expect(held.every((d) => d.split === 'heldout' && d.scene!.objects.some((o) => isHeldOutCombo(o.colour, o.shape)))).toBe(true);
  });
});

describe('place documents (shape-by-place drills)', () => {
  const mix = { description: 0, sentence: 0, motion: 0, dialogue: 0, instruction: 0, copy: 0, lookup: 0, drill: 0, place: 1, clipdrill: 0 };
  const drills = [...generateTextCorpus({ seed: 7, count: 1000, mix })];

  it('hold scenes of two groups or more, drawn as dialogue scenes (groups, a written word now and then), and ask only what shape is at a place', () => {
    for (const d of drills) {
      expect(d.kind).toBe('place');
      expect(d.scene!.objects.length, d.key).toBeGreaterThanOrEqual(2);
      expect(d.turns!.map((t) => t.role)).toEqual(d.qaTypes!.flatMap(() => ['user', 'assistant']));
      expect(new Set(d.qaTypes)).toEqual(new Set(['shape']));
      expect(d.qaTypes!.length).toBeLessThanOrEqual(d.scene!.objects.length);
    }
    expect(drills.some((d) => d.scene!.objects.length === 4)).toBe(true);
    expect(drills.some((d) => d.scene!.objects.some((o) => o.count > 1))).toBe(true);
    expect(drills.some((d) => d.scene!.word !== null)).toBe(true);
    expect(drills.filter((d) => d.qaTypes!.length >= 2).length / drills.length).toBeGreaterThan(0.8);
  });

  it("answer each place's shape, a different group each round", () => {
    for (const d of drills) {
      const questions = d.turns!.filter((t) => t.role === 'user').map((t) => t.content.toLowerCase().split(/(?<=[.?]) /u).pop()!);
      const keys = textReplyKeyWords(textSample(d))!;
      const asked = questions.map((q, i) => {
        const placed = d.scene!.objects.filter((o) => POSITION_PHRASES[o.position].some((p) => q.includes(p)));
        expect(placed, `${d.key}: ${q}`).toHaveLength(1);
        expect(keys[i]!.map((k) => k.replace(/s$/u, '')), d.key).toEqual([placed[0]!.shape]);
        return placed[0]!.position;
      });
      expect(new Set(asked).size, d.key).toBe(asked.length);
    }
  });

  it('keep the held-out rule and leave every corpus without them unchanged', () => {
    for (const d of drills.filter((x) => x.split === 'train')) for (const o of d.scene!.objects) expect(isHeldOutCombo(o.colour, o.shape)).toBe(false);
    const held = [...generateTextCorpus({ seed: 7, count: 200, mix, heldoutFraction: 1 })];
    expect(held.every((d) => d.split === 'heldout' && d.scene!.objects.some((o) => isHeldOutCombo(o.colour, o.shape)))).toBe(true);
    expect(TEXT_MIX.place).toBe(0);
    expect(() => checkTextMix({ ...mix, place: -1 })).toThrow(/share of 'place' must be a number ≥ 0/u);
    const { place: _, ...noPlace } = mix;
    expect(() => checkTextMix(noPlace)).toThrow(/no share for 'place'/u);
    const some = [...generateTextCorpus({ seed: 7, count: 1000, mix: { ...mix, dialogue: 1, drill: 1 } })];
    expect(some.filter((d) => d.kind === 'place').length / some.length).toBeGreaterThan(0.2);
  });
});

describe('clipdrill documents (clip direction drills)', () => {
  const mix = { description: 0, sentence: 0, motion: 0, dialogue: 0, instruction: 0, copy: 0, lookup: 0, drill: 0, place: 0, clipdrill: 1 };
  const drills = [...generateTextCorpus({ seed: 7, count: 1000, mix })];

  it('narrate 2–3 shapes that all move, each its own way from its own start, and ask only which way a named one moves', () => {
    for (const d of drills) {
      expect(d.kind).toBe('clipdrill');
      const movers = d.motion!;
      expect(movers.length).toBeGreaterThanOrEqual(CLIP_DRILL.minMovers);
      expect(movers.length).toBeLessThanOrEqual(CLIP_DRILL.maxMovers);
      expect(movers.every((m) => m.motion.kind === 'move')).toBe(true);
      expect(new Set(movers.map((m) => (m.motion.kind === 'move' ? m.motion.direction : ''))).size).toBe(movers.length);
      expect(new Set(movers.map((m) => m.shape)).size).toBe(movers.length);
      expect(new Set(movers.map((m) => m.start)).size).toBe(movers.length);
      expect(d.turns!.map((t) => t.role)).toEqual(d.qaTypes!.flatMap(() => ['user', 'assistant']));
      expect(new Set(d.qaTypes)).toEqual(new Set(['direction']));
      // Every mover is named in the narration.
      for (const m of movers) expect(d.turns![0]!.content).toContain(`${m.colour} ${m.shape}`);
    }
    expect(drills.some((d) => d.motion!.length === 3)).toBe(true);
    expect(drills.filter((d) => d.qaTypes!.length >= 2).length / drills.length).toBeGreaterThan(0.8);
    // Two movers of one colour occur (told apart by their shapes), as in clip dialogues.
    expect(drills.some((d) => new Set(d.motion!.map((m) => m.colour)).size < d.motion!.length)).toBe(true);
  });

  it("answer the named mover's own direction in the video eval's wording, a different mover each round", () => {
    const word = { left: 'left', right: 'right', up: 'up', down: 'down' } as const;
    for (const d of drills) {
      const questions = d.turns!.filter((t) => t.role === 'user').map((t) => t.content.split(/(?<=[.?]) /u).pop()!);
      const keys = textReplyKeyWords(textSample(d))!;
      const asked = questions.map((q, i) => {
        const named = d.motion!.filter((m) => q === `Which way does the ${m.colour} ${m.shape} move?`);
        expect(named, `${d.key}: ${q}`).toHaveLength(1);
        const m = named[0]!;
        if (m.motion.kind !== 'move') throw new Error('a clip drill mover that does not move');
        expect(keys[i], d.key).toEqual([word[m.motion.direction]]);
        expect(videoQuestions(d.motion!).some((v) => v.question === q && v.answer === d.turns![2 * i + 1]!.content)).toBe(true);
        return m.shape;
      });
      expect(new Set(asked).size, d.key).toBe(asked.length);
    }
  });

  it('are deterministic and index-seeded, and keep the held-out rule', () => {
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 100, mix })])).toBe(JSON.stringify(drills.slice(0, 100)));
    expect(JSON.stringify([...generateTextCorpus({ seed: 7, count: 20, start: 300, mix })])).toBe(JSON.stringify(drills.slice(300, 320)));
    expect(JSON.stringify([...generateTextCorpus({ seed: 8, count: 100, mix })])).not.toBe(JSON.stringify(drills.slice(0, 100)));
    for (const d of drills.filter((x) => x.split === 'train')) {
      for (const m of d.motion!) expect(isHeldOutCombo(m.colour, m.shape)).toBe(false);
      for (const [c, s] of HELDOUT_COMBOS) expect(mentionsCombo(docText(d), c, s)).toBe(false);
    }
    const held = [...generateTextCorpus({ seed: 7, count: 300, mix, heldoutFraction: 1 })];
    expect(held.every((d) => d.split === 'heldout' && d.motion!.some((m) => isHeldOutCombo(m.colour, m.shape)))).toBe(true);
  });

  it('fit the token budget of a 128-token row, and with qaTypes other than direction still ask direction', () => {
    // A rough token count: one per word or punctuation mark, five per turn, one to start (as the generator estimates it).
    const rough = (d: TextDoc) => 1 + d.turns!.reduce((n, t) => n + 5 + (t.content.match(/[A-Za-z]+|[^\sA-Za-z]/g)?.length ?? 0), 0);
    for (const d of drills.filter((x) => x.qaTypes!.length > 1)) expect(rough(d), d.key).toBeLessThanOrEqual(LOOKUP_DRILL.tokenBudget);
    const other = [...generateTextCorpus({ seed: 7, count: 50, mix, qaTypes: ['speed'] })];
    expect(JSON.stringify(other)).toBe(JSON.stringify(drills.slice(0, 50)));
  });

  it('are off by default and leave every corpus without them byte-identical (stage 10 of the core card)', () => {
    expect(TEXT_MIX.clipdrill).toBe(0);
    const stage10 = { description: 0.05, sentence: 0.05, motion: 0.04, dialogue: 0.56, instruction: 0.3, copy: 0.3, lookup: 0.3, drill: 0.3, place: 0.3, clipdrill: 0 };
    // Digest made on the tree before the kind existed (round 20's main), so the committed recipe re-makes the same corpus.
    const h = createHash('sha256');
    for (const d of generateTextCorpus({ seed: 20, count: 1000, mix: stage10, balanceQa: true })) h.update(`${JSON.stringify(textSample(d).meta)}${docText(d)}\n`);
    expect(h.digest('hex').slice(0, 16)).toBe('900f97c955e2fb0c');
    expect(() => checkTextMix({ ...stage10, clipdrill: -1 })).toThrow(/share of 'clipdrill' must be a number ≥ 0/u);
    const { clipdrill: _, ...noClip } = stage10;
    expect(() => checkTextMix(noClip)).toThrow(/no share for 'clipdrill'/u);
    const some = [...generateTextCorpus({ seed: 7, count: 2000, mix: { ...stage10, clipdrill: 0.3 } })];
    expect(some.filter((d) => d.kind === 'clipdrill').length / some.length).toBeGreaterThan(0.08);
  });
});

describe('namedDirection (clip direction replies that name the mover)', () => {
  const mix = { description: 0, sentence: 0, motion: 0, dialogue: 1, instruction: 0, copy: 0, lookup: 0, drill: 0, place: 0, clipdrill: 1 };
  const plain = [...generateTextCorpus({ seed: 7, count: 1500, mix })];
  const named = [...generateTextCorpus({ seed: 7, count: 1500, mix, namedDirection: true })];

  it('answers "Which way does the X move?" with "The X moves …", the same key word, in clip dialogues and clip drills', () => {
    let renamed = 0;
    named.forEach((d, k) => {
      const p = plain[k]!;
      // The same document otherwise: kind, split, clip or scene, and the questions asked (a drill may hold one round
      // fewer: its longer replies fill the token budget sooner).
      expect([d.kind, d.split, JSON.stringify(d.motion ?? d.scene ?? null)]).toEqual([p.kind, p.split, JSON.stringify(p.motion ?? p.scene ?? null)]);
      if (!d.turns) return;
      const n = Math.min(d.turns.length, p.turns!.length);
      if (d.kind === 'dialogue') expect(d.turns.length).toBe(p.turns!.length);
      else expect(d.turns.length).toBeLessThanOrEqual(p.turns!.length);
      for (let i = 0; i < n; i++) {
        const [a, b] = [d.turns[i]!, p.turns![i]!];
        const asked = i > 0 ? /Which way does the (.+) move\?$/u.exec(d.turns[i - 1]!.content) : null;
        if (a.role === 'assistant' && asked && d.motion) {
          expect(a.content).toBe(b.content.replace(/^It moves/u, `The ${asked[1]!} moves`));
          expect(a.content.startsWith(`The ${asked[1]!} moves `)).toBe(true);
          expect(qaKeyWords('direction', a.content)).toEqual(qaKeyWords('direction', b.content));
          renamed++;
        } else expect(a.content).toBe(b.content);
      }
    });
    expect(renamed).toBeGreaterThan(1000);
    // Scene documents and every other reply are untouched; without the option nothing is named.
    expect(plain.some((d) => d.turns?.some((t) => t.role === 'assistant' && /^The .+ moves (up|down|to the)/u.test(t.content)))).toBe(false);
  });

  it('leaves the video eval\'s own questions in their form ("It moves …") unless asked', () => {
    const clip = named.find((d) => d.kind === 'clipdrill')!.motion!;
    expect(videoQuestions(clip).filter((q) => q.type === 'direction').every((q) => q.answer.startsWith('It moves '))).toBe(true);
    expect(videoQuestions(clip, { nameMover: true }).filter((q) => q.type === 'direction').map((q) => q.answer)).toEqual(
      clip.map((m) => `The ${m.colour} ${m.shape} moves ${m.motion.kind === 'move' ? { left: 'to the left', right: 'to the right', up: 'up', down: 'down' }[m.motion.direction] : ''}.`),
    );
  });
});
