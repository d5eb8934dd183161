#!/usr/bin/env node
/**
 * The `herd` command. Environment variables and flags are read here and passed down as options;
 * errors are printed with their code, and the exit code is set here only.
 */
import { isHerdError } from '@herd/core';
import { type DeviceRequest } from '@herd/runtime';
import { Args } from './args.js';
import { GENERATE_OPTIONS, generateCommand } from './commands/generate.js';
import { EVAL_TEXT_OPTIONS, evalTextCommand } from './commands/eval-text.js';
import { TRAIN_TEXT_OPTIONS, trainTextCommand } from './commands/train-text.js';
import { VISION_CURATE_OPTIONS, VISION_CURATE_USAGE, visionCurateCommand } from './commands/vision-curate.js';

const USAGE = `herd — a frozen Llama 3 with eyes and ears, in TypeScript

  herd generate [--chat] --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P] [--seed S] [--model DIR]
  herd train text [--steps N] [--sft-steps N --sft-lr LR] [--docs N] [--out DIR] [--resume]
  herd eval text [--model DIR] [--n N] [--update-card]
  ${VISION_CURATE_USAGE}

Device: --device cpu|webgpu|cuda|auto, or HERD_DEVICE (default cpu).`;

async function main(argv: string[]): Promise<void> {
  const [cmd, sub, ...rest] = argv;
  const envDevice = (process.env['HERD_DEVICE'] ?? 'cpu') as DeviceRequest;
  if (cmd === 'generate') {
    const args = new Args([sub ?? '', ...rest].filter((a) => a !== ''), GENERATE_OPTIONS);
    await generateCommand(args, (args.str('device') ?? envDevice) as DeviceRequest);
  } else if (cmd === 'train' && sub === 'text') {
    const args = new Args(rest, TRAIN_TEXT_OPTIONS);
    await trainTextCommand(args, (args.str('device') ?? envDevice) as DeviceRequest);
  } else if (cmd === 'eval' && sub === 'text') {
    const args = new Args(rest, EVAL_TEXT_OPTIONS);
    await evalTextCommand(args, (args.str('device') ?? envDevice) as DeviceRequest);
  } else if (cmd === 'vision' && sub === 'curate') {
    await visionCurateCommand(new Args(rest, VISION_CURATE_OPTIONS));
  } else {
    console.log(USAGE);
    if (cmd && cmd !== 'help' && cmd !== '--help') process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (isHerdError(e)) console.error(`herd: ${e.code}: ${e.message}`);
  else console.error(e);
  process.exitCode = 1;
});
