/**
 * `herd speech train` / `herd speech eval`: the mini speech recipe (BEST-RQ encoder + speech adapter
 * fine-tuned against the frozen mini core on ASR, spoken QA and AST) on the synthetic world's
 * speech, and its eval on held-out voices (WER/CER; spoken QA: core alone, core + adapter, core +
 * transcript). Also the audio side of `herd generate --audio`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HerdError, UsageError, flag, writeFileAtomic } from '@herd/core';
import { MANIFEST_FILE, readDataset } from '@herd/data';
import { TRAIN_ACCENTS, TRAIN_VOICES, generateWorld } from '@herd/datasets';
import { END_OF_TEXT_ID, EOT_ID, Generator, MINI_CORE_DIR, buildDecoder, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { decodeAudio } from '@herd/media';
import { type Device } from '@herd/runtime';
import {
  ASR_INSTRUCTION, LogMel, jointTranscribe, ctcPosteriors, MINI_SPEECH_DIR, SPEC_AUGMENT_DEFAULTS, ctcHeadOf, type MiniSpeech, SPEECH_EVAL_SET, type SpeechInput, evaluateSpeech, generateSpeechEvalSet, loadMiniSpeech, miniSpeechGenerator,
  pickItems, readSpeechItems, runMiniSpeechRecipe, SPEECH_TASKS, speechEvalTable, speechPromptLayout, type SpokenQaAnswer,
} from '@herd/speech';
import { CORE_FLAG, DEVICE_FLAG, EVAL_CORE_FLAG, type Io, defineCommand } from '../command.js';
import { openLanguageCore } from '../model-folder.js';
import { readPrompt } from '../prompt.js';

/** The training speech `--data` defaults to (generated here when missing): clean, seed 1. */
export const DEFAULT_SPEECH_DATA = join('out', 'speech-ft', 'speech');
export const DEFAULT_SPEECH_EVAL_DATA = join('out', 'speech-eval');
const WORLD = { seed: 1, speech: 1500 } as const;

/** The training generations `--data` names (several: their utterances are joined), or the default one, generated when missing. */
async function speechData(given: readonly string[], io: Io): Promise<string[]> {
  if (given.length === 0) {
    if (!existsSync(join(DEFAULT_SPEECH_DATA, MANIFEST_FILE))) {
      io.stderr.write(`no speech at ${DEFAULT_SPEECH_DATA}: generating ${WORLD.speech} clean utterances (seed ${WORLD.seed}; espeak-ng, several minutes)\n`);
      await generateWorld({ out: join(DEFAULT_SPEECH_DATA, '..'), size: 'small', only: ['speech'], counts: { speech: WORLD.speech }, noiseRate: 0, seed: WORLD.seed });
    }
    return [DEFAULT_SPEECH_DATA];
  }
  for (const data of given) {
    if (!existsSync(join(data, MANIFEST_FILE))) {
      throw new HerdError('invalid_argument', `--data ${data}: no speech dataset there (expected ${join(data, MANIFEST_FILE)}); make one with \`node datasets/dist/cli.js generate --size small --only speech --count speech=${WORLD.speech} --noise-rate 0 --seed ${WORLD.seed} --out DIR\` and pass --data DIR/speech`);
    }
  }
  return [...given];
}

/** What each training generation is (seed and count from its manifest), for the card's data line and re-train command. */
async function generationsOf(dirs: readonly string[]): Promise<{ seed: number; count: number }[]> {
  const out: { seed: number; count: number }[] = [];
  for (const dir of dirs) {
    const info = (await readDataset(dir)).info;
    const seed = info['seed'];
    const count = info['count'];
    if (typeof seed !== 'number' || typeof count !== 'number') throw new HerdError('invalid_argument', `--data ${dir}: its manifest's info names no generator seed and count (not a speech generation of @herd/datasets?)`);
    out.push({ seed, count });
  }
  return out;
}

async function evalData(given: string | undefined, io: Io): Promise<string> {
  const data = given ?? DEFAULT_SPEECH_EVAL_DATA;
  if (existsSync(join(data, MANIFEST_FILE))) return data;
  if (given !== undefined) throw new HerdError('invalid_argument', `--eval-data ${data}: no speech dataset there (expected ${join(data, MANIFEST_FILE)}); leave the flag out to generate the default held-out-voice set`);
  io.stderr.write(`no held-out speech at ${data}: generating ${SPEECH_EVAL_SET.count} utterances (seed ${SPEECH_EVAL_SET.seed}, every one held out)\n`);
  await generateSpeechEvalSet(data);
  return data;
}

