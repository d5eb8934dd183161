import { describe, expect, it } from 'vitest';
import { keywordMatch } from './chat-qa.js';
import { gradeSceneQa } from './typed-grade.js';

describe('gradeSceneQa', () => {
  it('needs the reference fact of the type and no other of its kind', () => {
    expect(gradeSceneQa('colour', 'The circle is purple.', 'Purple.')).toBe(true);
    expect(gradeSceneQa('colour', 'The circle is purple and red.', 'The circle is purple.')).toBe(false);
    expect(gradeSceneQa('colour', 'The circle is pink.', 'The circle is purple.')).toBe(false);
    expect(gradeSceneQa('shape', 'Two stars.', 'On the left there are two small stars.')).toBe(true);
    expect(gradeSceneQa('shape', 'A circle.', 'Stars.')).toBe(false);
    expect(gradeSceneQa('count', 'There are three stars.', 'Three.')).toBe(true);
    expect(gradeSceneQa('count', 'There are two stars.', 'Three.')).toBe(false);
    expect(gradeSceneQa('position', 'It is in the middle.', 'The star is in the centre.')).toBe(true);
    expect(gradeSceneQa('position', 'At the top left.', 'At the top.')).toBe(false);
    expect(gradeSceneQa('word', 'The word is cat.', 'Cat.')).toBe(true);
    expect(gradeSceneQa('word', 'The word is dog.', 'The word is cat.')).toBe(false);
    expect(gradeSceneQa('word', 'There is no word.', 'There is no word in the picture.')).toBe(true);
  });

  it('grades zero counts, sizes and yes/no questions by their fact, synonyms included', () => {
    expect(gradeSceneQa('count', 'There are no hexagons.', 'Zero.')).toBe(true);
    expect(gradeSceneQa('count', 'Zero.', 'There are no squares.')).toBe(true);
    expect(gradeSceneQa('count', 'There is one square.', 'There are no squares.')).toBe(false);
    expect(gradeSceneQa('size', 'The hexagon is medium-sized.', 'Medium.')).toBe(true);
    expect(gradeSceneQa('size', 'It is little.', 'The diamond is small.')).toBe(true);
    expect(gradeSceneQa('size', 'The triangle is large.', 'Big.')).toBe(true);
    expect(gradeSceneQa('size', 'The triangle is small.', 'The triangle is big.')).toBe(false);
    expect(gradeSceneQa('exists', 'Yes.', 'Yes, there is a blue square in the middle.')).toBe(true);
    expect(gradeSceneQa('exists', 'No, there is no blue square.', 'Yes, there is a blue square in the middle.')).toBe(false);
    expect(gradeSceneQa('exists', 'No.', 'No, there is no purple hexagon.')).toBe(true);
  });

  it('does not pass an answer that lists the scene, which key words do (the blind core\'s trick)', () => {
    const listing = 'There is one small red circle on the left and two big blue stars at the top.';
    expect(keywordMatch(listing, 'The circle is red.')).toBe(true);
    expect(gradeSceneQa('colour', listing, 'The circle is red.')).toBe(false);
    expect(keywordMatch(listing, 'Small.')).toBe(true);
    expect(gradeSceneQa('size', listing, 'Small.')).toBe(false);
    expect(keywordMatch(listing, 'On the left.')).toBe(true);
    expect(gradeSceneQa('position', listing, 'On the left.')).toBe(false);
  });

  it('fails every answer when the reference holds no key word of the type (a mistyped question cannot pass)', () => {
    expect(gradeSceneQa('shape', 'King.', 'King.')).toBe(false);
    expect(gradeSceneQa('colour', 'The word is snow.', 'The word is snow.')).toBe(false);
  });
});
