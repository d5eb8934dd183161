/**
 * The committed mini speech checkpoint: it loads onto the committed frozen core, holds only the
 * speech groups' tensors and the CTC head (f16), leaves text-only prompts bit-identical to the core
 * alone, and on utterances by voices never heard in training its transcripts are closer to the speech
 * than the core's reply without the audio, and it answers spoken questions better than the core given
 * only the scene (graded by question type, as the image and text evals grade; round 17).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '@herd/core';
import { END_OF_TEXT_ID, EOT_ID, Generator, buildDecoder, gradeSceneQa, loadLlama3Tokenizer } from '@herd/llama3';
import { decodeAudio } from '@herd/media';
import { describe, expect, it } from 'vitest';
import { LogMel } from './data/log-mel.js';
import { JOINT_CTC_BEAM, JOINT_CTC_WEIGHT, ctcPosteriors, jointTranscribe } from './eval/ctc-decode.js';
import { questionType, textLayout } from './eval/speech-eval.js';
import { wordErrorRate } from './eval/wer.js';
import { MINI_SPEECH_DIR, MINI_SPEECH_FILES, ctcHeadOf, loadMiniSpeech, miniSpeechGenerator } from './mini.js';
import { speechAdapterSpecs, speechCtcSpecs, speechEncoderSpecs } from './model/extension.js';
import { ASR_INSTRUCTION, speechPromptLayout } from './train/speech-data.js';

/** Margins the committed checkpoint must keep over the core alone (set from measurements at commit, never lowered). */
// Round 20 (the adapter re-fitted in two 600-step stages to round 20's core, adopted as weights/mini): WER 12.1% through
// the core vs 284.6% for the core alone, 2.0% joint; spoken QA 20/24 vs 6/24 (card: 88.5% of 78 vs 17.9%).
// Round 19 (the adapter re-fitted to round 18's candidate core, packages/llama3/weights/mini-candidate, measured on that core):
// WER 32.2% through the core vs 103.4% for the core alone, 2.0% joint; spoken QA 20/24 vs 6/24. On the round-17 core it
// still loads (another core's hash: a warning) and passes: 24.2% / 145.6%, joint 4.7%, QA 11/24 vs 6/24.
// Round 17 (the drill-chain core and the speech adapter re-fitted to it; 28 fixtures: 24 spoken questions, 4 statements):
// WER 16.1% through the core vs 145.6% for the core alone, 1.3% with joint CTC decoding (beam 8, weight 0.6); spoken QA
// graded by type 14/24 vs 6/24 for the core given only the scene. On the larger eval (MODEL_CARD.md: 80 utterances, 78
// questions) 32.3% through the core, 3.0% joint, 6.2% CTC greedy; spoken QA 56.4% vs 17.9%.
// Earlier (round 8–16 checkpoint on the previous core, 12 fixtures): 45.2% / 102.7% / 4.1% joint; QA 5/8 vs 2/8 by type.
// The joint claim is a ratio since round 17: the core's own decoding got good enough (16%) that the old absolute gap
// (0.35) cannot be kept by any WER ≥ 0; joint decoding must still cut the core's WER at least fourfold (measured ×12).
const MIN_WER_GAIN = 0.5;
const MAX_JOINT_TO_CORE_WER = 0.25;
/** The target (WER ≤ 10% on unseen voices), held on the fixtures by the joint decoding users get. */
const MAX_JOINT_WER = 0.1;
const MIN_QA_GAIN = 5;
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'heldout-speech');
interface Item { file: string; task: 'question' | 'statement'; transcript: string; context?: string; answer?: string }

describe('mini speech checkpoint', () => {
  it('holds only encoder + adapter tensors and the CTC head (f16) and loads onto the committed core', () => {
    const s = loadMiniSpeech();
    const file = SafetensorsFile.open(join(MINI_SPEECH_DIR, MINI_SPEECH_FILES.weights));
    expect(file.names().sort()).toEqual([...speechEncoderSpecs(s.model), ...speechAdapterSpecs(s.model), ...speechCtcSpecs(s.model)].map((x) => x.name).sort());
    expect(new Set(file.infos().map((i) => i.dtype))).toEqual(new Set(['F16']));
    expect(s.model.adapter.coreDim).toBe(s.core.config.dim);
  });

  // One pass over the fixtures, shared by the two tests below.
  let measured: Promise<Measured> | undefined;
  const measure = () => (measured ??= measureFixtures());

  it('text-only logits are the core\'s to the bit, and held-out-voice transcripts beat the core alone on WER', async () => {
    const m = await measure();
    expect(m.wer).toBeLessThan(m.blindWer - MIN_WER_GAIN);
  }, 240_000);

  it('joint CTC decoding (herd generate --audio: beam search, the validated weight and width) transcribes held-out voices better than the core decoding alone', async () => {
    const m = await measure();
    expect(m.jointWer).toBeLessThanOrEqual(m.wer * MAX_JOINT_TO_CORE_WER);
    expect(m.jointWer).toBeLessThanOrEqual(MAX_JOINT_WER);
  }, 240_000);

  it('spoken QA (graded by question type) beats the core given only the scene', async () => {
    const m = await measure();
    expect(m.heard).toBeGreaterThanOrEqual(m.unheard + MIN_QA_GAIN);
  }, 240_000);
});

