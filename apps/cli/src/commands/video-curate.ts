/**
 * `herd video curate <input> <output> [--config FILE] [--workers N | --queue redis://… | --shard i/N
 * | --merge] [--no-ocr]`: the video–text curation pipeline of @herd/video (caption heuristics and
 * language ID shared with images, clip heuristics, motion score, OCR text-overlay filter, exact
 * duplicates) over a dataset folder or a folder of clips with caption files. Resumable: run the same
 * command again after an interruption. The config file is JSON with the stages' options
 * (`VideoCurateStagesConfig`); `false` turns a stage off. ffmpeg/ffprobe: FFMPEG_BIN / FFPROBE_BIN,
 * else @herd/media's resolution.
 */
import { HerdError, UsageError, flag, isRecord, readJsonFile } from '@herd/core';
import { curateVideos, type VideoCurateStagesConfig } from '@herd/video';
import { defineCommand } from '../command.js';

function parseSlice(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m || Number(m[1]) >= Number(m[2])) throw new UsageError(`--shard must look like i/N with 0 ≤ i < N (e.g. 0/4), got '${text}'`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

export const videoCurateCommand = defineCommand({
  words: ['video', 'curate'],
  summary: 'curate video–text pairs: caption heuristics, language ID, clip checks, motion, OCR overlay, duplicates',
  usesDevice: false,
  positionals: [{ name: 'input' }, { name: 'output' }],
  flags: {
    config: flag.string({ placeholder: 'FILE', description: "JSON with the stages' options (VideoCurateStagesConfig); false turns a stage off" }),
    workers: flag.integer({ min: 0, default: 0, description: 'worker threads (0: in this process)' }),
    queue: flag.string({ placeholder: 'redis://HOST:PORT', description: 'coordinate shard tasks over a Redis/BullMQ queue' }),
    shard: flag.string({ placeholder: 'i/N', description: 'run only slice i of N (then --merge)' }),
    merge: flag.boolean({ description: 'merge the finished slices into one dataset' }),
    'no-ocr': flag.boolean({ description: 'skip the OCR text-overlay stage (the slowest)' }),
  },
  notes: 'The CLIP-style alignment stages need a trained model object and run only through the curateVideos API for now.',
  async run({ values, positionals, io }) {
    const [input, output] = positionals as [string, string];
    let config: VideoCurateStagesConfig = {};
    if (values.config !== undefined) {
      const json = readJsonFile(values.config, { what: 'video curation config', code: 'invalid_config' });
      if (!isRecord(json)) throw new HerdError('invalid_config', `video curation config ${values.config} must hold a JSON object`);
      config = json as VideoCurateStagesConfig;
    }
    if (values['no-ocr']) config = { ...config, ocr: false };
    // Env is read here, in the app, and handed down.
    const ffmpeg = process.env['FFMPEG_BIN'];
    const ffprobe = process.env['FFPROBE_BIN'];
    if (ffmpeg || ffprobe) config = { ...config, frames: { ...(config.frames ?? {}), ...(ffmpeg ? { ffmpeg } : {}), ...(ffprobe ? { ffprobe } : {}) } };
    const shard = values.shard;
    const res = await curateVideos(input, output, {
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
      io.stdout.write(`${r.in} clips in, ${r.out} kept, ${r.samplesPerSecond.toFixed(2)} clips/s; report: ${output}/report.md\n`);
      for (const s of r.stages) io.stdout.write(`  ${s.name.padEnd(16)} ${String(s.kept).padStart(8)} kept ${String(s.dropped).padStart(8)} dropped  ${Object.entries(s.droppedByReason).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
    }
  },
});
