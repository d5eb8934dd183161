#!/usr/bin/env node
/**
 * `node dist/cli.js generate --size tiny --out out/tiny [--only text,images,video,speech] [--seed 1]
 *  [--noise-rate 0.2] [--count text=100000,images=500] [--tts auto|wasm|binary] [--tts-threads N]
 *  [--video-near-duplicates rescale,crop,trim] [--text-mix description=0.17,sentence=0.07,...]`
 * `node dist/cli.js sample [--out sample]` (the committed sample: size "sample", seed 1)
 * Environment is read here only: FFMPEG_BIN names an ffmpeg binary.
 */
import { Progress, UsageError, describeFlags, exitCodeFor, flag, formatCommandError, parseCommandLine } from '@herd/core';
import { generateWorld } from './generate.js';
import { TEXT_DOC_KINDS, TEXT_MIX, type TextMix, checkCopyWords, checkQaTypes, checkTextMix } from './text.js';
import { NEAR_DUPLICATE_EDITS, type NearDuplicateEdit } from './video.js';
import { MODALITIES, SIZE_NAMES, type Modality } from './sizes.js';

const COMMON = {
  verbose: flag.boolean({ description: 'print stacks with errors' }),
  help: flag.boolean({ short: 'h', description: 'show this help' }),
} as const;
const GENERATE_FLAGS = {
  size: flag.choice(SIZE_NAMES, { default: 'tiny' }),
  out: flag.string({ placeholder: 'DIR', description: 'output folder (default out/<size>)' }),
  only: flag.string({ placeholder: MODALITIES.join(','), description: 'generate only these modalities' }),
  seed: flag.integer({ min: 0, max: 0xffff_ffff, default: 1 }),
  'noise-rate': flag.number({ min: 0, max: 1, description: "share of labelled noisy samples (default: the size's)" }),
  count: flag.string({ placeholder: 'text=N,images=N,...', description: 'items per modality, overriding the size' }),
  tts: flag.choice(['auto', 'wasm', 'binary'], { description: 'which espeak-ng to use for speech (default auto)' }),
  'video-near-duplicates': flag.string({ placeholder: NEAR_DUPLICATE_EDITS.join(','), description: 'edits that make video near-duplicates (default rescale; existing seeds keep their bytes)' }),
  'text-mix': flag.string({ placeholder: TEXT_DOC_KINDS.map((k) => `${k}=X`).join(','), description: `relative share of each text document kind, a kind left out gets none (default ${TEXT_DOC_KINDS.map((k) => `${k}=${TEXT_MIX[k]}`).join(',')})` }),
  'qa-balance': flag.boolean({ description: 'text: each round of a QA dialogue asks a different question type, types drawn uniformly (default: rounds drawn from all the questions, which rarely ask the word)' }),
  'qa-types': flag.string({ placeholder: 'TYPE,...', description: 'text: QA rounds only of these question types, in dialogues and drills (e.g. word,direction; shape with --text-mix drill=1: pure shape-by-place drills; clipdrill documents ask only direction whatever is given; a scene or clip with none of them keeps all its questions)' }),
  'copy-words': flag.string({ placeholder: 'w1,w2,…', description: "text: the words copy documents' lists are drawn from (default: the 208 world words one Llama 3 token long, COPY_WORDS)" }),
  'copy-filler': flag.integer({ min: 0, description: 'text: copy documents\' longest filler between a list and its repeat, in half of them (1–N random copy words); 0: the list repeated at once (default 0)' }),
  'shape-first': flag.number({ min: 0, max: 1, description: 'text: share of scene QA dialogues described shape first ("a big square at the top; the square is purple", "the word is cat"): the colour and the word in the words their answers use (default 0)' }),
  'direction-named': flag.boolean({ description: 'text: clip dialogues and clip drills answer "Which way does the X move?" with "The X moves up." instead of "It moves up." (same key word; the form the core binds a mover to its direction with)' }),
  'tts-threads': flag.integer({ min: 1, description: 'speech synthesis worker threads (default 1; output is identical for any count)' }),
  ...COMMON,
} as const;
const SAMPLE_FLAGS = { out: flag.string({ placeholder: 'DIR', default: 'sample' }), ...COMMON } as const;

const USAGE = `usage:
  herd-datasets generate [flags]   the synthetic world at a size
${describeFlags(GENERATE_FLAGS)}
  herd-datasets sample [--out DIR]  the committed sample (size "sample", seed 1)`;

function parseCounts(s: string | undefined): Partial<Record<Modality, number>> {
  const counts: Partial<Record<Modality, number>> = {};
  if (s === undefined) return counts;
  for (const part of s.split(',')) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (!(MODALITIES as readonly string[]).includes(k ?? '') || v === undefined || !/^\d+$/.test(v) || !Number.isSafeInteger(n)) {
      throw new UsageError(`--count expects modality=N pairs (modalities: ${MODALITIES.join(', ')}; N an integer ≥ 0), got '${part}'`);
    }
    counts[k as Modality] = n;
  }
  return counts;
}

/** A comma-separated flag value as a list, checked by `check`; its error names the flag. */
function parseList(flagName: string, s: string, check: (items: string[]) => readonly string[]): string[] {
  const items = s.split(',').map((t) => t.trim()).filter((t) => t !== '');
  try {
    return [...check(items)];
  } catch (e) {
    throw new UsageError(`${flagName}: ${(e as Error).message}`);
  }
}

