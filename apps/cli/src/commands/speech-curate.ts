/**
 * `herd speech curate <input> <output> [--config FILE] [--workers N | --queue redis://… | --shard i/N
 * | --merge]`: the speech curation pipeline of @herd/speech (transcript heuristics, language ID,
 * decode, duration, SNR, speech/silence ratio, clipping, duplicate utterances) over a dataset folder
 * or a folder of audio files with transcripts. Resumable: run the same command again after an
 * interruption. The config file is JSON with the stages' options (`SpeechCurateStagesConfig`);
 * `false` turns a stage off.
 */
import { SPEECH_CURATE_STAGES_RULES, curateSpeech, type SpeechCurateStagesConfig } from '@herd/speech';
import { defineCommand } from '../command.js';
import { curateRunFlags, printCurateOutcome, readStagesConfig, runnerOptions } from '../curate-run.js';

export const speechCurateCommand = defineCommand({
  words: ['speech', 'curate'],
  summary: 'curate speech–transcript pairs: transcript checks, language ID, duration, SNR, VAD, clipping, duplicate utterances',
  usesDevice: false,
  positionals: [{ name: 'input' }, { name: 'output' }],
  flags: curateRunFlags('SpeechCurateStagesConfig'),
  async run({ values, positionals, io }) {
    const [input, output] = positionals as [string, string];
    const config = readStagesConfig<SpeechCurateStagesConfig>(values.config, 'speech curation config', SPEECH_CURATE_STAGES_RULES);
    const res = await curateSpeech(input, output, { ...config, ...runnerOptions(values, io) });
    printCurateOutcome(io, values.shard, res, (r) => `${r.in} in, ${r.out} kept (${r.keptHours.toFixed(2)} h), ${r.samplesPerSecond.toFixed(1)} samples/s; report: ${output}/report.md`);
  },
});
