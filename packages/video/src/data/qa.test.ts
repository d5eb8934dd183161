import { describe, expect, it } from 'vitest';
import { type MotionObject } from '@herd/datasets';
import { gradeVideoQa, videoQuestions } from './qa.js';

const mover = (colour: string, shape: string, direction: 'left' | 'right' | 'up' | 'down'): MotionObject => ({ colour, shape, size: 'small', start: 'centre', motion: { kind: 'move', direction, speed: 'slow' } }) as MotionObject;
const still = (colour: string, shape: string): MotionObject => ({ colour, shape, size: 'small', start: 'left', motion: { kind: 'still' } }) as MotionObject;

describe('video questions from ground truth', () => {
  it('asks direction, moving, which and count for one mover next to a still shape', () => {
    const qa = videoQuestions([mover('red', 'circle', 'left'), still('blue', 'star')]);
    expect(qa).toEqual([
      { type: 'direction', question: 'Which way does the red circle move?', answer: 'It moves to the left.' },
      { type: 'moving', question: 'Does a shape move in the clip?', answer: 'Yes, a shape moves.' },
      { type: 'which', question: 'Which shape moves?', answer: 'The red circle moves.' },
      { type: 'count', question: 'How many shapes are in the clip?', answer: 'There are two shapes.' },
    ]);
  });

  it('a static clip: no direction, "no" to moving, no "which"', () => {
    const qa = videoQuestions([still('green', 'square')]);
    expect(qa.map((q) => q.type)).toEqual(['moving', 'count']);
    expect(qa[0]!.answer).toBe('No, no shape moves.');
  });

  it('appearing shapes are events, and make "does it move" unasked', () => {
    const qa = videoQuestions([{ colour: 'pink', shape: 'diamond', size: 'big', start: 'top', motion: { kind: 'appear', at: 0.4 } } as MotionObject]);
    expect(qa.map((q) => [q.type, q.answer])).toEqual([['event', 'The pink diamond appears.'], ['count', 'There is one shape.']]);
  });
});

describe('grading', () => {
  it('needs the key word and no competing one', () => {
    expect(gradeVideoQa('direction', 'It moves to the left.', 'It moves to the left.')).toBe(true);
    expect(gradeVideoQa('direction', 'Left, then right.', 'It moves to the left.')).toBe(false);
    expect(gradeVideoQa('direction', 'It moves up.', 'It moves to the left.')).toBe(false);
    expect(gradeVideoQa('direction', 'The blue star moves downwards.', 'It moves down.')).toBe(true);
    // A still object's "direction" question (the narrated-clip corpus): before, no key word in the reference, never right.
    expect(gradeVideoQa('direction', 'No, the red star stays still.', 'No, the red star stays still.')).toBe(true);
    expect(gradeVideoQa('direction', "No, it doesn't move.", 'No, the red star stays still.')).toBe(true);
    expect(gradeVideoQa('direction', 'It moves to the left.', 'No, the red star stays still.')).toBe(false);
    expect(gradeVideoQa('direction', 'No, the red star stays still.', 'It moves to the left.')).toBe(false);
    expect(gradeVideoQa('direction', 'The blue star moves upwards.', 'It moves down.')).toBe(false);
    expect(gradeVideoQa('moving', 'No, no shape moves.', 'No, no shape moves.')).toBe(true);
    expect(gradeVideoQa('moving', 'Yes, a shape moves.', 'No, no shape moves.')).toBe(false);
    expect(gradeVideoQa('which', 'The blue circles move.', 'The red circle moves.')).toBe(true);
    expect(gradeVideoQa('count', 'There is one shape.', 'There are two shapes.')).toBe(false);
    expect(gradeVideoQa('event', '', 'The pink diamond appears.')).toBe(false);
  });

  it('grades a named direction answer (--direction-named) against the eval\'s "It moves …" reference on its key word', () => {
    const clip = [mover('black', 'hexagon', 'down'), mover('red', 'circle', 'left')];
    const plain = videoQuestions(clip).filter((q) => q.type === 'direction');
    const named = videoQuestions(clip, { nameMover: true }).filter((q) => q.type === 'direction');
    expect(named.map((q) => q.answer)).toEqual(['The black hexagon moves down.', 'The red circle moves to the left.']);
    // Same questions; each named answer passes for its own reference and fails for the other mover's.
    expect(named.map((q) => q.question)).toEqual(plain.map((q) => q.question));
    expect(named.map((q, i) => gradeVideoQa('direction', q.answer, plain[i]!.answer))).toEqual([true, true]);
    expect(named.map((q, i) => gradeVideoQa('direction', q.answer, plain[1 - i]!.answer))).toEqual([false, false]);
    // Naming the other mover with the right direction is still right (the key word is what is graded); a second direction is not.
    expect(gradeVideoQa('direction', 'The red circle moves down.', 'It moves down.')).toBe(true);
    expect(gradeVideoQa('direction', 'The black hexagon moves down and to the left.', 'It moves down.')).toBe(false);
  });
});
