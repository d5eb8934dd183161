/**
 * `herd video curate <input> <output> [--config FILE] [--workers N | --queue redis://… | --shard i/N
 * | --merge] [--no-ocr] [--clip [--clip-dir DIR] [--clip-frame-threshold COS] [--clip-video-threshold
 * COS]]`: the video–text curation pipeline of @herd/video (caption heuristics and language ID shared
 * with images, clip heuristics, motion score, CLIP alignment with the committed mini CLIP when
 * `--clip` is given, OCR text-overlay filter, exact duplicates) over a dataset folder or a folder of
 * clips with caption files. Resumable: run the same
 * command again after an interruption. The config file is JSON with the stages' options
 * (`VideoCurateStagesConfig`); `false` turns a stage off. ffmpeg/ffprobe: FFMPEG_BIN / FFPROBE_BIN,
 * else @herd/media's resolution.
 */
import { flag } from '@herd/core';
import { VIDEO_CURATE_STAGES_RULES, curateVideos, type VideoCurateStagesConfig } from '@herd/video';
import { defineCommand } from '../command.js';
import { curateRunFlags, printCurateOutcome, readStagesConfig, runnerOptions } from '../curate-run.js';

export const videoCurateCommand = defineCommand({
  words: ['video', 'curate'],
  summary: 'curate video–text pairs: caption heuristics, language ID, clip checks, motion, OCR overlay, duplicates',
  usesDevice: false,
  positionals: [{ name: 'input' }, { name: 'output' }],
  flags: {
    ...curateRunFlags('VideoCurateStagesConfig'),
    'no-ocr': flag.boolean({ description: 'skip the OCR text-overlay stage (the slowest)' }),
    clip: flag.boolean({ description: 'run the CLIP alignment stages (middle frame, then the aggregated clip, against the caption) with the mini CLIP' }),
    'clip-dir': flag.string({ placeholder: 'DIR', description: 'mini CLIP checkpoint folder (default: packages/vision/weights/mini-clip); implies --clip' }),
    'clip-frame-threshold': flag.number({ placeholder: 'COS', description: 'drop clips whose middle frame–caption cosine is below this (default: the threshold chosen for the checkpoint); implies --clip' }),
    'clip-video-threshold': flag.number({ placeholder: 'COS', description: 'drop clips whose aggregated clip–caption cosine is below this (default: as above); implies --clip' }),
  },
  notes: 'Without --clip (or clipModel in the config file) mismatched captions are not removed; the report says so.',
  async run({ values, positionals, io }) {
    const [input, output] = positionals as [string, string];
    let config = readStagesConfig<VideoCurateStagesConfig>(values.config, 'video curation config', VIDEO_CURATE_STAGES_RULES);
    if (values['no-ocr']) config = { ...config, ocr: false };
    const dir = values['clip-dir'];
    const frameT = values['clip-frame-threshold'];
    const videoT = values['clip-video-threshold'];
    if (values.clip || dir !== undefined || frameT !== undefined || videoT !== undefined) {
      const c = config.clipModel || {};
      config = { ...config, clipModel: { ...c, ...(dir !== undefined ? { dir } : {}), ...(frameT !== undefined ? { frameThreshold: frameT } : {}), ...(videoT !== undefined ? { videoThreshold: videoT } : {}) } };
    }
    // Env is read here, in the app, and handed down.
    const ffmpeg = process.env['FFMPEG_BIN'];
    const ffprobe = process.env['FFPROBE_BIN'];
    if (ffmpeg || ffprobe) config = { ...config, frames: { ...(config.frames ?? {}), ...(ffmpeg ? { ffmpeg } : {}), ...(ffprobe ? { ffprobe } : {}) } };
    const res = await curateVideos(input, output, { ...config, ...runnerOptions(values, io) });
    printCurateOutcome(io, values.shard, res, (r) => `${r.in} clips in, ${r.out} kept, ${r.samplesPerSecond.toFixed(2)} clips/s; report: ${output}/report.md`);
  },
});