interface Measured { wer: number; jointWer: number; blindWer: number; heard: number; unheard: number }

async function measureFixtures(): Promise<Measured> {
  const s = loadMiniSpeech();
  const tok = await loadLlama3Tokenizer();
  const vocab = s.core.vocab!;
  const stops = Array.from(vocab.toCompact([EOT_ID, END_OF_TEXT_ID]));
  const sampling = { maxNewTokens: 40, temperature: 0, stopTokens: stops };
  const text = (ids: number[]) => tok.decode(Array.from(vocab.toFull(ids.filter((t) => !stops.includes(t))))).trim();
  const chat = (content: string) => Array.from(vocab.toCompact(tok.encodeChat([{ role: 'user', content }], { addGenerationPrompt: true })));
  const items = JSON.parse(readFileSync(join(FIXTURES, 'items.json'), 'utf8')) as Item[];
  const mel = new LogMel();
  const gen = await miniSpeechGenerator(s);
  const plain = await Generator.create(s.core.config, buildDecoder(s.core.config, s.core.weights));
  try {
    const prompt = chat('What colour is the circle?');
    const a = await gen.logits(textLayout(prompt), undefined);
    const b = await plain.logits(prompt);
    a.forEach((row, t) => expect(Array.from(row)).toEqual(Array.from(b[t]!)));

    const blind = text(await plain.complete(chat(ASR_INSTRUCTION), sampling));
    const head = ctcHeadOf(s.weights)!;
    const asr: { reference: string; hypothesis: string }[] = [];
    const joint: { reference: string; hypothesis: string }[] = [];
    const blindAsr: { reference: string; hypothesis: string }[] = [];
    let heard = 0;
    let unheard = 0;
    let questions = 0;
    for (const item of items) {
      const { samples } = await decodeAudio(join(FIXTURES, item.file), { sampleRate: 16000 });
      const f = mel.compute(samples, item.file);
      const audio = { features: f.data, frames: f.frames };
      const said = text(await gen.complete(speechPromptLayout(tok, s.core, { before: '', after: ASR_INSTRUCTION }, gen.audioTokens(audio)), audio, sampling));
      asr.push({ reference: item.transcript, hypothesis: said });
      const layout = speechPromptLayout(tok, s.core, { before: '', after: ASR_INSTRUCTION }, gen.audioTokens(audio));
      const heardJointly = await jointTranscribe((o) => gen.beam(layout, audio, o), await ctcPosteriors(gen, s.core, head, audio), { weight: JOINT_CTC_WEIGHT, beam: JOINT_CTC_BEAM, maxNewTokens: sampling.maxNewTokens, stopTokens: stops });
      joint.push({ reference: item.transcript, hypothesis: text(heardJointly.tokens) });
      blindAsr.push({ reference: item.transcript, hypothesis: blind });
      if (item.task === 'question') {
        const answer = text(await gen.complete(speechPromptLayout(tok, s.core, { before: item.context!, after: '' }, gen.audioTokens(audio)), audio, sampling));
        const guess = text(await plain.complete(chat(item.context!), sampling));
        const type = questionType(item.transcript);
        questions++;
        heard += gradeSceneQa(type, answer, item.answer!) ? 1 : 0;
        unheard += gradeSceneQa(type, guess, item.answer!) ? 1 : 0;
      }
    }
    const wer = wordErrorRate(asr);
    const jointWer = wordErrorRate(joint);
    const blindWer = wordErrorRate(blindAsr);
    console.log(`held-out voices: WER ${(100 * wer).toFixed(1)}%, joint CTC ${(100 * jointWer).toFixed(1)}% (core alone ${(100 * blindWer).toFixed(1)}%); spoken QA ${heard}/${questions} (core with the scene only ${unheard}/${questions})`);
    return { wer, jointWer, blindWer, heard, unheard };
  } finally {
    await gen.release();
    await plain.release();
  }
}
