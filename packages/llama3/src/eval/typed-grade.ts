/**
 * Grading of an answer to a scene question by its type: the key words of that type in the reference
 * (its colour, shape, number, position, size or yes/no) must all be in the answer, and no other key
 * word of that type — so "red and blue" does not pass for "red", and a core that lists the whole scene
 * does not pass for having heard the question (key words of every kind would, `keywordMatch`).
 * `word`: the written word itself, or "no" where the reference says there is none.
 * One grader for every eval of scene questions: the image eval (`gradeVqa` in @herd/vision), the
 * text eval's scene types (`herd text eval`) and spoken QA (@herd/speech).
 */
import { normaliseAnswer } from './chat-qa.js';

export const SCENE_QA_TYPES = ['colour', 'shape', 'count', 'position', 'size', 'exists', 'word'] as const;
export type SceneQaType = (typeof SCENE_QA_TYPES)[number];

const SHAPES = ['circle', 'square', 'triangle', 'star', 'hexagon', 'diamond'];

const KEYS: Readonly<Record<Exclude<SceneQaType, 'word'>, readonly string[]>> = {
  colour: ['red', 'green', 'blue', 'yellow', 'orange', 'purple', 'pink', 'black'],
  shape: SHAPES,
  count: ['zero', 'no', 'one', 'two', 'three', 'four', 'five', 'six'],
  position: ['left', 'right', 'top', 'bottom', 'centre', 'middle'],
  size: ['small', 'little', 'medium', 'big', 'large'],
  exists: ['yes', 'no'],
};

/** Words that state the same fact as another key word of the type ("in the middle" is the centre; "little" is small). */
const SAME: Readonly<Partial<Record<SceneQaType, Readonly<Record<string, string>>>>> = {
  count: { no: 'zero' }, // "There are no stars." answers "Zero."
  position: { middle: 'centre' },
  size: { little: 'small', large: 'big' },
};

function words(s: string): string[] {
  // Plural shapes count as the shape ("two stars" answers "star").
  return normaliseAnswer(s).split(' ').map((w) => (w.endsWith('s') && SHAPES.includes(w.slice(0, -1)) ? w.slice(0, -1) : w));
}

export function isSceneQaType(t: string): t is SceneQaType {
  return (SCENE_QA_TYPES as readonly string[]).includes(t);
}

/**
 * The facts of one kind that a text states, each in its one spelling ("What is in the middle?" → position {centre};
 * "How many stars are there?" → shape {star}): what the grader compares, and what a recipe reads from a question.
 */
export function sceneFacts(type: Exclude<SceneQaType, 'word'>, text: string): Set<string> {
  const keys = KEYS[type];
  const same = SAME[type] ?? {};
  return new Set(words(text).filter((w) => keys.includes(w)).map((w) => same[w] ?? w));
}

/** Whether `answer` gives the reference's fact for a scene question of `type`. */
export function gradeSceneQa(type: SceneQaType, answer: string, reference: string): boolean {
  if (type === 'word') {
    const [a, r] = [words(answer), words(reference)];
    if (r.includes('no') && r.includes('word')) return a.includes('no');
    const w = r[r.length - 1]!; // "the word is cat" / "cat"
    return a.includes(w);
  }
  const want = sceneFacts(type, reference);
  const got = sceneFacts(type, answer);
  return want.size > 0 && [...want].every((w) => got.has(w)) && [...got].every((w) => want.has(w));
}
