/**
 * The committed video checkpoint is what `npx turbo run train --filter=@herd/video` trains: the package's
 * `train` script is the card's Re-train line (with the default clips, so without its machine's --data), and a
 * command line the CLI accepts. A re-committed checkpoint whose flags differ fails here until the script follows.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseCommandLine } from '@herd/core';
import { describe, expect, it } from 'vitest';
import { VIDEO_TRAIN_FLAGS, videoEvalCommand, videoRetrainCommand } from './video.js';

const VIDEO = fileURLToPath(new URL('../../../../packages/video/', import.meta.url));
const scripts = (JSON.parse(readFileSync(`${VIDEO}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts;
const CLI = 'cd ../.. && node apps/cli/dist/main.js ';

/** The script's `herd` words and flags, after the package's way of calling the CLI. */
function herdArgs(script: string | undefined, words: string): string[] {
  expect(script?.startsWith(`${CLI}${words} `)).toBe(true);
  return script!.slice(CLI.length + words.length + 1).trim().split(/\s+/);
}

/** A command line's values as the CLI parses them (defaults filled), less --data. */
function trainValues(args: readonly string[]) {
  const { values, positionals } = parseCommandLine(args, VIDEO_TRAIN_FLAGS);
  expect(positionals).toEqual([]);
  return { ...values, data: undefined };
}

describe('the video package\'s turbo scripts', () => {
  it("train: the committed checkpoint's Re-train flags (its --data left out: the default clips are that world), accepted by the CLI's parser", () => {
    const args = herdArgs(scripts.train, 'video train');
    const parsed = parseCommandLine(args, VIDEO_TRAIN_FLAGS);
    const card = readFileSync(`${VIDEO}weights/mini/MODEL_CARD.md`, 'utf8');
    const line = /^Re-train: `herd video train ([^`]+)`/m.exec(card);
    expect(line).not.toBeNull();
    expect(trainValues(args)).toEqual(trainValues(line![1]!.split(/\s+/)));
    // The Re-train line a run of the script writes on its card is the script again.
    expect(trainValues(videoRetrainCommand(parsed.values, parsed.given).split(' ').slice(3))).toEqual(trainValues(args));
    // Its clip count is the default world's, the one the default --data generates.
    expect(parsed.values.clips).toBe(parseCommandLine([], VIDEO_TRAIN_FLAGS).values.clips);
  });

  it("eval: the committed eval's question count per type on the same clips", () => {
    const args = herdArgs(scripts.eval, 'video eval');
    const parsed = parseCommandLine(args, videoEvalCommand.flags);
    const train = parseCommandLine(herdArgs(scripts.train, 'video train'), VIDEO_TRAIN_FLAGS);
    expect(parsed.values['per-type']).toBe(train.values['eval-per-type']);
    expect(parsed.values.clips).toBe(train.values.clips);
  });
});
