/**
 * `herd text curate <input> <output> [--config FILE] [--workers N | --queue redis://… | --shard i/N
 * | --merge]`: the text curation pipeline of @herd/llama3 (document check, text safety, document
 * heuristics, language ID with the declared-language check, exact and near duplicates) over a text
 * corpus as `herd-datasets generate` writes it (`train/` and `heldout/` datasets: each split is
 * curated into the same folder of `output`, which `herd text train --data` then reads), one text
 * dataset, or a folder of documents (`*.txt`, `*.md`, `*.jsonl`). Resumable: run the same command
 * again after an interruption. The config file is JSON with the stages' options
 * (`TextCurateStagesConfig`); `false` turns a stage off.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TEXT_SPLITS } from '@herd/datasets';
import { MANIFEST_FILE } from '@herd/data';
import { TEXT_CURATE_STAGES_RULES, curateText, type TextCurateStagesConfig } from '@herd/llama3';
import { defineCommand } from '../command.js';
import { curateRunFlags, printCurateOutcome, readStagesConfig, runnerOptions } from '../curate-run.js';

/**
 * The runs a text input asks for: one per split of a generated corpus (the held-out split checked
 * against the input's training split: `decontaminate`), else the input itself.
 */
export function textCurateRuns(input: string, output: string): { label?: string; input: string; output: string; against?: string }[] {
  if (existsSync(join(input, MANIFEST_FILE))) return [{ input, output }];
  const splits = Object.values(TEXT_SPLITS).filter((s) => existsSync(join(input, s, MANIFEST_FILE)) && statSync(join(input, s)).isDirectory());
  if (splits.length === 0) return [{ input, output }];
  const train = splits.includes(TEXT_SPLITS.train) ? join(input, TEXT_SPLITS.train) : undefined;
  return splits.map((s) => ({ label: s, input: join(input, s), output: join(output, s), ...(s === TEXT_SPLITS.heldout && train ? { against: train } : {}) }));
}

export const textCurateCommand = defineCommand({
  words: ['text', 'curate'],
  summary: 'curate text documents: document check, text safety, heuristics, language ID, exact and near (MinHash) duplicates',
  usesDevice: false,
  positionals: [{ name: 'input' }, { name: 'output' }],
  flags: curateRunFlags('TextCurateStagesConfig'),
  notes: `INPUT: a generated text corpus (${Object.values(TEXT_SPLITS).join('/ and ')}/ datasets, each curated into OUTPUT/<split> for \`herd text train --data OUTPUT\`; held-out documents that repeat a training document are dropped), one text dataset, or a folder of *.txt / *.md (one document each) and *.jsonl files (one {"text"} or {"turns"} object per line; other fields, e.g. "language", go to the meta).`,
  async run({ values, positionals, io }) {
    const [input, output] = positionals as [string, string];
    const config = readStagesConfig<TextCurateStagesConfig>(values.config, 'text curation config', TEXT_CURATE_STAGES_RULES);
    const runs = textCurateRuns(input, output);
    for (const r of runs) {
      if (r.label !== undefined) io.stdout.write(`${r.label}: ${r.input} → ${r.output}\n`);
      const decontaminate = config.decontaminate ?? (r.against !== undefined ? { against: r.against } : undefined);
      const res = await curateText(r.input, r.output, { ...config, ...(decontaminate ? { decontaminate } : {}), ...runnerOptions(values, io) });
      printCurateOutcome(io, values.shard, res, (rep) => `${rep.in} documents in, ${rep.out} kept, ${rep.samplesPerSecond.toFixed(1)} documents/s; report: ${r.output}/report.md`);
    }
  },
});
