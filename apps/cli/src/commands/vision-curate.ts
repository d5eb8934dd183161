/**
 * `herd vision curate <input> <output> [--config FILE] [--workers N | --queue redis://… | --shard i/N
 * | --merge]`: the image–text curation pipeline of @herd/vision (quality filter, language ID,
 * perceptual dedup, n-gram resampling, OCR) over a dataset folder or a folder of images with caption
 * files. Resumable: run the same command again after an interruption. The config file is JSON with
 * the stages' options (`CurateStagesConfig`); `false` turns a stage off. The committed mini CLIP
 * (image–text filter) is used unless turned off (`--no-clip`) or replaced (`clipModel.dir`).
 * Near-duplicates are found by the verified pHash (whole image + centre crops); `--copy-detect` also
 * links pairs by the mini copy-detection embedding (more recall, less precision: CURATION.md).
 */
import { flag } from '@herd/core';
import { CURATE_STAGES_RULES, curateImages, type CurateStagesConfig } from '@herd/vision';
import { defineCommand } from '../command.js';
import { curateRunFlags, printCurateOutcome, readStagesConfig, runnerOptions } from '../curate-run.js';

export const visionCurateCommand = defineCommand({
  words: ['vision', 'curate'],
  summary: 'curate image–text pairs: quality filter, language ID, perceptual dedup, n-gram resampling, OCR',
  usesDevice: false,
  positionals: [{ name: 'input' }, { name: 'output' }],
  flags: {
    ...curateRunFlags('CurateStagesConfig'),
    'no-ocr': flag.boolean({ description: 'skip the OCR stage' }),
    'no-clip': flag.boolean({ description: 'skip the mini CLIP image–text filter' }),
    'clip-threshold': flag.number({ placeholder: 'COS', description: 'drop pairs whose CLIP cosine is below this (default: the threshold stored with the model)' }),
    'clip-top': flag.number({ placeholder: 'FRACTION', description: 'keep only this best fraction of pairs by CLIP score (0 < f ≤ 1)' }),
    'copy-detect': flag.boolean({ description: 'near-duplicates also by the mini copy-detection embedding (default: verified pHash only)' }),
  },
  async run({ values, positionals, io }) {
    const [input, output] = positionals as [string, string];
    let config = readStagesConfig<CurateStagesConfig>(values.config, 'curation config', CURATE_STAGES_RULES);
    if (values['no-ocr']) config = { ...config, ocr: false };
    if (values['no-clip']) config = { ...config, clipModel: false };
    else if (config.clipModel !== false) {
      const c = config.clipModel ?? {};
      config = {
        ...config,
        clipModel: { ...c, ...(values['clip-threshold'] !== undefined ? { threshold: values['clip-threshold'] } : {}), ...(values['clip-top'] !== undefined ? { topFraction: values['clip-top'] } : {}) },
      };
    }
    if (values['copy-detect'] && config.dedup !== false) config = { ...config, dedup: { copyDetect: true, ...(config.dedup ?? {}) } };
    const res = await curateImages(input, output, { ...config, ...runnerOptions(values, io) });
    printCurateOutcome(io, values.shard, res, (r) => `${r.in} in, ${r.out} kept, ${r.samplesPerSecond.toFixed(1)} samples/s; report: ${output}/report.md`);
  },
});
