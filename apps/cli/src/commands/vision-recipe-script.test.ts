/**
 * The committed vision checkpoint is what `npx turbo run train --filter=@herd/vision` trains: the package's `train` script
 * is the card's Re-train line (on the default scene images, so without the --data its run was given), and a command line
 * the CLI accepts; the card's line is the CLI's own (`visionRetrainCommand`: the flags given, the run's stages and schedule
 * spelled out, where it wrote and ran left out). A re-committed checkpoint whose flags differ fails here until the script follows.
 */
import { readFileSync } from 'node:fs';
import { parseCommandLine } from '@herd/core';
import { describe, expect, it } from 'vitest';
import { packageDir, scriptArgs, valuesLessData } from '../test-support/recipe-script.js';
import { VISION_TRAIN_FLAGS, visionEvalCommand, visionRetrainCommand } from './vision.js';

describe("the vision package's turbo scripts", () => {
  it("train: the committed checkpoint's Re-train flags, accepted by the CLI's parser; a run of it writes the script again", () => {
    const args = scriptArgs('vision', 'train', 'vision train');
    const parsed = parseCommandLine(args, VISION_TRAIN_FLAGS);
    const card = readFileSync(`${packageDir('vision')}weights/mini/MODEL_CARD.md`, 'utf8');
    // The card's line: `herd vision train …` (written by the CLI), or `npm run build && node apps/cli/dist/main.js vision train …` (before round 39).
    const line = /^`(?:herd|npm run build && node apps\/cli\/dist\/main\.js) vision train ([^`]+)`/m.exec(card);
    expect(line).not.toBeNull();
    expect(valuesLessData(args, VISION_TRAIN_FLAGS)).toEqual(valuesLessData(line![1]!.split(/\s+/), VISION_TRAIN_FLAGS));
    expect(valuesLessData(visionRetrainCommand(parsed.values, parsed.given).split(' ').slice(3), VISION_TRAIN_FLAGS)).toEqual(valuesLessData(args, VISION_TRAIN_FLAGS));
  });

  it('the Re-train line spells out the stages and schedule at their defaults, names a --core, and leaves out where the run wrote and ran', () => {
    const { values, given } = parseCommandLine(['--core', '/work/cores/chain2', '--out', '/tmp/v', '--step-log', '/tmp/log', '--device', 'cpu', '--look-weight', '0.5'], VISION_TRAIN_FLAGS);
    expect(visionRetrainCommand(values, given)).toBe('herd vision train --core /work/cores/chain2 --clip-steps 0 --dense-steps 0 --dense-lr 0.003 --key-word-share 0 --look-weight 0.5 --qk-gain 1 --caption-steps 20 --zoom-steps 0 --single-steps 0 --qa-steps 330 --gate-init 0.5 --batch 16 --lr 0.004 --seed 1');
  });

  it("eval: the README's count (50 per type, count balanced by the reference number)", () => {
    const parsed = parseCommandLine(scriptArgs('vision', 'eval', 'vision eval'), visionEvalCommand.flags);
    expect([parsed.values['per-type'], parsed.values['count-balance']]).toEqual([50, true]);
  });
});
