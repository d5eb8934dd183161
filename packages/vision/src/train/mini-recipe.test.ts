import { describe, expect, it } from 'vitest';
import { loadLanguageCore } from '@herd/llama3';
import { crossScheduleWords, lookMarksWord } from './mini-recipe.js';
import { miniVisionConfig } from './mini.js';

// The card's Re-train line is the CLI's (`visionRetrainCommand`, apps/cli/src/commands/vision-recipe-script.test.ts).
describe('the mini vision card', () => {
  const core = loadLanguageCore();

  it('names the schedule for the card by core layer', () => {
    expect(crossScheduleWords(miniVisionConfig(core.config))).toBe('before core layers 1 and 3 (of 4)');
    expect(crossScheduleWords(miniVisionConfig(core.config, undefined, [0, 1, 2, 3]))).toBe('before core layers 0, 1, 2 and 3 (of 4)');
    expect(crossScheduleWords(miniVisionConfig(core.config, undefined, [2]))).toBe('before core layer 2 (of 4)');
  });

  it('says the look loss marks the written word only when word questions are among both the key-word and the look types', () => {
    expect(lookMarksWord({})).toBe(true); // every type by default
    expect(lookMarksWord({ keyWordTypes: [['colour', 'shape', 'count', 'position']] })).toBe(false); // the committed line
    expect(lookMarksWord({ keyWordTypes: [['colour'], ['colour', 'word']] })).toBe(true); // in any curriculum phase
    expect(lookMarksWord({ keyWordTypes: [['colour', 'word']], lookTypes: ['colour', 'shape', 'count', 'position'] })).toBe(false);
    expect(lookMarksWord({ lookTypes: ['word'] })).toBe(true);
  });
});
