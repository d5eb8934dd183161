/**
 * Speech–transcript pairs: sentences of the same world spoken by espeak-ng with several voices,
 * speeds and pitches, as 16 kHz mono 16-bit WAV. Three tasks: English statements (ASR), English
 * spoken questions about a scene given in text (meta.context → meta.answer), and French/German/Spanish
 * descriptions (meta.language, for AST and language ID). Held out by construction: unseen voices and
 * unseen colour×shape combinations.
 */
import { HerdError, type Rng } from '@herd/core';
import { clampInt16, encodeWav, resample } from '@herd/media';
import { describeMotion, describeScene, sceneQuestions, worldSentence } from './language.js';
import { motionSplit, randomMotion } from './motion.js';
import { OTHER_LANGUAGES, describeSceneIn, type Language, type OtherLanguage } from './multilingual.js';
import { RecentPool, SPEECH_NOISE, checkRate, planNoise, truncateBytes, type SpeechNoise } from './noise.js';
import { sampleKey, utf8, type Sample } from './sample.js';
import { openTts, type TtsEngine, type TtsPreference } from './tts.js';
import { itemRng, randomScene, sceneSplit, type Scene, type Split } from './world.js';

export const SPEECH_SAMPLE_RATE = 16000;

/** Voices that never speak in train: the held-out speaker test. */
export const HELDOUT_VOICES = ['en-gb-scotland+f3', 'en-us+m6'] as const;
/**
 * English accents of the train split (espeak-ng languages): every English one the build has except
 * the held-out Scottish accent.
 */
export const TRAIN_ACCENTS = ['en-us', 'en', 'en-029', 'en-gb-x-rp', 'en-gb-x-gbclan', 'en-gb-x-gbcwmd', 'en-us-nyc'] as const;
/**
 * Voice variants of the train split ('' = the accent's own voice): espeak-ng's numbered male/female
 * variants and a few named ones, leaving out the held-out voices' variants (f3, m6) and the effect
 * voices (whisper, croak, robots).
 */
export const TRAIN_VARIANTS = ['', 'm1', 'm2', 'm3', 'm4', 'm5', 'm7', 'm8', 'f1', 'f2', 'f4', 'f5', 'Andy', 'Annie', 'linda', 'robert'] as const;
/** English voices of the train split: every accent × variant (112 voices, none sharing a held-out voice's accent-and-variant nor its variant). */
export const TRAIN_VOICES: readonly string[] = TRAIN_ACCENTS.flatMap((a) => TRAIN_VARIANTS.map((v) => (v ? `${a}+${v}` : a)));
export const OTHER_LANGUAGE_VOICES: Readonly<Record<(typeof OTHER_LANGUAGES)[number], readonly string[]>> = {
  fr: ['fr', 'fr+f2', 'fr+m3'],
  de: ['de', 'de+f1', 'de+m4'],
  es: ['es', 'es+f3', 'es+m2'],
};

export type SpeechTask = 'statement' | 'question' | 'translation';

export interface SpeechOptions {
  readonly seed: number;
  readonly count: number;
  readonly noiseRate?: number;
  readonly noiseKinds?: readonly SpeechNoise[];
  /** Fraction of samples in the held-out split (unseen voice or unseen combination; default 0.1). */
  readonly heldoutFraction?: number;
  /** Only these tasks (e.g. ['question'] for the spoken-question split; default all). */
  readonly tasks?: readonly SpeechTask[];
  /** Which espeak-ng to use (default 'auto': the npm WASM build, else Debian's binary). */
  readonly tts?: TtsPreference | TtsEngine;
  /** Utterances synthesised at once when `tts` is a preference (worker threads; default 1). */
  readonly threads?: number;
}

interface Utterance {
  readonly task: SpeechTask;
  readonly language: Language;
  readonly text: string;
  readonly voice: string;
  readonly split: Split;
  readonly scene?: Scene;
  readonly context?: string;
  readonly answer?: string;
}

function planUtterance(rng: Rng, heldoutFraction: number): Utterance {
  const heldout = rng.next() < heldoutFraction;
  // Half of the held-out samples test an unseen voice, half an unseen combination.
  const heldoutVoice = heldout && rng.next() < 0.5;
  const split: Split = heldout && !heldoutVoice ? 'heldout' : 'train';
  const r = rng.next();
  const englishVoice = heldoutVoice ? rng.pick(HELDOUT_VOICES) : rng.pick(TRAIN_VOICES);
  if (r < 0.2 && !heldoutVoice) {
    const language = rng.pick(OTHER_LANGUAGES);
    const scene = randomScene(rng, { split, wordProbability: 0 });
    return { task: 'translation', language, text: describeSceneIn(rng, scene, language), voice: rng.pick(OTHER_LANGUAGE_VOICES[language]), split: sceneSplit(scene), scene };
  }
  if (r < 0.4) {
    const scene = randomScene(rng, { split });
    const qa = rng.pick(sceneQuestions(rng, scene));
    return {
      task: 'question',
      language: 'en',
      text: qa.question,
      voice: englishVoice,
      split: heldoutVoice ? 'heldout' : sceneSplit(scene),
      scene,
      context: describeScene(rng, scene),
      answer: qa.answer,
    };
  }
  const s = rng.next();
  if (s < 0.6) {
    const scene = randomScene(rng, { split, wordProbability: 0.2 });
    return { task: 'statement', language: 'en', text: describeScene(rng, scene), voice: englishVoice, split: heldoutVoice ? 'heldout' : sceneSplit(scene), scene };
  }
  if (s < 0.8 || split === 'heldout') {
    const motion = randomMotion(rng, { split });
    const text = describeMotion(rng, motion);
    return { task: 'statement', language: 'en', text, voice: englishVoice, split: heldoutVoice ? 'heldout' : motionSplit(motion) };
  }
  return { task: 'statement', language: 'en', text: worldSentence(rng), voice: englishVoice, split: heldoutVoice ? 'heldout' : 'train' };
}

