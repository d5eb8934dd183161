/**
 * `herd vision curate <input> <output> [--config FILE] [--workers N | --queue redis://… | --shard i/N
 * | --merge]`: the image–text curation pipeline of @herd/vision (quality filter, language ID,
 * perceptual dedup, n-gram resampling, OCR) over a dataset folder or a folder of images with caption
 * files. Resumable: run the same command again after an interruption. The config file is JSON with
 * the stages' options (`CurateStagesConfig`); `false` turns a stage off. The committed mini CLIP
 * (image–text filter) and mini copy-detection model (near-duplicates with pHash) are used unless
 * turned off (`--no-clip`, `--no-copy-detect`) or replaced in the config (`clipModel.dir`,
 * `dedup.copyDetect`).
 */
import { HerdError, UsageError, flag, isRecord, readJsonFile } from '@herd/core';
import { curateImages, type CurateStagesConfig } from '@herd/vision';
import { defineCommand } from '../command.js';

function parseSlice(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m || Number(m[1]) >= Number(m[2])) throw new UsageError(`--shard must look like i/N with 0 ≤ i < N (e.g. 0/4), got '${text}'`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

export const visionCurateCommand = defineCommand({
  words: ['vision', 'curate'],
  summary: 'curate image–text pairs: quality filter, language ID, perceptual dedup, n-gram resampling, OCR',
  usesDevice: false,
  positionals: [{ name: 'input' }, { name: 'output' }],
  flags: {
    config: flag.string({ placeholder: 'FILE', description: "JSON with the stages' options (CurateStagesConfig); false turns a stage off" }),
    workers: flag.integer({ min: 0, default: 0, description: 'worker threads (0: in this process)' }),
    queue: flag.string({ placeholder: 'redis://HOST:PORT', description: 'coordinate shard tasks over a Redis/BullMQ queue' }),
    shard: flag.string({ placeholder: 'i/N', description: 'run only slice i of N (then --merge)' }),
    merge: flag.boolean({ description: 'merge the finished slices into one dataset' }),
    'no-ocr': flag.boolean({ description: 'skip the OCR stage' }),
    'no-clip': flag.boolean({ description: 'skip the mini CLIP image–text filter' }),
    'clip-threshold': flag.number({ placeholder: 'COS', description: 'drop pairs whose CLIP cosine is below this (default: the threshold stored with the model)' }),
    'clip-top': flag.number({ placeholder: 'FRACTION', description: 'keep only this best fraction of pairs by CLIP score (0 < f ≤ 1)' }),
    'no-copy-detect': flag.boolean({ description: 'near-duplicates by pHash only (no copy-detection embedding)' }),
  },
  async run({ values, positionals, io }) {
    const [input, output] = positionals as [string, string];
    let config: CurateStagesConfig = {};
    if (values.config !== undefined) {
      const json = readJsonFile(values.config, { what: 'curation config', code: 'invalid_config' });
      if (!isRecord(json)) throw new HerdError('invalid_config', `curation config ${values.config} must hold a JSON object`);
      config = json as CurateStagesConfig;
    }
    if (values['no-ocr']) config = { ...config, ocr: false };
    if (values['no-clip']) config = { ...config, clipModel: false };
    else if (config.clipModel !== false) {
      const c = config.clipModel ?? {};
      config = {
        ...config,
        clipModel: { ...c, ...(values['clip-threshold'] !== undefined ? { threshold: values['clip-threshold'] } : {}), ...(values['clip-top'] !== undefined ? { topFraction: values['clip-top'] } : {}) },
      };
    }
    if (!values['no-copy-detect'] && config.dedup !== false) config = { ...config, dedup: { copyDetect: true, ...(config.dedup ?? {}) } };
    const shard = values.shard;
    const res = await curateImages(input, output, {
      ...config,
      workers: values.workers,
      ...(values.queue !== undefined ? { queue: { url: values.queue } } : {}),
      ...(shard !== undefined ? { slice: parseSlice(shard) } : {}),
      ...(values.merge ? { merge: true } : {}),
      handleSignals: true,
    });
    if (res.slice) io.stdout.write(`slice ${shard}: ${res.slice.passesDone}/${res.slice.passes} passes done; run --merge once every slice has finished\n`);
    else if (res.merge) io.stdout.write(`merge stopped at pass ${res.merge.pass}: ${res.merge.missing.length} shard(s) not done; run the slices again, then --merge\n`);
    else if (res.report) {
      const r = res.report;
      io.stdout.write(`${r.in} in, ${r.out} kept, ${r.samplesPerSecond.toFixed(1)} samples/s; report: ${output}/report.md\n`);
      for (const s of r.stages) io.stdout.write(`  ${s.name.padEnd(16)} ${String(s.kept).padStart(8)} kept ${String(s.dropped).padStart(8)} dropped  ${Object.entries(s.droppedByReason).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
    }
  },
});
