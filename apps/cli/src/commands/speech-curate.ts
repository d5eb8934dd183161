/**
 * `herd speech curate <input> <output> [--config FILE] [--workers N | --queue redis://… | --shard i/N
 * | --merge]`: the speech curation pipeline of @herd/speech (transcript heuristics, language ID,
 * decode, duration, SNR, speech/silence ratio, clipping, duplicate utterances) over a dataset folder
 * or a folder of audio files with transcripts. Resumable: run the same command again after an
 * interruption. The config file is JSON with the stages' options (`SpeechCurateStagesConfig`);
 * `false` turns a stage off.
 */
import { HerdError, UsageError, flag, isRecord, readJsonFile } from '@herd/core';
import { curateSpeech, type SpeechCurateStagesConfig } from '@herd/speech';
import { defineCommand } from '../command.js';

function parseSlice(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m || Number(m[1]) >= Number(m[2])) throw new UsageError(`--shard must look like i/N with 0 ≤ i < N (e.g. 0/4), got '${text}'`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

export const speechCurateCommand = defineCommand({
  words: ['speech', 'curate'],
  summary: 'curate speech–transcript pairs: transcript checks, language ID, duration, SNR, VAD, clipping, duplicate utterances',
  usesDevice: false,
  positionals: [{ name: 'input' }, { name: 'output' }],
  flags: {
    config: flag.string({ placeholder: 'FILE', description: "JSON with the stages' options (SpeechCurateStagesConfig); false turns a stage off" }),
    workers: flag.integer({ min: 0, default: 0, description: 'worker threads (0: in this process)' }),
    queue: flag.string({ placeholder: 'redis://HOST:PORT', description: 'coordinate shard tasks over a Redis/BullMQ queue' }),
    shard: flag.string({ placeholder: 'i/N', description: 'run only slice i of N (then --merge)' }),
    merge: flag.boolean({ description: 'merge the finished slices into one dataset' }),
  },
  async run({ values, positionals, io }) {
    const [input, output] = positionals as [string, string];
    let config: SpeechCurateStagesConfig = {};
    if (values.config !== undefined) {
      const json = readJsonFile(values.config, { what: 'speech curation config', code: 'invalid_config' });
      if (!isRecord(json)) throw new HerdError('invalid_config', `speech curation config ${values.config} must hold a JSON object`);
      config = json as SpeechCurateStagesConfig;
    }
    const shard = values.shard;
    const res = await curateSpeech(input, output, {
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
      io.stdout.write(`${r.in} in, ${r.out} kept (${r.keptHours.toFixed(2)} h), ${r.samplesPerSecond.toFixed(1)} samples/s; report: ${output}/report.md\n`);
      for (const s of r.stages) io.stdout.write(`  ${s.name.padEnd(16)} ${String(s.kept).padStart(8)} kept ${String(s.dropped).padStart(8)} dropped  ${Object.entries(s.droppedByReason).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
    }
  },
});
