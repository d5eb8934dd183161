/**
 * The speech evals on held-out voices (§7.5 in miniature):
 *   - ASR: WER and CER of greedy transcripts (`wer.ts` for the definitions), for the core with the
 *     speech adapter, and for the core alone given the same instruction without audio (what a
 *     model that hears nothing scores);
 *   - spoken QA: the scene in text, the question spoken; answers graded by the question's type with
 *     the grader the image and text evals share (@herd/llama3 `gradeSceneQa`: the reference's fact of
 *     that type in the answer, and no other of its kind). The older grade, `keywordMatch` (every
 *     content word of the reference anywhere in the answer), is kept beside it as `lenient`: a core
 *     that lists the scene passes it without hearing the question (round 16: 48.7% with no audio).
 *     Three rows, in the report shape of the vision VQA eval (`packages/vision/src/eval/vqa.ts`):
 *       `core` — the core alone with the scene but no audio (the blind control: it cannot know the question),
 *       `adapter` — the core + speech adapter hearing the question,
 *       `transcript` — the core alone with the question's transcript in text (the upper bound).
 * Question types come from the question's wording (the world's templates, `sceneQuestions`).
 *   - speech translation (AST): French / German / Spanish scene descriptions → English, chrF and BLEU
 *     (`translation.ts`) of greedy translations against the world's English description of the same
 *     scene, for the core + adapter and for the core alone given the instruction without audio.
 */
import { END_OF_TEXT_ID, EOT_ID, Generator, type LanguageCore, type Llama3Tokenizer, buildDecoder, gradeSceneQa, keywordMatch } from '@herd/llama3';
import { type Device } from '@herd/runtime';
import { type SpeechGenerator } from '../model/generate.js';
import { AST_INSTRUCTION, ASR_INSTRUCTION, type SpeechItem, speechPromptLayout } from '../train/speech-data.js';
import { HerdError } from '@herd/core';
import { KEEP_TOKEN } from '../model/extension.js';
import { type CtcPosteriors, type SpeechCtcHead, jointTranscribe, ctcGreedyText, ctcPosteriors } from './ctc-decode.js';
import { bleu, chrF } from './translation.js';
import { charErrorRate, wordErrorRate } from './wer.js';

export const SPOKEN_QA_TYPES = ['colour', 'shape', 'count', 'position', 'size', 'exists', 'word'] as const;
export type SpokenQaType = (typeof SPOKEN_QA_TYPES)[number];
export const SPOKEN_QA_ROWS = ['core', 'adapter', 'transcript'] as const;
export type SpokenQaRow = (typeof SPOKEN_QA_ROWS)[number];

/**
 * The question's type from its wording (the world's question templates, `sceneQuestions` in
 * @herd/datasets); "How many shapes …" (the world's `total`) is a count. The grader needs the
 * right type: a written-word question graded as a shape question could never pass.
 */
export function questionType(q: string): SpokenQaType {
  const s = q.toLowerCase();
  if (/colou?r/u.test(s)) return 'colour';
  if (/\b(?:word|text)\b/u.test(s)) return 'word';
  if (s.startsWith('how many')) return 'count';
  if (s.startsWith('where')) return 'position';
  if (/big or small/u.test(s)) return 'size';
  if (s.startsWith('is there') || s.startsWith('are there')) return 'exists';
  return 'shape';
}

/** Same shape as the vision VQA report: n per type, accuracy per row and type (typed grading), a few examples. */
export interface SpokenQaReport {
  readonly n: Readonly<Record<SpokenQaType, number>>;
  readonly accuracy: Readonly<Record<SpokenQaRow, Readonly<Record<SpokenQaType, number>>>>;
  /** Over all types. */
  readonly overall: Readonly<Record<SpokenQaRow, number>>;
  /** Over all types, graded by `keywordMatch` (lenient; what cards before round 17 report). */
  readonly lenient: Readonly<Record<SpokenQaRow, number>>;
  readonly examples: readonly { readonly type: SpokenQaType; readonly question: string; readonly reference: string; readonly answers: Readonly<Record<SpokenQaRow, string>> }[];
  /**
   * Transcribe, then answer: the core + adapter transcribes the spoken question with joint CTC
   * decoding (CTC weight `weight`), and the core alone answers from the scene + that transcript in
   * text (a two-pass cascade through the same checkpoint; the `transcript` row's upper bound with
   * its own hearing). Present when joint decoding was asked for.
   */
  readonly cascade?: {
    readonly weight: number;
    readonly beam: number;
    readonly overall: number;
    readonly lenient: number;
    readonly accuracy: Readonly<Record<SpokenQaType, number>>;
    readonly examples: readonly { readonly question: string; readonly heard: string; readonly reference: string; readonly answer: string }[];
  };
}