interface Planned {
  readonly u: Utterance;
  readonly speed: number;
  readonly pitch: number;
  readonly speech?: Promise<{ sampleRate: number; samples: Int16Array }>;
}

/** A duration estimate for samples that are not synthesised (silence, noise). */
function estimateSeconds(text: string, wpm: number): number {
  return 0.4 + (text.split(/\s+/).length * 60) / wpm;
}

/**
 * White Gaussian noise at a random SNR in [−5, +5] dB relative to the speech's active power (the mean
 * power of the 25 ms frames within 30 dB of the loudest; pauses do not dilute it).
 */
function addWhiteNoise(rng: Rng, samples: Int16Array): { samples: Int16Array; snrDb: number } {
  const frame = 400;
  const powers: number[] = [];
  for (let s = 0; s + frame <= samples.length; s += frame) {
    let e = 0;
    for (let j = s; j < s + frame; j++) e += samples[j]! * samples[j]!;
    powers.push(e / frame);
  }
  const loudest = Math.max(1, ...powers);
  const active = powers.filter((p) => p >= loudest * 1e-3);
  const power = active.reduce((a, b) => a + b, 0) / Math.max(1, active.length);
  const snrDb = Number((-5 + 10 * rng.next()).toFixed(2));
  const sigma = Math.sqrt(power / 10 ** (snrDb / 10));
  return { samples: samples.map((x) => clampInt16(x + rng.normal() * sigma)), snrDb };
}

/** A transcript that is not one; `junk` says which kind. */
function junkTranscript(rng: Rng, text: string): { transcript: string; junk: string } {
  const words = text.split(/\s+/);
  switch (rng.int(4)) {
    case 0:
      return { transcript: `<div class="caption"><b>${text}</b></div>`, junk: 'markup' };
    case 1:
      return { transcript: `${words.slice(0, 3).join(' ')} http://media.invalid/clip/${rng.int(1e6)}.wav https://cdn.invalid/a/${rng.int(1e6)}`, junk: 'urls' };
    case 2:
      return { transcript: Array.from({ length: 6 + rng.int(6) }, () => words[0] ?? 'the').join(' '), junk: 'repeated' };
    default:
      return { transcript: '', junk: 'empty' };
  }
}

interface Clean {
  readonly key: string;
  readonly samples: Int16Array;
  readonly wav: Uint8Array;
  readonly transcript: string;
  readonly meta: Record<string, unknown>;
}

/**
 * Speech samples `spc-<index>`: files `wav` (16 kHz mono 16-bit) and `txt` (the transcript, which
 * the mismatched-caption noise replaces); meta: task, language, voice, speed, pitch, spoken (what
 * the audio really says; null for silence/noise), durationS, split, noise, and for questions the
 * scene, context and answer.
 */
