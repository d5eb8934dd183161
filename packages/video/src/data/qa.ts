/**
 * Video questions from a clip's ground truth (`@herd/datasets` motion objects), asked the same way
 * in training and in the held-out eval (`videoQuestions`, types `VIDEO_QA_TYPES`: direction, moving,
 * which, event, count), and their grading on each type's key word (`gradeVideoQa`).
 */
import { type VideoQaType } from '@herd/datasets';

// The questions themselves live with the world's other surface text in @herd/datasets (the text
// corpus asks them of narrated clips too, so the frozen core knows their wording and answers).
export { VIDEO_QA_TYPES, videoQuestions } from '@herd/datasets';
export type { VideoQa, VideoQaType } from '@herd/datasets';

const NUMBER = ['zero', 'one', 'two', 'three', 'four', 'five', 'six'];

const KEYS: Record<VideoQaType, readonly string[]> = {
  // "still": the narrated-clip corpus asks "Does the X move?" of a still object ("No, the X stays still."),
  // graded by this key word too (`herd text eval`'s clip-direction rows); the video eval asks only movers.
  direction: ['left', 'right', 'up', 'down', 'still'],
  moving: ['yes', 'no'],
  which: ['circle', 'square', 'triangle', 'star', 'hexagon', 'diamond'],
  event: ['circle', 'square', 'triangle', 'star', 'hexagon', 'diamond'],
  count: NUMBER,
};

/** "upwards", "leftward" … say the same direction as "up", "left" (the core's own wording). */
const SYNONYMS: Record<string, string> = { upwards: 'up', upward: 'up', downwards: 'down', downward: 'down', leftwards: 'left', leftward: 'left', rightwards: 'right', rightward: 'right' };

function words(s: string): string[] {
  return s.toLowerCase().replace(/\b(?:does not|doesn't|doesn’t) move\b/g, 'still').replace(/[^\p{L}\p{N}]+/gu, ' ').trim().split(' ').map((w) => SYNONYMS[w] ?? (w.endsWith('s') && KEYS.which.includes(w.slice(0, -1)) ? w.slice(0, -1) : w));
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