/** One graded spoken question, as `evaluateSpeech` hands it to `onQaAnswer` (e.g. to read every wrong answer). */
export interface SpokenQaAnswer {
  readonly type: SpokenQaType;
  readonly question: string;
  readonly reference: string;
  readonly answers: Readonly<Record<SpokenQaRow, string>>;
  /** Typed grade of each row. */
  readonly graded: Readonly<Record<SpokenQaRow, boolean>>;
  /** The cascade: what the joint decoding heard, the core's answer from it and its grade (with joint decoding only). */
  readonly cascade?: { readonly heard: string; readonly answer: string; readonly graded: boolean };
}

export interface AsrReport {
  readonly n: number;
  readonly words: number;
  /** Rows: the core + adapter, and the core alone (no audio). */
  readonly wer: { readonly adapter: number; readonly core: number };
  readonly cer: { readonly adapter: number; readonly core: number };
  readonly examples: readonly { readonly reference: string; readonly adapter: string }[];
  /**
   * The encoder + adapter alone, no language model: CTC greedy transcripts of the adapter's frames
   * classified against the core's embedding rows (`ctcTranscript`) — whether the audio side hears.
   * Present when the checkpoint has its CTC head.
   */
  readonly ctc?: { readonly wer: number; readonly cer: number; readonly examples: readonly { readonly reference: string; readonly ctc: string }[] };
  /** The core + adapter decoding jointly with the CTC head (`CtcPrefixScorer`, CTC weight `weight`). Present when asked for. */
  readonly joint?: { readonly weight: number; readonly beam: number; readonly wer: number; readonly cer: number; readonly examples: readonly { readonly reference: string; readonly joint: string }[] };
}

/**
 * CTC greedy transcript of one utterance from the adapter's frames alone: each real frame's class is
 * the best of `speechCtcLogits` over the core's embedding rows and the blank row, repeats merged,
 * blanks dropped, the compact ids decoded.
 */
export async function ctcTranscript(speech: SpeechGenerator, core: LanguageCore, tok: Llama3Tokenizer, head: SpeechCtcHead, item: SpeechItem): Promise<string> {
  return ctcGreedyText(await ctcPosteriors(speech, core, head, item), core, tok);
}

export interface AstReport {
  readonly n: number;
  /** Source languages and their item counts. */
  readonly languages: Readonly<Record<string, number>>;
  /** Rows: the core + adapter, and the core alone (instruction, no audio). */
  readonly chrF: { readonly adapter: number; readonly core: number };
  readonly bleu: { readonly adapter: number; readonly core: number };
  readonly examples: readonly { readonly language: string; readonly source: string; readonly reference: string; readonly adapter: string }[];
}

export interface SpeechEvalReport {
  readonly asr: AsrReport;
  readonly qa: SpokenQaReport;
  /** Present when AST items were given. */
  readonly ast?: AstReport;
}

export interface SpeechEvalOptions {
  readonly core: LanguageCore;
  readonly tokenizer: Llama3Tokenizer;
  readonly speech: SpeechGenerator;
  /** ASR items (held-out voices): any task's audio, transcribed. */
  readonly asr: readonly SpeechItem[];
  /** Spoken-QA items (task 'qa'). */
  readonly qa: readonly SpeechItem[];
  /** Speech-translation items (task 'ast'); no AST report without them. */
  readonly ast?: readonly SpeechItem[];
  readonly maxNewTokens?: number;
  /** The CTC head, for the encoder + adapter row of the ASR report (no row without it). */
  readonly ctcHead?: SpeechCtcHead;
  /** Also transcribe with joint CTC / core decoding at this CTC weight in [0, 1] (needs `ctcHead`): the ASR report's `joint` row. */
  readonly jointCtcWeight?: number;
  /** Beam width of the joint decoding (default 1: greedy). */
  readonly jointCtcBeam?: number;
  /** Called with every graded spoken question. */
  readonly onQaAnswer?: (a: SpokenQaAnswer) => void;
  /** Where the core-alone generator's session runs (give `speech` the same); resolved by the app (default DEFAULT_DEVICE). */
  readonly device?: Device;
}

