/**
 * The `herd-datasets generate` command that re-makes a text corpus, read from what the generator records
 * in the corpus' manifest (`info.text`: the text options given): a model card names its training corpus by it.
 */
import { isRecord } from '@herd/core';
import { SIZES_PRESETS, type SizeName } from './sizes.js';
import { type TextCorpusOptions } from './text.js';

/** The text options a corpus was generated with, as its manifest records them in `info.text` (only those given). */
export type RecordedTextOptions = Pick<TextCorpusOptions, 'mix' | 'balanceQa' | 'qaTypes' | 'shapeFirst' | 'copyWords' | 'copyMaxFiller' | 'namedDirection'>;

/**
 * The command for a manifest's `info`, or undefined when it was not written by this generator's text
 * modality or predates the `text` record (corpora made before round 15: how they were made is not known).
 */
export function textCorpusCommand(info: unknown, out = 'OUT'): string | undefined {
  if (!isRecord(info) || info['generator'] !== '@herd/datasets' || info['modality'] !== 'text' || !isRecord(info['text'])) return undefined;
  const t = info['text'] as RecordedTextOptions;
  const size = String(info['size']);
  const flags = [`--size ${size}`, '--only text', `--seed ${String(info['seed'])}`, `--count text=${String(info['count'])}`];
  const preset = SIZES_PRESETS[size as SizeName] as (typeof SIZES_PRESETS)[SizeName] | undefined;
  if (preset && info['noiseRate'] !== preset.noiseRate) flags.push(`--noise-rate ${String(info['noiseRate'])}`);
  if (t.mix) flags.push(`--text-mix ${Object.entries(t.mix).filter(([, v]) => v > 0).map(([k, v]) => `${k}=${v}`).join(',')}`);
  if (t.balanceQa) flags.push('--qa-balance');
  if (t.qaTypes) flags.push(`--qa-types ${t.qaTypes.join(',')}`);
  if (t.shapeFirst !== undefined) flags.push(`--shape-first ${t.shapeFirst}`);
  if (t.copyWords) flags.push(`--copy-words ${t.copyWords.join(',')}`);
  if (t.copyMaxFiller !== undefined) flags.push(`--copy-filler ${t.copyMaxFiller}`);
  if (t.namedDirection) flags.push('--direction-named');
  return `node datasets/dist/cli.js generate ${flags.join(' ')} --out ${out}`;
}
