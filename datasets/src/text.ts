/**
 * The text corpus that the mini herd's Llama-style language core is trained on: captions of scenes,
 * plain sentences about the world, narrations of clips, and question–answer dialogues as structured
 * chat turns (the tokenizer renders the Llama 3 template). The held-out split is made by
 * construction: train documents never involve a held-out colour×shape combination.
 */
import { HerdError, type Rng } from '@herd/core';
import { type Sample } from '@herd/data';
import { describeMotion, describeScene, motionQuestions, sceneQuestions, worldSentence, type QaPair } from './language.js';
import { randomMotion, type MotionObject } from './motion.js';
import { COLOURS, SHAPES, SHAPE_FACTS, WORDS, itemRng, numberWord, randomScene, type Scene, type Split } from './world.js';

export interface ChatTurn {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

export type TextDocKind = 'description' | 'sentence' | 'motion' | 'dialogue';

export interface TextDoc {
  readonly key: string;
  readonly kind: TextDocKind;
  readonly split: Split;
  /** Plain text for description/sentence/motion documents; absent for dialogues. */
  readonly text?: string;
  /** Alternating user/assistant turns, starting with the user; only for dialogues. */
  readonly turns?: readonly ChatTurn[];
  /** Ground truth the document was made from, when it is about a scene or a clip. */
  readonly scene?: Scene;
  readonly motion?: readonly MotionObject[];
}

export interface TextCorpusOptions {
  readonly seed: number;
  readonly count: number;
  /** Fraction of scene/clip documents drawn from held-out combinations (default 0.1). */
  readonly heldoutFraction?: number;
  /** Start index, so shards of a huge corpus can be made independently (default 0). */
  readonly start?: number;
}

const MIX: readonly (readonly [TextDocKind, number])[] = [
  ['description', 0.3],
  ['sentence', 0.15],
  ['motion', 0.15],
  ['dialogue', 0.4],
];

function pickKind(rng: Rng): TextDocKind {
  let r = rng.next();
  for (const [kind, p] of MIX) {
    if (r < p) return kind;
    r -= p;
  }
  return 'dialogue';
}

/** Opening user turn: the scene given in words, then the question. */
function sceneIntro(rng: Rng, description: string, clip: boolean): string {
  const noun = clip ? rng.pick(['video', 'clip']) : rng.pick(['picture', 'scene', 'photo']);
  return rng.pick([
    `Here is a ${noun}. ${description}`,
    `${description}`,
    `Look at this ${noun}. ${description}`,
    `This is what the ${noun} shows. ${description}`,
  ]);
}

/** Dialogue of 1–3 question–answer rounds, the first carrying the scene. */
function qaDialogue(rng: Rng, intro: string, qa: readonly QaPair[]): ChatTurn[] {
  const rounds = rng.shuffle([...qa]).slice(0, 1 + rng.int(3));
  const turns: ChatTurn[] = [];
  rounds.forEach((q, i) => {
    turns.push({ role: 'user', content: i === 0 ? `${intro} ${q.question}` : q.question });
    turns.push({ role: 'assistant', content: q.answer });
  });
  return turns;
}

/** Questions about the world itself, which need no scene. */
function factDialogue(rng: Rng): ChatTurn[] {
  const s = rng.pick(SHAPES);
  const c = rng.pick(COLOURS);
  const w = rng.pick(WORDS);
  const n = 1 + rng.int(3);
  const pairs: [string, string][] = [
    [`How many sides does a ${s} have?`, SHAPE_FACTS[s].sides === 0 ? `A ${s} has no sides; it is round.` : `A ${s} has ${numberWord(SHAPE_FACTS[s].sides)} ${s === 'star' ? 'points' : 'sides'}.`],
    [`Is ${c} a colour or a shape?`, `${c[0]!.toUpperCase()}${c.slice(1)} is a colour.`],
    [`Is a ${s} a colour or a shape?`, `A ${s} is a shape.`],
    [`What number comes after ${numberWord(n)}?`, `${numberWord(n + 1)[0]!.toUpperCase()}${numberWord(n + 1).slice(1)} comes after ${numberWord(n)}.`],
    [`How do you spell ${w}?`, `${w.split('').join('-')}.`],
    [`What is the opposite of left?`, `The opposite of left is right.`],
    [`What is the opposite of top?`, `The opposite of top is bottom.`],
    [`Hello!`, `Hello! Ask me about shapes, colours and pictures.`],
  ];
  const [q, a] = rng.pick(pairs);
  return [
    { role: 'user', content: q },
    { role: 'assistant', content: a },
  ];
}

/** One document; index-seeded so any range of the corpus can be regenerated alone. */
export function textDoc(seed: number, index: number, heldoutFraction = 0.1): TextDoc {
  const rng = itemRng(seed, 'text', index);
  const key = `txt-${String(index).padStart(8, '0')}`;
  const kind = pickKind(rng);
  if (kind === 'sentence') return { key, kind, split: 'train', text: worldSentence(rng) };
  const split: Split = rng.next() < heldoutFraction ? 'heldout' : 'train';
  const clip = kind === 'motion' || (kind === 'dialogue' && rng.next() < 0.25);
  if (kind === 'dialogue' && rng.next() < 0.15 && split === 'train') return { key, kind, split, turns: factDialogue(rng) };
  if (clip) {
    const motion = randomMotion(rng, { split });
    const text = describeMotion(rng, motion);
    if (kind === 'motion') return { key, kind, split, text, motion };
    return { key, kind, split, turns: qaDialogue(rng, sceneIntro(rng, text, true), motionQuestions(rng, motion)), motion };
  }
  const scene = randomScene(rng, { split });
  const text = describeScene(rng, scene);
  if (kind === 'description') return { key, kind, split, text, scene };
  return { key, kind, split, turns: qaDialogue(rng, sceneIntro(rng, text, false), sceneQuestions(rng, scene)), scene };
}

export function* generateTextCorpus(opts: TextCorpusOptions): Generator<TextDoc> {
  if (!Number.isInteger(opts.count) || opts.count < 0) {
    throw new HerdError('invalid_argument', `text corpus count must be a non-negative integer, got ${opts.count}`);
  }
  const start = opts.start ?? 0;
  for (let i = start; i < start + opts.count; i++) yield textDoc(opts.seed, i, opts.heldoutFraction);
}

/** The words of a document as one string: turns joined by newlines (for vocabulary building). */
export function docText(doc: TextDoc): string {
  return doc.text ?? (doc.turns ?? []).map((t) => t.content).join('\n');
}

/**
 * The corpus as plain strings, for building a tokenizer vocabulary. Train split only by default,
 * so the vocabulary cannot leak held-out text (it holds the same words anyway).
 */
export function* textCorpusStrings(opts: TextCorpusOptions & { readonly includeHeldout?: boolean }): Generator<string> {
  for (const doc of generateTextCorpus(opts)) {
    if (doc.split === 'train' || opts.includeHeldout === true) yield docText(doc);
  }
}

/** The folders of the text corpus's splits inside its directory (each a @herd/data dataset). */
export const TEXT_SPLITS = { train: 'train', heldout: 'heldout' } as const;

/**
 * A document as a dataset sample: `txt` = its words (`docText`); meta = kind, split, and the chat
 * `turns` of a dialogue (what a language-core reader trains on), plus the ground truth it describes.
 */
export function textSample(doc: TextDoc): Sample {
  return {
    key: doc.key,
    files: { txt: new TextEncoder().encode(docText(doc)) },
    meta: { kind: doc.kind, split: doc.split, ...(doc.turns ? { turns: doc.turns } : {}), ...(doc.scene ? { scene: doc.scene } : {}), ...(doc.motion ? { motion: doc.motion } : {}) },
  };
}
