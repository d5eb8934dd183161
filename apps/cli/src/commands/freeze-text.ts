/**
 * `herd text freeze CHECKPOINT --out DIR`: a language-core training checkpoint (one of the
 * step-*.safetensors files `herd text train` keeps in `.mini-checkpoints/` beside its --out folder) as
 * a core folder every --model flag takes — to evaluate a run part-way, or adopt an earlier step.
 */
import { UsageError, flag } from '@herd/core';
import { freezeCheckpoint } from '@herd/llama3';
import { defineCommand } from '../command.js';

export const freezeTextCommand = defineCommand({
  words: ['text', 'freeze'],
  summary: 'write a training checkpoint of the language core (step-*.safetensors) as a core folder that --model takes',
  usesDevice: false,
  positionals: [{ name: 'checkpoint' }],
  flags: {
    out: flag.string({ placeholder: 'DIR', output: 'folder', description: 'the core folder to write (config.json, model.safetensors in f16, vocab.json, MODEL_CARD.md, training.json)' }),
  },
  async run({ values, positionals, io }) {
    if (values.out === undefined) throw new UsageError('--out DIR is required: the core folder to write');
    const { step, outDir } = await freezeCheckpoint(positionals[0]!, values.out);
    io.stdout.write(`${outDir}: the core after ${step} steps (evaluate it with \`herd text eval --model ${outDir}\`)\n`);
  },
});