export async function* generateSpeech(opts: SpeechOptions): AsyncGenerator<Sample> {
  if (!Number.isInteger(opts.count) || opts.count < 0) throw new HerdError('invalid_argument', `speech count must be a non-negative integer, got ${opts.count}`);
  const noiseRate = opts.noiseRate ?? 0.2;
  checkRate(noiseRate);
  const tts = typeof opts.tts === 'object' ? opts.tts : await openTts(opts.tts ?? 'auto', process.env, opts.threads ?? 1);
  const plan = planNoise(itemRng(opts.seed, 'speech/plan', 0), opts.count, noiseRate, opts.noiseKinds ?? SPEECH_NOISE);
  const pool = new RecentPool<Clean>();
  // Each item draws from its own stream (seed, index), so items can be planned and synthesised ahead
  // of the one being written: up to `concurrency` utterances are in flight while output stays in order.
  const rngs = new Map<number, Rng>();
  const itemRngOf = (i: number): Rng => {
    let r = rngs.get(i);
    if (!r) rngs.set(i, (r = itemRng(opts.seed, 'speech', i)));
    return r;
  };
  const plans = new Map<number, Planned>();
  const planned = (i: number): Planned => {
    let p = plans.get(i);
    if (!p) {
      const rng = itemRngOf(i);
      let u = planUtterance(rng, opts.heldoutFraction ?? 0.1);
      // Redraw from the same stream until the task is wanted: still a function of (seed, index).
      while (opts.tasks !== undefined && opts.tasks.length > 0 && !opts.tasks.includes(u.task)) u = planUtterance(rng, opts.heldoutFraction ?? 0.1);
      const speed = 120 + rng.int(81);
      const pitch = 30 + rng.int(41);
      const synth = plan[i] !== 'silent' && plan[i] !== 'noise_only';
      const speech = synth ? tts.speak(u.text, { voice: u.voice, speed, pitch }) : undefined;
      speech?.catch(() => {}); // awaited in order below; this only silences an early rejection
      plans.set(i, (p = { u, speed, pitch, ...(speech ? { speech } : {}) }));
    }
    return p;
  };
  const ahead = Math.max(1, tts.concurrency ?? 1) * 2;
  for (let i = 0; i < opts.count; i++) {
    for (let j = i + 1; j < Math.min(opts.count, i + ahead); j++) {
      const nj = plan[j] ?? null;
      if (nj !== 'exact_duplicate' && nj !== 'near_duplicate') planned(j);
    }
    const rng = itemRngOf(i);
    rngs.delete(i);
    const key = sampleKey('spc', i);
    const noise = plan[i] ?? null;

    if (noise === 'exact_duplicate' || noise === 'near_duplicate') {
      plans.delete(i);
      const src = pool.pick(rng)!;
      let wav = src.wav;
      let transform: string | undefined;
      let durationS = src.meta.durationS;
      if (noise === 'near_duplicate') {
        // Louder or softer and slightly faster or slower: same content, different bytes.
        const gain = 0.6 + 0.3 * rng.next();
        const rate = 0.95 + 0.1 * rng.next();
        const s = Int16Array.from(resample(src.samples, SPEECH_SAMPLE_RATE, Math.round(SPEECH_SAMPLE_RATE / rate)), (x) => clampInt16(x * gain));
        wav = encodeWav(s, SPEECH_SAMPLE_RATE);
        transform = `gain ${gain.toFixed(2)}, tempo ${rate.toFixed(3)}`;
        durationS = s.length / SPEECH_SAMPLE_RATE;
      }
      yield { key, files: { wav, txt: utf8(src.transcript) }, meta: { ...src.meta, noise, duplicateOf: src.key, durationS, ...(transform ? { transform } : {}) } };
      continue;
    }

    const { u, speed, pitch, speech } = planned(i);
    plans.delete(i);
    let spoken: string | null = u.text;
    let samples: Int16Array;
    if (noise === 'silent' || noise === 'noise_only') {
      const n = Math.round(estimateSeconds(u.text, speed) * SPEECH_SAMPLE_RATE);
      const sigma = noise === 'silent' ? 1 : 2000 + 4000 * rng.next();
      samples = new Int16Array(n).map(() => clampInt16(rng.normal() * sigma));
      spoken = null;
    } else {
      const out = await speech!;
      samples = Int16Array.from(resample(out.samples, out.sampleRate, SPEECH_SAMPLE_RATE), clampInt16);
      if (noise === 'clipped') {
        const gain = 4 + 4 * rng.next();
        samples = samples.map((x) => clampInt16(x * gain));
      }
    }
    const meta: Record<string, unknown> = {};
    if (noise === 'noisy') ({ samples, snrDb: meta['snrDb'] } = addWhiteNoise(rng, samples));
    if (noise === 'fragment') samples = samples.slice(0, Math.round((0.05 + 0.25 * rng.next()) * SPEECH_SAMPLE_RATE));
    let wav = encodeWav(samples, SPEECH_SAMPLE_RATE);
    let transcript = u.text;
    if (noise === 'truncated') wav = truncateBytes(rng, wav);
    if (noise === 'mismatched_caption') {
      transcript = describeScene(rng, randomScene(rng, { split: 'train' }));
      if (u.language !== 'en') transcript = describeSceneIn(rng, randomScene(rng, { split: 'train' }), u.language);
    }
    if (noise === 'wrong_language_transcript') {
      const other: Language = rng.pick(['en', ...OTHER_LANGUAGES].filter((l) => l !== u.language) as Language[]);
      const scene = u.scene ?? randomScene(rng, { split: 'train' });
      transcript = other === 'en' ? describeScene(rng, scene) : describeSceneIn(rng, scene, other as OtherLanguage);
      meta['transcriptLanguage'] = other;
    }
    if (noise === 'junk_transcript') ({ transcript, junk: meta['junk'] } = junkTranscript(rng, u.text));
    Object.assign(meta, {
      modality: 'speech',
      task: u.task,
      language: u.language,
      voice: u.voice,
      speed,
      pitch,
      tts: tts.name,
      spoken,
      durationS: samples.length / SPEECH_SAMPLE_RATE,
      sampleRate: SPEECH_SAMPLE_RATE,
      split: u.split,
      noise,
      ...(u.scene !== undefined ? { scene: u.scene } : {}),
      ...(u.context !== undefined ? { context: u.context, answer: u.answer } : {}),
    });
    if (noise === null) pool.add({ key, samples, wav, transcript, meta });
    yield { key, files: { wav, txt: utf8(transcript) }, meta };
  }
}
