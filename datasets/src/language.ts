/**
 * English surface text for scenes and motions: captions, questions and answers, plain sentences.
 * Many small templates rather than a few long ones, so a small language model learns the world and
 * not one sentence frame. The language stays simple on purpose: the mini herd's language core is tiny.
 */
import { HerdError, type Rng } from '@herd/core';
import {
  COLOURS,
  DIRECTION_PHRASES,
  NUMBER_WORDS,
  POSITIONS,
  POSITION_PHRASES,
  SHAPES,
  SHAPE_FACTS,
  SIZE_SYNONYMS,
  SPEEDS,
  SPEED_ADVERBS,
  WORDS,
  isHeldOutCombo,
  numberWord,
  shapeCount,
  type Colour,
  type Position,
  type Scene,
  type SceneObject,
  type Shape,
} from './world.js';
import type { MotionObject } from './motion.js';

export interface QaPair {
  readonly question: string;
  readonly answer: string;
  /** What the question tests, so evals can report per skill. */
  readonly type: 'colour' | 'shape' | 'count' | 'position' | 'size' | 'word' | 'exists' | 'total' | 'direction' | 'speed' | 'event';
}

export function plural(shape: Shape, n: number): string {
  return n === 1 ? shape : `${shape}s`;
}

function capitalise(s: string): string {
  return s.length === 0 ? s : s[0]!.toUpperCase() + s.slice(1);
}

/** Capitalises the first letter and every letter after a full stop. */
export function sentenceCase(s: string): string {
  return capitalise(s).replace(/([.?!] +)([a-z])/g, (_, gap: string, c: string) => gap + c.toUpperCase());
}

/** "a big red circle" / "two small blue squares"; optionally without size. */
export function objectPhrase(rng: Rng, o: SceneObject, withSize = true): string {
  const size = withSize ? `${rng.pick(SIZE_SYNONYMS[o.size])} ` : '';
  const det = o.count === 1 ? (/^[aeiou]/.test(size || o.colour) ? 'an' : 'a') : numberWord(o.count);
  return `${det} ${size}${o.colour} ${plural(o.shape, o.count)}`;
}

export function positionPhrase(rng: Rng, p: Position): string {
  return rng.pick(POSITION_PHRASES[p]);
}

