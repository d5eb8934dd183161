/** Spoken-QA typing and grading: the question's type from its wording must be the world's type, or the typed grader fails it. */
import { Rng } from '@herd/core';
import { randomScene, sceneQuestions } from '@herd/datasets';
import { gradeSceneQa } from '@herd/llama3';
import { describe, expect, it } from 'vitest';
import { questionType } from './speech-eval.js';

describe('questionType', () => {
  it('gives every question of the world its own type (total counts are counts), so its true answer passes the typed grader', () => {
    const rng = new Rng(17);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const scene = randomScene(rng, { wordProbability: 0.3 });
      for (const q of sceneQuestions(rng, scene)) {
        const type = questionType(q.question);
        expect(type, q.question).toBe(q.type === 'total' ? 'count' : q.type);
        expect(gradeSceneQa(type, q.answer, q.answer), `${q.question} → ${q.answer}`).toBe(true);
        seen.add(type);
      }
    }
    expect([...seen].sort()).toEqual(['colour', 'count', 'exists', 'position', 'shape', 'size', 'word']);
  });

  it('reads the spoken wording, not the scene', () => {
    expect(questionType('Is there any text?')).toBe('word');
    expect(questionType('Is there a pink star?')).toBe('exists');
    expect(questionType('What is on the left?')).toBe('shape');
    expect(questionType('How many shapes can you see?')).toBe('count');
  });
});