const DATA_FLAGS = {
  data: flag.string({ placeholder: 'DIR', description: `a speech dataset of the synthetic world for training (default ${DEFAULT_SPEECH_DATA}, generated when missing)` }),
  'eval-data': flag.string({ placeholder: 'DIR', description: `held-out-voice speech for the eval (default ${DEFAULT_SPEECH_EVAL_DATA}, generated when missing)` }),
  'eval-asr': flag.integer({ min: 1, default: 80, description: 'held-out utterances transcribed for WER/CER' }),
  'eval-qa': flag.integer({ min: 1, default: 80, description: 'held-out spoken questions' }),
  'eval-ast': flag.integer({ min: 0, default: 30, description: 'held-out French/German/Spanish utterances translated for chrF/BLEU (the training data\'s held-out split: scenes with colour×shape combinations never trained on, as no French/German/Spanish voice is held out; 0 = no AST row)' }),
} as const;

export const speechTrainCommand = defineCommand({
  words: ['speech', 'train'],
  usesDevice: true,
  summary: 'fine-tune the mini speech encoder + adapter against the frozen mini core (ASR, spoken QA, AST), evaluate, save',
  flags: {
    ...DATA_FLAGS,
    data: flag.string({ placeholder: 'DIR', multiple: true, description: `a speech dataset of the synthetic world for training; give it again to join several generations (other seeds) (default ${DEFAULT_SPEECH_DATA}, generated when missing)` }),
    ...CORE_FLAG,
    out: flag.string({ placeholder: 'DIR', output: 'folder', description: 'where the checkpoint is written (default: the built-in one, packages/speech/weights/mini)' }),
    work: flag.string({ placeholder: 'DIR', description: 'prepared items, checkpoints and the log (default out/speech-train; a run there resumes)' }),
    steps: flag.integer({ min: 1, default: 400, description: 'optimizer steps' }),
    batch: flag.integer({ min: 1, default: 8, description: 'utterances per step' }),
    lr: flag.number({ above: 0, default: 2e-3, description: 'peak learning rate (cosine, 5% warm-up)' }),
    seed: flag.integer({ min: 0, max: 0xffff_ffff, default: 1, description: 'initialisation and data-order seed' }),
    warmup: flag.integer({ min: 0, description: 'warm-up steps (default 5% of the steps)' }),
    'max-seconds': flag.integer({ min: 1, max: 60, default: 6, description: 'longest audio the checkpoint takes (its decoder is padded to it)' }),
    'train-seconds': flag.integer({ min: 1, max: 60, description: 'longest utterance trained on; the training graph is padded to it (default --max-seconds; shorter is cheaper)' }),
    'seq-len': flag.integer({ min: 16, default: 144, description: 'tokens per training sequence (prompt with audio + reply; longer items are left out)' }),
    init: flag.string({ placeholder: 'DIR', description: 'warm start: the encoder and adapter of this speech checkpoint start the run' }),
    'ctc-weight': flag.number({ min: 0, default: 0, description: "weight of the alignment objective: CTC of the adapter's 80 ms frames against the transcript's tokens, scored against the frozen core's embedding rows (0 = next-token loss only)" }),
    'ctc-max-labels': flag.integer({ min: 1, default: 40, description: 'longest transcript (in core tokens) the CTC objective takes; longer ones train without it' }),
    'spec-augment': flag.choice(['on', 'off'], { default: 'off', description: 'SpecAugment of the training utterances (2 frequency masks ≤ 27 mel bins, 2 time masks ≤ 5% of the utterance; held-out batches unmasked). Off by default: in a 240-step A/B from the mini checkpoint it raised held-out WER (57.2% vs 53.3%) and CTC-greedy WER (28.4% vs 24.1%)' }),
    'task-repeat': flag.counts(SPEECH_TASKS, { placeholder: 'TASK=N,…', min: 1, max: 20, description: "the task mixture: each train item of a task (asr: transcribe, qa: spoken question, ast: translate) is trained N times per pass over the data (default 1 each; on the card's two generations qa has 555 of 2,619 items at 1); the prepared items in --work are made for one mixture. Until round 20 `--qa-repeat N`, now `--task-repeat qa=N`" }),
    ...DEVICE_FLAG,
  },
  async run({ values, io, device }) {
    if (values['train-seconds'] !== undefined && values['train-seconds'] > values['max-seconds']) throw new UsageError(`--train-seconds ${values['train-seconds']} is longer than --max-seconds ${values['max-seconds']}`);
    const core = loadLanguageCore(values.core); // a wrong --core or --init fails before any utterance is synthesised
    if (values.init) loadMiniSpeech(values.init, core);
    const data = await speechData(values.data, io);
    const generations = await generationsOf(data);
    const evalDir = await evalData(values['eval-data'], io);
    const out = values.out ?? MINI_SPEECH_DIR;
    const trainSeconds = values['train-seconds'] ?? values['max-seconds'];
    const taskRepeat = values['task-repeat'];
    const args = `--steps ${values.steps} --batch ${values.batch} --lr ${values.lr}${values.warmup !== undefined ? ` --warmup ${values.warmup}` : ''} --seed ${values.seed} --max-seconds ${values['max-seconds']} --train-seconds ${trainSeconds} --seq-len ${values['seq-len']}${values.init ? ` --init ${values.init}` : ''}${values.core !== undefined ? ` --core ${values.core}` : ''}${values['ctc-weight'] > 0 ? ` --ctc-weight ${values['ctc-weight']} --ctc-max-labels ${values['ctc-max-labels']}` : ''} --spec-augment ${values['spec-augment']}${taskRepeat !== undefined ? ` --task-repeat ${Object.entries(taskRepeat).map(([k, n]) => `${k}=${n}`).join(',')}` : ''}`;
    const r = await runMiniSpeechRecipe({
      core, tokenizer: await loadLlama3Tokenizer(), source: data, evalSource: evalDir, workDir: values.work ?? join('out', 'speech-train'), outDir: out,
      maxFrames: values['max-seconds'] * 100, trainFrames: trainSeconds * 100, seqLen: values['seq-len'], steps: values.steps, batch: values.batch, lr: values.lr, seed: values.seed,
      ...(values.warmup !== undefined ? { warmup: values.warmup } : {}), ...(values.init ? { initDir: values.init } : {}),
      ...(values['ctc-weight'] > 0 ? { ctc: { weight: values['ctc-weight'], maxLabels: values['ctc-max-labels'] } } : {}),
      ...(values['spec-augment'] === 'on' ? { specAugment: SPEC_AUGMENT_DEFAULTS } : {}),
      ...(taskRepeat !== undefined ? { taskRepeat } : {}),
      evalAsr: values['eval-asr'], evalQa: values['eval-qa'], evalAst: values['eval-ast'],
      dataDescription: `The synthetic world's speech (@herd/datasets generateSpeech: espeak-ng, ${TRAIN_VOICES.length} training voices (${TRAIN_ACCENTS.length} English accents × voice variants) at speeds 120–200 wpm and random pitch, 16 kHz; ${generations.map((g) => `seed ${g.seed}, ${g.count} utterances`).join(' + ')}, no noise: statements, spoken questions about a scene given in text, French/German/Spanish scene descriptions). Eval: ${SPEECH_EVAL_SET.count} utterances of seed ${SPEECH_EVAL_SET.seed} (generateSpeechEvalSet), of which those by the 2 held-out voices; AST eval: French/German/Spanish utterances of the training generation's held-out split (colour×shape scenes never trained on).`,
      retrainCommand: `npm run build && ${generations.map((g) => `node datasets/dist/cli.js generate --size small --only speech --count speech=${g.count} --noise-rate 0 --seed ${g.seed} --out out/speech-s${g.seed} && `).join('')}node apps/cli/dist/main.js speech train ${generations.map((g) => `--data out/speech-s${g.seed}/speech `).join('')}${args}`,
      device: device().device,
      log: (line) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(`${speechEvalTable(r.eval)}\ntrain ${r.train.seconds.toFixed(0)} s, eval ${r.evalSeconds.toFixed(0)} s → ${out}\n`);
  },
});

export const speechEvalCommand = defineCommand({
  words: ['speech', 'eval'],
  usesDevice: true,
  summary: 'WER/CER and spoken QA on held-out voices: core alone, core + speech adapter, core + transcript',
  flags: {
    'eval-data': DATA_FLAGS['eval-data'],
    'eval-asr': DATA_FLAGS['eval-asr'],
    'eval-qa': DATA_FLAGS['eval-qa'],
    'eval-ast': DATA_FLAGS['eval-ast'],
    data: flag.string({ placeholder: 'DIR', description: `the training generation whose held-out split gives the AST items (default ${DEFAULT_SPEECH_DATA}; no AST row when it is missing)` }),
    speech: flag.string({ placeholder: 'DIR', description: 'the speech checkpoint (default: the built-in mini one)' }),
    ...EVAL_CORE_FLAG,
    seed: flag.integer({ min: 0, max: 0xffff_ffff, default: 1, description: 'which held-out items are picked' }),
    'joint-ctc': flag.number({ min: 0, max: 1, description: "also transcribe with joint CTC decoding: the core's candidate tokens rescored by the CTC head's prefix score at this weight (an extra ASR row; the checkpoint needs its CTC head)" }),
    beam: flag.integer({ min: 1, max: 64, default: 1, description: 'beam width of the --joint-ctc decoding (1 = greedy)' }),
    json: flag.boolean({ description: 'print the whole report as JSON' }),
    answers: flag.string({ placeholder: 'FILE', output: 'file', description: 'also write every graded spoken question to FILE (JSON lines: type, question, reference, each row\'s answer and typed grade, the cascade\'s), e.g. to read the wrong ones' }),
    ...DEVICE_FLAG,
  },
  async run({ values, io, device }) {
    const s = loadMiniSpeech(values.speech ?? MINI_SPEECH_DIR, loadLanguageCore(values.core)); // a wrong checkpoint or core fails before any utterance is synthesised
    const evalDir = await evalData(values['eval-data'], io);
    const held = (await collect(readSpeechItems(evalDir, { split: 'heldout', maxFrames: s.maxFrames }))).filter((i) => i.heldoutVoice);
    const astData = values.data ?? DEFAULT_SPEECH_DATA;
    if (values.data !== undefined && !existsSync(join(astData, MANIFEST_FILE))) throw new HerdError('invalid_argument', `--data ${astData}: no speech dataset there (expected ${join(astData, MANIFEST_FILE)})`);
    const astHeld = values['eval-ast'] > 0 && existsSync(join(astData, MANIFEST_FILE))
      ? await collect(readSpeechItems(astData, { split: 'heldout', maxFrames: s.maxFrames, tasks: ['ast'] }))
      : [];
    if (values['eval-ast'] > 0 && astHeld.length === 0) io.stderr.write(`no AST row: no held-out translations in ${astData}\n`);
    const gen = await miniSpeechGenerator(s, { device: device().device });
    const answers: string[] = [];
    try {
      const report = await evaluateSpeech({
        ast: pickItems(astHeld, values['eval-ast'], values.seed),
        core: s.core, tokenizer: await loadLlama3Tokenizer(), speech: gen,
        asr: pickItems(held.filter((i) => i.task === 'asr'), values['eval-asr'], values.seed), qa: pickItems(held.filter((i) => i.task === 'qa'), values['eval-qa'], values.seed),
        ...(ctcHeadOf(s.weights) ? { ctcHead: ctcHeadOf(s.weights)! } : {}),
        ...(values['joint-ctc'] !== undefined ? { jointCtcWeight: values['joint-ctc'], jointCtcBeam: values.beam } : {}),
        ...(values.answers !== undefined ? { onQaAnswer: (a: SpokenQaAnswer) => answers.push(JSON.stringify(a)) } : {}),
        device: device().device,
      });
      if (values.answers !== undefined) await writeFileAtomic(values.answers, answers.map((l) => `${l}\n`).join(''));
      io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : speechEvalTable(report));
    } finally {
      await gen.release();
    }
  },
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * An audio file as the speech model's input: decoded by `@herd/media` (WAV, FLAC, MP3, OGG, M4A, a
 * video's audio track) to 16 kHz mono, refused when longer than the model takes.
 */
export async function readAudioInput(file: string, s: MiniSpeech): Promise<SpeechInput> {
  const path = resolve(file);
  if (!existsSync(path)) throw new HerdError('io_error', `--audio ${path}: no such file`);
  const maxSeconds = s.maxFrames / 100;
  const audio = await decodeAudio(path, { sampleRate: 16000, maxSeconds, name: path });
  const f = new LogMel().compute(audio.samples, path);
  return { features: f.data, frames: Math.min(f.frames, s.maxFrames) };
}

/** `herd generate --audio FILE [--prompt TEXT]`: the audio is decoded before any model is built, so a bad file fails fast, by name. */
export async function generateFromAudio(
  values: { audio?: string | undefined; speech?: string | undefined; prompt?: string | undefined; 'prompt-file'?: string | undefined; model?: string | undefined; 'max-tokens': number; temperature: number; 'top-p': number; seed: number; 'joint-ctc': number; beam: number; 'transcribe-first'?: boolean | undefined },
  io: Io,
  device: Device,
): Promise<void> {
  const prompt = values.prompt !== undefined || values['prompt-file'] !== undefined ? await readPrompt({ prompt: values.prompt, promptFile: values['prompt-file'] }, io) : undefined;
  const asks = prompt !== undefined && prompt.trim() !== '';
  if (values['transcribe-first'] && !asks) throw new UsageError('--transcribe-first answers a spoken question about the --prompt text: give --prompt too (without it, --audio is transcribed anyway)');
  const { core, tok } = await openLanguageCore(values.model ?? MINI_CORE_DIR, io.stderr);
  const speech = loadMiniSpeech(values.speech ?? MINI_SPEECH_DIR, core);
  const audio = await readAudioInput(values.audio!, speech);
  const head = ctcHeadOf(speech.weights);
  if (values['transcribe-first'] && !head) throw new HerdError('invalid_argument', `--transcribe-first: the speech checkpoint ${speech.dir} has no CTC head to transcribe with`);
  const toModel = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toCompact(ids)) : [...ids]);
  const toFull = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toFull(ids)) : [...ids]);
  const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
  const sampling = { maxNewTokens: values['max-tokens'], temperature: values.temperature, topP: values['top-p'], seed: values.seed, stopTokens: stops };
  const gen = await miniSpeechGenerator(speech, { device });
  let answerer: Generator | undefined;
  try {
    // Transcribing: the CTC head's prefix scores keep the core to what the audio holds (joint CTC decoding, beam search).
    const transcribe = async (): Promise<Iterable<number> | AsyncIterable<number>> => {
      const layout = speechPromptLayout(tok, core, { before: '', after: ASR_INSTRUCTION }, gen.audioTokens(audio));
      const joint = head && values['joint-ctc'] > 0 ? { weight: values['joint-ctc'], beam: values.beam } : undefined;
      return joint
        ? (await jointTranscribe((o) => gen.beam(layout, audio, o), await ctcPosteriors(gen, core, head!, audio), { ...joint, maxNewTokens: sampling.maxNewTokens, stopTokens: stops })).tokens
        : gen.generate(layout, audio, sampling);
    };
    let ids: Iterable<number> | AsyncIterable<number>;
    if (!asks) ids = await transcribe();
    else if (values['transcribe-first']) {
      // The cascade the speech eval scores (its spoken-QA "cascade" row): hear, then answer in text with the core alone.
      const heardIds: number[] = [];
      for await (const id of await transcribe()) {
        if (stops.includes(id)) break;
        heardIds.push(id);
      }
      const heard = tok.decode(toFull(heardIds)).trim();
      io.stderr.write(`heard: ${heard}\n`);
      answerer = await Generator.create(core.config, buildDecoder(core.config, core.weights), { device });
      ids = answerer.generate(toModel(tok.encodeChat([{ role: 'user', content: `${prompt} ${heard}` }], { addGenerationPrompt: true })), sampling);
    } else ids = gen.generate(speechPromptLayout(tok, core, { before: prompt, after: '' }, gen.audioTokens(audio)), audio, sampling);
    const stream = tok.streamDecoder();
    for await (const id of ids) {
      if (stops.includes(id)) break;
      io.stdout.write(stream.push(toFull([id])));
    }
    io.stdout.write(stream.flush() + '\n');
  } finally {
    await gen.release();
    await answerer?.release();
  }
}