function joinList(parts: readonly string[]): string {
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/**
 * One caption of a scene, from one of several templates; its objects' sizes said with probability
 * `sizeProbability` (all or none; a drill that asks sizes gives 1 — the draw is made either way, so
 * every caption drawn with the default is unchanged).
 */
export function describeScene(rng: Rng, scene: Scene, sizeProbability = 0.8): string {
  const objs = rng.shuffle([...scene.objects]);
  const withSize = rng.next() < sizeProbability;
  const parts = objs.map((o) => `${objectPhrase(rng, o, withSize)} ${positionPhrase(rng, o.position)}`);
  let text: string;
  switch (rng.int(6)) {
    case 0:
      text = joinList(parts);
      break;
    case 1:
      text = `there ${objs[0]!.count === 1 ? 'is' : 'are'} ${joinList(parts)}`;
      break;
    case 2:
      text = `a picture of ${joinList(parts)}`;
      break;
    case 3:
      text = `this image shows ${joinList(parts)}`;
      break;
    case 4: {
      // Position first: "on the left there is a big red circle."
      text = objs
        .map((o) => {
          const verb = o.count === 1 ? 'is' : 'are';
          return `${positionPhrase(rng, o.position)} there ${verb} ${objectPhrase(rng, o, withSize)}`;
        })
        .join('. ');
      break;
    }
    default: {
      const n = shapeCount(scene);
      text = `${numberWord(n)} ${n === 1 ? 'shape' : 'shapes'}: ${joinList(parts)}`;
    }
  }
  if (rng.next() < 0.25) text += ` on a ${scene.background === 'sky' ? 'light blue' : scene.background} background`;
  if (scene.word !== null) {
    text += rng.pick([
      `. the word "${scene.word.text}" is written in the ${scene.word.corner} corner`,
      `, with the word ${scene.word.text} written in the ${scene.word.corner} corner`,
      `. in the ${scene.word.corner} corner it says ${scene.word.text}`,
    ]);
  }
  return sentenceCase(text) + '.';
}

/** A short answer sentence or a one-word answer, so the model learns both styles. */
export function answer(rng: Rng, short: string, long: string): string {
  return rng.next() < 0.3 ? capitalise(short) + '.' : capitalise(long) + '.';
}

/** All questions about a scene whose answer is determined by it; the caller samples from them. */
export function sceneQuestions(rng: Rng, scene: Scene): QaPair[] {
  const qa: QaPair[] = [];
  for (const o of scene.objects) {
    const is = o.count === 1 ? 'is' : 'are';
    const the = `the ${plural(o.shape, o.count)}`;
    qa.push({
      type: 'colour',
      question: rng.pick([`What colour ${is} ${the}?`, `Which colour ${is} ${the}?`, `What is the colour of ${the}?`]),
      answer: answer(rng, o.colour, `${the} ${is} ${o.colour}`),
    });
    qa.push({
      type: 'shape',
      question: rng.pick([`What shape is ${positionPhrase(rng, o.position)}?`, `What is ${positionPhrase(rng, o.position)}?`]),
      answer: answer(rng, plural(o.shape, o.count), `${positionPhrase(rng, o.position)} there ${is} ${objectPhrase(rng, o)}`),
    });
    qa.push({
      type: 'count',
      question: `How many ${plural(o.shape, 2)} are there?`,
      answer: answer(rng, numberWord(o.count), `there ${is} ${numberWord(o.count)} ${plural(o.shape, o.count)}`),
    });
    qa.push({
      type: 'position',
      question: rng.pick([`Where ${is} the ${o.colour} ${plural(o.shape, o.count)}?`, `Where ${is} ${the}?`]),
      answer: answer(rng, positionPhrase(rng, o.position), `${the} ${is} ${positionPhrase(rng, o.position)}`),
    });
    qa.push({
      type: 'size',
      question: `${capitalise(is)} ${the} big or small?`,
      answer: answer(rng, o.size, `${the} ${is} ${o.size === 'medium' ? 'medium-sized' : o.size}`),
    });
  }
  // Negatives: a shape that is absent, so "how many" and "is there" are not always positive.
  const absent = SHAPES.filter((s) => !scene.objects.some((o) => o.shape === s));
  if (absent.length > 0) {
    const s = rng.pick(absent);
    qa.push({ type: 'count', question: `How many ${plural(s, 2)} are there?`, answer: answer(rng, 'zero', `there are no ${plural(s, 2)}`) });
    // Held-out combinations are never named, not even as absent, so train text never holds them.
    const c = rng.pick(COLOURS.filter((x) => !isHeldOutCombo(x, s)));
    qa.push({ type: 'exists', question: `Is there a ${c} ${s}?`, answer: `No, there is no ${c} ${s}.` });
  }
  const present = rng.pick(scene.objects);
  qa.push({
    type: 'exists',
    question: `Is there a ${present.colour} ${present.shape}?`,
    answer: `Yes, there ${present.count === 1 ? 'is' : 'are'} ${objectPhrase(rng, present, false)} ${positionPhrase(rng, present.position)}.`,
  });
  const n = shapeCount(scene);
  qa.push({
    type: 'total',
    question: rng.pick(['How many shapes are there?', 'How many shapes can you see?']),
    answer: answer(rng, numberWord(n), `there ${n === 1 ? 'is one shape' : `are ${numberWord(n)} shapes`}`),
  });
  qa.push(
    scene.word !== null
      ? {
          type: 'word',
          question: rng.pick(['What word is written?', 'What does the text say?', 'Which word can you read?']),
          answer: answer(rng, scene.word.text, `the word is ${scene.word.text}`),
        }
      : {
          type: 'word',
          question: rng.pick(['What word is written?', 'Is there any text?']),
          answer: 'There is no word in the picture.',
        },
  );
  return qa;
}

/** A plain sentence about the world that needs no scene: facts about shapes, colours, counting. */
export function worldSentence(rng: Rng): string {
  const s = rng.pick(SHAPES);
  const c = rng.pick(COLOURS);
  switch (rng.int(9)) {
    case 0:
      return capitalise(SHAPE_FACTS[s].fact) + '.';
    case 1:
      return `${capitalise(c)} is a colour and ${s} is a shape.`;
    case 2: {
      const a = 1 + rng.int(3);
      const b = 1 + rng.int(3);
      return `${capitalise(numberWord(a))} ${plural(s, a)} and ${numberWord(b)} more make ${numberWord(a + b)} ${plural(s, a + b)}.`;
    }
    case 3:
      return `A big ${s} is larger than a small ${s}.`;
    case 4: {
      const w = rng.pick(WORDS);
      return `The word ${w} has ${numberWord(w.length)} letters.`;
    }
    case 5:
      return `Left is the opposite of right, and top is the opposite of bottom.`;
    case 6: {
      const d = rng.pick(['left', 'right', 'up', 'down'] as const);
      return `A shape that moves ${rng.pick(DIRECTION_PHRASES[d])} ${d === 'left' || d === 'right' ? 'changes its place from side to side' : 'changes its height'}.`;
    }
    case 7:
      // Held-out colours are left out: train text must not pair them with this shape.
      return `${capitalise(plural(s, 2))} can be ${joinList(rng.shuffle(COLOURS.filter((x) => !isHeldOutCombo(x, s))).slice(0, 3))}.`;
    default:
      return `When nothing moves, the picture stays the same.`;
  }
}

export function describeMotionObject(rng: Rng, m: MotionObject): string {
  const np = `${/^[aeiou]/.test(m.colour) ? 'an' : 'a'} ${m.colour} ${m.shape}`;
  const the = `the ${m.colour} ${m.shape}`;
  switch (m.motion.kind) {
    case 'move': {
      const adv = rng.pick(SPEED_ADVERBS[m.motion.speed]);
      const dir = rng.pick(DIRECTION_PHRASES[m.motion.direction]);
      return rng.pick([
        `${np} moves ${adv} ${dir}`,
        `${np} ${positionPhrase(rng, m.start)} moves ${dir} ${adv}`,
        `${the} is moving ${adv} ${dir}`,
      ]);
    }
    case 'appear':
      return rng.pick([`${np} appears ${positionPhrase(rng, m.start)}`, `suddenly ${np} appears ${positionPhrase(rng, m.start)}`]);
    case 'disappear':
      return rng.pick([`${np} ${positionPhrase(rng, m.start)} disappears`, `${the} disappears`]);
    case 'still':
      return rng.pick([`${np} stays still ${positionPhrase(rng, m.start)}`, `${np} does not move`]);
  }
}

export function describeMotion(rng: Rng, objects: readonly MotionObject[]): string {
  const parts = objects.map((m) => describeMotionObject(rng, m));
  const lead = rng.pick(['', 'in this clip, ', 'a video: ', 'in the video, ']);
  return sentenceCase(lead + joinList(parts)) + '.';
}

export function motionQuestions(rng: Rng, objects: readonly MotionObject[]): QaPair[] {
  const qa: QaPair[] = [];
  for (const m of objects) {
    const the = `the ${m.colour} ${m.shape}`;
    if (m.motion.kind === 'move') {
      const dir = rng.pick(DIRECTION_PHRASES[m.motion.direction]);
      qa.push({ type: 'direction', question: `Which way does ${the} move?`, answer: answer(rng, dir, `${the} moves ${dir}`) });
      qa.push({
        type: 'speed',
        question: `Does ${the} move fast or slowly?`,
        answer: answer(rng, m.motion.speed === 'fast' ? 'fast' : 'slowly', `it moves ${rng.pick(SPEED_ADVERBS[m.motion.speed])}`),
      });
    } else if (m.motion.kind === 'appear' || m.motion.kind === 'disappear') {
      qa.push({
        type: 'event',
        question: m.motion.kind === 'appear' ? 'What appears in the clip?' : 'What disappears in the clip?',
        answer: answer(rng, `${m.colour} ${m.shape}`, `${the} ${m.motion.kind}s`),
      });
    } else {
      qa.push({ type: 'direction', question: `Does ${the} move?`, answer: `No, ${the} stays still.` });
    }
    qa.push({ type: 'colour', question: `What colour is the ${m.shape}?`, answer: answer(rng, m.colour, `the ${m.shape} is ${m.colour}`) });
  }
  qa.push({
    type: 'total',
    question: 'How many shapes are in the clip?',
    answer: answer(rng, numberWord(objects.length), `there ${objects.length === 1 ? 'is one shape' : `are ${numberWord(objects.length)} shapes`}`),
  });
  return qa;
}

export type { Colour, Shape };

/** The question types the video eval asks about a clip (`videoQuestions`). */
export const VIDEO_QA_TYPES = ['direction', 'moving', 'which', 'event', 'count'] as const;
export type VideoQaType = (typeof VIDEO_QA_TYPES)[number];

export interface VideoQa {
  readonly type: VideoQaType;
  readonly question: string;
  readonly answer: string;
}

const SHAPE_WORDS = SHAPES.flatMap((s) => [s, plural(s, 2)]);
const NUMBERS = [...NUMBER_WORDS, 'no'];
const YES_NO = ['yes', 'no'];

/**
 * The words of each question type's answers that carry its fact (the rest of an answer repeats the
 * question): `qaKeyWords` picks them out of an answer. `word` is the written word itself (or "no").
 */
const QA_KEY_WORDS: Readonly<Record<QaPair['type'] | VideoQaType, readonly string[]>> = {
  colour: COLOURS,
  shape: SHAPE_WORDS,
  count: NUMBERS,
  total: NUMBERS,
  position: [...POSITIONS, 'middle'],
  size: Object.values(SIZE_SYNONYMS).flat(),
  exists: YES_NO,
  moving: YES_NO,
  word: [],
  direction: [...Object.values(DIRECTION_PHRASES).flat().map((p) => p.split(' ').pop()!), 'still', 'no'],
  speed: [...SPEEDS, ...Object.values(SPEED_ADVERBS).flat(), 'slowly'],
  event: [...COLOURS, ...SHAPE_WORDS],
  which: [...COLOURS, ...SHAPE_WORDS],
};

/**
 * The key words of an answer to a question of `type` (lower case, in the answer's order, each once):
 * its colour, shape, number, position, size, yes/no, direction, speed — or, for `word`, the written
 * word `written` (or "no" when the scene has none). An unknown type is an error.
 */
export function qaKeyWords(type: string, answer: string, written?: string): string[] {
  const keys = QA_KEY_WORDS[type as keyof typeof QA_KEY_WORDS];
  if (!keys) throw new HerdError('invalid_argument', `qaKeyWords: unknown question type '${type}' (known: ${Object.keys(QA_KEY_WORDS).join(', ')})`);
  const words = answer.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  const wanted = type === 'word' ? (written !== undefined ? [written.toLowerCase(), 'no'] : ['no']) : keys;
  return [...new Set(words.filter((w) => wanted.includes(w)))];
}

const VIDEO_DIRECTION: Readonly<Record<string, string>> = { left: 'to the left', right: 'to the right', up: 'up', down: 'down' };

/**
 * Video questions from a clip's ground truth, in one fixed wording per type with short answers, so
 * every type has a gradable key word. The text corpus asks them of clips narrated in words and the
 * video adapter of clips it is shown, with the same answers (`@herd/video`'s eval grades them):
 * - `direction`: which way a moving shape moves (left / right / up / down);
 * - `moving`: whether any shape moves at all (moving vs static clips);
 * - `which`: which shape moves (clips where exactly one shape moves);
 * - `event`: what appears or disappears;
 * - `count`: how many shapes the clip has.
 * Order of events needs two events in one clip, which the generator rarely makes (at most two
 * objects), so it is not asked.
 * `nameMover`: a direction answer names its mover ("The red square moves up." for "It moves up."; same key word), the
 * form round 21's core binds a mover to its direction with (`TextDocOptions.namedDirection`); the video eval keeps "It moves".
 */
export function videoQuestions(objects: readonly MotionObject[], opts: { readonly nameMover?: boolean } = {}): VideoQa[] {
  const qa: VideoQa[] = [];
  const moving = objects.filter((o) => o.motion.kind === 'move');
  for (const o of moving) {
    if (o.motion.kind !== 'move') continue;
    qa.push({ type: 'direction', question: `Which way does the ${o.colour} ${o.shape} move?`, answer: `${opts.nameMover === true ? `The ${o.colour} ${o.shape}` : 'It'} moves ${VIDEO_DIRECTION[o.motion.direction]}.` });
  }
  const events = objects.filter((o) => o.motion.kind === 'appear' || o.motion.kind === 'disappear');
  // "Does a shape move?" is only clear-cut when nothing appears or disappears.
  if (events.length === 0) qa.push({ type: 'moving', question: 'Does a shape move in the clip?', answer: moving.length ? 'Yes, a shape moves.' : 'No, no shape moves.' });
  if (moving.length === 1 && events.length === 0) qa.push({ type: 'which', question: 'Which shape moves?', answer: `The ${moving[0]!.colour} ${moving[0]!.shape} moves.` });
  for (const o of events) {
    const verb = o.motion.kind === 'appear' ? 'appears' : 'disappears';
    qa.push({ type: 'event', question: `What ${o.motion.kind}s in the clip?`, answer: `The ${o.colour} ${o.shape} ${verb}.` });
  }
  qa.push({ type: 'count', question: 'How many shapes are in the clip?', answer: objects.length === 1 ? 'There is one shape.' : `There are ${numberWord(objects.length)} shapes.` });
  return qa;
}