export async function evaluateSpeech(o: SpeechEvalOptions): Promise<SpeechEvalReport> {
  const { core, tokenizer: tok } = o;
  const toModel = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toCompact(ids)) : [...ids]);
  const toFull = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toFull(ids)) : [...ids]);
  const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
  const sampling = { maxNewTokens: o.maxNewTokens ?? 48, temperature: 0, stopTokens: stops };
  const text = (ids: readonly number[]) => tok.decode(toFull(ids.filter((t) => !stops.includes(t)))).trim();
  const plain = await Generator.create(core.config, buildDecoder(core.config, core.weights), { device: o.device });
  const ask = async (content: string) => text(await plain.complete(toModel(tok.encodeChat([{ role: 'user', content }], { addGenerationPrompt: true })), sampling));
  const beamWidth = o.jointCtcBeam ?? 1;
  const hear = async (item: SpeechItem, p: { before: string; after: string }) => text(await o.speech.complete(speechPromptLayout(tok, core, p, o.speech.audioTokens(item)), item, sampling));
  /** The utterance transcribed by joint CTC / core decoding (beam search; width 1 = greedy). */
  const hearJoint = async (item: SpeechItem, posteriors: CtcPosteriors) => {
    const layout = speechPromptLayout(tok, core, { before: '', after: ASR_INSTRUCTION }, o.speech.audioTokens(item));
    const joint = { weight: o.jointCtcWeight!, beam: beamWidth, maxNewTokens: sampling.maxNewTokens, stopTokens: stops };
    return text((await jointTranscribe((b) => o.speech.beam(layout, item, b), posteriors, joint)).tokens);
  };
  if (o.jointCtcWeight !== undefined && !o.ctcHead) throw new HerdError('invalid_argument', 'speech eval: joint CTC decoding needs the checkpoint\'s CTC head (it has none)');
  try {
    // ASR.
    const pairs: { reference: string; adapter: string; core: string }[] = [];
    const blind = await ask(ASR_INSTRUCTION); // the same for every item: no audio
    for (const item of o.asr) pairs.push({ reference: item.transcript, adapter: await hear(item, { before: '', after: ASR_INSTRUCTION }), core: blind });
    const words = pairs.reduce((a, p) => a + p.reference.split(/\s+/u).length, 0);
    const ctcRows: { reference: string; hypothesis: string }[] = [];
    const jointRows: { reference: string; hypothesis: string }[] = [];
    if (o.ctcHead) {
      for (const item of o.asr) {
        const posteriors = await ctcPosteriors(o.speech, core, o.ctcHead, item);
        ctcRows.push({ reference: item.transcript, hypothesis: ctcGreedyText(posteriors, core, tok) });
        if (o.jointCtcWeight !== undefined) {
          jointRows.push({ reference: item.transcript, hypothesis: await hearJoint(item, posteriors) });
        }
      }
    }
    const asr: AsrReport = {
      n: pairs.length,
      words,
      wer: { adapter: wordErrorRate(pairs.map((p) => ({ reference: p.reference, hypothesis: p.adapter }))), core: wordErrorRate(pairs.map((p) => ({ reference: p.reference, hypothesis: p.core }))) },
      cer: { adapter: charErrorRate(pairs.map((p) => ({ reference: p.reference, hypothesis: p.adapter }))), core: charErrorRate(pairs.map((p) => ({ reference: p.reference, hypothesis: p.core }))) },
      examples: pairs.slice(0, 8).map((p) => ({ reference: p.reference, adapter: p.adapter })),
      ...(o.ctcHead ? { ctc: { wer: wordErrorRate(ctcRows), cer: charErrorRate(ctcRows), examples: ctcRows.slice(0, 8).map((r) => ({ reference: r.reference, ctc: r.hypothesis })) } } : {}),
      ...(o.jointCtcWeight !== undefined ? { joint: { weight: o.jointCtcWeight, beam: beamWidth, wer: wordErrorRate(jointRows), cer: charErrorRate(jointRows), examples: jointRows.slice(0, 8).map((r) => ({ reference: r.reference, joint: r.hypothesis })) } } : {}),
    };

    // Spoken QA.
    const zero = () => Object.fromEntries(SPOKEN_QA_TYPES.map((t) => [t, 0])) as Record<SpokenQaType, number>;
    const n = zero();
    const hits = Object.fromEntries(SPOKEN_QA_ROWS.map((r) => [r, zero()])) as Record<SpokenQaRow, Record<SpokenQaType, number>>;
    const lenientHits = Object.fromEntries(SPOKEN_QA_ROWS.map((r) => [r, 0])) as Record<SpokenQaRow, number>;
    const examples: SpokenQaReport['examples'][number][] = [];
    const cascadeHits = zero();
    let cascadeLenient = 0;
    const cascadeExamples: NonNullable<SpokenQaReport['cascade']>['examples'][number][] = [];
    for (const item of o.qa) {
      const type = questionType(item.transcript);
      const answers: Record<SpokenQaRow, string> = {
        core: await ask(item.before),
        adapter: await hear(item, item),
        transcript: await ask(`${item.before} ${item.transcript}`),
      };
      n[type]++;
      const graded = Object.fromEntries(SPOKEN_QA_ROWS.map((r) => [r, gradeSceneQa(type, answers[r], item.target)])) as Record<SpokenQaRow, boolean>;
      for (const r of SPOKEN_QA_ROWS) {
        if (graded[r]) hits[r][type]++;
        if (keywordMatch(answers[r], item.target)) lenientHits[r]++;
      }
      if (examples.length < 10) examples.push({ type, question: item.transcript, reference: item.target, answers });
      let cascade: SpokenQaAnswer['cascade'];
      if (o.jointCtcWeight !== undefined && o.ctcHead) {
        const heard = await hearJoint(item, await ctcPosteriors(o.speech, core, o.ctcHead, item));
        const answer = await ask(`${item.before} ${heard}`);
        cascade = { heard, answer, graded: gradeSceneQa(type, answer, item.target) };
        if (cascade.graded) cascadeHits[type]++;
        if (keywordMatch(answer, item.target)) cascadeLenient++;
        if (cascadeExamples.length < 10) cascadeExamples.push({ question: item.transcript, heard, reference: item.target, answer });
      }
      o.onQaAnswer?.({ type, question: item.transcript, reference: item.target, answers, graded, ...(cascade ? { cascade } : {}) });
    }
    const total = o.qa.length;
    const byType = (h: Record<SpokenQaType, number>) => Object.fromEntries(SPOKEN_QA_TYPES.map((t) => [t, n[t] ? h[t] / n[t] : 0])) as Record<SpokenQaType, number>;
    const overallOf = (h: Record<SpokenQaType, number>) => (total ? SPOKEN_QA_TYPES.reduce((a, t) => a + h[t], 0) / total : 0);
    const qa: SpokenQaReport = {
      n,
      accuracy: Object.fromEntries(SPOKEN_QA_ROWS.map((r) => [r, byType(hits[r])])) as SpokenQaReport['accuracy'],
      overall: Object.fromEntries(SPOKEN_QA_ROWS.map((r) => [r, overallOf(hits[r])])) as SpokenQaReport['overall'],
      lenient: Object.fromEntries(SPOKEN_QA_ROWS.map((r) => [r, total ? lenientHits[r] / total : 0])) as SpokenQaReport['lenient'],
      examples,
      ...(o.jointCtcWeight !== undefined ? { cascade: { weight: o.jointCtcWeight, beam: beamWidth, overall: overallOf(cascadeHits), lenient: total ? cascadeLenient / total : 0, accuracy: byType(cascadeHits), examples: cascadeExamples } } : {}),
    };

    // Speech translation.
    let ast: AstReport | undefined;
    if (o.ast?.length) {
      const blindAst = await ask(AST_INSTRUCTION);
      const rows: { language: string; source: string; reference: string; adapter: string; core: string }[] = [];
      for (const item of o.ast) rows.push({ language: item.language, source: item.transcript, reference: item.target, adapter: await hear(item, { before: '', after: AST_INSTRUCTION }), core: blindAst });
      const as = (k: 'adapter' | 'core') => rows.map((r) => ({ reference: r.reference, hypothesis: r[k] }));
      const languages: Record<string, number> = {};
      for (const r of rows) languages[r.language] = (languages[r.language] ?? 0) + 1;
      ast = {
        n: rows.length, languages,
        chrF: { adapter: chrF(as('adapter')), core: chrF(as('core')) },
        bleu: { adapter: bleu(as('adapter')), core: bleu(as('core')) },
        examples: rows.slice(0, 6).map(({ language, source, reference, adapter }) => ({ language, source, reference, adapter })),
      };
    }
    return { asr, qa, ...(ast ? { ast } : {}) };
  } finally {
    await plain.release();
  }
}

