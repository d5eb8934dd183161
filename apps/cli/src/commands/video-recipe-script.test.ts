/**
 * The committed video checkpoint is what `npx turbo run train --filter=@herd/video` trains: the package's
 * `train` script is the card's Re-train line (with the default clips, so without its machine's --data), and a
 * command line the CLI accepts. A re-committed checkpoint whose flags differ fails here until the script follows.
 */
import { readFileSync } from 'node:fs';
import { parseCommandLine } from '@herd/core';
import { describe, expect, it } from 'vitest';
import { packageDir, scriptArgs, valuesLessData } from '../test-support/recipe-script.js';
import { VIDEO_TRAIN_FLAGS, videoEvalCommand, videoRetrainCommand } from './video.js';

describe('the video package\'s turbo scripts', () => {
  it("train: the committed checkpoint's Re-train flags (its --data left out: the default clips are that world), accepted by the CLI's parser", () => {
    const args = scriptArgs('video', 'train', 'video train');
    const parsed = parseCommandLine(args, VIDEO_TRAIN_FLAGS);
    const card = readFileSync(`${packageDir('video')}weights/mini/MODEL_CARD.md`, 'utf8');
    const line = /^Re-train: `herd video train ([^`]+)`/m.exec(card);
    expect(line).not.toBeNull();
    expect(valuesLessData(args, VIDEO_TRAIN_FLAGS)).toEqual(valuesLessData(line![1]!.split(/\s+/), VIDEO_TRAIN_FLAGS));
    // The Re-train line a run of the script writes on its card is the script again.
    expect(valuesLessData(videoRetrainCommand(parsed.values, parsed.given).split(' ').slice(3), VIDEO_TRAIN_FLAGS)).toEqual(valuesLessData(args, VIDEO_TRAIN_FLAGS));
    // Its clip count is the default world's, the one the default --data generates.
    expect(parsed.values.clips).toBe(parseCommandLine([], VIDEO_TRAIN_FLAGS).values.clips);
  });

  it("eval: the committed eval's question count per type on the same clips", () => {
    const parsed = parseCommandLine(scriptArgs('video', 'eval', 'video eval'), videoEvalCommand.flags);
    const train = parseCommandLine(scriptArgs('video', 'train', 'video train'), VIDEO_TRAIN_FLAGS);
    expect(parsed.values['per-type']).toBe(train.values['eval-per-type']);
    expect(parsed.values.clips).toBe(train.values.clips);
  });
});
