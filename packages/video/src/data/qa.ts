/**
 * Video questions from a clip's ground truth (`@herd/datasets` motion objects), asked the same way
 * in training and in the held-out eval, with short answers in the mini core's vocabulary:
 * - `direction`: which way a moving shape moves (left / right / up / down);
 * - `moving`: whether any shape moves at all (moving vs static clips);
 * - `which`: which shape moves (clips where exactly one shape moves);
 * - `event`: what appears or disappears;
 * - `count`: how many shapes the clip has.
 * Built here rather than taken from the generator's `qa` so every type has a fixed wording and a
 * gradable key word; order of events needs two events in one clip, which the generator rarely
 * makes (at most two objects), so it is not asked.
 */
import { type MotionObject } from '@herd/datasets';

export const VIDEO_QA_TYPES = ['direction', 'moving', 'which', 'event', 'count'] as const;
export type VideoQaType = (typeof VIDEO_QA_TYPES)[number];

export interface VideoQa {
  readonly type: VideoQaType;
  readonly question: string;
  readonly answer: string;
}

const DIRECTION: Record<string, string> = { left: 'to the left', right: 'to the right', up: 'up', down: 'down' };
const NUMBER = ['zero', 'one', 'two', 'three', 'four', 'five', 'six'];

export function videoQuestions(objects: readonly MotionObject[]): VideoQa[] {
  const qa: VideoQa[] = [];
  const moving = objects.filter((o) => o.motion.kind === 'move');
  for (const o of moving) {
    if (o.motion.kind !== 'move') continue;
    qa.push({ type: 'direction', question: `Which way does the ${o.colour} ${o.shape} move?`, answer: `It moves ${DIRECTION[o.motion.direction]}.` });
  }
  const events = objects.filter((o) => o.motion.kind === 'appear' || o.motion.kind === 'disappear');
  // "Does a shape move?" is only clear-cut when nothing appears or disappears.
  if (events.length === 0) qa.push({ type: 'moving', question: 'Does a shape move in the clip?', answer: moving.length ? 'Yes, a shape moves.' : 'No, no shape moves.' });
  if (moving.length === 1 && events.length === 0) qa.push({ type: 'which', question: 'Which shape moves?', answer: `The ${moving[0]!.colour} ${moving[0]!.shape} moves.` });
  for (const o of events) {
    const verb = o.motion.kind === 'appear' ? 'appears' : 'disappears';
    qa.push({ type: 'event', question: `What ${o.motion.kind}s in the clip?`, answer: `The ${o.colour} ${o.shape} ${verb}.` });
  }
  qa.push({ type: 'count', question: 'How many shapes are in the clip?', answer: objects.length === 1 ? 'There is one shape.' : `There are ${NUMBER[objects.length] ?? objects.length} shapes.` });
  return qa;
}

const KEYS: Record<VideoQaType, readonly string[]> = {
  direction: ['left', 'right', 'up', 'down'],
  moving: ['yes', 'no'],
  which: ['circle', 'square', 'triangle', 'star', 'hexagon', 'diamond'],
  event: ['circle', 'square', 'triangle', 'star', 'hexagon', 'diamond'],
  count: NUMBER,
};

/** "upwards", "leftward" … say the same direction as "up", "left" (the core's own wording). */
const SYNONYMS: Record<string, string> = { upwards: 'up', upward: 'up', downwards: 'down', downward: 'down', leftwards: 'left', leftward: 'left', rightwards: 'right', rightward: 'right' };

function words(s: string): string[] {
  return s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim().split(' ').map((w) => SYNONYMS[w] ?? (w.endsWith('s') && KEYS.which.includes(w.slice(0, -1)) ? w.slice(0, -1) : w));
}

/**
 * Whether `answer` states the reference's fact: the key words of the type in the reference must all
 * appear, and no other key word of that type ("left and right" does not pass for "left"). For
 * `moving` only the first yes/no counts ("No, no shape moves" is one answer, no).
 */
export function gradeVideoQa(type: VideoQaType, answer: string, reference: string): boolean {
  const keys = KEYS[type];
  const pick = (s: string) => {
    const w = words(s).filter((x) => keys.includes(x));
    return new Set(type === 'moving' ? w.slice(0, 1) : w);
  };
  const want = pick(reference);
  const got = pick(answer);
  return want.size > 0 && [...want].every((w) => got.has(w)) && [...got].every((w) => want.has(w));
}