/** The report as markdown tables (percentages). */
export function speechEvalTable(r: SpeechEvalReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const asr = `ASR on held-out voices (${r.asr.n} utterances, ${r.asr.words} words)\n\n| | WER | CER |\n|---|---|---|\n| core alone (no audio) | ${pct(r.asr.wer.core)} | ${pct(r.asr.cer.core)} |\n| core + speech adapter | ${pct(r.asr.wer.adapter)} | ${pct(r.asr.cer.adapter)} |\n${r.asr.ctc ? `| encoder + adapter alone (CTC greedy, no core) | ${pct(r.asr.ctc.wer)} | ${pct(r.asr.ctc.cer)} |\n` : ''}${r.asr.joint ? `| core + speech adapter, joint CTC decoding (CTC weight ${r.asr.joint.weight}, beam ${r.asr.joint.beam}) | ${pct(r.asr.joint.wer)} | ${pct(r.asr.joint.cer)} |\n` : ''}`;
  const label: Record<SpokenQaRow, string> = { core: 'core alone, scene but no audio (blind control)', adapter: 'core + speech adapter', transcript: 'core + transcript in text (upper bound)' };
  const types = SPOKEN_QA_TYPES.filter((t) => r.qa.n[t] > 0);
  const total = types.reduce((a, t) => a + r.qa.n[t], 0);
  const head = `Spoken QA on held-out voices (scene in text, question spoken; graded by type, \`gradeSceneQa\`; key words: the lenient grade of earlier cards)\n\n| | all (n=${total}) | key words (lenient) | ${types.map((t) => `${t} (n=${r.qa.n[t]})`).join(' | ')} |\n|---|---|---|${types.map(() => '---').join('|')}|\n`;
  const c = r.qa.cascade;
  const rows = [
    ...SPOKEN_QA_ROWS.map((row) => `| ${label[row]} | ${pct(r.qa.overall[row])} | ${pct(r.qa.lenient[row])} | ${types.map((t) => pct(r.qa.accuracy[row][t])).join(' | ')} |`),
    ...(c ? [`| core + its own transcript in text (adapter transcribes, joint CTC ${c.weight}, beam ${c.beam}; then the core answers) | ${pct(c.overall)} | ${pct(c.lenient)} | ${types.map((t) => pct(c.accuracy[t])).join(' | ')} |`] : []),
  ].join('\n');
  const ast = r.ast
    ? `\nSpeech translation on held-out scenes (${r.ast.n} utterances: ${Object.entries(r.ast.languages).map(([l, n]) => `${l} ${n}`).join(', ')} → English)\n\n| | chrF | BLEU |\n|---|---|---|\n| core alone (no audio) | ${r.ast.chrF.core.toFixed(1)} | ${r.ast.bleu.core.toFixed(1)} |\n| core + speech adapter | ${r.ast.chrF.adapter.toFixed(1)} | ${r.ast.bleu.adapter.toFixed(1)} |\n`
    : '';
  return `${asr}\n${head}${rows}\n${ast}`;
}

/** A text-only layout (no audio): for the frozen-core checks. */
export function textLayout(ids: readonly number[]): { ids: number[]; codes: number[] } {
  return { ids: [...ids], codes: ids.map(() => KEEP_TOKEN) };
}
