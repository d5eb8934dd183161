/**
 * `herd vision curate <input> <output> [--config FILE] [--workers N | --queue redis://… | --shard i/N
 * | --merge]`: the image–text curation pipeline of @herd/vision (quality filter, language ID,
 * perceptual dedup, n-gram resampling, OCR) over a dataset folder or a folder of images with caption
 * files. Resumable: run the same command again after an interruption. The config file is JSON with
 * the stages' options (`CurateStagesConfig`); `false` turns a stage off.
 */
import { readFileSync } from 'node:fs';
import { HerdError } from '@herd/core';
import { curateImages, type CurateStagesConfig } from '@herd/vision';
import { type Args } from '../args.js';

export const VISION_CURATE_OPTIONS = { config: 'value', workers: 'value', queue: 'value', shard: 'value', merge: 'switch', 'no-ocr': 'switch' } as const;

export const VISION_CURATE_USAGE = 'herd vision curate <input> <output> [--config FILE] [--workers N | --queue redis://HOST:PORT | --shard i/N | --merge] [--no-ocr]';

function parseSlice(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m) throw new HerdError('invalid_argument', `--shard must look like i/N (e.g. 0/4), got '${text}'`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

export async function visionCurateCommand(args: Args, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const [input, output] = args.positional;
  if (!input || !output) throw new HerdError('invalid_argument', `usage: ${VISION_CURATE_USAGE}`);
  let config: CurateStagesConfig = {};
  const file = args.str('config');
  if (file !== undefined) {
    try {
      config = JSON.parse(readFileSync(file, 'utf8')) as CurateStagesConfig;
    } catch (e) {
      throw new HerdError('invalid_argument', `--config ${file}: cannot read it as JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  if (args.has('no-ocr')) config = { ...config, ocr: false };
  const shard = args.str('shard');
  const queue = args.str('queue');
  const res = await curateImages(input, output, {
    ...config,
    workers: args.num('workers', 0),
    ...(queue !== undefined ? { queue: { url: queue } } : {}),
    ...(shard !== undefined ? { slice: parseSlice(shard) } : {}),
    ...(args.has('merge') ? { merge: true } : {}),
    handleSignals: true,
  });
  if (res.slice) out.write(`slice ${shard}: ${res.slice.passesDone}/${res.slice.passes} passes done; run --merge once every slice has finished\n`);
  else if (res.merge) out.write(`merge stopped at pass ${res.merge.pass}: ${res.merge.missing.length} shard(s) not done; run the slices again, then --merge\n`);
  else if (res.report) {
    const r = res.report;
    out.write(`${r.in} in, ${r.out} kept, ${r.samplesPerSecond.toFixed(1)} samples/s; report: ${output}/report.md\n`);
    for (const s of r.stages) out.write(`  ${s.name.padEnd(16)} ${String(s.kept).padStart(8)} kept ${String(s.dropped).padStart(8)} dropped  ${Object.entries(s.droppedByReason).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  }
}