function parseTextMix(s: string): TextMix {
  // A kind left out gets no share (`--text-mix dialogue=1,instruction=1`: only those two).
  const mix: Record<string, number> = Object.fromEntries(TEXT_DOC_KINDS.map((k) => [k, 0]));
  for (const part of s.split(',')) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (k === undefined || v === undefined || v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--text-mix expects kind=share pairs (kinds: ${TEXT_DOC_KINDS.join(', ')}), got '${part}'`);
    mix[k.trim()] = n;
  }
  try {
    return checkTextMix(mix);
  } catch (e) {
    throw new UsageError(`--text-mix: ${(e as Error).message}`);
  }
}

function parseOnly(s: string | undefined): Modality[] | undefined {
  if (s === undefined) return undefined;
  const only = s.split(',').map((m) => m.trim());
  const bad = only.filter((m) => !(MODALITIES as readonly string[]).includes(m));
  if (bad.length) throw new UsageError(`--only takes a comma-separated list of ${MODALITIES.join(', ')}; got ${bad.map((b) => `'${b}'`).join(', ')}`);
  return only as Modality[];
}

function parseEdits(s: string): NearDuplicateEdit[] {
  const edits = s.split(',').map((e) => e.trim());
  const bad = edits.filter((e) => !(NEAR_DUPLICATE_EDITS as readonly string[]).includes(e));
  if (bad.length || edits.length === 0) throw new UsageError(`--video-near-duplicates takes a comma-separated list of ${NEAR_DUPLICATE_EDITS.join(', ')}; got ${bad.map((b) => `'${b}'`).join(', ')}`);
  return edits as NearDuplicateEdit[];
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return;
  }
  if (command !== 'generate' && command !== 'sample') throw new UsageError(`unknown command '${command}'; commands: generate, sample (herd-datasets --help)`);
  let options: { size: string; out: string; seed: number; only?: Modality[]; counts: Partial<Record<Modality, number>>; noiseRate?: number; textMix?: TextMix; textBalanceQa?: boolean; textQaTypes?: string[]; textShapeFirst?: number; textCopyWords?: string[]; textCopyMaxFiller?: number; tts?: 'auto' | 'wasm' | 'binary'; ttsThreads?: number; videoNearDuplicateEdits?: NearDuplicateEdit[] };
  if (command === 'sample') {
    const { values } = parseCommandLine(rest, SAMPLE_FLAGS);
    if (values.help) return void console.log(USAGE);
    options = { size: 'sample', out: values.out, seed: 1, counts: {} };
  } else {
    const { values } = parseCommandLine(rest, GENERATE_FLAGS);
    if (values.help) return void console.log(USAGE);
    const only = parseOnly(values.only);
    options = {
      size: values.size,
      out: values.out ?? `out/${values.size}`,
      seed: values.seed,
      counts: parseCounts(values.count),
      ...(only !== undefined ? { only } : {}),
      ...(values['noise-rate'] !== undefined ? { noiseRate: values['noise-rate'] } : {}),
      ...(values.tts !== undefined ? { tts: values.tts } : {}),
      ...(values['text-mix'] !== undefined ? { textMix: parseTextMix(values['text-mix']) } : {}),
      ...(values['qa-balance'] ? { textBalanceQa: true } : {}),
      ...(values['qa-types'] !== undefined ? { textQaTypes: parseList('--qa-types', values['qa-types'], checkQaTypes) } : {}),
      ...(values['shape-first'] !== undefined ? { textShapeFirst: values['shape-first'] } : {}),
      ...(values['copy-words'] !== undefined ? { textCopyWords: parseList('--copy-words', values['copy-words'], checkCopyWords) } : {}),
      ...(values['copy-filler'] !== undefined ? { textCopyMaxFiller: values['copy-filler'] } : {}),
      ...(values['direction-named'] ? { textNamedDirection: true } : {}),
      ...(values['tts-threads'] !== undefined ? { ttsThreads: values['tts-threads'] } : {}),
      ...(values['video-near-duplicates'] !== undefined ? { videoNearDuplicateEdits: parseEdits(values['video-near-duplicates']) } : {}),
    };
  }
  const bars = new Map<Modality, Progress>();
  const ffmpeg = process.env.FFMPEG_BIN;
  const report = await generateWorld({
    ...options,
    ...(ffmpeg !== undefined && ffmpeg !== '' ? { ffmpeg } : {}),
    onProgress(m, done, total) {
      let bar = bars.get(m);
      if (bar === undefined) bars.set(m, (bar = new Progress(m.padEnd(6), total)));
      bar.update(done);
    },
  });
  for (const bar of bars.values()) bar.done();
  for (const [m, r] of Object.entries(report.modalities)) {
    console.log(`${m.padEnd(7)} ${String(r.count).padStart(8)} items  ${r.seconds.toFixed(1).padStart(6)} s  ${r.path}`);
  }
  console.log(`total ${report.seconds.toFixed(1)} s (size ${report.size}, seed ${report.seed})`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(formatCommandError('herd-datasets', e, process.argv.includes('--verbose')));
  process.exitCode = exitCodeFor(e);
});
